// Captures written with the project's own writer from scripted byte streams
// import to the expected rows; re-importing changes nothing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>

#include "analyze_capture.hpp"
#include "capture/capture_contents.hpp"
#include "gzip.hpp"
#include "http2_frames.hpp"
#include "llm_fixtures.hpp"
#include "secrets.hpp"
#include "summary.hpp"
#include "synthetic_capture.hpp"
#include "test_db.hpp"
#include "test_files.hpp"
#include "timeline.hpp"

namespace ct::analyze {
namespace {

using testing::chunk;
using testing::gzip;
using testing::h2_frame;
using testing::hpack_literal;

const std::string kGzipBody =
    R"({"data":[{"id":"claude-sonnet-4-5"},{"id":"claude-haiku-4-5"}],"has_more":false})";

// Process 100 runs an agent: one keep-alive connection with a streamed Anthropic
// call (tool_use), a gzip JSON response and a second, non-streamed call; a second
// connection with an OpenAI stream; a third whose response lost bytes.
void write_session(const std::string& path, bool finish, const std::string& seed = "session") {
    testing::SyntheticOptions options;
    options.uuid_seed = seed;
    options.writer.unit_max_bytes = 4096;
    options.writer.segment_max_bytes =
        options.writer.unit_max_bytes;  // many frames, so damage tests have boundaries to hit
    testing::SyntheticCapture cap(path, options);
    cap.process(100, 1, "/usr/bin/agent", {"agent", "--task", "list files"});

    auto g1 = cap.open_connection(100, 0x1000, "agent");
    cap.socket(g1, 5, "160.79.104.10", 443, 50000);
    cap.write(g1, testing::http_request("/v1/messages", testing::kAnthropicStreamRequestBody));
    cap.advance_ns(200'000'000);  // 200 ms until the response head
    cap.read(g1, testing::sse_response_head());
    for (const auto& e : testing::anthropic_stream_events()) {
        cap.advance_ns(10'000'000);
        cap.read(g1, chunk(e));
    }
    cap.read(g1, "0\r\n\r\n");
    cap.write(g1,
              "GET /v1/models HTTP/1.1\r\nHost: api.anthropic.com\r\nAccept-Encoding: gzip\r\n"
              "x-api-key: sk-ant-secret-123\r\n\r\n");
    std::string gz = gzip(kGzipBody);
    cap.read(g1,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
             "Content-Length: " +
                 std::to_string(gz.size()) + "\r\n\r\n" + gz);
    std::string request_body =
        R"({"model":"claude-haiku-4-5","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"a b"}]}]})";
    cap.write(g1, testing::http_request("/v1/messages", request_body));
    const std::string body = testing::kAnthropicJsonResponseBody;
    cap.read(g1, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);
    cap.close(g1);

    auto g2 = cap.open_connection(100, 0x2000, "agent");
    cap.write(g2,
              "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer "
              "sk-openai-9\r\n"
              "Content-Type: application/json\r\nContent-Length: "
              "30\r\n\r\n{\"model\":\"gpt-4o\",\"stream\":1}");
    std::string wire =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
    cap.read(g2, wire);
    for (const auto& e : testing::openai_chat_stream_events())
        cap.read(g2, chunk(e));
    cap.read(g2, "0\r\n\r\n");
    cap.close(g2);

    auto g3 = cap.open_connection(100, 0x3000, "agent");
    cap.write(g3, "GET /big HTTP/1.1\r\nHost: files.example\r\n\r\n");
    cap.read(g3,
             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n\r\n0123456789");
    cap.vanish(g3, CT_DIR_READ, 10, 3);  // three events lost: ten bytes of the body
    cap.read(g3, "abcdefghij");
    cap.write(g3, "GET /after HTTP/1.1\r\nHost: files.example\r\n\r\n");
    cap.read(g3, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    cap.close(g3);
    cap.exit(100, 0);
    if (finish) {
        cap.finish();
    } else {
        cap.flush_frame();
    }
}

using testing::Db;

Db open_db(const std::string& path) {
    auto db = open_session_database(path);
    EXPECT_TRUE(db) << db.error().what();
    return Db{std::move(*db)};
}

TEST(Import, SessionToRows) {
    testing::TempDir dir;
    const std::string capture = dir.file("s.ctz");
    write_session(capture, true);
    Db d = open_db(dir.file("db.sqlite"));
    auto r = import_capture_file(d.db, capture, false);
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_FALSE(r->result.already_present);
    EXPECT_TRUE(r->ended_cleanly);

    EXPECT_EQ(d.count("SELECT count(*) FROM captures"), 1);
    EXPECT_EQ(d.count("SELECT ended_cleanly FROM captures"), 1);
    EXPECT_EQ(d.text("SELECT hostname FROM captures"), "testhost");
    EXPECT_EQ(d.count("SELECT count(*) FROM processes WHERE pid = 100 AND exe = '/usr/bin/agent'"),
              1);
    EXPECT_EQ(d.count("SELECT count(*) FROM connections"), 3);
    EXPECT_EQ(
        d.text("SELECT remote_addr || ':' || remote_port FROM connections WHERE ssl_ptr = 4096"),
        "160.79.104.10:443");
    EXPECT_EQ(d.text("SELECT host FROM connections WHERE ssl_ptr = 4096"), "api.anthropic.com");
    EXPECT_EQ(d.count("SELECT count(*) FROM http_requests"), 6);
    EXPECT_EQ(d.count("SELECT count(*) FROM http_responses"), 6);
    EXPECT_EQ(d.count("SELECT count(*) FROM http_responses WHERE request_id IS NULL"), 0);

    // gzip decoded, encoded size kept.
    EXPECT_EQ(d.text("SELECT CAST(r.body AS TEXT) FROM http_responses r JOIN http_requests q ON "
                     "q.id = r.request_id"
                     " WHERE q.path = '/v1/models'"),
              kGzipBody);
    EXPECT_EQ(d.count("SELECT r.encoded_size FROM http_responses r JOIN http_requests q ON q.id = "
                      "r.request_id"
                      " WHERE q.path = '/v1/models'"),
              static_cast<std::int64_t>(gzip(kGzipBody).size()));
    EXPECT_EQ(
        d.text("SELECT content_encoding FROM http_responses WHERE content_encoding IS NOT NULL"),
        "gzip");

    // SSE events: every one, with the time of the read that completed it (10 ms apart).
    EXPECT_EQ(d.count("SELECT count(*) FROM sse_events"), 15 + 7);
    EXPECT_EQ(d.count("SELECT count(DISTINCT time_ns) FROM sse_events e JOIN http_responses r ON "
                      "r.id = e.response_id"
                      " WHERE r.connection_id = (SELECT id FROM connections WHERE ssl_ptr = 4096)"),
              15);
    EXPECT_GE(d.count("SELECT min(b.time_ns - a.time_ns) FROM sse_events a JOIN sse_events b"
                      " ON b.response_id = a.response_id AND b.idx = a.idx + 1"
                      " WHERE a.response_id = (SELECT min(response_id) FROM sse_events)"),
              10'000'000);

    // Request bodies are byte-exact through http_request_bodies, also the LLM
    // requests stored as their messages.
    EXPECT_EQ(
        d.count(
            "SELECT count(*) FROM http_requests WHERE body IS NULL AND body_prefix_id IS NOT NULL"),
        2);
    EXPECT_EQ(d.text("SELECT CAST(b.body AS TEXT) FROM http_request_bodies b JOIN http_requests q "
                     "ON q.id = b.request_id"
                     " ORDER BY q.id LIMIT 1"),
              testing::kAnthropicStreamRequestBody);
    EXPECT_EQ(
        d.count(
            "SELECT count(*) FROM http_request_bodies b JOIN http_requests q ON q.id = b.request_id"
            " WHERE length(b.body) = q.body_size"),
        6);
    EXPECT_EQ(d.text("SELECT system_text FROM v_llm_requests WHERE llm_call_id = 1"),
              "You are terse.");
    EXPECT_EQ(d.text("SELECT json_extract(messages, '$[0].content') FROM v_llm_requests WHERE "
                     "llm_call_id = 1"),
              "List files");

    // Conversations: calls grouped by their first message (schema version 2).
    EXPECT_EQ(d.count("SELECT count(*) FROM v_llm_conversations"), 2);
    EXPECT_EQ(d.text("SELECT first_message FROM v_llm_conversations WHERE input_tokens = 120"),
              "List files");
    EXPECT_EQ(d.count("SELECT count(*) FROM llm_calls WHERE conversation_key IS NULL"),
              1);  // no messages

    // LLM calls.
    EXPECT_EQ(d.count("SELECT count(*) FROM llm_calls"), 3);
    EXPECT_EQ(d.count("SELECT input_tokens FROM llm_calls WHERE message_id = 'msg_1'"), 120);
    EXPECT_EQ(d.count("SELECT output_tokens FROM llm_calls WHERE message_id = 'msg_1'"), 57);
    EXPECT_EQ(
        d.count("SELECT cache_creation_input_tokens FROM llm_calls WHERE message_id = 'msg_1'"),
        30);
    EXPECT_EQ(d.count("SELECT cache_read_input_tokens FROM llm_calls WHERE message_id = 'msg_1'"),
              400);
    EXPECT_EQ(d.text("SELECT response_text FROM llm_calls WHERE message_id = 'msg_1'"),
              "Let me check.");
    EXPECT_EQ(d.text("SELECT stop_reason FROM llm_calls WHERE message_id = 'msg_1'"), "tool_use");
    // TTFT: request sent, 200 ms to the head, then 10 ms per event; the first delta is the 3rd
    // event.
    EXPECT_EQ(d.count("SELECT ttft_ns FROM llm_calls WHERE message_id = 'msg_1'") / 1'000'000, 230);
    EXPECT_EQ(d.text("SELECT group_concat(name, ',') FROM (SELECT t.name FROM llm_tool_calls t "
                     "ORDER BY t.id)"),
              "bash,read_file,get_weather");
    EXPECT_EQ(d.text("SELECT input FROM llm_tool_calls WHERE name = 'bash'"),
              R"({"command":"ls -la"})");
    EXPECT_EQ(d.text("SELECT json_extract(tool_calls, '$[0].input.command') FROM llm_calls WHERE "
                     "message_id = 'msg_1'"),
              "ls -la");
    EXPECT_EQ(d.count("SELECT usage FROM (SELECT input_tokens AS usage FROM llm_calls WHERE api = "
                      "'chat.completions')"),
              50);

    // The lost bytes: gap recorded, the response incomplete, the next exchange intact.
    EXPECT_EQ(d.count("SELECT lost_events FROM captures"), 3);
    EXPECT_EQ(d.count("SELECT lost_bytes FROM captures"), 10);
    EXPECT_EQ(
        d.count("SELECT count(*) FROM stream_gaps WHERE length = 10 AND direction = 'received'"),
        1);
    EXPECT_EQ(
        d.count(
            "SELECT r.complete FROM http_responses r JOIN http_requests q ON q.id = r.request_id"
            " WHERE q.path = '/big'"),
        0);
    EXPECT_EQ(
        d.count("SELECT r.status FROM http_responses r JOIN http_requests q ON q.id = r.request_id"
                " WHERE q.path = '/after'"),
        404);
    EXPECT_EQ(
        d.count(
            "SELECT r.complete FROM http_responses r JOIN http_requests q ON q.id = r.request_id"
            " WHERE q.path = '/after'"),
        1);

    // Secrets: fingerprints, equal values equal, the key file private.
    std::string fp = d.text(
        "SELECT json_extract(headers, '$[2][1]') FROM http_requests WHERE path = '/v1/models'");
    EXPECT_EQ(fp.rfind("ct-hmac:", 0), 0u) << fp;
    EXPECT_EQ(d.count("SELECT count(*) FROM http_requests WHERE headers LIKE '%sk-ant-secret%'"),
              0);
    EXPECT_EQ(d.count("SELECT count(*) FROM http_requests WHERE headers LIKE '%" + fp + "%'"), 3);
    EXPECT_EQ(d.count("SELECT count(*) FROM http_requests WHERE headers LIKE '%Bearer ct-hmac:%'"),
              1);
    EXPECT_EQ(d.count("SELECT count(*) FROM http_responses WHERE headers LIKE "
                      "'%session=ct-hmac:%Path=/; HttpOnly%'"),
              1);
    struct stat st {};
    ASSERT_EQ(::stat(SecretFingerprinter::key_path_for(dir.file("db.sqlite")).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    // Full-text search finds request bodies and LLM text.
    EXPECT_EQ(d.count("SELECT count(*) FROM search_index WHERE search_index MATCH 'terse'"), 1);
    EXPECT_EQ(d.count("SELECT count(*) FROM search_index JOIN search_documents d ON d.rowid = "
                      "search_index.rowid"
                      " WHERE search_index MATCH 'check' AND d.kind = 'llm_response'"),
              1);

    // Importing again changes nothing.
    std::int64_t before =
        d.count("SELECT (SELECT count(*) FROM http_requests) + (SELECT count(*) FROM sse_events)");
    auto again = import_capture_file(d.db, capture, false);
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->result.already_present);
    EXPECT_EQ(d.count("SELECT count(*) FROM captures"), 1);
    EXPECT_EQ(
        d.count("SELECT (SELECT count(*) FROM http_requests) + (SELECT count(*) FROM sse_events)"),
        before);

    // A second capture goes into the same database.
    write_session(dir.file("t.ctz"), true, "other");
    ASSERT_TRUE(import_capture_file(d.db, dir.file("t.ctz"), false));
    EXPECT_EQ(d.count("SELECT count(*) FROM captures"), 2);
    EXPECT_EQ(d.count("SELECT count(*) FROM llm_calls"), 6);
}

// Header fields 24 to 28 (a ct-record --watch series) go into captures (schema
// version 9), and the series lists in order whatever order the files came in.
TEST(Import, SeriesPlaceOfEachFile) {
    testing::TempDir dir;
    Db d = open_db(dir.file("db.sqlite"));
    for (int index : {2, 0, 1}) {
        testing::SyntheticOptions options;
        options.uuid_seed = "series-file-" + std::to_string(index);
        testing::SyntheticSeries series;
        series.series_seed = "series";
        series.index = static_cast<std::uint64_t>(index);
        series.first_seq = 100 * static_cast<std::uint64_t>(index);
        if (index > 0)
            series.previous_seed = "series-file-" + std::to_string(index - 1);
        series.rules = {"name=claude", "user=1000"};
        options.series = series;
        const std::string path = dir.file("f" + std::to_string(index) + ".ctz");
        {
            testing::SyntheticCapture cap(path, options);
            auto g = cap.open_connection(100, 0x1000, "claude");
            cap.write(g, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            cap.vanish(g, CT_DIR_READ, 10);  // a lost event, counted from first_seq
            cap.close(g);
            cap.finish();
        }
        ASSERT_TRUE(import_capture_file(d.db, path, false));
    }
    // A capture outside any series.
    write_session(dir.file("s.ctz"), true);
    ASSERT_TRUE(import_capture_file(d.db, dir.file("s.ctz"), false));
    EXPECT_EQ(d.count("SELECT count(*) FROM captures WHERE series_uuid IS NULL AND series_index "
                      "IS NULL AND previous_capture_uuid IS NULL AND watch_rules IS NULL AND "
                      "first_seq = 0"),
              1);
    EXPECT_EQ(d.count("SELECT count(DISTINCT series_uuid) FROM captures"), 1);
    EXPECT_EQ(d.text("SELECT group_concat(f, ' ') FROM (SELECT substr(file, -6) || ':' || "
                     "series_index || ':' || first_seq || ':' || lost_events AS f FROM captures "
                     "WHERE series_uuid IS NOT NULL ORDER BY series_index)"),
              "f0.ctz:0:0:1 f1.ctz:1:100:1 f2.ctz:2:200:1");
    // Each file names the one before it.
    EXPECT_EQ(d.count("SELECT count(*) FROM captures c JOIN captures p ON p.uuid = "
                      "c.previous_capture_uuid AND p.series_index = c.series_index - 1 AND "
                      "p.series_uuid = c.series_uuid"),
              2);
    EXPECT_EQ(d.text("SELECT watch_rules FROM captures WHERE series_index = 1"),
              R"(["name=claude","user=1000"])");
    EXPECT_EQ(d.count("SELECT count(*) FROM v_captures WHERE series_uuid IS NOT NULL"), 3);
}

TEST(Import, KeepSecrets) {
    testing::TempDir dir;
    write_session(dir.file("s.ctz"), true);
    Db d = open_db(dir.file("db.sqlite"));
    ASSERT_TRUE(import_capture_file(d.db, dir.file("s.ctz"), true));
    EXPECT_EQ(
        d.count("SELECT count(*) FROM http_requests WHERE headers LIKE '%sk-ant-secret-123%'"), 3);
}

TEST(Import, UncleanEndImportsEverythingBeforeIt) {
    testing::TempDir dir;
    write_session(dir.file("s.ctz"), false);
    Db d = open_db(dir.file("db.sqlite"));
    auto r = import_capture_file(d.db, dir.file("s.ctz"), false);
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_FALSE(r->ended_cleanly);
    EXPECT_EQ(d.count("SELECT ended_cleanly FROM captures"), 0);
    EXPECT_EQ(d.count("SELECT count(*) FROM llm_calls"), 3);
    EXPECT_EQ(d.count("SELECT count(*) FROM notes WHERE source = 'analyzer'"), 1);
}

// A capture imported while still being recorded stays as it was; importing the
// finished file says that the database holds a shorter read of it.
TEST(Import, ShorterEarlierReadIsReported) {
    testing::TempDir dir;
    write_session(dir.file("s.ctz"), true);
    std::string whole;
    {
        std::ifstream in(dir.file("s.ctz"), std::ios::binary);
        whole.assign(std::istreambuf_iterator<char>(in), {});
    }
    {
        std::ofstream out(dir.file("early.ctz"), std::ios::binary);
        out.write(whole.data(), static_cast<std::streamsize>(whole.size() / 2));
    }
    Db d = open_db(dir.file("db.sqlite"));
    auto early = import_capture_file(d.db, dir.file("early.ctz"), false);
    ASSERT_TRUE(early) << early.error().what();
    std::int64_t stored = d.count("SELECT events FROM captures");
    auto full = import_capture_file(d.db, dir.file("s.ctz"), false);
    ASSERT_TRUE(full) << full.error().what();
    EXPECT_TRUE(full->result.already_present);
    ASSERT_TRUE(full->result.stored_events.has_value());
    EXPECT_EQ(static_cast<std::int64_t>(*full->result.stored_events), stored);
    EXPECT_GT(full->result.file_events, *full->result.stored_events);
    EXPECT_EQ(d.count("SELECT events FROM captures"), stored);  // unchanged

    // The same file again: no such note.
    auto again = import_capture_file(d.db, dir.file("early.ctz"), false);
    ASSERT_TRUE(again);
    EXPECT_FALSE(again->result.stored_events.has_value());
}

// SSL objects that never reached a peer nor moved a byte (a library warming up) are
// counted in one line, not listed as "(unknown host) 0 B" connections.
TEST(Import, SummaryCountsUnusedTlsObjectsInsteadOfListingThem) {
    testing::TempDir dir;
    const std::string capture = dir.file("s.ctz");
    {
        testing::SyntheticCapture cap(capture, {});
        cap.process(100, 1, "/usr/bin/agent", {"agent"});
        auto used = cap.open_connection(100, 0x1000, "agent");
        cap.socket(used, 5, "160.79.104.10", 443, 50000);
        cap.write(used, "GET / HTTP/1.1\r\nHost: api.example\r\n\r\n");
        cap.read(used, "HTTP/1.1 204 No Content\r\n\r\n");
        cap.close(used);
        for (std::uint64_t ssl : {0x2000u, 0x3000u})
            cap.close(cap.open_connection(100, ssl, "agent"));
        cap.exit(100, 0);
        cap.finish();
    }
    Db d = open_db(dir.file("db.sqlite"));
    auto r = import_capture_file(d.db, capture, false);
    ASSERT_TRUE(r) << r.error().what();
    auto summary = capture_summary(d.db, r->result.capture_id);
    ASSERT_TRUE(summary) << summary.error().what();
    EXPECT_NE(summary->find("api.example"), std::string::npos) << *summary;
    EXPECT_EQ(summary->find("(unknown host)"), std::string::npos) << *summary;
    EXPECT_NE(summary->find("(and 2 TLS objects that were created but never connected or used)"),
              std::string::npos)
        << *summary;
}

TEST(Import, Timeline) {
    testing::TempDir dir;
    write_session(dir.file("s.ctz"), true);
    auto contents = replay::load_capture(dir.file("s.ctz"));
    ASSERT_TRUE(contents);
    char* buffer = nullptr;
    std::size_t size = 0;
    std::FILE* out = open_memstream(&buffer, &size);
    print_timeline(*contents, {}, out);
    std::fclose(out);
    std::string text(buffer, size);
    std::free(buffer);
    EXPECT_NE(text.find("SSL_write pid 100"), std::string::npos);
    EXPECT_NE(text.find("POST /v1/messages HTTP/1.1"), std::string::npos);
    EXPECT_NE(text.find("sse content_block_delta: Let me "), std::string::npos);
    EXPECT_NE(text.find("x-api-key: <redacted>"), std::string::npos);
    EXPECT_EQ(text.find("sk-ant-secret"), std::string::npos);
    EXPECT_NE(text.find("GAP received 10 bytes"), std::string::npos);
    // Lines come in time order.
    EXPECT_LT(text.find("POST /v1/messages"), text.find("HTTP/1.1 200 OK"));
}

std::string run(const std::string& command, int* status) {
    std::string out;
    std::FILE* p = ::popen(command.c_str(), "r");
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
        out.append(buf, n);
    *status = ::pclose(p);
    return out;
}

TEST(Import, CommandLine) {
    testing::TempDir dir;
    write_session(dir.file("s.ctz"), true);
    const std::string bin = CT_ANALYZE_BIN;
    const std::string db = dir.file("cli.db");
    int status = 0;
    std::string summary = run(bin + " --no-progress --db " + db + " " + dir.file("s.ctz"), &status);
    EXPECT_EQ(WEXITSTATUS(status), 0) << summary;
    EXPECT_NE(summary.find("api.anthropic.com"), std::string::npos) << summary;
    EXPECT_NE(summary.find("anthropic claude-sonnet-4-5"), std::string::npos) << summary;
    EXPECT_NE(summary.find("Imported into " + db), std::string::npos) << summary;

    std::string json = run(bin + " --db " + db +
                               " --json --sql \"SELECT name, count(*) AS n FROM llm_tool_calls "
                               "GROUP BY name ORDER BY name\"",
                           &status);
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_NE(json.find("\"name\": \"bash\""), std::string::npos) << json;

    std::string csv =
        run(bin + " --db " + db +
                " --csv --sql \"SELECT method, path FROM http_requests ORDER BY id LIMIT 1\"",
            &status);
    EXPECT_EQ(csv, "method,path\nPOST,/v1/messages\n");

    std::string table =
        run(bin + " --db " + db + " --sql \"SELECT 1 AS one, 'x' AS two\"", &status);
    EXPECT_NE(table.find("one  two"), std::string::npos) << table;
    EXPECT_NE(table.find("(1 row)"), std::string::npos) << table;

    std::string again = run(bin + " --no-progress --db " + db + " " + dir.file("s.ctz"), &status);
    EXPECT_NE(again.find("nothing changed"), std::string::npos) << again;

    // Not a capture: a clear message and a non-zero exit.
    std::ofstream(dir.file("junk.ctz")) << "this is not a capture";
    std::string err = run(bin + " --db " + db + " " + dir.file("junk.ctz") + " 2>&1", &status);
    EXPECT_NE(WEXITSTATUS(status), 0);
    EXPECT_NE(err.find("junk.ctz"), std::string::npos) << err;

    std::string bad_sql =
        run(bin + " --db " + db + " --sql \"SELECT nope FROM nowhere\" 2>&1", &status);
    EXPECT_NE(WEXITSTATUS(status), 0);
    EXPECT_NE(bad_sql.find("no such table"), std::string::npos) << bad_sql;

    std::string timeline = run(bin + " --timeline " + dir.file("s.ctz"), &status);
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_NE(timeline.find("SSL_read"), std::string::npos);
}

}  // namespace
}  // namespace ct::analyze

namespace ct::analyze {
namespace {

// What the analyzer keeps must be what the agent really sent and got.
TEST(Import, ToolInputStreamEndTargetAndHttp2Timeline) {
    testing::TempDir dir;
    const std::string capture = dir.file("f.ctz");
    {
        testing::SyntheticOptions o;
        o.uuid_seed = "fidelity";
        o.target_cmdline = {"agent", "--task", "fix it"};
        testing::SyntheticCapture cap(capture, o);
        // An OpenAI stream whose client stops reading at [DONE]: the last chunk's
        // terminator ("0\r\n\r\n") is never read.
        auto g = cap.open_connection(7, 0x700, "agent");
        cap.write(g, testing::http_request("/v1/chat/completions",
                                           R"({"model":"gpt-4o","stream":true})"));
        cap.read(g, testing::sse_response_head());
        for (const char* piece : {R"({\"zeta\": 1,)", R"( \"alpha\": \"a\\u00e9\"})"}) {
            cap.read(g, chunk(std::string("data: {\"choices\":[{\"index\":0,\"delta\":{"
                                          "\"tool_calls\":[{\"index\":0,\"id\":\"c1\","
                                          "\"function\":{\"name\":\"edit\",\"arguments\":\"") +
                              piece + "\"}}]}}]}\n\n"));
        }
        cap.read(g, chunk("data: [DONE]\n\n"));
        cap.close(g);
        // HTTP/2: two requests, answered in the other order.
        auto h = cap.open_connection(7, 0x800, "agent");
        const std::uint8_t kHeaders = 1, kSettings = 4, kEndStream = 1, kEndHeaders = 4;
        std::string get_a = "\x82\x87" + hpack_literal(1, "example.test") + hpack_literal(4, "/a");
        std::string get_b = "\x82\x87" + hpack_literal(1, "example.test") + hpack_literal(4, "/b");
        cap.write(h, std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                         h2_frame(kSettings, 0, 0, "") +
                         h2_frame(kHeaders, kEndStream | kEndHeaders, 1, get_a) +
                         h2_frame(kHeaders, kEndStream | kEndHeaders, 3, get_b));
        cap.read(h, h2_frame(kSettings, 0, 0, "") +
                        h2_frame(kHeaders, kEndStream | kEndHeaders, 3, "\x88") +  // 200
                        h2_frame(kHeaders, kEndStream | kEndHeaders, 1, "\x8d"));  // 404
        cap.close(h);
        cap.finish();
    }
    Db d = open_db(dir.file("db.sqlite"));
    ASSERT_TRUE(import_capture_file(d.db, capture, false));
    EXPECT_EQ(d.text("SELECT input_raw FROM llm_tool_calls"), R"({"zeta": 1, "alpha": "a\u00e9"})");
    EXPECT_EQ(d.text("SELECT input FROM llm_tool_calls"), R"({"zeta":1,"alpha":"a\u00e9"})");
    EXPECT_EQ(d.text("SELECT input_raw FROM v_tool_calls"), R"({"zeta": 1, "alpha": "a\u00e9"})");
    EXPECT_EQ(d.text("SELECT json_extract(tool_calls, '$[0].input.alpha') FROM llm_calls"), "aé");
    EXPECT_EQ(d.text("SELECT tool_calls FROM llm_calls"),
              R"([{"id":"c1","name":"edit","input":{"zeta":1,"alpha":"a\u00e9"}}])");
    EXPECT_EQ(d.count("SELECT complete FROM llm_calls"), 1) << "the stream reached [DONE]";
    EXPECT_EQ(d.count("SELECT r.complete FROM http_responses r JOIN http_requests q ON q.id = "
                      "r.request_id WHERE q.path = '/v1/chat/completions'"),
              0)
        << "the HTTP framing after [DONE] was not read";
    EXPECT_EQ(d.text("SELECT target FROM v_captures"), "agent --task fix it");

    auto contents = replay::load_capture(capture);
    ASSERT_TRUE(contents);
    char* buffer = nullptr;
    std::size_t size = 0;
    std::FILE* out = open_memstream(&buffer, &size);
    print_timeline(*contents, {}, out);
    std::fclose(out);
    std::string text(buffer, size);
    std::free(buffer);
    EXPECT_NE(text.find("HTTP/2 200   [stream 3: GET /b]"), std::string::npos) << text;
    EXPECT_NE(text.find("HTTP/2 404   [stream 1: GET /a]"), std::string::npos) << text;
    EXPECT_NE(text.find("GET /a HTTP/2   [stream 1]"), std::string::npos) << text;
}

// Gemini: a streamed call with a function call, the next call carrying its
// functionResponse (one conversation), and a countTokens call that joins none.
TEST(Import, GeminiCallsToolCallsAndConversation) {
    testing::TempDir dir;
    const std::string capture = dir.file("g.ctz");
    const std::string first_turn = R"({"role":"user","parts":[{"text":"List the files"}]})";
    const std::string second_body =
        R"({"contents":[)" + first_turn +
        R"(,{"role":"model","parts":[{"functionCall":{"name":"list_directory","args":{"path": ".", "all": true}}}]},)"
        R"({"role":"user","parts":[{"functionResponse":{"name":"list_directory","response":{"output":"a.txt"}}}]}]})";
    const std::string text_answer =
        R"({"candidates":[{"content":{"role":"model","parts":[{"text":"One file."}]},"finishReason":"STOP","index":0}],)"
        R"("usageMetadata":{"promptTokenCount":500,"candidatesTokenCount":4,"totalTokenCount":504},"modelVersion":"gemini-2.5-pro"})";
    {
        testing::SyntheticOptions o;
        o.uuid_seed = "gemini";
        testing::SyntheticCapture cap(capture, o);
        auto g = cap.open_connection(7, 0x900, "gemini");
        const std::string path = "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse";
        cap.write(g, testing::gemini_request(path, testing::kGeminiRequestBody));
        cap.read(g, testing::sse_response_head());
        for (const auto& c : testing::gemini_stream_chunks())
            cap.read(g, chunk("data: " + c + "\r\n\r\n"));
        cap.read(g, "0\r\n\r\n");
        // The same conversation on: its first content is the same.
        cap.write(g, testing::gemini_request(path, second_body));
        cap.read(g, testing::sse_response_head());
        cap.read(g, chunk("data: " + text_answer + "\r\n\r\n"));
        cap.read(g, "0\r\n\r\n");
        const std::string count_body = R"({"totalTokens":77})";
        cap.write(g, testing::gemini_request("/v1beta/models/gemini-2.5-pro:countTokens",
                                             R"({"contents":[)" + first_turn + "]}"));
        cap.read(g, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(count_body.size()) + "\r\n\r\n" + count_body);
        cap.close(g);
        cap.finish();
    }
    Db d = open_db(dir.file("db.sqlite"));
    ASSERT_TRUE(import_capture_file(d.db, capture, false));
    EXPECT_EQ(d.count("SELECT count(*) FROM llm_calls WHERE provider = 'google'"), 3);
    EXPECT_EQ(d.text("SELECT group_concat(api, ',') FROM (SELECT api FROM llm_calls ORDER BY id)"),
              "streamGenerateContent,streamGenerateContent,countTokens");
    EXPECT_EQ(d.count("SELECT reasoning_tokens FROM llm_calls WHERE id = 1"), 48);
    EXPECT_EQ(d.count("SELECT complete FROM llm_calls WHERE id = 1"), 1);
    EXPECT_EQ(d.text("SELECT name || ' ' || input FROM llm_tool_calls"),
              R"(list_directory {"path":".","all":true})");
    EXPECT_EQ(d.text("SELECT input_raw FROM llm_tool_calls"), R"({"path": ".", "all": true})");
    EXPECT_EQ(d.text("SELECT system_text FROM v_llm_requests WHERE llm_call_id = 1"),
              "You are terse.\nBe exact.");
    // Two calls in one conversation; countTokens in none.
    EXPECT_EQ(d.count("SELECT count(*) FROM llm_calls WHERE conversation_key IS NULL"), 1);
    EXPECT_EQ(d.count("SELECT calls FROM v_llm_conversations"), 2);
    EXPECT_EQ(d.count("SELECT input_tokens FROM v_llm_conversations"), 310 + 500);
    EXPECT_EQ(d.count("SELECT tool_calls FROM v_llm_conversations"), 1);
    EXPECT_EQ(d.text("SELECT first_message FROM v_llm_conversations"), "List the files");
    EXPECT_EQ(d.count("SELECT input_tokens FROM llm_calls WHERE api = 'countTokens'"), 77);
    // Bodies byte-exact, the LLM requests stored by their contents.
    EXPECT_EQ(d.text("SELECT CAST(b.body AS TEXT) FROM http_request_bodies b WHERE b.request_id = "
                     "(SELECT request_id FROM llm_calls WHERE id = 2)"),
              second_body);
}

}  // namespace
}  // namespace ct::analyze

#include "query_output.hpp"
#include "search.hpp"

namespace ct::analyze {
namespace {

TEST(Search, PlainWordsFindTextAndShowASnippet) {
    EXPECT_EQ(*fts_query_for_words("  hello.txt a\"b \n"), "\"hello.txt\" \"a\"\"b\"");
    EXPECT_FALSE(fts_query_for_words(" \t"));

    testing::TempDir dir;
    write_session(dir.file("s.ctz"), true);
    Db d = open_db(dir.file("db.sqlite"));
    ASSERT_TRUE(import_capture_file(d.db, dir.file("s.ctz"), false));
    auto search = [&](const std::string& words) {
        auto sql = search_sql(words);
        EXPECT_TRUE(sql);
        char* buffer = nullptr;
        std::size_t size = 0;
        std::FILE* out = open_memstream(&buffer, &size);
        auto r = run_query(d.db, *sql, OutputFormat::Csv, out);
        std::fclose(out);
        std::string text(buffer, size);
        std::free(buffer);
        EXPECT_TRUE(r) << (r ? "" : r.error().what());
        return text;
    };
    // "/etc/hosts" is FTS5 syntax error as a bare MATCH term; as words it is a phrase.
    std::string hosts = search("/etc/hosts");
    EXPECT_NE(hosts.find("capture_id,kind,ref_id,time_utc,snippet"), std::string::npos) << hosts;
    EXPECT_NE(hosts.find("response_body"), std::string::npos) << hosts;
    EXPECT_NE(hosts.find("/etc/hosts"), std::string::npos) << "the snippet shows the text";
    std::string terse = search("TERSE");
    EXPECT_NE(terse.find("You are terse."), std::string::npos) << terse;
    EXPECT_EQ(search("nosuchwordanywhere"), "capture_id,kind,ref_id,time_utc,snippet\n");
}

}  // namespace
}  // namespace ct::analyze
