// Decodes a tapped HTTP/2 connection while its bytes come in (for
// ExchangeStreamer), so that one long connection of many streams is not held
// whole: both directions go through http2::Decoder as they come (HPACK state
// carried along), and each exchange is decoded, prepared and written once its
// stream ended on both sides (and those of the requests before it were written),
// its bytes dropped. What is held: the frame being assembled in each direction,
// the messages of streams still open (their bodies up to --max-body-size), and
// the times of the bytes they span.
//
// The rows are those the whole connection gives (decode_connection): the same
// decoder takes it whole, and an exchange is written only once nothing that
// follows can change it. The connection's last record hands over what the
// capture kept after the tapped bytes (after a gap, say): it is decoded as far
// as the whole decoder would, and the rest written.
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
    // Bytes held: frames being assembled.
    std::uint64_t held() const { return decoder_.buffered(); }

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
    StreamedPart part_;
};

}  // namespace ct::analyze
