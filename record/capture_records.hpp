// Builders for the metadata records user space writes into a capture
// (schema/capture-format.md: PROCESS, PROBE, COUNTERS, CLOCK, NOTE).
#pragma once

#include <cstdint>
#include <string_view>

#include "capture_header.hpp"
#include "ct_abi.hpp"
#include "ctz_format.hpp"
#include "proc_reader.hpp"
#include "tls_attacher.hpp"

namespace ct::record {

// source: "scan" (found at start), "command", "fork" or "exec".
ctz::FieldWriter process_record(const ProcessSnapshot& p, std::string_view source);
ctz::FieldWriter probe_record(const AttachReport& report, const locate::Target& target,
                              const AttachedProbe& probe);
ctz::FieldWriter counters_record(const ct_counters& c, bool final);
ctz::FieldWriter clock_record(const ClockSample& clock);
ctz::FieldWriter note_record(std::string_view level, std::string_view message);

}  // namespace ct::record
