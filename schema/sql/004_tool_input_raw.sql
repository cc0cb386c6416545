-- ct-analyze database, schema version 4 (version 3 is the TCP connections table).
-- Tool calls keep the model's argument text byte for byte beside the compact
-- JSON in `input` (whose members now keep the model's order); v_captures shows
-- what was recorded (the command, or the pid given to ct-record -p).

ALTER TABLE llm_tool_calls ADD COLUMN input_raw TEXT;

DROP VIEW v_tool_calls;
CREATE VIEW v_tool_calls AS
SELECT t.id, l.capture_id, t.llm_call_id, l.model,
       strftime('%Y-%m-%d %H:%M:%f', l.start_ns / 1e9, 'unixepoch') AS call_start_utc,
       t.idx, t.tool_use_id, t.name, t.input, t.input_raw
FROM llm_tool_calls t JOIN llm_calls l ON l.id = t.llm_call_id;

DROP VIEW v_captures;
CREATE VIEW v_captures AS
SELECT c.id, c.uuid, c.file, c.hostname,
       strftime('%Y-%m-%d %H:%M:%f', c.start_ns / 1e9, 'unixepoch') AS start_utc,
       strftime('%Y-%m-%d %H:%M:%f', c.end_ns / 1e9, 'unixepoch') AS end_utc,
       round((c.end_ns - c.start_ns) / 1e9, 3) AS duration_s,
       -- The command's argv joined by spaces (-- CMD ARGS...), else "-p PID".
       CASE WHEN json_valid(c.target_cmdline) AND json_array_length(c.target_cmdline) > 0
            THEN (SELECT group_concat(a.value, ' ')
                  FROM (SELECT value FROM json_each(c.target_cmdline) ORDER BY key) a)
            WHEN c.target_pid > 0 THEN '-p ' || c.target_pid
       END AS target,
       c.ended_cleanly, c.events, c.lost_events, c.lost_bytes
FROM captures c;
