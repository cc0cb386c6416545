// Writes a small capture whose plaintext is large (it compresses about 1000:1),
// to measure ct-analyze's peak memory against the plaintext size: CONNECTIONS
// keep-alive connections, each one request answered by MIB/CONNECTIONS MiB of
// repeated JSON lines.
//
//   analyze-bench-bigplain OUT.ctz [MIB] [CONNECTIONS]
#include <fmt/format.h>

#include <cstdlib>
#include <string>

#include "synthetic_capture.hpp"

int main(int argc, char** argv) {
    if (argc < 2) {
        fmt::print(stderr, "usage: {} OUT.ctz [MIB] [CONNECTIONS]\n", argv[0]);
        return 2;
    }
    const std::uint64_t mib = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1024;
    const int connections = argc > 3 ? std::atoi(argv[3]) : 4;
    const std::uint64_t per_connection = (mib << 20) / static_cast<std::uint64_t>(connections);
    std::string line = R"({"type":"log","level":"info","message":"the same line again"})";
    line += '\n';
    std::string block;
    while (block.size() + line.size() <= (1u << 20))
        block += line;

    ct::testing::SyntheticCapture cap(argv[1]);
    cap.process(7, 1, "/bin/client", {"client"});
    for (int c = 0; c < connections; ++c) {
        auto g = cap.open_connection(7, 0x100 + static_cast<std::uint64_t>(c));
        cap.write(g, "GET /logs HTTP/1.1\r\nHost: logs.example\r\n\r\n");
        const std::uint64_t blocks = per_connection / block.size();
        cap.read(g, fmt::format("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                                "Content-Length: {}\r\n\r\n",
                                blocks * block.size()));
        for (std::uint64_t b = 0; b < blocks; ++b)
            cap.read(g, block);
        cap.close(g);
    }
    cap.finish();
    return 0;
}
