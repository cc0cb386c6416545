// What an export covers: captures of the database, and optionally only the LLM
// calls of one conversation (and the HTTP exchanges that carried them).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sqlite/database.hpp"

namespace ct::analyze::exports {

struct ExportScope {
    std::vector<std::int64_t> capture_ids;  // captures.id, in order
    std::string conversation;               // upper-case hex conversation key; empty: all
};

// `imported`: the captures this run imported (or found already imported).
// `capture`: a capture UUID or captures.id given on the command line (or "").
// `conversation`: a hex conversation key as v_llm_conversations shows it (or "").
// A conversation alone selects every capture holding it; with captures, those of
// them that hold it.
Expected<ExportScope> resolve_scope(sqlite::Database& db, const std::vector<std::int64_t>& imported,
                                    const std::string& capture, const std::string& conversation);

// SQL condition on an http_requests row aliased `q`, true when the scope keeps it;
// binds ?2 to the scope's conversation (?1 is the capture id).
inline constexpr const char* kRequestInScope =
    "(?2 = '' OR q.id IN (SELECT l.request_id FROM llm_calls l WHERE l.capture_id = ?1 AND "
    "hex(l.conversation_key) = ?2))";

}  // namespace ct::analyze::exports
