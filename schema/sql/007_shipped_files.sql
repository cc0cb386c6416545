-- ct-analyze database, schema version 7: shipped_files, what `ct-analyze --watch`
-- did with each file of the directories it watches, so that a restarted watcher
-- reads again only files that changed. Written in SQL that SQLite and PostgreSQL
-- both take (no rowid alias: the key is the host and the path; BIGINT, which
-- SQLite reads as INTEGER, because PostgreSQL's INTEGER has 32 bits).

CREATE TABLE shipped_files (
    host TEXT NOT NULL,
    path TEXT NOT NULL,
    device BIGINT NOT NULL,
    inode BIGINT NOT NULL,
    size BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    capture_uuid TEXT,
    capture_id BIGINT REFERENCES captures(id),
    ended_cleanly INTEGER,
    message TEXT,
    shipped_ns BIGINT NOT NULL,
    PRIMARY KEY (host, path)
);

CREATE INDEX shipped_files_capture ON shipped_files(capture_uuid);
