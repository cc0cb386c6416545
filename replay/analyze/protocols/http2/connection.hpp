// HTTP/2 connections: frames of both directions into request and response
// messages per stream, header blocks decompressed with nghttp2's HPACK
// inflater. After a gap the direction's framing and HPACK state are lost, so
// decoding of that direction stops there and open streams stay incomplete.
//
// Decoder takes each direction's bytes as they come (in stream order from
// position 0) and hands over an exchange once nothing that follows can change
// it; decode_connection() feeds it whole connections.
//
// ct-analyze's import uses a Decoder with HoldBounds (the streamed and the whole
// path alike, feeding it the same pieces in the same order: the capture's
// sequence numbers, see decode_connection), so that what one connection holds
// is bounded whatever its peers do: exchanges are handed over in the order they
// complete, a RST_STREAM of either side ends its stream on both sides (RFC 9113
// section 5.1), and past the bounds the oldest exchange still open is cut.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/http1/stitcher.hpp"
#include "protocols/http1/types.hpp"
#include "stream/stream_view.hpp"

struct nghttp2_hd_inflater;

namespace ct::analyze::http2 {

struct DecodedStreams {
    std::vector<http1::Message> requests;   // kind Request, version_major 2
    std::vector<http1::Message> responses;  // final and interim responses
    std::vector<http1::Pairing> pairings;   // by stream id, in request order
    bool damaged = false;                   // a gap or malformed frame stopped decoding
};

// What a Decoder in import order (below) holds at most: messages not handed
// over yet (both directions), their bytes (headers, bodies up to the body
// limit, body maps), and how far back in its direction's stream the oldest of
// them starts. Past any of them, the oldest exchange still open is cut: its
// stream ends on both sides (later frames of it are ignored) and it is handed
// over as it stands, its open messages with complete = false.
struct HoldBounds {
    std::size_t max_messages = 256;
    std::uint64_t max_bytes = std::uint64_t{32} << 20;
    std::uint64_t max_span = std::uint64_t{64} << 20;
};
// The bounds of ct-analyze's import for a body limit (room for two messages at
// the limit beside the rest).
HoldBounds import_bounds(std::size_t body_limit);

// `body_limit`: body bytes kept per message at most (Message::body_limit).
// Without `bounds`: each direction's first run fed whole, the client's first;
// requests are in the order their header blocks ended; responses in pairing
// order (each exchange's interim responses, then its final one), then the
// final responses no request asked for (by stream id), then the interim
// responses of streams with neither.
// With `bounds` (the import): the first runs fed segment by segment, the two
// directions merged by sequence number (each direction's running maximum,
// ties to the client), to a Decoder with those bounds; pairings in the order
// the exchanges completed (see Decoder), then those still open at the end in
// request order, then as above.
DecodedStreams decode_connection(const StreamView& client, const StreamView& server, bool closed,
                                 std::size_t body_limit = std::numeric_limits<std::size_t>::max(),
                                 std::optional<HoldBounds> bounds = std::nullopt);

// The pieces an import feeds: each direction's first run (from position 0) by
// its segments, the two merged by sequence number (each direction's running
// maximum, ties to the client).
struct OrderedPiece {
    int direction = 0;
    std::uint64_t key = 0;
    std::string_view bytes;
};
std::vector<OrderedPiece> ordered_pieces(const StreamView& client, const StreamView& server);

// Stream ids, kept as ranges (ids of one side step by 2).
class StreamIdSet {
  public:
    bool contains(std::uint32_t id) const;
    void insert(std::uint32_t id);

  private:
    std::array<std::map<std::uint32_t, std::uint32_t>, 2> ranges_;  // by parity: first -> last
};

struct InflaterDeleter {
    void operator()(nghttp2_hd_inflater* p) const;
};

// One direction decoded as its bytes come. A header block on a stream this side
// already ended (END_STREAM or RST_STREAM) starts no message (RFC 9113 5.1:
// such a stream is closed), so a message, once its stream ended, never changes.
class DirectionDecoder {
  public:
    // `events`: keep the streams ended on this side, in the order of their frames
    // (for take_events()).
    DirectionDecoder(http1::MessageKind kind, std::size_t body_limit, bool events = false);

    // The direction's next bytes (its first run goes on).
    void feed(std::string_view bytes);
    // The first run ended: nothing more is decoded once what waits is.
    void end(bool cut);
    // What the peer announced as SETTINGS_HEADER_TABLE_SIZE so far (the most),
    // and whether it can still grow: a header block whose table size update
    // needs more waits for it (the whole connection's most decides).
    void peer_announced(std::uint32_t size, bool final);

    std::uint32_t announced() const { return announced_; }
    bool announcements_final() const { return !walking_; }
    // No message of this direction changes any more, and none starts.
    bool stopped() const { return damaged_ || (ended_ && !stall_); }
    bool damaged() const { return damaged_; }
    bool ended_stream(std::uint32_t stream) const { return ended_streams_.contains(stream); }
    bool open(std::uint32_t stream) const { return open_.count(stream) != 0; }
    bool any_message() const { return next_index_ > 0; }
    std::uint64_t end_pos() const { return buf_pos_ + buf_.size(); }
    std::size_t buffered() const { return buf_.size(); }
    // Stream positions before this are needed by no message that may still be taken.
    std::uint64_t oldest_needed() const;
    // Stream positions before this are decoded, the messages not taken aside.
    std::uint64_t frontier() const;

    // Messages not taken yet, by index (the order their header blocks ended).
    std::map<std::size_t, http1::Message>& messages() { return messages_; }
    const std::map<std::size_t, http1::Message>& messages() const { return messages_; }
    // Final (non-1xx) message per stream, and its interim ones, not taken yet.
    std::map<std::uint32_t, std::size_t>& finals() { return finals_; }
    std::map<std::uint32_t, std::vector<std::size_t>>& interims() { return interims_; }

    // Streams ended on this side since the last call, in frame order (true: by
    // RST_STREAM); only with `events`.
    std::vector<std::pair<std::uint32_t, bool>> take_events() { return std::move(events_); }
    // The stream ends on this side without completing (the peer reset it, or it
    // is cut): an open message stays incomplete, a header block on it starts none.
    void end_stream(std::uint32_t stream);
    // Bytes the messages not taken yet hold (headers, body, body maps).
    std::uint64_t held_bytes() const;

  private:
    struct Block {
        std::string bytes;
        std::uint32_t stream = 0;
        bool end_stream = false;
        bool is_push = false;
        std::uint64_t start = 0;
        std::uint64_t end = 0;
    };
    void process(std::string_view view);
    void walk(std::string_view view);
    void decode_frames(std::string_view view);
    std::size_t done_bytes(std::size_t size) const;
    void advance(std::size_t done);
    void compact();
    // false: stop here (damage, or a stall).
    bool decode_frame(std::string_view frame_bytes, std::uint64_t frame_pos);
    bool end_block(Block block);
    void on_header_block(std::uint32_t stream, std::vector<http1::Header> headers, bool end_stream,
                         std::uint64_t start_pos, std::uint64_t end_pos);
    void on_data(std::uint32_t stream, std::string_view data, std::uint64_t data_pos,
                 bool end_stream, std::uint64_t end_pos);
    void close(std::map<std::uint32_t, std::size_t>::iterator it);

    http1::MessageKind kind_;
    std::size_t body_limit_;
    std::unique_ptr<nghttp2_hd_inflater, InflaterDeleter> inflater_;

    // Bytes from buf_pos_ not decoded yet (decoded_ of them are) or not walked.
    std::string buf_;
    std::uint64_t buf_pos_ = 0;
    std::size_t decoded_ = 0;  // in buf_
    std::size_t walked_ = 0;   // in buf_
    bool preface_ = false;     // requests: the preface is passed
    bool walking_ = true;      // frames are walked for SETTINGS (until framing fails)
    std::optional<std::uint64_t> invalid_at_;  // framing fails there
    std::uint32_t announced_ = 4096;
    bool ended_ = false;
    bool cut_ = false;
    bool damaged_ = false;

    std::uint32_t peer_announced_ = 4096;
    bool peer_final_ = false;
    std::optional<Block> stall_;  // a header block that waits for the peer's announcement
    std::uint64_t stall_need_ = 0;

    std::optional<Block> block_;  // being assembled from HEADERS + CONTINUATION

    std::map<std::size_t, http1::Message> messages_;
    std::size_t next_index_ = 0;
    std::map<std::uint32_t, std::size_t> open_;  // stream -> final message in progress
    std::map<std::uint32_t, std::size_t> finals_;
    std::map<std::uint32_t, std::vector<std::size_t>> interims_;
    StreamIdSet ended_streams_;
    bool track_events_ = false;
    std::vector<std::pair<std::uint32_t, bool>> events_;
};

// One exchange: a request and its responses (either side may be missing).
struct Exchange {
    std::optional<http1::Message> request;
    std::vector<http1::Message> interim;
    std::optional<http1::Message> response;
};

// Both directions of a connection, decoded as their bytes come (direction 0:
// the client's, from its preface on; 1: the server's).
class Decoder {
  public:
    // Without `bounds`: exchanges handed over in request order, each once its
    // stream ended on both sides; what is fed in what order does not matter
    // (only each direction's own order). With `bounds` (the import order):
    // exchanges handed over in the order they complete, a RST_STREAM ends its
    // stream on both sides, and past the bounds the oldest open exchange is cut
    // (HoldBounds); the result then depends on how the directions take turns,
    // so both import paths feed the same pieces in the same order.
    explicit Decoder(std::size_t body_limit = std::numeric_limits<std::size_t>::max(),
                     std::optional<HoldBounds> bounds = std::nullopt);
    void feed(int direction, std::string_view bytes);
    // The direction's first run ended (`cut`: more was captured or flowed after it).
    void end(int direction, bool cut);
    // The exchanges nothing that follows can change, in request order: a request
    // whose stream ended on both sides (or whose sides stopped decoding). Once
    // both directions ended, every exchange left, then the final responses no
    // request asked for (by stream id); `orphans` gets the interim responses of
    // streams with neither.
    std::vector<Exchange> take_settled(std::vector<http1::Message>* orphans = nullptr);

    bool any_message() const { return dirs_[0].any_message() || dirs_[1].any_message(); }
    bool damaged() const { return dirs_[0].damaged() || dirs_[1].damaged(); }
    std::uint64_t end_pos(int direction) const { return dirs_[direction].end_pos(); }
    std::uint64_t oldest_needed(int direction) const { return dirs_[direction].oldest_needed(); }
    std::size_t buffered() const { return dirs_[0].buffered() + dirs_[1].buffered(); }
    // Bytes of the messages held (not handed over yet).
    std::uint64_t held_bytes() const { return dirs_[0].held_bytes() + dirs_[1].held_bytes(); }
    const DirectionDecoder& direction(int d) const { return dirs_[d]; }

  private:
    void exchange_announcements();
    // Import order: after `first` was fed or ended.
    void settle(int first);
    void take_stream(std::uint32_t stream, bool force);
    void cut_stream(std::uint32_t stream);
    bool over_bounds() const;
    std::optional<HoldBounds> bounds_;
    std::vector<Exchange> settled_;
    std::array<DirectionDecoder, 2> dirs_;
    std::array<bool, 2> ended_{};
};

}  // namespace ct::analyze::http2
