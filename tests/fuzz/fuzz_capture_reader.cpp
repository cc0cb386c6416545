// libFuzzer target: the capture reader (frames, zstd segments, units, records)
// on any file.
#include "capture/capture_reader.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    ct::fuzz::MemFile file(ct::fuzz::as_text(data, size));
    auto reader = ct::replay::CaptureReader::open(file.path());
    if (!reader)
        return 0;
    std::uint64_t bytes = 0;
    auto summary =
        reader->for_each_record([&](const ct::replay::Record& r) { bytes += r.body.size(); });
    // Every record delivered came out of the file's frames.
    if (summary.records > 0 && summary.frames + summary.bad_frames == 0 && !summary.truncated_tail)
        __builtin_trap();
    (void)reader->header().to_realtime(bytes);
    return 0;
}
