#include "prepared_connection.hpp"

#include <unordered_map>

#include <openssl/sha.h>

#include "llm/json_util.hpp"

namespace ct::analyze {

namespace {

std::string sha256(std::string_view bytes) {
    std::string digest(SHA256_DIGEST_LENGTH, '\0');
    SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
           reinterpret_cast<unsigned char*>(digest.data()));
    return digest;
}

// The SHA-256 of the conversation's opening user turn (llm::conversation_opening):
// every call of a conversation resends it, calls of other conversations of the
// same agent (same system prompt) do not. One message is hashed alone, as the key
// was the first message's digest before: an Anthropic or Gemini conversation
// opened by one user message keeps the key older imports gave it. Several are
// hashed length-prefixed, so no two lists give the same bytes.
std::optional<std::string> conversation_key(const llm::LlmCall& call) {
    std::vector<std::string> opening = llm::conversation_opening(call);
    if (opening.empty())
        return std::nullopt;
    if (opening.size() == 1)
        return sha256(opening.front());
    std::string bytes;
    for (const auto& m : opening) {
        bytes += std::to_string(m.size());
        bytes += ':';
        bytes += m;
    }
    return sha256(bytes);
}

std::string search_text(const llm::LlmCall& call) {
    std::string text = call.thinking.empty() ? call.text : call.thinking + "\n" + call.text;
    for (const auto& t : call.tool_calls)
        text += "\n" + t.name + " " + t.input_json;
    return text;
}

// Numbers the distinct contents of a connection's request parts: calls on one
// connection resend the same messages, so each is hashed once.
class PartTable {
  public:
    explicit PartTable(std::vector<BlobPart>& parts) : parts_(parts) {}

    std::size_t add(std::string_view text) {
        auto [it, inserted] = index_.try_emplace(text, parts_.size());
        if (inserted)
            parts_.push_back(BlobPart{text, sha256(text)});
        return it->second;
    }

  private:
    std::vector<BlobPart>& parts_;
    std::unordered_map<std::string_view, std::size_t> index_;
};

PreparedCall prepare_call(llm::LlmCall call, const DecodedMessage& request, PartTable& parts) {
    PreparedCall p;
    // With the messages found in the body, the body is stored as the bytes around
    // them (model, system prompt, tools: they repeat too).
    const std::string_view body = request.body.bytes;
    if (!call.messages.empty()) {
        const char* base = body.data();
        const char* first = call.messages.front().data();
        const char* last_end = call.messages.back().data() + call.messages.back().size();
        if (first >= base && last_end <= base + body.size()) {
            std::size_t prefix = parts.add(body.substr(0, static_cast<std::size_t>(first - base)));
            std::size_t suffix = parts.add(body.substr(static_cast<std::size_t>(last_end - base)));
            p.frame_parts = std::array<std::size_t, 2>{prefix, suffix};
        }
    }
    if (!call.system_json.empty())
        p.system_part = parts.add(call.system_json);
    if (!call.tools_json.empty())
        p.tools_part = parts.add(call.tools_json);
    p.message_parts.reserve(call.messages.size());
    for (std::string_view m : call.messages)
        p.message_parts.push_back(parts.add(m));
    p.conversation_key = conversation_key(call);
    p.opening_prompt = llm::opening_prompt(call);
    p.tool_calls_json = llm::tool_calls_json(call.tool_calls);
    p.search_text = search_text(call);
    p.call = std::move(call);
    return p;
}

PreparedMessage prepare_message(const DecodedMessage& d, HeaderPolicy policy) {
    PreparedMessage p;
    const bool redact = !policy.keep_secrets && policy.fingerprinter;
    p.target = redact ? policy.fingerprinter->redact_url(d.message.target) : d.message.target;
    p.headers_json = headers_json(d.message.headers, policy);
    if (!d.message.trailers.empty())
        p.trailers_json = headers_json(d.message.trailers, policy);
    return p;
}

}  // namespace

std::string headers_json(const std::vector<http1::Header>& headers, HeaderPolicy policy) {
    llm::Json out = llm::Json::array();
    for (const auto& h : headers) {
        std::string value = h.value;
        if (!policy.keep_secrets && policy.fingerprinter) {
            if (SecretFingerprinter::is_secret_header(h.name))
                value = policy.fingerprinter->redact(h.name, h.value);
            else if (SecretFingerprinter::is_url_header(h.name))
                value = policy.fingerprinter->redact_url(h.value);
        }
        out.push_back(llm::Json::array({h.name, std::move(value)}));
    }
    return llm::dump(out);
}

std::unique_ptr<PreparedConnection> prepare_connection(const replay::Connection& c,
                                                       HeaderPolicy policy,
                                                       const DecodeLimits& limits,
                                                       GrowthBudget* budget) {
    return prepare_decoded(decode_connection(c, limits, budget), policy);
}

std::unique_ptr<PreparedConnection> prepare_decoded(DecodedConnection decoded,
                                                    HeaderPolicy policy) {
    auto p = std::make_unique<PreparedConnection>();
    p->dc = std::move(decoded);
    const DecodedConnection& dc = p->dc;
    p->requests.reserve(dc.requests.size());
    for (const auto& r : dc.requests)
        p->requests.push_back(prepare_message(r, policy));
    p->responses.reserve(dc.responses.size());
    for (const auto& r : dc.responses)
        p->responses.push_back(prepare_message(r, policy));
    PartTable parts(p->parts);
    p->calls.resize(dc.exchanges.size());
    for (std::size_t x = 0; x < dc.exchanges.size(); ++x) {
        const auto& pairing = dc.exchanges[x];
        if (!pairing.request)
            continue;
        const DecodedMessage& request = dc.requests[*pairing.request];
        const DecodedMessage* response =
            pairing.response ? &dc.responses[*pairing.response] : nullptr;
        if (auto call = llm::decode_llm_call(request, response))
            p->calls[x] = prepare_call(std::move(*call), request, parts);
    }
    return p;
}

}  // namespace ct::analyze
