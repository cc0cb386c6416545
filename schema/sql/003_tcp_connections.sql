-- ct-analyze database, schema version 3: every TCP connection of the traced
-- processes, with the bytes its syscalls moved and whether a TLS probe read it.
-- Connections no probe read ("unseen": plain TCP, or TLS in a library ct cannot
-- probe such as Go's crypto/tls, rustls, GnuTLS, Java) are only here.

CREATE TABLE tcp_connections (
    id INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES captures(id),
    process_id INTEGER REFERENCES processes(id),
    pid INTEGER NOT NULL,
    exe TEXT,
    fd INTEGER NOT NULL,
    origin TEXT NOT NULL,
    family TEXT NOT NULL,
    local_addr TEXT,
    local_port INTEGER,
    remote_addr TEXT,
    remote_port INTEGER,
    connect_ret INTEGER,
    open_ns INTEGER,
    end_ns INTEGER,
    end_reason TEXT NOT NULL,
    bytes_sent INTEGER NOT NULL,
    bytes_received INTEGER NOT NULL,
    send_calls INTEGER NOT NULL,
    recv_calls INTEGER NOT NULL,
    tls_seen INTEGER NOT NULL,
    tls_conn_gen INTEGER,
    inherited INTEGER NOT NULL,
    unseen INTEGER NOT NULL
);
CREATE INDEX tcp_connections_capture ON tcp_connections(capture_id);

CREATE VIEW v_unseen_connections AS
SELECT t.id, t.capture_id, t.pid, t.exe, t.origin,
       CASE WHEN t.family = 'ipv6' THEN '[' || t.remote_addr || ']:' || t.remote_port
            ELSE t.remote_addr || ':' || t.remote_port END AS peer,
       t.bytes_sent, t.bytes_received,
       strftime('%Y-%m-%d %H:%M:%f', t.open_ns / 1e9, 'unixepoch') AS open_utc,
       strftime('%Y-%m-%d %H:%M:%f', t.end_ns / 1e9, 'unixepoch') AS end_utc,
       t.end_reason
FROM tcp_connections t
WHERE t.unseen = 1;
