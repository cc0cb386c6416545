// Writes a small capture whose plaintext is large (it compresses about 1000:1),
// to measure ct-analyze's peak memory against the plaintext size: CONNECTIONS
// keep-alive connections, each EXCHANGES requests (default 1) answered by
// MIB/CONNECTIONS MiB in all of repeated JSON lines, or with `sse`, of an event
// stream (chunked, text/event-stream).
//
//   analyze-bench-bigplain OUT.ctz [MIB] [CONNECTIONS] [EXCHANGES] [sse]
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "synthetic_capture.hpp"

int main(int argc, char** argv) {
    if (argc < 2) {
        fmt::print(stderr, "usage: {} OUT.ctz [MIB] [CONNECTIONS] [EXCHANGES] [sse]\n", argv[0]);
        return 2;
    }
    const std::uint64_t mib = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1024;
    const int connections = argc > 3 ? std::max(1, std::atoi(argv[3])) : 4;
    const int exchanges = argc > 4 ? std::max(1, std::atoi(argv[4])) : 1;
    const bool sse = argc > 5 && std::strcmp(argv[5], "sse") == 0;
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
