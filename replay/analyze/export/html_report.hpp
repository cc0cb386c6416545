// ct-analyze --html: one self-contained HTML file (inline CSS, JS and SVG, the
// data as embedded JSON) that shows a session from the database: conversations,
// LLM calls with their figures, a timeline of processes, connections and HTTP
// exchanges, and what the capture lost. Built from the database only (whose
// header values are already redacted), never from capture bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sqlite/database.hpp"

namespace ct::analyze {

// What the report shows: these captures, or only the LLM calls (and their HTTP
// exchanges) of one conversation of them.
struct ReportSelection {
    std::vector<std::int64_t> capture_ids;
    std::string conversation;  // hex conversation key (v_llm_conversations), or empty
};

// Resolves --capture UUID and --conversation KEY (either may be empty; a key may
// be a unique prefix of at least 8 hex digits). With neither, the database must
// hold exactly one capture.
Expected<ReportSelection> select_report(sqlite::Database& db, const std::string& capture_uuid,
                                        const std::string& conversation);

struct ReportFigures {
    std::uint64_t bytes = 0;  // size of the HTML file
    std::size_t llm_calls = 0;
    std::size_t http_exchanges = 0;
};

// The HTML document for `selection`.
Expected<std::string> html_report(sqlite::Database& db, const ReportSelection& selection,
                                  ReportFigures* figures = nullptr);

// Writes html_report() to `path` (through a temporary file, renamed into place).
Expected<ReportFigures> write_html_report(sqlite::Database& db, const ReportSelection& selection,
                                          const std::string& path);

// ct-analyze --html PATH: the report of the captures just imported (`imported`)
// unless --capture / --conversation choose (then resolved by select_report).
Expected<ReportFigures> html_report_command(sqlite::Database& db,
                                            const std::vector<std::int64_t>& imported,
                                            const std::string& capture_uuid,
                                            const std::string& conversation,
                                            const std::string& path);

// The report's stylesheet and script (export/report.css, export/report.js),
// embedded at build time by embed_assets.cmake.
const char* html_report_css();
const char* html_report_js();

}  // namespace ct::analyze
