#include "protocols/http1/chunk_counter.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "protocols/http1/parse.hpp"

namespace ct::analyze::http1 {
namespace {

constexpr std::size_t kMaxChunkLine = 4096;  // as parse_chunks allows
// The most framing one chunk can have: its size line, LF, and CRLF after its data.
constexpr std::uint64_t kMaxChunkFraming = kMaxChunkLine + 1 + 2;

int hex_digits(std::uint64_t v) {
    int n = 1;
    while (v >= 16) {
        v >>= 4;
        ++n;
    }
    return n;
}

void append(std::vector<std::uint8_t>& out, std::string_view s) {
    out.insert(out.end(), s.begin(), s.end());
}

// `length` bytes of complete chunks carrying `data` bytes of data in all, after
// the CRLF (or LF) that ends the chunk before them if `terminator`.
bool chunks_of(std::uint64_t length, std::uint64_t data, bool terminator,
               std::vector<std::uint8_t>& out) {
    for (std::uint64_t t = terminator ? 1 : 0; t <= (terminator ? 2u : 0u); ++t) {
        if (length < t + data)
            continue;
        const std::uint64_t framing = length - t - data;
        if (data == 0) {
            if (framing != 0)
                continue;
            append(out, t == 2 ? "\r\n" : t == 1 ? "\n" : "");
            return true;
        }
        const std::uint64_t n =
            std::max<std::uint64_t>(1, (framing + kMaxChunkFraming - 1) / kMaxChunkFraming);
        if (n > data)
            continue;
        const std::uint64_t last = data - (n - 1);
        const std::uint64_t least = 3 * (n - 1) + static_cast<std::uint64_t>(hex_digits(last)) + 2;
        if (framing < least)
            continue;
        append(out, t == 2 ? "\r\n" : t == 1 ? "\n" : "");
        std::uint64_t extra = framing - least;
        for (std::uint64_t k = 0; k < n; ++k) {
            const std::uint64_t size = k + 1 < n ? 1 : last;
            const auto digits = static_cast<std::uint64_t>(hex_digits(size));
            const std::uint64_t add = std::min(extra, kMaxChunkFraming - (digits + 2));
            extra -= add;
            const std::uint64_t in_line = std::min<std::uint64_t>(add, kMaxChunkLine - digits);
            std::string line = fmt::format("{:x}", size);
            if (in_line > 0) {
                line += ';';
                line.append(static_cast<std::size_t>(in_line - 1), 'x');
            }
            line += '\n';
            append(out, line);
            out.resize(out.size() + static_cast<std::size_t>(size), 0);
            append(out, add > in_line ? "\r\n" : "\n");
        }
        return true;
    }
    return false;
}

}  // namespace

std::size_t ChunkCounter::feed(std::string_view bytes, std::uint64_t data_limit) {
    std::size_t i = 0;
    while (i < bytes.size() && state_ != State::Done && state_ != State::Invalid &&
           data_bytes_ < data_limit) {
        switch (state_) {
            case State::SizeLine: {
                const std::size_t nl = bytes.find('\n', i);
                const std::size_t line_end = nl == std::string_view::npos ? bytes.size() : nl;
                // A line longer than kMaxChunkLine is not chunked framing.
                const std::size_t room = kMaxChunkLine + 1 - element_.size();
                const std::size_t take = std::min(line_end - i, room);
                element_.append(bytes.substr(i, take));
                i += take;
                consumed_ += take;
                if (element_.size() > kMaxChunkLine) {
                    state_ = State::Invalid;
                    break;
                }
                if (nl != std::string_view::npos) {
                    element_ += '\n';
                    ++i;
                    ++consumed_;
                    end_line();
                }
                break;
            }
            case State::Data: {
                const std::uint64_t take =
                    std::min({chunk_size_ - chunk_done_, std::uint64_t{bytes.size() - i},
                              data_limit - data_bytes_});
                i += static_cast<std::size_t>(take);
                consumed_ += take;
                chunk_done_ += take;
                data_bytes_ += take;
                if (chunk_done_ == chunk_size_)
                    state_ = State::DataEnd;
                break;
            }
            case State::DataEnd: {
                const char c = bytes[i++];
                ++consumed_;
                data_end_ += c;
                if (c == '\n') {
                    // The next chunk-size line starts here.
                    state_ = State::SizeLine;
                    element_start_ = consumed_;
                    data_before_ = data_bytes_;
                    chunk_size_ = 0;
                    chunk_done_ = 0;
                    element_.clear();
                    data_end_.clear();
                } else if (c != '\r' || data_end_.size() > 1) {
                    state_ = State::Invalid;
                }
                break;
            }
            case State::Trailers:
                take_trailer_byte(bytes[i++]);
                ++consumed_;
                break;
            case State::Done:
            case State::Invalid:
                break;
        }
    }
    return i;
}

// A chunk-size line has come whole (element_ ends with its LF).
void ChunkCounter::end_line() {
    Message scratch;
    std::size_t pos = 0;
    std::optional<std::uint64_t> data_end;
    const ParseState s = parse_chunks(element_, pos, 0, scratch, &data_end);
    if (s == ParseState::Invalid) {
        state_ = State::Invalid;
    } else if (s == ParseState::Success) {
        state_ = State::Done;  // (parse_chunks needs a byte after a last chunk's line)
    } else if (data_end) {
        chunk_size_ = *data_end - element_.size();
        chunk_done_ = 0;
        state_ = chunk_size_ == 0 ? State::DataEnd : State::Data;
    } else {
        state_ = State::Trailers;  // the last chunk (size 0)
        trailer_from_ = element_.size();
    }
}

// The trailer section ends at its first blank line (an empty one right after
// the last chunk's line, or one after a field line), as parse_chunks finds it.
void ChunkCounter::take_trailer_byte(char c) {
    element_ += c;
    const std::string_view t = std::string_view(element_).substr(trailer_from_);
    const std::size_t s = t.size();
    const bool end = (s == 1 && t[0] == '\n') || (s == 2 && t == "\r\n") ||
                     (s >= 2 && t[s - 1] == '\n' && t[s - 2] == '\n') ||
                     (s >= 3 && t.substr(s - 3) == "\n\r\n");
    if (!end) {
        if (s > kMaxHeadSize)
            state_ = State::Invalid;
        return;
    }
    Message scratch;
    std::size_t pos = 0;
    const ParseState r = parse_chunks(element_, pos, 0, scratch, nullptr);
    if (r != ParseState::Success || pos != element_.size()) {
        state_ = State::Invalid;
        return;
    }
    trailers_ = std::move(scratch.trailers);
    state_ = State::Done;
}

bool ChunkCounter::synthesize_since_mark(std::vector<std::uint8_t>& out) const {
    const std::size_t begin = out.size();
    const Snapshot& m = mark_;
    const bool mark_at_line = m.consumed == m.element_start;
    // The current element as it came: its size line (and trailers), its data so
    // far as zeros, what followed the data.
    auto current = [&] {
        append(out, element_);
        out.resize(out.size() + static_cast<std::size_t>(chunk_done_), 0);
        append(out, data_end_);
    };
    bool ok = true;
    if (element_start_ == m.element_start) {
        if (mark_at_line) {
            current();
        } else {
            out.resize(out.size() + static_cast<std::size_t>(chunk_done_ - m.chunk_done), 0);
            append(out, data_end_);
        }
    } else {
        // The rest of the chunk the mark was in, then whole chunks up to the
        // current one.
        std::uint64_t from = m.consumed;
        std::uint64_t data = m.data_bytes;
        if (!mark_at_line) {
            const std::uint64_t rest = m.chunk_size - m.chunk_done;
            out.resize(out.size() + static_cast<std::size_t>(rest), 0);
            from += rest;
            data += rest;
        }
        ok = chunks_of(element_start_ - from, data_before_ - data, !mark_at_line, out);
        if (ok)
            current();
    }
    if (!ok || out.size() - begin != consumed_ - m.consumed) {
        out.resize(begin);
        out.resize(begin + static_cast<std::size_t>(consumed_ - m.consumed), 0);
        return false;
    }
    return true;
}

}  // namespace ct::analyze::http1
