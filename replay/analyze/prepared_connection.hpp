// Everything an import needs from one connection that takes no database: the
// decoded exchanges and LLM calls, and the JSON, digests and search text the rows
// will hold. Built on worker threads, ahead of the inserts.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capture/capture_contents.hpp"
#include "connection_decoder.hpp"
#include "llm/llm_call.hpp"
#include "secrets.hpp"

namespace ct::analyze {

// A distinct request part of the connection's LLM calls (the bytes around the
// messages, a system prompt, a tool list, a message), with its SHA-256: llm_blobs
// stores each content once.
struct BlobPart {
    std::string_view text;  // into the connection's bodies
    std::string digest;
};

struct PreparedMessage {
    std::string target;  // request target, secret query parameters fingerprinted
    std::string headers_json;
    std::optional<std::string> trailers_json;
};

struct PreparedCall {
    llm::LlmCall call;  // views into the request's and response's bodies
    // Indexes into PreparedConnection::parts.
    std::optional<std::array<std::size_t, 2>> frame_parts;  // bytes before/after the messages
    std::optional<std::size_t> system_part;
    std::optional<std::size_t> tools_part;
    std::vector<std::size_t> message_parts;
    std::optional<std::string> conversation_key;  // llm_calls.conversation_key
    std::optional<std::string> opening_prompt;    // llm_calls.opening_prompt
    std::string tool_calls_json;
    std::string search_text;  // what the llm_response search document holds
};

struct PreparedConnection {
    DecodedConnection dc;
    std::vector<PreparedMessage> requests;           // parallel to dc.requests
    std::vector<PreparedMessage> responses;          // parallel to dc.responses
    std::vector<std::optional<PreparedCall>> calls;  // per exchange
    std::vector<BlobPart> parts;
};

struct HeaderPolicy {
    const SecretFingerprinter* fingerprinter = nullptr;
    bool keep_secrets = false;
};

// On the heap and never moved afterwards: calls and parts point into dc's strings.
std::unique_ptr<PreparedConnection> prepare_connection(const replay::Connection& c,
                                                       HeaderPolicy policy,
                                                       const DecodeLimits& limits = {},
                                                       GrowthBudget* budget = nullptr);

// The same for a connection (or some of its exchanges) decoded already.
std::unique_ptr<PreparedConnection> prepare_decoded(DecodedConnection decoded, HeaderPolicy policy);

// A header list as JSON pairs, secret values fingerprinted unless kept.
std::string headers_json(const std::vector<http1::Header>& headers, HeaderPolicy policy);

}  // namespace ct::analyze
