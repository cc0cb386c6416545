#include "export/export_cli.hpp"

// GCC 12 reports a false null dereference inside vector<string> growth as
// instantiated by CLI11 (a known GCC 12 -O2 false positive).
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>

#include "export/har.hpp"
#include "export/html_report.hpp"
#include "export/otlp.hpp"
#include "export/scope.hpp"

namespace ct::analyze::exports {
namespace {

// Writes through a temporary file renamed into place, so a failed export leaves
// no half-written file under the name asked for.
Expected<void> write_file(const std::string& path, const std::string& contents) {
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out)
            return fail_errno("cannot write " + tmp);
        out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
        out.close();
        if (!out)
            return fail_errno("cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        auto error = fail_errno("cannot rename " + tmp + " to " + path);
        std::remove(tmp.c_str());
        return error;
    }
    return {};
}

}  // namespace

void add_export_options(CLI::App& app, ExportOptions& o) {
    app.add_option("--html", o.html,
                   "write a self-contained HTML report (no network needed: conversations, LLM "
                   "calls, timeline, losses) of the captures imported now, or of --capture / "
                   "--conversation from --db")
        ->type_name("FILE");
    app.add_option("--har", o.har,
                   "write the HTTP exchanges as HAR 1.2 (HTTP Archive: browser devtools, HAR "
                   "viewers) to FILE: decoded bodies, headers (secrets fingerprinted as in the "
                   "database), timings from the capture")
        ->type_name("FILE");
    app.add_option("--otlp", o.otlp,
                   "write the session as OpenTelemetry traces (OTLP/JSON "
                   "ExportTraceServiceRequest, GenAI semantic conventions) to FILE")
        ->type_name("FILE");
    app.add_option("--otlp-endpoint", o.otlp_endpoint,
                   "send those traces to an OTLP/HTTP receiver: POST URL/v1/traces with JSON "
                   "(http:// only, e.g. http://localhost:4318)")
        ->type_name("URL");
    app.add_option("--capture", o.capture,
                   "with --html/--har/--otlp and --db: export this imported capture (its UUID; "
                   "--har/--otlp also take its captures.id)")
        ->type_name("UUID");
    app.add_option("--conversation", o.conversation,
                   "with --html/--har/--otlp: export only the LLM calls of this conversation "
                   "(and the HTTP exchanges that carried them); KEY as SELECT conversation FROM "
                   "v_llm_conversations shows it (--html: or a unique prefix of 8+ digits)")
        ->type_name("KEY");
}

Expected<void> check_export_options(const ExportOptions& o) {
    if (!o.any() && (!o.capture.empty() || !o.conversation.empty()))
        return fail(
            "--capture and --conversation choose what --html, --har, --otlp or "
            "--otlp-endpoint export; give one of those");
    if (!o.otlp_endpoint.empty())
        return check_otlp_endpoint(o.otlp_endpoint);
    return {};
}

int run_exports(sqlite::Database& db, const std::vector<std::int64_t>& imported,
                const ExportOptions& o, bool quiet) {
    int status = 0;
    if (!o.html.empty()) {
        auto report = html_report_command(db, imported, o.capture, o.conversation, o.html);
        if (!report) {
            fmt::print(stderr, "ct-analyze: --html: {}\n", report.error().what());
            status = 1;
        } else if (!quiet) {
            fmt::print("Wrote {}: {} LLM calls, {} HTTP exchanges, {} KiB.\n", o.html,
                       report->llm_calls, report->http_exchanges, (report->bytes + 1023) / 1024);
        }
    }
    if (o.har.empty() && o.otlp.empty() && o.otlp_endpoint.empty())
        return status;
    auto scope = resolve_scope(db, imported, o.capture, o.conversation);
    if (!scope) {
        fmt::print(stderr, "ct-analyze: {}\n", scope.error().what());
        return 1;
    }
    if (!o.har.empty()) {
        auto har = build_har(db, *scope);
        if (!har) {
            fmt::print(stderr, "ct-analyze: --har: {}\n", har.error().what());
            status = 1;
        } else if (auto w = write_file(o.har, har->json); !w) {
            fmt::print(stderr, "ct-analyze: --har: {}\n", w.error().what());
            status = 1;
        } else if (!quiet) {
            fmt::print(stderr, "Wrote {} HTTP exchanges to {} (HAR 1.2).\n", har->entries, o.har);
        }
    }
    if (!o.otlp.empty() || !o.otlp_endpoint.empty()) {
        auto otlp = build_otlp(db, *scope);
        if (!otlp) {
            fmt::print(stderr, "ct-analyze: --otlp: {}\n", otlp.error().what());
            return 1;
        }
        if (!o.otlp.empty()) {
            if (auto w = write_file(o.otlp, otlp->json); !w) {
                fmt::print(stderr, "ct-analyze: --otlp: {}\n", w.error().what());
                status = 1;
            } else if (!quiet) {
                fmt::print(stderr, "Wrote {} spans ({} LLM calls) to {} (OTLP/JSON).\n",
                           otlp->spans, otlp->llm_spans, o.otlp);
            }
        }
        if (!o.otlp_endpoint.empty()) {
            auto sent = post_otlp(o.otlp_endpoint, otlp->json);
            if (!sent) {
                fmt::print(stderr, "ct-analyze: --otlp-endpoint: {}\n", sent.error().what());
                status = 1;
            } else if (!quiet) {
                fmt::print(stderr, "Sent {} spans ({} LLM calls) to {}: {}\n", otlp->spans,
                           otlp->llm_spans, o.otlp_endpoint, *sent);
            }
        }
    }
    return status;
}

}  // namespace ct::analyze::exports
