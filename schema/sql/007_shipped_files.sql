-- ct-analyze database, schema version 7: shipped_files, what `ct-analyze --watch`
-- did with each file of the directories it watches, so that a restarted watcher
-- reads again only files that changed. Written in SQL that SQLite and PostgreSQL
-- both take (no rowid alias: the key is the host and the path).

CREATE TABLE shipped_files (
    host TEXT NOT NULL,
    path TEXT NOT NULL,
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    capture_uuid TEXT,
    capture_id INTEGER REFERENCES captures(id),
    ended_cleanly INTEGER,
    message TEXT,
    shipped_ns INTEGER NOT NULL,
    PRIMARY KEY (host, path)
);

CREATE INDEX shipped_files_capture ON shipped_files(capture_uuid);
