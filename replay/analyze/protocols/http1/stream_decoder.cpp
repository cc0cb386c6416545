#include "protocols/http1/stream_decoder.hpp"

#include <algorithm>

namespace ct::analyze::http1 {

void StreamDecoder::start_resync() {
    if (!resync_)
        ++resyncs_;
    resync_ = true;
}

// Appends the captured bytes of runs after `run_index` up to stream position `end`
// to the body; returns how many were appended.
std::uint64_t StreamDecoder::collect_until(std::size_t run_index, std::uint64_t end,
                                           Message& msg) const {
    std::uint64_t added = 0;
    const auto& runs = view_->runs();
    std::uint64_t expected = runs[run_index].end();
    for (std::size_t i = run_index + 1; i < runs.size() && runs[i].pos < end; ++i) {
        if (runs[i].pos != expected)
            msg.body_gaps.push_back(msg.body.size());
        expected = runs[i].end();
        std::uint64_t len = std::min<std::uint64_t>(runs[i].bytes.size(), end - runs[i].pos);
        msg.append_body(runs[i].bytes.substr(0, static_cast<std::size_t>(len)), runs[i].pos);
        added += len;
    }
    return added;
}

// True if the last run touched by a message ending at `end` stops before it.
bool StreamDecoder::run_end_in_message(std::size_t run_index, std::uint64_t end) const {
    const auto& runs = view_->runs();
    std::size_t i = run_index;
    while (i + 1 < runs.size() && runs[i + 1].pos < end)
        ++i;
    return runs[i].end() < end;
}

std::optional<Message> StreamDecoder::next(std::string_view request_method) {
    const auto& runs = view_->runs();
    while (true) {
        std::size_t ri = view_->run_at_or_after(pos_);
        if (ri >= runs.size()) {
            pos_ = std::max(pos_, view_->end_pos());
            return std::nullopt;
        }
        const ByteRun& run = runs[ri];
        if (pos_ < run.pos) {  // stepped into a gap: what follows needs a boundary
            pos_ = run.pos;
            start_resync();
        }
        std::string_view view = run.bytes.substr(static_cast<std::size_t>(pos_ - run.pos));
        const bool last_run = ri + 1 == runs.size() && run.end() >= view_->end_pos();

        if (resync_) {
            auto boundary = find_frame_boundary(kind_, view);
            if (!boundary) {
                skipped_ += view.size();
                pos_ = run.end();
                continue;
            }
            skipped_ += *boundary;
            pos_ += *boundary;
            view.remove_prefix(*boundary);
            resync_ = false;
            mark_next_ = true;
        }

        ParseContext context{pos_, request_method, last_run && closed_};
        context.body_limit = body_limit_;
        // Heads already searched for their end: do not scan that stretch again.
        std::size_t searched_to = 0;
        if (no_head_end_before_ > pos_)
            context.head_search_from = static_cast<std::size_t>(no_head_end_before_ - pos_);
        context.head_searched_to = &searched_to;
        Message msg;
        ParseResult result = parse_frame(kind_, view, context, msg);
        msg.after_resync = mark_next_;
        switch (result.state) {
            case ParseState::Success:
                mark_next_ = false;
                pos_ += result.consumed;
                return msg;
            case ParseState::Invalid:
                if (searched_to > 0)
                    no_head_end_before_ = std::max(no_head_end_before_, pos_ + searched_to);
                // Not a message here: search from the next byte on.
                skipped_ += 1;
                pos_ += 1;
                start_resync();
                continue;
            case ParseState::NeedsMoreData:
                break;
        }
        mark_next_ = false;
        if (!msg.head_parsed) {
            // A head cut by a gap or by the end of the capture is not a message.
            skipped_ += view.size();
            pos_ = run.end();
            if (last_run)
                return std::nullopt;
            start_resync();
            continue;
        }
        msg.complete = false;
        const std::uint64_t start = pos_;
        if (result.frame_size) {
            // The head said how long the message is: step over the gap to its end.
            const std::uint64_t end = start + *result.frame_size;
            collect_until(ri, end, msg);
            if (run_end_in_message(ri, end))
                msg.body_gaps.push_back(msg.body.size());
            const std::uint64_t flowed = std::min(end, view_->end_pos()) - start;
            const std::uint64_t captured = msg.head_size + msg.body.size() + msg.body_omitted;
            msg.gap_bytes = flowed > captured ? flowed - captured : 0;
            pos_ = end;
            return msg;
        }
        if (msg.framing == BodyFraming::UntilClose) {
            // Everything to the end of the stream belongs to this body.
            collect_until(ri, view_->end_pos(), msg);
            if (run_end_in_message(ri, view_->end_pos()))
                msg.body_gaps.push_back(msg.body.size());
            const std::uint64_t flowed = view_->end_pos() - start;
            msg.wire_size = flowed;
            const std::uint64_t captured = msg.head_size + msg.body.size() + msg.body_omitted;
            msg.gap_bytes = flowed > captured ? flowed - captured : 0;
            msg.complete = msg.gap_bytes == 0 && closed_;
            pos_ = view_->end_pos();
            return msg;
        }
        // A chunked body cut by a gap (or by the end of the capture).
        return continue_chunked(ri, view, start, std::move(msg));
    }
}

// Continues a chunked body across gaps: where the cut chunk's size says its data
// ends, or else at the next plausible chunk-size line, so that the rest of a
// long body (an SSE stream) survives a lost record. Gives up and resynchronises
// on the next message when neither works.
Message StreamDecoder::continue_chunked(std::size_t ri, std::string_view view, std::uint64_t start,
                                        Message msg) {
    const auto& runs = view_->runs();
    // Parse the chunks again to learn where the cut chunk's data ends.
    msg.body.clear();
    msg.body_pieces.clear();
    msg.body_omitted = 0;
    msg.trailers.clear();
    std::size_t p =
        static_cast<std::size_t>(msg.stream_pos - pos_) + static_cast<std::size_t>(msg.head_size);
    std::optional<std::uint64_t> resume;
    parse_chunks(view, p, pos_, msg, &resume);
    msg.complete = false;
    std::size_t cur = ri;
    while (true) {
        if (cur + 1 >= runs.size()) {  // the capture ends inside the body
            msg.gap_bytes += view_->end_pos() - runs[cur].end();
            if (view_->end_pos() > runs[cur].end())
                msg.body_gaps.push_back(msg.body.size());
            pos_ = view_->end_pos();
            msg.wire_size = pos_ - start;
            return msg;
        }
        const ByteRun& next = runs[cur + 1];
        msg.gap_bytes += next.pos - runs[cur].end();
        msg.body_gaps.push_back(msg.body.size());
        std::optional<std::size_t> at;  // where chunk parsing resumes in next.bytes
        if (resume && *resume >= next.end() && *resume > next.pos) {
            // The cut chunk's data covers this whole run.
            msg.append_body(next.bytes, next.pos);
            ++cur;
            continue;
        }
        if (resume && *resume >= next.pos) {
            std::size_t data = static_cast<std::size_t>(*resume - next.pos);
            msg.append_body(next.bytes.substr(0, data), next.pos);
            std::string_view rest = next.bytes.substr(data);
            if (rest.substr(0, 2) == "\r\n") {
                at = data + 2;
            } else if (rest.substr(0, 1) == "\n") {
                at = data + 1;
            }
        }
        if (!at && resume && *resume < next.pos && next.pos - *resume <= 2) {
            // The gap took (part of) the CRLF after the chunk: a size line follows.
            std::size_t skip = static_cast<std::size_t>(*resume + 2 - next.pos);
            if (skip == 0 || next.bytes.substr(0, 1) == "\n")
                at = skip;
        }
        if (!at) {
            auto boundary = find_chunk_boundary(next.bytes);
            // A message start before it means this body ended in the gap.
            auto message = find_frame_boundary(kind_, next.bytes);
            if (boundary && (!message || *message > *boundary))
                at = *boundary;
        }
        if (!at) {
            pos_ = next.pos;
            msg.wire_size = pos_ - start;
            start_resync();
            return msg;
        }
        std::string_view rest = next.bytes.substr(*at);
        std::size_t q = 0;
        resume.reset();
        ParseState state = parse_chunks(rest, q, next.pos + *at, msg, &resume);
        if (state == ParseState::Success) {
            pos_ = next.pos + *at + q;
            msg.wire_size = pos_ - start;
            return msg;
        }
        if (state == ParseState::Invalid) {
            pos_ = next.pos + *at;
            msg.wire_size = pos_ - start;
            start_resync();
            return msg;
        }
        ++cur;
    }
}

}  // namespace ct::analyze::http1
