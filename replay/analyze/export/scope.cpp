#include "export/scope.hpp"

#include <algorithm>
#include <cctype>

namespace ct::analyze::exports {
namespace {

Expected<std::vector<std::int64_t>> ids(sqlite::Database& db, const std::string& sql,
                                        const std::string& arg) {
    auto st = db.prepare(sql);
    if (!st)
        return std::unexpected(st.error());
    st->bind(1, arg);
    std::vector<std::int64_t> out;
    if (auto done = st->each_row([&]() { out.push_back(st->column_int64(0)); }); !done)
        return std::unexpected(done.error());
    return out;
}

}  // namespace

Expected<ExportScope> resolve_scope(sqlite::Database& db, const std::vector<std::int64_t>& imported,
                                    const std::string& capture, const std::string& conversation) {
    ExportScope scope;
    scope.capture_ids = imported;
    if (!capture.empty()) {
        auto found = ids(
            db, "SELECT id FROM captures WHERE uuid = lower(?1) OR CAST(id AS TEXT) = ?1", capture);
        if (!found)
            return std::unexpected(found.error());
        if (found->empty())
            return fail("no capture " + capture + " in " + db.path() +
                        "; see SELECT id, uuid, file FROM captures");
        scope.capture_ids.insert(scope.capture_ids.end(), found->begin(), found->end());
    }
    if (!conversation.empty()) {
        if (!std::all_of(conversation.begin(), conversation.end(),
                         [](unsigned char c) { return std::isxdigit(c); }))
            return fail("--conversation: " + conversation +
                        " is not a conversation key (hex, as SELECT conversation FROM "
                        "v_llm_conversations shows it)");
        for (char c : conversation)
            scope.conversation += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        auto holding = ids(db,
                           "SELECT DISTINCT capture_id FROM llm_calls WHERE "
                           "hex(conversation_key) = ?1 ORDER BY capture_id",
                           scope.conversation);
        if (!holding)
            return std::unexpected(holding.error());
        if (scope.capture_ids.empty()) {
            scope.capture_ids = *holding;
        } else {
            std::erase_if(scope.capture_ids, [&](std::int64_t id) {
                return std::find(holding->begin(), holding->end(), id) == holding->end();
            });
        }
        if (scope.capture_ids.empty())
            return fail("no conversation " + conversation + " in " + db.path() +
                        (imported.empty() && capture.empty() ? "" : " (in the captures given)") +
                        "; see SELECT conversation FROM v_llm_conversations");
    }
    if (scope.capture_ids.empty())
        return fail(
            "nothing to export: give capture files to import, or --db with --capture "
            "UUID or --conversation KEY");
    // Each capture once, in the order given.
    std::vector<std::int64_t> unique;
    for (auto id : scope.capture_ids)
        if (std::find(unique.begin(), unique.end(), id) == unique.end())
            unique.push_back(id);
    scope.capture_ids = std::move(unique);
    return scope;
}

}  // namespace ct::analyze::exports
