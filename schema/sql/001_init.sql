-- ct-analyze database, schema version 1. See schema/data-dictionary.md.
-- Times (*_ns) are wall-clock UTC Unix nanoseconds; durations (*_duration_ns,
-- ttft_ns) are nanoseconds. The v_* views show them readably.

CREATE TABLE captures (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    file TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    format_version TEXT NOT NULL,
    recorder_version TEXT,
    hostname TEXT,
    kernel_release TEXT,
    machine TEXT,
    boot_id TEXT,
    recorder_cmdline TEXT,
    target_cmdline TEXT,
    target_pid INTEGER,
    start_ns INTEGER,
    end_ns INTEGER,
    ended_cleanly INTEGER NOT NULL,
    end_reason TEXT,
    exit_status INTEGER,
    events INTEGER NOT NULL,
    lost_events INTEGER NOT NULL,
    lost_bytes INTEGER NOT NULL,
    malformed_events INTEGER NOT NULL,
    frames INTEGER NOT NULL,
    bad_frames INTEGER NOT NULL,
    missing_frames INTEGER NOT NULL,
    skipped_file_bytes INTEGER NOT NULL,
    truncated_tail INTEGER NOT NULL,
    imported_ns INTEGER NOT NULL,
    analyzer_version TEXT NOT NULL
);

CREATE TABLE capture_damage (
    id INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES captures(id),
    file_offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    what TEXT NOT NULL
);

CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES captures(id),
    time_ns INTEGER,
    level TEXT NOT NULL,
    source TEXT NOT NULL,
    message TEXT NOT NULL
);

CREATE TABLE processes (
    id INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES captures(id),
    pid INTEGER NOT NULL,
    ppid INTEGER,
    exe TEXT,
    cmdline TEXT,
    argv_json TEXT,
    cwd TEXT,
    comm TEXT,
    start_ns INTEGER,
    exit_ns INTEGER,
    exit_status INTEGER
);
CREATE INDEX processes_capture ON processes(capture_id, pid);

CREATE TABLE probes (
    id INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES captures(id),
    binary_path TEXT,
    build_id TEXT,
    function TEXT,
    file_offset INTEGER,
    how_found TEXT,
    kind TEXT,
    attached INTEGER NOT NULL,
    error TEXT,
    pid INTEGER
);

CREATE TABLE connections (
    id INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES captures(id),
    process_id INTEGER REFERENCES processes(id),
    pid INTEGER NOT NULL,
    comm TEXT,
    conn_gen INTEGER NOT NULL,
    ssl_ptr INTEGER,
    tls_library TEXT,
    protocol TEXT NOT NULL,
    local_addr TEXT,
    local_port INTEGER,
    remote_addr TEXT,
    remote_port INTEGER,
    host TEXT,
    start_ns INTEGER,
    end_ns INTEGER,
    handshake_ns INTEGER,
    closed INTEGER NOT NULL,
    bytes_sent INTEGER NOT NULL,
    bytes_received INTEGER NOT NULL,
    gap_bytes_sent INTEGER NOT NULL,
    gap_bytes_received INTEGER NOT NULL,
    gaps INTEGER NOT NULL,
    undecoded_bytes_sent INTEGER NOT NULL,
    undecoded_bytes_received INTEGER NOT NULL
);
CREATE INDEX connections_capture ON connections(capture_id);
CREATE INDEX connections_host ON connections(host);

CREATE TABLE stream_gaps (
    id INTEGER PRIMARY KEY,
    connection_id INTEGER NOT NULL REFERENCES connections(id),
    direction TEXT NOT NULL,
    stream_pos INTEGER NOT NULL,
    length INTEGER NOT NULL,
    reason TEXT NOT NULL,
    time_ns INTEGER
);
CREATE INDEX stream_gaps_connection ON stream_gaps(connection_id);

CREATE TABLE raw_streams (
    id INTEGER PRIMARY KEY,
    connection_id INTEGER NOT NULL REFERENCES connections(id),
    direction TEXT NOT NULL,
    stream_pos INTEGER NOT NULL,
    reason TEXT NOT NULL,
    time_ns INTEGER,
    size INTEGER NOT NULL,
    bytes BLOB
);

CREATE TABLE http_requests (
    id INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES captures(id),
    connection_id INTEGER NOT NULL REFERENCES connections(id),
    seq INTEGER NOT NULL,
    start_ns INTEGER,
    end_ns INTEGER,
    method TEXT NOT NULL,
    target TEXT NOT NULL,
    path TEXT NOT NULL,
    http_version TEXT NOT NULL,
    host TEXT,
    headers TEXT NOT NULL,
    content_type TEXT,
    content_encoding TEXT,
    body BLOB,
    body_size INTEGER NOT NULL,
    encoded_size INTEGER NOT NULL,
    body_prefix_id INTEGER REFERENCES llm_blobs(id),
    body_suffix_id INTEGER REFERENCES llm_blobs(id),
    framing TEXT NOT NULL,
    trailers TEXT,
    decode_error TEXT,
    stream_pos INTEGER NOT NULL,
    wire_size INTEGER NOT NULL,
    gap_bytes INTEGER NOT NULL,
    after_resync INTEGER NOT NULL,
    complete INTEGER NOT NULL
);
CREATE INDEX http_requests_connection ON http_requests(connection_id);
CREATE INDEX http_requests_capture ON http_requests(capture_id);

CREATE TABLE http_responses (
    id INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES captures(id),
    connection_id INTEGER NOT NULL REFERENCES connections(id),
    request_id INTEGER REFERENCES http_requests(id),
    interim INTEGER NOT NULL,
    start_ns INTEGER,
    end_ns INTEGER,
    status INTEGER NOT NULL,
    reason TEXT,
    http_version TEXT NOT NULL,
    headers TEXT NOT NULL,
    content_type TEXT,
    content_encoding TEXT,
    body BLOB,
    encoded_size INTEGER NOT NULL,
    decoded_size INTEGER NOT NULL,
    framing TEXT NOT NULL,
    trailers TEXT,
    decode_error TEXT,
    stream_pos INTEGER NOT NULL,
    wire_size INTEGER NOT NULL,
    gap_bytes INTEGER NOT NULL,
    after_resync INTEGER NOT NULL,
    complete INTEGER NOT NULL
);
CREATE INDEX http_responses_request ON http_responses(request_id);
CREATE INDEX http_responses_capture ON http_responses(capture_id);

CREATE TABLE sse_events (
    response_id INTEGER NOT NULL REFERENCES http_responses(id),
    idx INTEGER NOT NULL,
    time_ns INTEGER,
    event TEXT NOT NULL,
    data TEXT NOT NULL,
    event_id TEXT,
    retry_ms INTEGER,
    PRIMARY KEY (response_id, idx)
) WITHOUT ROWID;

-- Request parts of LLM calls, stored once per distinct content: an agent sends
-- the whole conversation again with every call.
CREATE TABLE llm_blobs (
    id INTEGER PRIMARY KEY,
    sha256 BLOB NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    text TEXT NOT NULL
);

CREATE TABLE llm_calls (
    id INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES captures(id),
    request_id INTEGER NOT NULL REFERENCES http_requests(id),
    response_id INTEGER REFERENCES http_responses(id),
    provider TEXT NOT NULL,
    api TEXT NOT NULL,
    model TEXT,
    response_model TEXT,
    streamed INTEGER NOT NULL,
    max_tokens INTEGER,
    system_blob_id INTEGER REFERENCES llm_blobs(id),
    message_count INTEGER NOT NULL,
    tools_blob_id INTEGER REFERENCES llm_blobs(id),
    tool_count INTEGER NOT NULL,
    message_id TEXT,
    stop_reason TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cache_creation_input_tokens INTEGER,
    cache_read_input_tokens INTEGER,
    reasoning_tokens INTEGER,
    start_ns INTEGER,
    first_token_ns INTEGER,
    end_ns INTEGER,
    ttft_ns INTEGER,
    duration_ns INTEGER,
    response_text TEXT,
    thinking_text TEXT,
    tool_calls TEXT NOT NULL,
    content TEXT,
    sse_event_count INTEGER NOT NULL,
    error TEXT,
    complete INTEGER NOT NULL
);
CREATE INDEX llm_calls_capture ON llm_calls(capture_id);
CREATE INDEX llm_calls_model ON llm_calls(model);

CREATE TABLE llm_call_messages (
    llm_call_id INTEGER NOT NULL REFERENCES llm_calls(id),
    idx INTEGER NOT NULL,
    blob_id INTEGER NOT NULL REFERENCES llm_blobs(id),
    sep BLOB,
    PRIMARY KEY (llm_call_id, idx)
) WITHOUT ROWID;
CREATE INDEX llm_call_messages_blob ON llm_call_messages(blob_id);

CREATE TABLE llm_tool_calls (
    id INTEGER PRIMARY KEY,
    llm_call_id INTEGER NOT NULL REFERENCES llm_calls(id),
    idx INTEGER NOT NULL,
    tool_use_id TEXT,
    name TEXT NOT NULL,
    input TEXT NOT NULL,
    input_valid INTEGER NOT NULL
);
CREATE INDEX llm_tool_calls_call ON llm_tool_calls(llm_call_id);
CREATE INDEX llm_tool_calls_name ON llm_tool_calls(name);

-- Full-text search over request and response bodies and LLM text. Contentless:
-- the text lives in the tables above; search_documents says where.
CREATE VIRTUAL TABLE search_index USING fts5(text, content='', tokenize='unicode61');
CREATE TABLE search_documents (
    rowid INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES captures(id),
    kind TEXT NOT NULL,
    ref_id INTEGER NOT NULL
);

-- Readable views.
CREATE VIEW v_captures AS
SELECT c.id, c.uuid, c.file, c.hostname,
       strftime('%Y-%m-%d %H:%M:%f', c.start_ns / 1e9, 'unixepoch') AS start_utc,
       strftime('%Y-%m-%d %H:%M:%f', c.end_ns / 1e9, 'unixepoch') AS end_utc,
       round((c.end_ns - c.start_ns) / 1e9, 3) AS duration_s,
       c.ended_cleanly, c.events, c.lost_events, c.lost_bytes
FROM captures c;

CREATE VIEW v_connections AS
SELECT n.id, n.capture_id, n.pid, n.comm, n.host, n.remote_addr, n.remote_port, n.protocol,
       n.tls_library,
       strftime('%Y-%m-%d %H:%M:%f', n.start_ns / 1e9, 'unixepoch') AS start_utc,
       strftime('%Y-%m-%d %H:%M:%f', n.end_ns / 1e9, 'unixepoch') AS end_utc,
       n.bytes_sent, n.bytes_received, n.gaps, n.gap_bytes_sent + n.gap_bytes_received AS gap_bytes
FROM connections n;

CREATE VIEW v_http AS
SELECT q.id AS request_id, r.id AS response_id, q.capture_id, q.connection_id,
       strftime('%Y-%m-%d %H:%M:%f', q.start_ns / 1e9, 'unixepoch') AS start_utc,
       q.method, q.host, q.path, r.status, r.content_type,
       q.body_size AS request_size, r.decoded_size AS response_size,
       round((r.end_ns - q.start_ns) / 1e6, 3) AS duration_ms,
       q.complete AND coalesce(r.complete, 0) AS complete
FROM http_requests q
LEFT JOIN http_responses r ON r.request_id = q.id AND r.interim = 0;

CREATE VIEW v_sse_events AS
SELECT e.response_id, e.idx,
       strftime('%Y-%m-%d %H:%M:%f', e.time_ns / 1e9, 'unixepoch') AS time_utc,
       e.event, e.data, e.event_id
FROM sse_events e;

CREATE VIEW v_llm_calls AS
SELECT l.id, l.capture_id, l.provider, l.api, l.model, l.streamed, l.stop_reason,
       strftime('%Y-%m-%d %H:%M:%f', l.start_ns / 1e9, 'unixepoch') AS start_utc,
       l.input_tokens, l.output_tokens, l.cache_creation_input_tokens, l.cache_read_input_tokens,
       round(l.ttft_ns / 1e6, 3) AS ttft_ms, round(l.duration_ns / 1e6, 3) AS duration_ms,
       substr(l.response_text, 1, 200) AS response_text,
       (SELECT group_concat(t.name, ',') FROM llm_tool_calls t WHERE t.llm_call_id = l.id) AS tools_called,
       l.error
FROM llm_calls l;

CREATE VIEW v_tool_calls AS
SELECT t.id, l.capture_id, t.llm_call_id, l.model,
       strftime('%Y-%m-%d %H:%M:%f', l.start_ns / 1e9, 'unixepoch') AS call_start_utc,
       t.idx, t.tool_use_id, t.name, t.input
FROM llm_tool_calls t JOIN llm_calls l ON l.id = t.llm_call_id;

-- Each LLM call's request put back together: system prompt, messages, tools.
CREATE VIEW v_llm_requests AS
SELECT l.id AS llm_call_id, l.capture_id, l.provider, l.api, l.model, l.streamed, l.max_tokens,
       s.text AS system,
       CASE WHEN json_valid(s.text) AND json_type(s.text) = 'text' THEN json_extract(s.text, '$')
            ELSE (SELECT group_concat(json_extract(value, '$.text'), char(10))
                  FROM json_each(CASE WHEN json_valid(s.text) THEN s.text ELSE '[]' END)) END AS system_text,
       (SELECT json_group_array(json(j)) FROM
          (SELECT b.text AS j FROM llm_call_messages m JOIN llm_blobs b ON b.id = m.blob_id
           WHERE m.llm_call_id = l.id ORDER BY m.idx)) AS messages,
       l.message_count, t.text AS tools, l.tool_count
FROM llm_calls l
LEFT JOIN llm_blobs s ON s.id = l.system_blob_id
LEFT JOIN llm_blobs t ON t.id = l.tools_blob_id;

-- Every request body, byte-exact. An LLM request's body is stored once as its
-- distinct messages (llm_call_messages) plus the bytes around them, since each
-- call repeats the whole conversation; this view puts it back together.
CREATE VIEW http_request_bodies AS
SELECT q.id AS request_id,
       CASE WHEN q.body_prefix_id IS NULL THEN q.body
            ELSE CAST((SELECT text FROM llm_blobs WHERE id = q.body_prefix_id) || coalesce(
                   (SELECT group_concat(part, '') FROM
                      (SELECT coalesce(CAST(m.sep AS TEXT), '') || b.text AS part
                       FROM llm_calls l JOIN llm_call_messages m ON m.llm_call_id = l.id
                       JOIN llm_blobs b ON b.id = m.blob_id
                       WHERE l.request_id = q.id ORDER BY m.idx)), '')
                 || (SELECT text FROM llm_blobs WHERE id = q.body_suffix_id) AS BLOB)
       END AS body
FROM http_requests q;
