#include "protocols/http1/parse.hpp"

#include <algorithm>
#include <cstring>

namespace ct::analyze::http1 {
namespace {

constexpr std::size_t kMaxChunkLine = 4096;
constexpr std::size_t kMaxStartLine = 64 * 1024;
constexpr std::uint64_t kMaxContentLength = std::uint64_t{1} << 50;

bool is_tchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool is_token(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

// Removes a trailing CR: lines end in CRLF, a bare LF is tolerated.
std::string_view strip_cr(std::string_view line) {
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    return line;
}

// "HTTP/1.x" -> x, or -1.
int parse_version(std::string_view s) {
    if (s.size() != 8 || s.substr(0, 7) != "HTTP/1.")
        return -1;
    if (s[7] < '0' || s[7] > '9')
        return -1;
    return s[7] - '0';
}

bool parse_request_line(std::string_view line, Message& out) {
    std::size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos)
        return false;
    std::size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1)
        return false;
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    int minor = parse_version(line.substr(sp2 + 1));
    if (!is_token(method) || minor < 0)
        return false;
    for (char c : target) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return false;
    }
    out.method.assign(method);
    out.target.assign(target);
    out.version_minor = minor;
    return true;
}

bool parse_status_line(std::string_view line, Message& out) {
    if (line.size() < 12)
        return false;
    int minor = parse_version(line.substr(0, 8));
    if (minor < 0 || line[8] != ' ')
        return false;
    int status = 0;
    for (std::size_t i = 9; i < 12; ++i) {
        if (line[i] < '0' || line[i] > '9')
            return false;
        status = status * 10 + (line[i] - '0');
    }
    if (status < 100)
        return false;
    if (line.size() > 12) {
        if (line[12] != ' ')
            return false;
        out.reason.assign(line.substr(13));
    }
    out.status = status;
    out.version_minor = minor;
    return true;
}

// Content-Length: digits, or a list of equal values ("5, 5").
std::optional<std::uint64_t> parse_content_length(std::string_view value) {
    std::optional<std::uint64_t> result;
    while (true) {
        std::size_t comma = value.find(',');
        std::string_view item = trim_ows(value.substr(0, comma));
        if (item.empty() || item.size() > 18)
            return std::nullopt;
        std::uint64_t n = 0;
        for (char c : item) {
            if (c < '0' || c > '9')
                return std::nullopt;
            n = n * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (result && *result != n)
            return std::nullopt;
        result = n;
        if (comma == std::string_view::npos)
            break;
        value.remove_prefix(comma + 1);
    }
    if (result && *result > kMaxContentLength)
        return std::nullopt;
    return result;
}

// Header lines up to (not including) the blank line; false on a malformed line.
bool parse_header_lines(std::string_view block, std::vector<Header>& headers) {
    while (!block.empty()) {
        std::size_t nl = block.find('\n');
        std::string_view line = strip_cr(block.substr(0, nl));
        block.remove_prefix(nl == std::string_view::npos ? block.size() : nl + 1);
        if (line.empty())
            continue;
        if (line.front() == ' ' || line.front() == '\t') {  // obsolete line folding
            if (headers.empty())
                return false;
            headers.back().value += ' ';
            headers.back().value.append(trim_ows(line));
            continue;
        }
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
            return false;
        headers.push_back(Header{std::string(line.substr(0, colon)),
                                 std::string(trim_ows(line.substr(colon + 1)))});
    }
    return true;
}

// Offset just past the blank line ending a head starting at `from`, or npos.
std::size_t find_head_end(std::string_view view, std::size_t from) {
    std::size_t pos = from;
    while (true) {
        std::size_t nl = view.find('\n', pos);
        if (nl == std::string_view::npos)
            return std::string_view::npos;
        // The line after this LF is blank if it is "\n" or "\r\n".
        if (nl + 1 < view.size() && view[nl + 1] == '\n')
            return nl + 2;
        if (nl + 2 < view.size() && view[nl + 1] == '\r' && view[nl + 2] == '\n')
            return nl + 3;
        if (nl + 1 >= view.size() || (nl + 2 >= view.size() && view[nl + 1] == '\r')) {
            return std::string_view::npos;  // cannot tell yet
        }
        pos = nl + 1;
    }
}

bool decide_framing(MessageKind kind, const ParseContext& context, Message& out) {
    bool chunked = false;
    bool has_te = false;
    for (const auto& h : out.headers) {
        if (!iequals(h.name, "Transfer-Encoding"))
            continue;
        has_te = true;
        std::string_view v = trim_ows(h.value);
        std::size_t comma = v.rfind(',');
        std::string_view last = trim_ows(comma == std::string_view::npos ? v : v.substr(comma + 1));
        chunked = iequals(last, "chunked");
    }
    std::optional<std::uint64_t> length;
    bool has_length = false;
    for (const auto& h : out.headers) {
        if (!iequals(h.name, "Content-Length"))
            continue;
        auto v = parse_content_length(h.value);
        if (!v || (length && *length != *v))
            return false;
        has_length = true;
        length = v;
    }
    out.content_length = length;

    if (kind == MessageKind::Response) {
        const bool head = iequals(context.request_method, "HEAD");
        const bool connect = iequals(context.request_method, "CONNECT");
        if (out.status == 101 || (connect && out.status >= 200 && out.status < 300)) {
            out.framing = BodyFraming::Tunnel;
        } else if (head || (out.status >= 100 && out.status < 200) || out.status == 204 ||
                   out.status == 304) {
            out.framing = BodyFraming::None;
        } else if (has_te) {
            out.framing = chunked ? BodyFraming::Chunked : BodyFraming::UntilClose;
        } else if (has_length) {
            out.framing = BodyFraming::ContentLength;
        } else {
            out.framing = BodyFraming::UntilClose;
        }
        return true;
    }
    if (has_te) {
        if (!chunked)
            return false;  // a request body without a knowable end
        out.framing = BodyFraming::Chunked;
    } else if (has_length && *length > 0) {
        out.framing = BodyFraming::ContentLength;
    } else {
        out.framing = has_length ? BodyFraming::ContentLength : BodyFraming::None;
    }
    return true;
}

bool line_is_message_start(MessageKind kind, std::string_view line) {
    line = strip_cr(line);
    Message scratch;
    return kind == MessageKind::Request ? parse_request_line(line, scratch)
                                        : parse_status_line(line, scratch);
}

}  // namespace

ParseState parse_chunks(std::string_view view, std::size_t& pos, std::uint64_t base_pos,
                        Message& out, std::optional<std::uint64_t>* data_end_pos) {
    while (true) {
        std::size_t nl = view.find('\n', pos);
        if (nl == std::string_view::npos) {
            return view.size() - pos > kMaxChunkLine ? ParseState::Invalid
                                                     : ParseState::NeedsMoreData;
        }
        if (nl - pos > kMaxChunkLine)
            return ParseState::Invalid;
        std::string_view line = strip_cr(view.substr(pos, nl - pos));
        std::size_t semi = line.find(';');
        std::string_view digits = trim_ows(line.substr(0, semi));
        if (digits.empty() || digits.size() > 15)
            return ParseState::Invalid;
        std::uint64_t size = 0;
        for (char c : digits) {
            int d = (c >= '0' && c <= '9')   ? c - '0'
                    : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                             : -1;
            if (d < 0)
                return ParseState::Invalid;
            size = size * 16 + static_cast<std::uint64_t>(d);
        }
        std::size_t data_start = nl + 1;
        if (data_end_pos)
            data_end_pos->reset();
        if (size == 0) {
            // Trailer section: header lines up to a blank line.
            std::size_t end;
            if (data_start + 1 <= view.size() && view.substr(data_start, 1) == "\n") {
                end = data_start + 1;
            } else if (data_start + 2 <= view.size() && view.substr(data_start, 2) == "\r\n") {
                end = data_start + 2;
            } else {
                end = find_head_end(view, data_start);
                if (end == std::string_view::npos) {
                    if (view.size() - data_start > kMaxHeadSize)
                        return ParseState::Invalid;
                    return ParseState::NeedsMoreData;
                }
                if (!parse_header_lines(view.substr(data_start, end - data_start), out.trailers)) {
                    return ParseState::Invalid;
                }
            }
            pos = end;
            return ParseState::Success;
        }
        if (view.size() - data_start < size) {
            // Keep what is there so a truncated message still shows its body.
            std::size_t have = view.size() - data_start;
            out.append_body(view.substr(data_start, have), base_pos + data_start);
            if (data_end_pos)
                *data_end_pos = base_pos + data_start + size;
            pos = view.size();
            return ParseState::NeedsMoreData;
        }
        std::size_t data_end = data_start + static_cast<std::size_t>(size);
        std::string_view after = view.substr(data_end);
        std::size_t crlf;
        if (after.size() >= 2 && after.substr(0, 2) == "\r\n") {
            crlf = 2;
        } else if (!after.empty() && after[0] == '\n') {
            crlf = 1;
        } else if (after.empty() || after == "\r") {
            out.append_body(view.substr(data_start, static_cast<std::size_t>(size)),
                            base_pos + data_start);
            if (data_end_pos)
                *data_end_pos = base_pos + data_end;
            pos = view.size();
            return ParseState::NeedsMoreData;
        } else {
            return ParseState::Invalid;
        }
        out.append_body(view.substr(data_start, static_cast<std::size_t>(size)),
                        base_pos + data_start);
        pos = data_end + crlf;
    }
}

std::optional<std::size_t> find_chunk_boundary(std::string_view view) {
    std::size_t pos = 0;
    bool first = true;  // the view itself may start with a size line (a gap ended there)
    while (pos < view.size()) {
        std::size_t start = 0;
        if (!first) {
            std::size_t nl = view.find('\n', pos);
            if (nl == std::string_view::npos)
                return std::nullopt;
            start = nl + 1;  // a candidate chunk-size line starts after a line end
            pos = start;
            if (nl > 0 && view[nl - 1] != '\r')
                continue;  // at 0 the CR may be in the gap
        }
        first = false;
        std::size_t eol = view.find('\n', start);
        if (eol == std::string_view::npos || eol - start > 20)
            continue;
        std::string_view line = strip_cr(view.substr(start, eol - start));
        std::string_view digits = line.substr(0, line.find(';'));
        if (digits.empty() || digits.size() > 8)
            continue;
        std::uint64_t size = 0;
        bool hex = true;
        for (char c : digits) {
            int d = (c >= '0' && c <= '9')   ? c - '0'
                    : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                             : -1;
            if (d < 0) {
                hex = false;
                break;
            }
            size = size * 16 + static_cast<std::uint64_t>(d);
        }
        if (!hex)
            continue;
        // The chunk must end where its size says, with CRLF; a size that points past
        // the view cannot be checked, and a wrong one would swallow what follows.
        if (size > view.size())
            continue;
        std::size_t data_end = eol + 1 + static_cast<std::size_t>(size);
        if (data_end + 2 <= view.size() && view.substr(data_end, 2) == "\r\n")
            return start;
    }
    return std::nullopt;
}

ParseResult parse_frame(MessageKind kind, std::string_view view, const ParseContext& context,
                        Message& out) {
    out = Message{};
    out.body_limit = context.body_limit;
    out.kind = kind;
    out.stream_pos = context.base_pos;

    std::size_t start = 0;
    // Clients may send stray CRLFs between requests (RFC 9112 section 2.2).
    if (kind == MessageKind::Request) {
        while (start < view.size() && start < 8 && (view[start] == '\r' || view[start] == '\n')) {
            ++start;
        }
        out.stream_pos += start;
    }
    std::size_t first_nl = view.find('\n', start);
    if (first_nl == std::string_view::npos) {
        if (view.size() - start > kMaxStartLine)
            return parse_invalid();
        // Reject early what can never become a start line, so resync is quick.
        std::string_view prefix = view.substr(start, 8);
        std::string_view expect = "HTTP/1.";
        if (kind == MessageKind::Response &&
            prefix.substr(0, std::min(prefix.size(), expect.size())) !=
                expect.substr(0, std::min(prefix.size(), expect.size()))) {
            return parse_invalid();
        }
        if (kind == MessageKind::Request) {
            for (char c : view.substr(start, std::min<std::size_t>(view.size() - start, 32))) {
                if (c == ' ')
                    break;
                if (!is_tchar(c))
                    return parse_invalid();
            }
        }
        return parse_needs_more();
    }
    std::string_view start_line = strip_cr(view.substr(start, first_nl - start));
    bool ok = kind == MessageKind::Request ? parse_request_line(start_line, out)
                                           : parse_status_line(start_line, out);
    if (!ok)
        return parse_invalid();

    // Search for the blank line only within the head size limit, so that damage
    // cannot make every resynchronisation attempt scan the rest of the stream.
    std::string_view bounded = view.substr(0, std::min(view.size(), start + kMaxHeadSize + 4));
    std::size_t search_from = first_nl;
    if (context.head_search_from > first_nl + 3) {
        search_from = std::min(context.head_search_from - 3, bounded.size());
        // find_head_end needs to start on a line end.
        std::size_t nl = bounded.rfind('\n', search_from);
        search_from = nl == std::string_view::npos || nl < first_nl ? first_nl : nl;
    }
    std::size_t head_end = find_head_end(bounded, search_from);
    if (first_nl + 1 < view.size() && view[first_nl + 1] == '\n') {
        head_end = first_nl + 2;  // no header lines at all
    } else if (first_nl + 2 < view.size() && view[first_nl + 1] == '\r' &&
               view[first_nl + 2] == '\n') {
        head_end = first_nl + 3;
    }
    if (head_end == std::string_view::npos) {
        if (view.size() - start > kMaxHeadSize) {
            if (context.head_searched_to)
                *context.head_searched_to = bounded.size();
            return parse_invalid();
        }
        return parse_needs_more();
    }
    if (head_end - start > kMaxHeadSize)
        return parse_invalid();
    if (!parse_header_lines(view.substr(first_nl + 1, head_end - first_nl - 1), out.headers)) {
        return parse_invalid();
    }
    if (!decide_framing(kind, context, out))
        return parse_invalid();
    out.head_parsed = true;
    out.head_size = head_end - start;

    switch (out.framing) {
        case BodyFraming::None:
        case BodyFraming::Tunnel:
        case BodyFraming::Http2:  // never decided by this parser
            out.wire_size = out.head_size;
            out.complete = true;
            return parse_success(head_end);
        case BodyFraming::ContentLength: {
            const std::uint64_t length = out.content_length.value_or(0);
            const std::uint64_t total = out.head_size + length;
            const std::size_t have = view.size() - head_end;
            if (have < length) {
                out.append_body(view.substr(head_end), context.base_pos + head_end);
                out.wire_size = total;
                return parse_needs_more(start + total);
            }
            out.append_body(view.substr(head_end, static_cast<std::size_t>(length)),
                            context.base_pos + head_end);
            out.wire_size = total;
            out.complete = true;
            return parse_success(head_end + static_cast<std::size_t>(length));
        }
        case BodyFraming::Chunked: {
            std::size_t pos = head_end;
            ParseState s = parse_chunks(view, pos, context.base_pos, out, nullptr);
            if (s == ParseState::Invalid)
                return parse_invalid();
            if (s == ParseState::NeedsMoreData) {
                out.wire_size = view.size() - start;
                return parse_needs_more();
            }
            out.wire_size = pos - start;
            out.complete = true;
            return parse_success(pos);
        }
        case BodyFraming::UntilClose: {
            out.append_body(view.substr(head_end), context.base_pos + head_end);
            out.wire_size = view.size() - start;
            if (!context.stream_ended)
                return parse_needs_more();
            out.complete = true;
            return parse_success(view.size());
        }
    }
    return parse_invalid();
}

std::optional<std::size_t> find_frame_boundary(MessageKind kind, std::string_view view,
                                               std::size_t from) {
    std::size_t pos = from;
    while (pos < view.size()) {
        if (pos == 0 || view[pos - 1] == '\n') {
            std::size_t nl = view.find('\n', pos);
            std::size_t limit = nl == std::string_view::npos ? view.size() : nl;
            if (nl != std::string_view::npos && limit - pos <= kMaxStartLine &&
                line_is_message_start(kind, view.substr(pos, limit - pos))) {
                return pos;
            }
            if (nl == std::string_view::npos)
                return std::nullopt;
            pos = nl + 1;
            continue;
        }
        std::size_t nl = view.find('\n', pos);
        if (nl == std::string_view::npos)
            return std::nullopt;
        pos = nl + 1;
    }
    return std::nullopt;
}

bool is_http2_preface(std::string_view view) {
    return view.substr(0, 24) == std::string_view("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
}

}  // namespace ct::analyze::http1
