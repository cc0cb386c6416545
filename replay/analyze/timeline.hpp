// `ct-analyze --timeline`: the capture as a time-ordered list of TLS calls with
// the HTTP heads and SSE events they carried, without touching a database.
#pragma once

#include <cstdio>
#include <string>

#include "capture/capture_contents.hpp"
#include "content_decoding.hpp"
#include "util/error.hpp"

namespace ct::analyze {

struct TimelineOptions {
    bool keep_secrets = false;  // otherwise secret header values print as <redacted>
    bool show_headers = true;
    DecodeLimits decode;  // for the bodies SSE events are read from
};

void print_timeline(const replay::CaptureContents& contents, const TimelineOptions& options,
                    std::FILE* out);

}  // namespace ct::analyze
