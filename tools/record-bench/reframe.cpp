// record-bench-reframe: how big a capture would be under other framings of the
// same records (an investigation aid for the capture-size figure).
//
//   record-bench-reframe FILE [--level 3]
//
// Rebuilds the raw content of every data frame of FILE (the records exactly as
// the recorder wrote them) and compresses the sequence again:
//   independent     each frame alone (what ct-record does: should match the file)
//   prefix          each frame alone, with the previous frame as a raw-content
//                   prefix (ZSTD_CCtx_refPrefix): decoding needs the previous frame
//   stream          one zstd stream, flushed at every frame boundary (ZSTD_e_flush):
//                   the data is on disk as often, and the window spans frames
//   stream_w24      the same with a 16 MiB window
//   stream_ldm      the same with a 128 MiB window and long-distance matching
// Prints one JSON line of compressed sizes in bytes.
#include <zstd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "capture/capture_reader.hpp"

namespace {

using namespace ct;

struct CctxFree {
    void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
using Cctx = std::unique_ptr<ZSTD_CCtx, CctxFree>;

Cctx make_cctx(int level, int window_log, bool ldm) {
    Cctx c(ZSTD_createCCtx());
    ZSTD_CCtx_setParameter(c.get(), ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(c.get(), ZSTD_c_checksumFlag, 1);
    if (window_log)
        ZSTD_CCtx_setParameter(c.get(), ZSTD_c_windowLog, window_log);
    if (ldm)
        ZSTD_CCtx_setParameter(c.get(), ZSTD_c_enableLongDistanceMatching, 1);
    return c;
}

std::size_t compress_alone(ZSTD_CCtx* c, const std::vector<std::uint8_t>& raw,
                           const std::vector<std::uint8_t>* prefix) {
    if (prefix && !prefix->empty())
        ZSTD_CCtx_refPrefix(c, prefix->data(), prefix->size());
    std::vector<std::uint8_t> out(ZSTD_compressBound(raw.size()));
    std::size_t n = ZSTD_compress2(c, out.data(), out.size(), raw.data(), raw.size());
    return ZSTD_isError(n) ? 0 : n;
}

// Feeds `raw` into a stream and ends the block (flush) or the frame (end).
std::size_t stream_feed(ZSTD_CCtx* c, const std::vector<std::uint8_t>& raw, ZSTD_EndDirective how) {
    std::vector<std::uint8_t> out(ZSTD_CStreamOutSize());
    ZSTD_inBuffer in{raw.data(), raw.size(), 0};
    std::size_t total = 0;
    for (;;) {
        ZSTD_outBuffer o{out.data(), out.size(), 0};
        std::size_t left = ZSTD_compressStream2(c, &o, &in, how);
        if (ZSTD_isError(left))
            return total;
        total += o.pos;
        if (left == 0 && in.pos == in.size)
            return total;
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"record-bench-reframe: a capture's size under other zstd framings"};
    std::string path;
    int level = 3;
    app.add_option("capture", path, "Capture file")->required();
    app.add_option("--level", level, "zstd level");
    CLI11_PARSE(app, argc, argv);
    auto reader = replay::CaptureReader::open(path);
    if (!reader) {
        std::cerr << "record-bench-reframe: " << reader.error().what() << "\n";
        return 1;
    }
    // Frames as the recorder built them: record header + body, in order.
    std::vector<std::vector<std::uint8_t>> frames;
    std::uint64_t current = ~0ull;
    reader->for_each_record([&](const replay::Record& r) {
        if (r.frame_offset != current) {
            frames.emplace_back();
            current = r.frame_offset;
        }
        auto& f = frames.back();
        ctz::put_u32(f, static_cast<std::uint32_t>(r.body.size()));
        ctz::put_u16(f, static_cast<std::uint16_t>(r.type));
        ctz::put_u16(f, 0);
        f.insert(f.end(), r.body.begin(), r.body.end());
    });
    std::size_t raw = 0, independent = 0, prefix = 0, stream = 0, stream_w24 = 0, stream_ldm = 0;
    auto alone = make_cctx(level, 0, false);
    auto s = make_cctx(level, 0, false), s24 = make_cctx(level, 24, false),
         sldm = make_cctx(level, 27, true);
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const auto& f = frames[i];
        raw += f.size();
        independent += compress_alone(alone.get(), f, nullptr);
        prefix += compress_alone(alone.get(), f, i ? &frames[i - 1] : nullptr);
        ZSTD_EndDirective how = i + 1 == frames.size() ? ZSTD_e_end : ZSTD_e_flush;
        stream += stream_feed(s.get(), f, how);
        stream_w24 += stream_feed(s24.get(), f, how);
        stream_ldm += stream_feed(sldm.get(), f, how);
    }
    fmt::print(R"({{"file_bytes":{},"frames":{},"raw_bytes":{},"independent":{},"prefix":{},)"
               R"("stream":{},"stream_w24":{},"stream_ldm":{}}})"
               "\n",
               reader->file_size(), frames.size(), raw, independent, prefix, stream, stream_w24,
               stream_ldm);
    return 0;
}
