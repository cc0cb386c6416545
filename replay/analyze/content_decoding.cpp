#include "content_decoding.hpp"

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>

#include <memory>
#include <vector>

#include "protocols/http1/types.hpp"

namespace ct::analyze {
namespace {

constexpr std::size_t kOutChunk = 64 * 1024;

DecodedContent over_limit(std::string body, std::size_t limit) {
    body.resize(limit);
    return DecodedContent{std::move(body), false, "decoded body over the size limit", true};
}

// A decoder's output buffer holds at most `limit` + 1 bytes: the byte past the
// limit tells that the body is over it, whatever the decoder does next.
DecodedContent failure(std::string body, std::string error, std::size_t limit) {
    if (body.size() > limit)
        return over_limit(std::move(body), limit);
    return DecodedContent{std::move(body), false, std::move(error), false};
}

// Room for the next call of a decoder: a chunk, and never past `limit` + 1 in all
// (`have` <= `limit` here, as every loop returns once the output is over the limit).
std::size_t next_room(std::size_t have, std::size_t limit) {
    return std::min(kOutChunk, limit - have) + 1;
}

// zlib: gzip (possibly several members), zlib-wrapped or raw deflate.
DecodedContent inflate_body(std::string_view in, int window_bits, std::size_t limit) {
    std::string out;
    std::size_t offset = 0;
    while (offset < in.size()) {
        z_stream zs{};
        if (inflateInit2(&zs, window_bits) != Z_OK)
            return failure(std::move(out), "inflateInit2 failed", limit);
        auto end = [](z_stream* s) { inflateEnd(s); };
        std::unique_ptr<z_stream, decltype(end)> guard(&zs, end);
        zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + offset));
        zs.avail_in = static_cast<uInt>(std::min<std::size_t>(in.size() - offset, 1u << 30));
        int rc = Z_OK;
        while (rc != Z_STREAM_END) {
            const std::size_t old = out.size();
            const std::size_t room = next_room(old, limit);
            out.resize(old + room);
            zs.next_out = reinterpret_cast<Bytef*>(out.data() + old);
            zs.avail_out = static_cast<uInt>(room);
            rc = inflate(&zs, Z_NO_FLUSH);
            out.resize(old + room - zs.avail_out);
            if (out.size() > limit)
                return over_limit(std::move(out), limit);
            if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
                return failure(std::move(out), "truncated compressed body", limit);
            }
            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
                return failure(std::move(out), zs.msg ? zs.msg : "corrupt compressed body", limit);
            }
        }
        offset = in.size() - zs.avail_in;
        // Only gzip allows several members; anything else after the end is ignored.
        if (window_bits != 15 + 16)
            break;
        while (offset < in.size() && in[offset] == '\0')
            ++offset;  // padding some servers add
    }
    return DecodedContent{std::move(out), true, {}, false};
}

DecodedContent brotli_body(std::string_view in, std::size_t limit) {
    auto destroy = [](BrotliDecoderState* s) { BrotliDecoderDestroyInstance(s); };
    std::unique_ptr<BrotliDecoderState, decltype(destroy)> state(
        BrotliDecoderCreateInstance(nullptr, nullptr, nullptr), destroy);
    if (!state)
        return failure({}, "brotli: out of memory", limit);
    std::string out;
    std::size_t avail_in = in.size();
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
    while (true) {
        const std::size_t old = out.size();
        const std::size_t room = next_room(old, limit);
        out.resize(old + room);
        std::size_t avail_out = room;
        auto* next_out = reinterpret_cast<std::uint8_t*>(out.data() + old);
        BrotliDecoderResult rc = BrotliDecoderDecompressStream(state.get(), &avail_in, &next_in,
                                                               &avail_out, &next_out, nullptr);
        out.resize(old + room - avail_out);
        if (out.size() > limit)
            return over_limit(std::move(out), limit);
        if (rc == BROTLI_DECODER_RESULT_SUCCESS)
            return DecodedContent{std::move(out), true, {}, false};
        if (rc == BROTLI_DECODER_RESULT_ERROR) {
            return failure(std::move(out),
                           std::string("brotli: ") +
                               BrotliDecoderErrorString(BrotliDecoderGetErrorCode(state.get())),
                           limit);
        }
        if (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) {
            return failure(std::move(out), "truncated compressed body", limit);
        }
    }
}

DecodedContent zstd_body(std::string_view in, std::size_t limit) {
    std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    if (!ctx)
        return failure({}, "zstd: out of memory", limit);
    // Cap the window so hostile frame headers cannot ask for huge buffers.
    ZSTD_DCtx_setParameter(ctx.get(), ZSTD_d_windowLogMax, 27);
    std::string out;
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    // Until the input is used up and the decoder has flushed what it holds.
    std::size_t last_rc = 0;
    while (input.pos < input.size || last_rc != 0) {
        const bool input_left = input.pos < input.size;
        const std::size_t old = out.size();
        const std::size_t room = next_room(old, limit);
        out.resize(old + room);
        ZSTD_outBuffer output{out.data() + old, room, 0};
        last_rc = ZSTD_decompressStream(ctx.get(), &output, &input);
        out.resize(old + output.pos);
        if (out.size() > limit)
            return over_limit(std::move(out), limit);
        if (ZSTD_isError(last_rc)) {
            return failure(std::move(out), std::string("zstd: ") + ZSTD_getErrorName(last_rc),
                           limit);
        }
        if (!input_left && output.pos == 0)
            return failure(std::move(out), "truncated compressed body", limit);
    }
    return DecodedContent{std::move(out), true, {}, false};
}

}  // namespace

DecodedContent decode_one(std::string_view coding, std::string_view body, std::size_t limit) {
    using http1::iequals;
    if (coding.empty() || iequals(coding, "identity"))
        return DecodedContent{std::string(body), true, {}, false};
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip"))
        return inflate_body(body, 15 + 16, limit);
    if (iequals(coding, "deflate")) {
        // "deflate" means zlib-wrapped, but some servers send raw deflate.
        DecodedContent zlib = inflate_body(body, 15, limit);
        if (zlib.ok)
            return zlib;
        DecodedContent raw = inflate_body(body, -15, limit);
        return raw.ok || raw.body.size() > zlib.body.size() ? raw : zlib;
    }
    if (iequals(coding, "br"))
        return brotli_body(body, limit);
    if (iequals(coding, "zstd"))
        return zstd_body(body, limit);
    // Kept as it came, whatever its size: the caller knows the encoded body's size.
    return DecodedContent{std::string(body), false,
                          "unknown content coding: " + std::string(coding), false};
}

DecodedContent decode_content(std::string_view encodings, std::string_view body,
                              std::size_t limit) {
    std::vector<std::string_view> codings;
    while (!encodings.empty()) {
        std::size_t comma = encodings.find(',');
        std::string_view c = http1::trim_ows(encodings.substr(0, comma));
        if (!c.empty())
            codings.push_back(c);
        if (comma == std::string_view::npos)
            break;
        encodings.remove_prefix(comma + 1);
    }
    DecodedContent current{std::string(body), true, {}, false};
    // Codings were applied in the listed order, so undo them from the last.
    for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
        DecodedContent next = decode_one(*it, current.body, limit);
        if (!next.ok)
            return next;
        current = std::move(next);
    }
    return current;
}

}  // namespace ct::analyze
