// Follows the framing of a chunked body (RFC 9112 section 7.1) as its bytes
// come, without holding its data: the same verdicts as parse_chunks() over the
// same bytes, in memory bounded by one chunk-size line and the trailer section.
// ExchangeStreamer counts the part of a long chunked body past --max-body-size
// with it, and can give back bytes that parse as the skipped ones did.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/http1/types.hpp"

namespace ct::analyze::http1 {

class ChunkCounter {
  public:
    enum class State { SizeLine, Data, DataEnd, Trailers, Done, Invalid };

    // Takes the body bytes that follow (from the first chunk-size line on), and
    // returns how many it took: all of them, but when the body ended (Done: the
    // rest follows the message) or stopped being chunked framing (Invalid: the
    // byte that told is taken), or when `data_limit` bytes of chunk data were
    // counted in all (the rest is for a later call).
    std::size_t feed(std::string_view bytes,
                     std::uint64_t data_limit = std::numeric_limits<std::uint64_t>::max());

    State state() const { return state_; }
    std::uint64_t consumed() const { return consumed_; }      // body bytes taken
    std::uint64_t data_bytes() const { return data_bytes_; }  // chunk data among them
    // Done: the trailer fields.
    const std::vector<Header>& trailers() const { return trailers_; }
    // In Data with none of the chunk's data come yet: the body offset where it
    // starts (parse_chunks then notes an empty body piece there).
    bool at_data_start() const { return state_ == State::Data && chunk_done_ == 0; }

    // Remembers where the counter is now (a body offset inside a chunk's data,
    // or where a chunk-size line starts).
    void mark() { mark_ = snapshot(); }
    // Bytes of the length taken since mark() that parse_chunks() reads as it
    // read the real ones: the same chunk data counts, the same chunk boundaries
    // where it matters (the current chunk-size line and trailers are the real
    // ones), data as zeros. False if no such bytes exist (never for bytes that
    // were valid framing); `out` is then filled with zeros.
    bool synthesize_since_mark(std::vector<std::uint8_t>& out) const;

  private:
    struct Snapshot {
        std::uint64_t consumed = 0;
        std::uint64_t data_bytes = 0;
        std::uint64_t element_start = 0;  // body offset of the current chunk-size line
        std::uint64_t data_before = 0;    // chunk data before the current chunk
        std::uint64_t chunk_size = 0;
        std::uint64_t chunk_done = 0;
        State state = State::SizeLine;
    };
    Snapshot snapshot() const {
        return {consumed_,   data_bytes_, element_start_, data_before_,
                chunk_size_, chunk_done_, state_};
    }
    void end_line();
    void take_trailer_byte(char c);

    State state_ = State::SizeLine;
    std::uint64_t consumed_ = 0;
    std::uint64_t data_bytes_ = 0;
    std::uint64_t element_start_ = 0;
    std::uint64_t data_before_ = 0;
    std::uint64_t chunk_size_ = 0;
    std::uint64_t chunk_done_ = 0;
    std::string element_;  // the current chunk-size line (with trailers after a last chunk)
    std::size_t trailer_from_ = 0;  // where the trailers start in element_
    std::string data_end_;          // the bytes after the current chunk's data ("\r")
    std::vector<Header> trailers_;
    Snapshot mark_;
};

}  // namespace ct::analyze::http1
