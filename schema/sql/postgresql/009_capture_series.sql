-- ct-analyze database, schema version 9 on PostgreSQL: ../009_capture_series.sql
-- (where a capture stands in a series of rotated captures, header fields 24 to
-- 28), with watch_rules as jsonb like the other argv-like columns, and
-- v_captures in PostgreSQL's SQL. Keep the two files in step.

ALTER TABLE captures ADD COLUMN first_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE captures ADD COLUMN series_uuid text;
ALTER TABLE captures ADD COLUMN series_index bigint;
ALTER TABLE captures ADD COLUMN previous_capture_uuid text;
ALTER TABLE captures ADD COLUMN watch_rules jsonb;

CREATE INDEX captures_series ON captures(series_uuid, series_index);

-- Same columns as before, the new ones at the end.
CREATE OR REPLACE VIEW v_captures AS
SELECT c.id, c.uuid, c.file, c.hostname,
       ct_utc(c.start_ns) AS start_utc,
       ct_utc(c.end_ns) AS end_utc,
       round(((c.end_ns - c.start_ns) / 1e9)::numeric, 3)::float8 AS duration_s,
       -- The command's argv joined by spaces (-- CMD ARGS...), else "-p PID".
       CASE WHEN jsonb_typeof(c.target_cmdline) = 'array' AND jsonb_array_length(c.target_cmdline) > 0
            THEN (SELECT string_agg(a.value, ' ' ORDER BY a.n)
                  FROM jsonb_array_elements_text(c.target_cmdline) WITH ORDINALITY a(value, n))
            WHEN c.target_pid > 0 THEN '-p ' || c.target_pid
       END AS target,
       c.ended_cleanly, c.events, c.lost_events, c.lost_bytes,
       c.series_uuid, c.series_index
FROM captures c;
