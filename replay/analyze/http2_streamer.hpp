// Decodes a tapped HTTP/2 connection while its bytes come in (for
// ExchangeStreamer), so that one long connection of many streams is not held
// whole: both directions go through http2::Decoder as they come (HPACK state
// carried along), and each exchange is decoded, prepared and written once it
// completed (its stream ended on both sides, a RST_STREAM of either side ending
// both), in the order exchanges complete, its bytes dropped. What is held: the
// frame being assembled in each direction, the messages of streams still open
// (their bodies up to --max-body-size), the times of the bytes they span, and
// the bytes of one direction waiting for the other (below). All of it is
// bounded whatever the peers do: past http2::import_bounds(), the oldest
// exchange still open is cut (written as it stands, its stream ignored from
// there on).
//
// The rows are those the whole connection gives (decode_connection): the same
// decoder (with the same bounds) takes the same pieces (the tapped segments) in
// the same order, that of the capture's sequence numbers (ordered_pieces): a
// piece waits until the other direction brought one that comes after it, or
// until more than kReorderBytes wait (then the order is the tap's; the rows of
// the two paths can differ only if the records of one connection come more than
// that far out of sequence order). The connection's last record hands over what
// the capture kept after the tapped bytes (after a gap, say): it is decoded as
// far as the whole decoder would, and the rest written.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>

#include "capture/capture_contents.hpp"
#include "capture_store.hpp"
#include "connection_decoder.hpp"
#include "content_decoding.hpp"
#include "prepared_connection.hpp"
#include "protocols/http2/connection.hpp"

namespace ct::analyze {

class Http2Streamer {
  public:
    // `exchanges_streamed` counts the exchanges written before the connection's end.
    Http2Streamer(CaptureStore& store, HeaderPolicy policy, const DecodeLimits& limits,
                  GrowthBudget& budget, const std::function<Expected<void>()>& before_first_write,
                  std::uint64_t& exchanges_streamed);

    // The connection's next tapped bytes (each direction in stream order from 0).
    Expected<void> data(const replay::Connection& connection, int direction,
                        const replay::StreamSegment& segment, std::span<const std::uint8_t> bytes);
    // A message was decoded: the whole decoder would not keep the connection as
    // raw bytes either.
    bool any_message() const { return decoder_.any_message(); }
    // `whole`: the connection handed over, its streams from where the tapped
    // bytes ended. What is left is decoded and the connection written to its end.
    Expected<void> finish(const replay::Connection& whole);
    // Bytes held: frames being assembled, messages of open streams, times of
    // their bytes, pieces waiting for the other direction.
    std::uint64_t held() const {
        return decoder_.buffered() + decoder_.held_bytes() +
               (times_[0].size() + times_[1].size()) * sizeof(Timed) + waiting_bytes_;
    }
    // The most held() was after a piece was decoded.
    std::uint64_t held_high_water() const { return held_high_water_; }

    // Bytes of one direction that wait for the other at most.
    static constexpr std::uint64_t kReorderBytes = 256 * 1024;

  private:
    struct Timed {
        std::uint64_t pos = 0;
        std::uint64_t len = 0;
        std::uint64_t monotonic_ns = 0;
    };
    void time(int direction, const replay::StreamSegment& segment);
    DecodedMessage finish_message(int direction, http1::Message message);
    DecodedConnection finish_exchanges(std::vector<http2::Exchange> exchanges);
    Expected<void> begin(const replay::Connection& connection);
    void prune();
    void compact(int direction);
    struct Waiting {
        int direction = 0;
        std::uint64_t key = 0;
        replay::StreamSegment segment;
        std::vector<std::uint8_t> bytes;
    };
    // Feeds the waiting pieces that may go (all with `all`), writing what settles.
    Expected<void> pump(const replay::Connection& connection, bool all);
    Expected<void> write_settled(const replay::Connection& connection);
    std::uint64_t waiting_bytes_in(int direction) const;

    CaptureStore& store_;
    HeaderPolicy policy_;
    const DecodeLimits& limits_;
    GrowthBudget& budget_;
    const std::function<Expected<void>()>& before_first_write_;
    std::uint64_t& exchanges_streamed_;

    http2::Decoder decoder_;
    // Per direction, when the bytes still needed were carried (by position).
    std::array<std::deque<Timed>, 2> times_;
    bool begun_ = false;
    std::array<std::deque<Waiting>, 2> waiting_;
    std::uint64_t waiting_bytes_ = 0;
    std::array<std::uint64_t, 2> seen_key_{};  // running maximum of sequence numbers
    std::array<bool, 2> seen_any_{};
    std::uint64_t held_high_water_ = 0;
    std::array<std::size_t, 2> compacted_{};  // times kept by the last compact()
    StreamedPart part_;
};

}  // namespace ct::analyze
