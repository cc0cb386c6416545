// Writes a small capture whose plaintext is large (it compresses about 1000:1),
// to measure ct-analyze's peak memory against the plaintext size: CONNECTIONS
// keep-alive connections, each EXCHANGES requests (default 1) answered by
// MIB/CONNECTIONS MiB in all of repeated JSON lines, or with `sse`, of an event
// stream (chunked, text/event-stream), or with `h2`, of HTTP/2 streams (one
// request stream per exchange, answered by DATA frames of 16 KiB).
//
//   analyze-bench-bigplain OUT.ctz [MIB] [CONNECTIONS] [EXCHANGES] [sse|h2]
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "http2_frames.hpp"
#include "synthetic_capture.hpp"

namespace {

using ct::testing::h2_frame;

// One HTTP/2 connection: `exchanges` GET streams, one after the other, each
// answered by `per_exchange` bytes of `line`s in DATA frames.
void write_h2(ct::testing::SyntheticCapture& cap, std::uint64_t g, int exchanges,
              std::uint64_t per_exchange, const std::string& line) {
    constexpr std::uint8_t kData = 0, kHeaders = 1, kSettings = 4;
    constexpr std::uint8_t kEndStream = 1, kEndHeaders = 4;
    std::string data;
    while (data.size() + line.size() <= 16384)
        data += line;
    // :method GET, :scheme https, :path /logs (literal), :authority logs.example
    const std::string request = std::string("\x82\x87\x04\x05/logs\x01\x0clogs.example");
    const std::string response = "\x88";  // :status 200
    cap.write(g, std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + h2_frame(kSettings, 0, 0, ""));
    cap.read(g, h2_frame(kSettings, 0, 0, ""));
    for (int x = 0; x < exchanges; ++x) {
        const auto stream = static_cast<std::uint32_t>(2 * x + 1);
        cap.write(g, h2_frame(kHeaders, kEndStream | kEndHeaders, stream, request));
        cap.read(g, h2_frame(kHeaders, kEndHeaders, stream, response));
        const std::uint64_t frames = std::max<std::uint64_t>(1, per_exchange / data.size());
        for (std::uint64_t f = 0; f < frames; ++f)
            cap.read(g, h2_frame(kData, f + 1 == frames ? kEndStream : 0, stream, data));
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        fmt::print(stderr, "usage: {} OUT.ctz [MIB] [CONNECTIONS] [EXCHANGES] [sse|h2]\n", argv[0]);
        return 2;
    }
    const std::uint64_t mib = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1024;
    const int connections = argc > 3 ? std::max(1, std::atoi(argv[3])) : 4;
    const int exchanges = argc > 4 ? std::max(1, std::atoi(argv[4])) : 1;
    const bool sse = argc > 5 && std::strcmp(argv[5], "sse") == 0;
    const bool h2 = argc > 5 && std::strcmp(argv[5], "h2") == 0;
    const std::uint64_t per_exchange = (mib << 20) / static_cast<std::uint64_t>(connections) /
                                       static_cast<std::uint64_t>(exchanges);
    std::string line =
        sse ? "event: log\ndata: {\"level\":\"info\",\"message\":\"the same line\"}\n\n"
            : R"({"type":"log","level":"info","message":"the same line again"})"
              "\n";
    std::string block;
    while (block.size() + line.size() <= (1u << 16))
        block += line;
    if (sse)
        block = fmt::format("{:x}\r\n{}\r\n", block.size(), block);

    ct::testing::SyntheticCapture cap(argv[1]);
    cap.process(7, 1, "/bin/client", {"client"});
    for (int c = 0; c < connections; ++c) {
        auto g = cap.open_connection(7, 0x100 + static_cast<std::uint64_t>(c));
        if (h2) {
            write_h2(cap, g, exchanges, per_exchange, line);
            cap.close(g);
            continue;
        }
        for (int x = 0; x < exchanges; ++x) {
            cap.write(g, "GET /logs HTTP/1.1\r\nHost: logs.example\r\n\r\n");
            const std::uint64_t blocks = std::max<std::uint64_t>(1, per_exchange / block.size());
            if (sse) {
                cap.read(g,
                         "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n");
            } else {
                cap.read(g, fmt::format("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                                        "Content-Length: {}\r\n\r\n",
                                        blocks * block.size()));
            }
            for (std::uint64_t b = 0; b < blocks; ++b)
                cap.read(g, block);
            if (sse)
                cap.read(g, "0\r\n\r\n");
        }
        cap.close(g);
    }
    cap.finish();
    return 0;
}
