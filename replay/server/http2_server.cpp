#include "server/http2_server.hpp"

#include <poll.h>

#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <nghttp2/nghttp2.h>

#include "connection_decoder.hpp"

namespace ct::replay::serve {
namespace {

namespace http1 = analyze::http1;
using Clock = std::chrono::steady_clock;

struct Stream {
    std::int32_t id = 0;
    http1::Message request;  // headers and body as received
    bool answered = false;
    // The response body: pieces with the delay before each.
    std::vector<BodyChunk> pieces;
    std::size_t piece = 0;
    std::size_t offset = 0;   // within pieces[piece]
    Clock::time_point due{};  // when pieces[piece] may start
    bool deferred = false;
    // The response head, submitted at head_due (the recorded response delay).
    std::vector<std::pair<std::string, std::string>> head;
    Clock::time_point head_due{};
    bool submitted = false;
};

struct Connection {
    const Http2Io& io;
    const Http2Context& ctx;
    nghttp2_session* session = nullptr;
    std::map<std::int32_t, Stream> streams;
    std::vector<std::int32_t> ready;  // requests complete, not answered yet
    bool write_failed = false;

    Connection(const Http2Io& i, const Http2Context& c) : io(i), ctx(c) {}

    Clock::duration scaled(std::uint64_t ns) const {
        if (ctx.no_delay)
            return Clock::duration::zero();
        return std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(
            static_cast<std::int64_t>(static_cast<double>(ns) / ctx.speed)));
    }
};

Connection& conn_of(void* user_data) {
    return *static_cast<Connection*>(user_data);
}

ssize_t on_send(nghttp2_session*, const std::uint8_t* data, std::size_t length, int,
                void* user_data) {
    Connection& c = conn_of(user_data);
    if (!c.io.write({reinterpret_cast<const char*>(data), length})) {
        c.write_failed = true;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return static_cast<ssize_t>(length);
}

int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        Stream& s = conn_of(user_data).streams[frame->hd.stream_id];
        s.id = frame->hd.stream_id;
        s.request.version_major = 2;
        s.request.version_minor = 0;
    }
    return 0;
}

int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
              std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
              void* user_data) {
    auto it = conn_of(user_data).streams.find(frame->hd.stream_id);
    if (it == conn_of(user_data).streams.end())
        return 0;
    std::string n(reinterpret_cast<const char*>(name), namelen);
    std::string v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":method")
        it->second.request.method = v;
    else if (n == ":path")
        it->second.request.target = v;
    it->second.request.headers.push_back({std::move(n), std::move(v)});
    return 0;
}

int on_data(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
            std::size_t len, void* user_data) {
    auto it = conn_of(user_data).streams.find(stream_id);
    if (it != conn_of(user_data).streams.end())
        it->second.request.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
}

int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Connection& c = conn_of(user_data);
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && c.streams.contains(frame->hd.stream_id))
        c.ready.push_back(frame->hd.stream_id);
    return 0;
}

int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* user_data) {
    conn_of(user_data).streams.erase(stream_id);
    return 0;
}

ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                  std::uint32_t* data_flags, nghttp2_data_source*, void* user_data) {
    Connection& c = conn_of(user_data);
    auto it = c.streams.find(stream_id);
    if (it == c.streams.end())
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    Stream& s = it->second;
    while (s.piece < s.pieces.size() && s.offset == s.pieces[s.piece].bytes.size()) {
        ++s.piece;  // the piece is sent: the next one is due after its delay
        s.offset = 0;
        if (s.piece < s.pieces.size())
            s.due = Clock::now() + c.scaled(s.pieces[s.piece].delay_ns);
    }
    if (s.piece >= s.pieces.size()) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    if (Clock::now() < s.due) {
        s.deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    const std::string& bytes = s.pieces[s.piece].bytes;
    const std::size_t n = std::min(length, bytes.size() - s.offset);
    std::memcpy(buf, bytes.data() + s.offset, n);
    s.offset += n;
    return static_cast<ssize_t>(n);
}

nghttp2_nv nv(const std::string& name, const std::string& value) {
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
            value.size(), NGHTTP2_NV_FLAG_NONE};
}

void answer(Connection& c, Stream& s) {
    s.answered = true;
    analyze::DecodedBody body = analyze::decode_message_body(s.request);
    Answer a = c.ctx.session.answer(s.request.method, s.request.target, body.bytes);
    auto& headers = s.head;
    s.head_due = Clock::now();
    if (!a.exchange) {
        headers = {{":status", "599"},
                   {"content-type", "application/json"},
                   {"x-should-retry", "false"},
                   {"content-length", std::to_string(a.error_body.size())}};
        s.pieces.push_back({0, std::move(a.error_body)});
        return;
    }
    const RecordedExchange& x = *a.exchange;
    s.head_due += c.scaled(x.response_delay_ns);
    headers.emplace_back(":status", std::to_string(x.status));
    std::size_t total = 0;
    for (const auto& p : x.chunks)
        total += p.bytes.size();
    for (const auto& h : x.headers)
        if (!http1::iequals(h.name, "host"))
            headers.emplace_back(http1::to_lower(h.name), h.value);
    const bool no_body =
        http1::iequals(s.request.method, "HEAD") || x.status == 204 || x.status == 304;
    if (!x.sse && !no_body)
        headers.emplace_back("content-length", std::to_string(total));
    if (!no_body)
        s.pieces = x.chunks;
}

void submit(Connection& c, Stream& s) {
    s.submitted = true;
    if (!s.pieces.empty())
        s.due = Clock::now() + c.scaled(s.pieces.front().delay_ns);
    std::vector<nghttp2_nv> nva;
    for (const auto& [n, v] : s.head)
        nva.push_back(nv(n, v));
    nghttp2_data_provider provider{};
    provider.read_callback = read_body;
    nghttp2_submit_response(c.session, s.id, nva.data(), nva.size(),
                            s.pieces.empty() ? nullptr : &provider);
}

}  // namespace

void serve_http2(const Http2Io& io, const Http2Context& context) {
    Connection c(io, context);
    nghttp2_session_callbacks* cbs = nullptr;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return;
    nghttp2_session_callbacks_set_send_callback(cbs, on_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    const int rc = nghttp2_session_server_new(&c.session, cbs, &c);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0)
        return;
    struct SessionFree {
        nghttp2_session* s;
        ~SessionFree() { nghttp2_session_del(s); }
    } session_free{c.session};
    nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};
    nghttp2_submit_settings(c.session, NGHTTP2_FLAG_NONE, settings, 1);

    char buf[65536];
    while (!context.stopping()) {
        for (std::int32_t id : c.ready) {
            auto it = c.streams.find(id);
            if (it != c.streams.end() && !it->second.answered)
                answer(c, it->second);
        }
        c.ready.clear();
        const auto now = Clock::now();
        std::optional<Clock::time_point> next_due;
        for (auto& [id, s] : c.streams) {
            if (s.answered && !s.submitted) {
                if (s.head_due <= now)
                    submit(c, s);
                else if (!next_due || s.head_due < *next_due)
                    next_due = s.head_due;
            }
            if (!s.deferred)
                continue;
            if (s.due <= now) {
                s.deferred = false;
                nghttp2_session_resume_data(c.session, id);
            } else if (!next_due || s.due < *next_due) {
                next_due = s.due;
            }
        }
        if (nghttp2_session_send(c.session) != 0 || c.write_failed)
            return;
        if (!nghttp2_session_want_read(c.session) && !nghttp2_session_want_write(c.session))
            return;
        if (!io.buffered()) {
            int timeout = -1;
            if (next_due)
                timeout = static_cast<int>(
                    std::chrono::ceil<std::chrono::milliseconds>(*next_due - Clock::now()).count());
            // Wake up now and then to notice the server stopping.
            if (timeout < 0 || timeout > 200)
                timeout = 200;
            pollfd p{io.fd, POLLIN, 0};
            const int ready = ::poll(&p, 1, timeout);
            if (ready < 0 && errno != EINTR)
                return;
            if (ready <= 0)
                continue;
        }
        const long n = io.read(buf, sizeof buf);
        if (n <= 0)
            return;
        if (nghttp2_session_mem_recv(c.session, reinterpret_cast<const std::uint8_t*>(buf),
                                     static_cast<std::size_t>(n)) < 0) {
            context.log("HTTP/2: the client sent what nghttp2 refused: connection closed");
            return;
        }
    }
}

}  // namespace ct::replay::serve
