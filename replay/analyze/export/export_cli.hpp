// ct-analyze's export options (--html, --har, --otlp, --otlp-endpoint and what to
// export: --capture, --conversation), kept apart from main.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sqlite/database.hpp"

namespace CLI {
class App;
}

namespace ct::analyze::exports {

struct ExportOptions {
    std::string html;           // --html FILE
    std::string har;            // --har FILE
    std::string otlp;           // --otlp FILE
    std::string otlp_endpoint;  // --otlp-endpoint URL
    std::string capture;        // --capture UUID
    std::string conversation;   // --conversation KEY
    bool any() const {
        return !html.empty() || !har.empty() || !otlp.empty() || !otlp_endpoint.empty();
    }
};

void add_export_options(CLI::App& app, ExportOptions& options);

// Checks the options before anything is imported; an error is a bad command line.
Expected<void> check_export_options(const ExportOptions& options);

// Writes / sends the exports of the captures imported in this run (`imported`)
// or named by --capture / --conversation. Reports on stderr unless `quiet`.
// Returns the exit status: 0, or 1 if an export failed.
int run_exports(sqlite::Database& db, const std::vector<std::int64_t>& imported,
                const ExportOptions& options, bool quiet);

}  // namespace ct::analyze::exports
