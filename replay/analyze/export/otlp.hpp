// OpenTelemetry traces (OTLP/JSON) of the sessions in the database, following the
// OpenTelemetry GenAI semantic conventions, and a plain-HTTP OTLP sender.
#pragma once

#include <cstddef>
#include <string>

#include "export/scope.hpp"
#include "sqlite/database.hpp"

namespace ct::analyze::exports {

struct OtlpDocument {
    std::string json;  // an ExportTraceServiceRequest in the OTLP/JSON encoding
    std::size_t spans = 0;
    std::size_t llm_spans = 0;
};

// One trace per capture (trace id = the capture UUID's 16 bytes): a session root
// span; a span per process (under its parent process); a CLIENT span per HTTP
// exchange (under the process that made it); a CLIENT "chat {model}" span per LLM
// call under its HTTP span; an "execute_tool {name}" span per tool call the model
// asked for. Span ids are derived from the capture UUID and row ids, so the same
// database gives the same ids every time.
Expected<OtlpDocument> build_otlp(sqlite::Database& db, const ExportScope& scope);

// POSTs `json` to `endpoint` + "/v1/traces" (unless it already ends so) as
// OTLP/HTTP JSON. Only http:// endpoints (plain TCP); a non-2xx answer or a
// partial success that rejected spans is an error. Returns the answer's status line.
Expected<std::string> post_otlp(const std::string& endpoint, const std::string& json);

// Checks an endpoint URL without connecting (for the command line).
Expected<void> check_otlp_endpoint(const std::string& endpoint);

}  // namespace ct::analyze::exports
