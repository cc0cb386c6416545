// Content-Encoding round trips against the real encoders, and damaged input.
#include <brotli/encode.h>
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <random>

#include "connection_decoder.hpp"
#include "content_decoding.hpp"
#include "stream_builder.hpp"

namespace ct::analyze {
namespace {

std::string sample() {
    std::string s;
    for (int i = 0; i < 5000; ++i)
        s += "token " + std::to_string(i * 7919 % 1000) + " ";
    return s;
}

std::string zlib_encode(const std::string& in, int window_bits) {
    z_stream zs{};
    EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&zs, in.size()) + 64, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

std::string zstd_encode(const std::string& in) {
    std::string out(ZSTD_compressBound(in.size()), '\0');
    out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
    return out;
}

std::string brotli_encode(const std::string& in) {
    std::size_t size = BrotliEncoderMaxCompressedSize(in.size());
    std::string out(size, '\0');
    EXPECT_TRUE(BrotliEncoderCompress(5, 22, BROTLI_MODE_TEXT, in.size(),
                                      reinterpret_cast<const std::uint8_t*>(in.data()), &size,
                                      reinterpret_cast<std::uint8_t*>(out.data())));
    out.resize(size);
    return out;
}

TEST(ContentDecoding, RoundTrips) {
    const std::string text = sample();
    struct Case {
        const char* coding;
        std::string encoded;
    };
    std::vector<Case> cases = {
        {"gzip", zlib_encode(text, 15 + 16)},
        {"x-gzip", zlib_encode(text, 15 + 16)},
        {"deflate", zlib_encode(text, 15)},
        {"deflate", zlib_encode(text, -15)},  // raw deflate, as some servers send
        {"br", brotli_encode(text)},
        {"zstd", zstd_encode(text)},
        {"identity", text}};
    for (const auto& c : cases) {
        DecodedContent d = decode_content(c.coding, c.encoded);
        EXPECT_TRUE(d.ok) << c.coding << ": " << d.error;
        EXPECT_EQ(d.body, text) << c.coding;
    }
    // Codings stack in the order listed.
    DecodedContent stacked = decode_content("gzip, br", brotli_encode(zlib_encode(text, 15 + 16)));
    EXPECT_TRUE(stacked.ok) << stacked.error;
    EXPECT_EQ(stacked.body, text);
}

TEST(ContentDecoding, TruncatedInputKeepsThePrefix) {
    const std::string text = sample();
    for (const char* coding : {"gzip", "br", "zstd"}) {
        std::string enc = std::string(coding) == "gzip" ? zlib_encode(text, 31)
                          : std::string(coding) == "br" ? brotli_encode(text)
                                                        : zstd_encode(text);
        DecodedContent d = decode_content(coding, std::string_view(enc).substr(0, enc.size() / 2));
        EXPECT_FALSE(d.ok) << coding;
        EXPECT_EQ(text.substr(0, d.body.size()), d.body) << coding;
    }
}

TEST(ContentDecoding, BombIsCut) {
    std::string zeros(8u << 20, '\0');
    DecodedContent d = decode_content("gzip", zlib_encode(zeros, 31), 1u << 20);
    EXPECT_FALSE(d.ok);
    EXPECT_EQ(d.body.size(), 1u << 20);
}

// A body whose decodable start is over the limit and whose rest is cut off or
// damaged: the decoder's error must not let it keep more than the limit (the
// decoders stopped at the error before they looked at the limit; found by
// fuzz_http1).
TEST(ContentDecoding, DamagedTailPastTheLimitIsStillCut) {
    // 1 MiB of random words: many zstd blocks and brotli meta-blocks, so that half
    // of the encoded body decodes to far more than the limit.
    std::mt19937 rng(7);
    std::string text;
    while (text.size() < (1u << 20)) {
        for (int i = 2 + static_cast<int>(rng() % 8); i > 0; --i)
            text += static_cast<char>('a' + rng() % 26);
        text += ' ';
    }
    constexpr std::size_t kLimit = 4096;
    for (const char* coding : {"gzip", "deflate", "br", "zstd"}) {
        const std::string c = coding;
        const std::string enc = c == "gzip"      ? zlib_encode(text, 31)
                                : c == "deflate" ? zlib_encode(text, 15)
                                : c == "br"      ? brotli_encode(text)
                                                 : zstd_encode(text);
        // Damaged from 3/4 on, and damaged early (within zlib's first 64 KiB of output).
        std::string late = enc, early = enc;
        for (std::size_t i = enc.size() * 3 / 4; i < enc.size(); ++i)
            late[i] = static_cast<char>(0xff);
        for (std::size_t i = 8000; i < 8100; ++i)
            early[i] = static_cast<char>(0xff);
        for (const std::string& input : {enc.substr(0, enc.size() / 2), late, early}) {
            DecodedContent d = decode_content(coding, input, kLimit);
            EXPECT_FALSE(d.ok) << coding;
            EXPECT_LE(d.body.size(), kLimit) << coding;
            // Cut at the limit, or stopped by the damage before it.
            EXPECT_TRUE(d.over_limit || d.body.size() < kLimit) << coding << ": " << d.error;
            EXPECT_EQ(text.substr(0, d.body.size()), d.body) << coding;
        }
    }
}

TEST(ContentDecoding, UnknownAndGarbage) {
    EXPECT_FALSE(decode_content("compress", "abc").ok);
    std::mt19937 rng(5);
    for (int i = 0; i < 300; ++i) {
        std::string junk(rng() % 200, '\0');
        for (char& c : junk)
            c = static_cast<char>(rng());
        for (const char* coding : {"gzip", "deflate", "br", "zstd"}) {
            DecodedContent d = decode_content(coding, junk, 1u << 20);
            EXPECT_LE(d.body.size(), 1u << 20);
        }
    }
}

}  // namespace
}  // namespace ct::analyze

namespace ct::analyze {
namespace {

// Many compression bombs in one connection: together they stay within the
// growth budget (a connection decoded on its own gets a capture's worth).
TEST(ContentDecoding, BombsShareOneBudget) {
    std::string zeros(64u << 20, '\0');
    const std::string bomb = zlib_encode(zeros, 31);
    std::string responses;
    for (int i = 0; i < 12; ++i) {
        responses += "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " +
                     std::to_string(bomb.size()) + "\r\n\r\n" + bomb;
    }
    std::string requests;
    for (int i = 0; i < 12; ++i)
        requests += "GET / HTTP/1.1\r\n\r\n";
    auto conn = testing::make_connection(testing::cut_stream(requests, {}),
                                         testing::cut_stream(responses, {}));
    DecodedConnection dc = decode_connection(conn);
    ASSERT_EQ(dc.responses.size(), 12u);
    std::size_t total = 0;
    for (const auto& r : dc.responses)
        total += r.body.bytes.size();
    EXPECT_LE(total, kMaxDecodedGrowthPerCapture + 12 * bomb.size());
    EXPECT_FALSE(dc.responses.back().body.decode_ok);
    EXPECT_TRUE(dc.responses.front().body.decode_ok);
}

}  // namespace
}  // namespace ct::analyze
