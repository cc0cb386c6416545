// Decodes the connection being read while its bytes come in (a ConnectionTap of
// StreamedCapture), so that one long connection is not held whole: each
// HTTP/1.x exchange (a request and the response that answers it) is decoded,
// prepared and written as soon as both are complete, and its bytes are dropped.
//
// A body past --max-body-size is not held either, of a request or a response,
// of known length or chunked (a long SSE stream): once the part that is kept
// has come, the rest is counted as it comes (the chunk framing followed by a
// ChunkCounter), and the exchange is written when the response ends, or when the
// capture ends inside a chunked one. A chunked message cut by the end of what
// came so far is watched the same way, so that it is parsed again once whole.
//
// A connection that starts with the HTTP/2 preface goes to an Http2Streamer,
// which decodes its streams as they come (http2_streamer.hpp).
//
// It only takes the exchanges whose decoding cannot depend on what follows:
// both messages parsed whole from a clean start, in stream order without gaps,
// the response no 1xx, no switch of protocol (CONNECT, Upgrade), times that do
// not go backwards. At the first thing that is not so (a gap,
// bytes out of order, damage that needs a resynchronisation, a body that runs
// until close ...), it stops and holds the rest of the connection, which is
// decoded as before once the connection's last record is read (decode_connection
// `continued` from where the exchanges taken ended). The rows are those the
// whole connection gives.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "capture/capture_contents.hpp"
#include "capture_store.hpp"
#include "connection_decoder.hpp"
#include "content_decoding.hpp"
#include "http2_streamer.hpp"
#include "prepared_connection.hpp"
#include "protocols/http1/chunk_counter.hpp"

namespace ct::analyze {

class ExchangeStreamer final : public replay::ConnectionTap {
  public:
    // `before_first_write`: called before the first row of a connection is
    // written (the connections before it must be written by then).
    ExchangeStreamer(CaptureStore& store, HeaderPolicy policy, const DecodeLimits& limits,
                     GrowthBudget& budget, std::function<Expected<void>()> before_first_write);

    Expected<void> data(const replay::Connection& connection, int direction,
                        const replay::StreamSegment& segment,
                        std::span<const std::uint8_t> bytes) override;

    // True if `connection` (handed over by StreamedCapture) is the one tapped.
    bool tapped(const replay::Connection& connection) const {
        return active_ && connection.conn_gen == gen_;
    }
    // The tapped connection, handed over: its tapped bytes not taken by an
    // exchange are put back in front of its streams. If none of its
    // exchanges were written yet, it is returned so for the usual path;
    // otherwise the rest of it is decoded and written here and nullopt returned.
    // `lost_bytes` gets the bytes its gaps lost.
    Expected<std::optional<replay::Connection>> finish(const replay::Connection& connection,
                                                       std::uint64_t& lost_bytes);

    // The most tapped bytes held at once, and the exchanges written as they came.
    std::uint64_t held_high_water() const { return held_high_water_; }
    std::uint64_t exchanges_streamed() const { return exchanges_streamed_; }

  private:
    enum class Mode { Probe, Stream, Hold, Http2 };
    void reset();
    Expected<void> start_http2(const replay::Connection& connection);
    Expected<void> http2_data(const replay::Connection& connection, int direction,
                              const replay::StreamSegment& segment,
                              std::span<const std::uint8_t> bytes);
    Expected<void> pump(const replay::Connection& connection);
    void drop(int direction, std::uint64_t bytes);
    bool ready(int direction);
    void cut(int direction, const ParseResult& result, const http1::Message& m);
    Expected<void> commit(const replay::Connection& connection, const StreamView& out_view,
                          const StreamView& in_view, http1::Message response);
    void start_skip(int direction, http1::Message message, std::uint64_t frame_size);
    void unskip();
    Expected<void> end_skip(const replay::Connection& connection,
                            const replay::StreamSegment& segment,
                            std::span<const std::uint8_t> bytes);
    Expected<void> end_cut_chunked(const replay::Connection& connection);
    void restart_window(int direction, std::uint64_t end, std::uint64_t monotonic_ns);
    replay::DirectionStream let_go(int direction, std::uint64_t end, std::uint64_t monotonic_ns);
    Expected<void> go_on_after(const replay::Connection& connection, int direction,
                               const replay::StreamSegment& segment,
                               std::span<const std::uint8_t> bytes, std::uint64_t head);

    // A message whose body goes past the body limit: the bytes past what is
    // kept are counted, not held, until the message ends.
    struct Skip {
        int direction = kRead;       // a response, or (kWrite) a request
        http1::Message response;     // as parsed once the kept part was there
        std::uint64_t end = 0;       // stream position where the message ends (chunked: once known)
        std::uint64_t kept_end = 0;  // the window holds the bytes before it
        std::uint64_t upto = 0;      // the bytes before it have come
        replay::StreamSegment last;  // the segment of the last byte come
        // A chunked body: its framing from the body's start, marked at kept_end.
        std::optional<http1::ChunkCounter> chunks;
    };
    std::optional<Skip> skip_;
    void put_back(replay::DirectionStream& w, Skip& k);
    StreamView request_view() const;
    // A request skipped through, waiting for its response: its window (the
    // kept part and its last segment), and the skip (to put its bytes back).
    replay::DirectionStream request_window_;
    std::uint64_t request_window_held_ = 0;
    std::optional<Skip> request_skipped_;

    CaptureStore& store_;
    HeaderPolicy policy_;
    const DecodeLimits& limits_;
    GrowthBudget& budget_;
    std::function<Expected<void>()> before_first_write_;

    bool active_ = false;
    std::uint64_t gen_ = 0;
    Mode mode_ = Mode::Probe;
    bool begun_ = false;  // the connection's row is written
    StreamedPart part_;
    // The tapped bytes not yet taken by an exchange: data from begin_pos, segments
    // with data_offset into it, end_pos where the tapped bytes end.
    std::array<replay::DirectionStream, 2> window_;
    std::array<std::uint64_t, 2> last_ns_{};
    std::array<std::size_t, 2> retry_at_{};  // parse again once the window holds this much
    // A chunked message cut by the end of the window: its framing followed as
    // its bytes come, so that it is parsed again once it is whole (or once its
    // kept part has come), not only when the window has doubled.
    struct ChunkWatch {
        http1::ChunkCounter chunks;
        std::size_t fed = 0;  // window offset up to which the counter has seen
    };
    std::array<std::optional<ChunkWatch>, 2> watch_;
    std::optional<http1::Message> request_;  // parsed, waiting for its response
    std::size_t request_size_ = 0;
    std::uint64_t held_ = 0;
    std::uint64_t held_high_water_ = 0;
    // Mode::Http2: the streamer, and whether the window was let go (once a
    // message was decoded, the connection cannot end up as raw bytes).
    std::unique_ptr<Http2Streamer> http2_;
    bool http2_dropped_ = false;
    std::uint64_t exchanges_streamed_ = 0;
};

}  // namespace ct::analyze
