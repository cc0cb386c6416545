-- ct-analyze database, schema version 9: where a capture stands in a series of
-- rotated captures (ct-record --watch; capture-format.md 3.7): header fields
-- 24 to 28. A series' files in order: WHERE series_uuid = ? ORDER BY
-- series_index (the index below). Captures imported before this version have
-- first_seq 0 and NULL in the others (their headers still hold the fields).
-- PostgreSQL has its own version of this file (postgresql/009_capture_series.sql:
-- jsonb, and the view in its own SQL); keep the two in step.

ALTER TABLE captures ADD COLUMN first_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE captures ADD COLUMN series_uuid TEXT;
ALTER TABLE captures ADD COLUMN series_index INTEGER;
ALTER TABLE captures ADD COLUMN previous_capture_uuid TEXT;
ALTER TABLE captures ADD COLUMN watch_rules TEXT;

CREATE INDEX captures_series ON captures(series_uuid, series_index);

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
       c.ended_cleanly, c.events, c.lost_events, c.lost_bytes,
       c.series_uuid, c.series_index
FROM captures c;
