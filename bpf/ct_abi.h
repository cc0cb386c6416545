/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The event ABI shared by the BPF programs and user space.
 *
 * Every ring-buffer event starts with struct ct_event_header; the header's
 * `type` says which struct follows and `size` says how many bytes of that
 * struct this BPF build filled in (the fixed part, without the variable tail).
 * The capture file stores these bytes exactly as BPF produced them, so this
 * header is also part of the capture-file contract (schema/capture-format.md).
 *
 * Rules (WARNING: API-breaking if ignored):
 *  - plain __u8/__u16/__u32/__u64 fields, little-endian, explicit padding,
 *    no pointers, no bitfields; every struct a multiple of 8 bytes;
 *  - enum values are fixed forever and never renumbered;
 *  - new fields are appended at the end of a struct, before any variable
 *    tail, and readers use `size` to tell versions apart;
 *  - a change that old readers cannot cope with bumps CT_ABI_VERSION.
 *
 * The C++ twin, bpf/ct_abi.hpp, static_asserts every size and offset.
 */
#ifndef CT_ABI_H
#define CT_ABI_H

#define CT_ABI_VERSION 1

#define CT_COMM_LEN 16
#define CT_EXEC_FILENAME_MAX 256
#define CT_EXEC_ARGS_MAX 2048

/* Largest payload carried by one data event; longer calls are split. */
#define CT_DATA_CHUNK_MAX 65536

enum ct_event_type {
	CT_EVENT_DATA = 1,      /* plaintext bytes of one TLS read or write call */
	CT_EVENT_LOSS = 2,      /* bytes the probes saw but could not record */
	CT_EVENT_CONN = 3,      /* TLS connection lifecycle (open, close, handshake) */
	CT_EVENT_SOCKET = 4,    /* socket fd and addresses behind a connection */
	CT_EVENT_FORK = 5,      /* a traced process created a new process */
	CT_EVENT_EXEC = 6,      /* a traced process executed a new program */
	CT_EVENT_EXIT = 7,      /* the last thread of a traced process exited */
	CT_EVENT_MMAP_EXEC = 8, /* a traced process mapped a file executable */
	CT_EVENT_TCP = 9,       /* a TCP connection of a traced process ended: totals */
};

/* Which hooked function produced an event. */
enum ct_func {
	CT_FUNC_NONE = 0,
	CT_FUNC_SSL_WRITE = 1,
	CT_FUNC_SSL_WRITE_EX = 2,
	CT_FUNC_SSL_READ = 3,
	CT_FUNC_SSL_READ_EX = 4,
	CT_FUNC_SSL_DO_HANDSHAKE = 5,
	CT_FUNC_SSL_CONNECT = 6,
	CT_FUNC_SSL_ACCEPT = 7,
	CT_FUNC_SSL_NEW = 8,
	CT_FUNC_SSL_FREE = 9,
	CT_FUNC_SSL_CLEAR = 10,
	CT_FUNC_SYSCALL = 11, /* learned from a syscall tracepoint */
	/* GnuTLS (libgnutls.so.30): `ssl` is the gnutls_session_t. */
	CT_FUNC_GNUTLS_RECORD_SEND = 12,
	CT_FUNC_GNUTLS_RECORD_SEND2 = 13,
	CT_FUNC_GNUTLS_RECORD_SEND_RANGE = 14,
	CT_FUNC_GNUTLS_RECORD_SEND_EARLY_DATA = 15, /* 0-RTT data, queued for the handshake */
	CT_FUNC_GNUTLS_RECORD_RECV = 16,
	CT_FUNC_GNUTLS_RECORD_RECV_SEQ = 17,
	CT_FUNC_GNUTLS_RECORD_RECV_EARLY_DATA = 18,
	CT_FUNC_GNUTLS_HANDSHAKE = 19, /* CT_CONN_HANDSHAKE_DONE: ret 0 is success */
	CT_FUNC_GNUTLS_DEINIT = 20,
	/* Go crypto/tls: `ssl` is the *tls.Conn. */
	CT_FUNC_GO_CONN_WRITE = 21, /* crypto/tls.(*Conn).Write */
	CT_FUNC_GO_CONN_READ = 22,  /* crypto/tls.(*Conn).Read */
	CT_FUNC_GO_CONN_CLOSE = 23, /* crypto/tls.(*Conn).Close */
	/* ct-record --watch (1.6): a CONN OPEN written by ct-record at the start of a
	 * rotated capture for a connection that was open in the previous file; its
	 * bytes_written/bytes_read are where this file's part of the streams starts. */
	CT_FUNC_CONTINUED = 24,
};

enum ct_direction {
	CT_DIR_WRITE = 0, /* plaintext the process sent (egress) */
	CT_DIR_READ = 1,  /* plaintext the process received (ingress) */
};

/* struct ct_exec_event.hold and struct ct_mmap_exec_event.hold: whether the process
 * was stopped so that ct-record could probe the file before it runs any of it. */
enum ct_hold {
	CT_HOLD_NONE = 0,    /* the file was decided on already (probed, or has no TLS) */
	CT_HOLD_STOPPED = 1, /* SIGSTOP sent; ct-record resumes the process (SIGCONT) */
	CT_HOLD_FAILED = 2,  /* not decided on, but the process could not be stopped */
};

/* --watch rules active in BPF (the `watch_rules` global). */
enum ct_watch_rules {
	CT_WATCH_NAMES = 1 << 0,    /* comm or executable basename in `watch_names` */
	CT_WATCH_EXES = 1 << 1,     /* executed file in `watch_exes` */
	CT_WATCH_UIDS = 1 << 2,     /* real uid in `watch_uids` */
	CT_WATCH_CMDLINES = 1 << 3, /* user space matches command lines: every exec is asked */
};

/* struct ct_exec_event.watch */
enum ct_watch_match {
	CT_WATCH_NONE = 0,      /* the process was traced already (a descendant) */
	CT_WATCH_MATCHED = 1,   /* it joined the traced set at this exec by a --watch rule */
	CT_WATCH_CANDIDATE = 2, /* untraced; sent only for user space's command-line rules
				 * (seq CT_SEQ_NONE; never written to a capture) */
};

/* hdr.seq of an event that took no sequence number (a --watch candidate exec). */
#define CT_SEQ_NONE (~0ull)

/* The top bit of the BPF global next_seq is not part of the numbers: it is the epoch
 * they are taken in. ct-record --watch flips it with one atomic operation to cut the
 * numbers at a rotation (the numbers taken before are the closing file's), and the
 * losses of an event are counted under its epoch (counters map entry 0 or 1). */
#define CT_SEQ_EPOCH_BIT (1ull << 63)

/* Keys of the `held` map are the sequence numbers of the events that reported a hold;
 * a process that --lossless stopped is in it under this bit ORed with its tgid, a key
 * no sequence number reaches. */
#define CT_HELD_KEY_THROTTLE (1ull << 63)

/* struct ct_data_event.flags */
enum ct_data_flags {
	CT_DATA_TRUNCATED = 1 << 0,  /* call_len exceeds the payload cap: bytes past it are absent */
	CT_DATA_LAST_CHUNK = 1 << 1, /* the last recorded chunk of this call */
};

/* struct ct_loss_event.reason */
enum ct_loss_reason {
	CT_LOSS_RING_FULL = 1,  /* ring-buffer reservation failed */
	CT_LOSS_READ_FAULT = 2, /* the payload could not be read from user memory */
	CT_LOSS_TRUNCATED = 3,  /* beyond the per-call payload cap */
};

/* struct ct_conn_event.kind */
enum ct_conn_kind {
	CT_CONN_OPEN = 1,            /* first sight of (pid, ssl) in a new generation */
	CT_CONN_CLOSE = 2,           /* SSL_free/SSL_clear/gnutls_deinit, or a new handshake ends
				      * the generation */
	CT_CONN_HANDSHAKE_START = 3, /* SSL_do_handshake/SSL_connect/SSL_accept/gnutls_handshake
				      * entered */
	CT_CONN_HANDSHAKE_DONE = 4,  /* ... returned; ret holds its return value (OpenSSL: 1 is
				      * success; gnutls_handshake: 0 is success) */
};

/* struct ct_socket_event.origin: which syscall revealed the socket. */
enum ct_socket_origin {
	CT_SOCKET_FROM_IO = 1,      /* read/write/send/recv made inside a TLS call (libraries
				     * whose BIO_write is not probed: GnuTLS, BoringSSL in Bun,
				     * stripped static OpenSSL) */
	CT_SOCKET_FROM_CONNECT = 2, /* connect() returned (ssl and conn_gen are 0) */
	/* 3 and 4 were guesses for memory-BIO libraries (the thread's next send after a TLS
	 * call, its last receive before SSL_read) that could name another connection's
	 * socket; writers since format 1.6 never produce them (origin 8 replaced them). */
	CT_SOCKET_FROM_NEXT_SEND = 3,
	CT_SOCKET_FROM_LAST_RECV = 4,
	CT_SOCKET_FROM_ACCEPT = 5,    /* accept()/accept4() returned a TCP socket (ssl and
				       * conn_gen are 0, fd is the new socket, ret is 0) */
	CT_SOCKET_FROM_GO_CONN = 6,   /* Go: read from the *tls.Conn's net.Conn (its netFD's
				       * Sysfd) at a Write/Read entry */
	CT_SOCKET_FROM_CONTINUED = 7, /* ct-record --watch (1.6): the connection's socket as
				       * known when the previous file of the series closed,
				       * repeated at the start of a rotated capture */
	CT_SOCKET_FROM_CIPHERTEXT = 8, /* (1.6) a send on this socket began with ciphertext the
					* connection's TLS library passed to BIO_write */
};

/* struct ct_tcp_event.origin: how the traced process got the connection. */
enum ct_tcp_origin {
	CT_TCP_FROM_CONNECT = 1, /* connect() returned 0 or -EINPROGRESS */
	CT_TCP_FROM_ACCEPT = 2,  /* accept()/accept4() returned it */
	CT_TCP_FROM_PROC = 3,    /* open when recording began (ct-record -p): found in /proc */
};

/* struct ct_tcp_event.end: why the totals were written. */
enum ct_tcp_end {
	CT_TCP_END_CLOSE = 1,       /* the process called close() on the fd */
	CT_TCP_END_EXIT = 2,        /* the process exited with the fd still open */
	CT_TCP_END_EXEC = 3,        /* the fd was gone after execve (close-on-exec) */
	CT_TCP_END_REPLACED = 4,    /* the fd number now holds another TCP socket (dup2, ...) */
	CT_TCP_END_RECORDING = 5,   /* still open when the recording ended (written by ct-record) */
};

/* struct ct_tcp_event.flags */
enum ct_tcp_flags {
	CT_TCP_TLS_SEEN = 1 << 0, /* a TLS probe tied a connection to this socket: a SOCKET
				   * event with ssl != 0 named this fd (ssl/conn_gen: the last one) */
	CT_TCP_INHERITED = 1 << 1, /* the process got the fd from its parent at fork; the
				    * totals are its own, from the fork on (open_ns) */
};

struct ct_event_header {
	__u16 type;  /* enum ct_event_type */
	__u16 size;  /* bytes of the fixed struct for `type`, header included */
	__u32 cpu;   /* CPU the event was produced on */
	__u64 seq;   /* global sequence number; a gap means lost events */
	__u64 ts_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) when the event was produced */
	__u32 pid;   /* process (tgid) */
	__u32 tid;   /* thread */
};

/* Plaintext of one SSL read/write call, or one chunk of it, followed by data_len bytes. */
struct ct_data_event {
	struct ct_event_header hdr;
	__u64 ssl;           /* SSL* address in the process */
	__u64 conn_gen;      /* connection generation: unique per capture session */
	__u64 stream_pos;    /* offset of data[0] in this connection+direction's stream */
	__u64 call_start_ns; /* CLOCK_MONOTONIC at function entry */
	__u64 call_len;      /* bytes the call transferred (the true length, even if truncated) */
	__u64 chunk_offset;  /* offset of data[0] within the call */
	__u32 data_len;      /* bytes that follow this struct */
	__u16 flags;         /* enum ct_data_flags */
	__u8 direction;      /* enum ct_direction */
	__u8 func;           /* enum ct_func */
	char comm[CT_COMM_LEN];
	/* __u8 data[data_len] follows */
};

/* Bytes a call transferred that are not in any data event. */
struct ct_loss_event {
	struct ct_event_header hdr;
	__u64 ssl;
	__u64 conn_gen;
	__u64 stream_pos; /* first lost byte in the stream */
	__u64 lost_len;
	__u32 reason; /* enum ct_loss_reason */
	__u8 direction;
	__u8 func;
	__u16 pad;
};

struct ct_conn_event {
	struct ct_event_header hdr;
	__u64 ssl;
	__u64 conn_gen;
	__u64 bytes_written; /* stream positions at the time of the event */
	__u64 bytes_read;
	__s32 ret; /* return value for CT_CONN_HANDSHAKE_DONE, else 0 */
	__u8 kind; /* enum ct_conn_kind */
	__u8 func; /* enum ct_func that caused it */
	__u16 pad;
	char comm[CT_COMM_LEN];
};

/* IPv4 addresses are stored as IPv4-mapped IPv6 (::ffff:a.b.c.d); ports in host order. */
struct ct_socket_event {
	struct ct_event_header hdr;
	__u64 ssl; /* 0 when origin is CT_SOCKET_FROM_CONNECT */
	__u64 conn_gen;
	__s32 fd;
	__s32 ret;     /* connect() return value, else 0 */
	__u16 family;  /* AF_INET, AF_INET6, AF_UNIX, ... (0 if not a socket) */
	__u16 local_port;
	__u16 remote_port;
	__u8 origin;   /* enum ct_socket_origin */
	__u8 pad;
	__u8 local_addr[16];
	__u8 remote_addr[16];
};

/* hdr.pid/tid are the parent's. */
struct ct_fork_event {
	struct ct_event_header hdr;
	__u32 child_pid;
	__u32 child_tid;
	__u64 start_ns; /* the child's start time, task->start_time (CLOCK_MONOTONIC) */
};

/* Followed by args_len bytes of NUL-separated argv (at most CT_EXEC_ARGS_MAX). */
struct ct_exec_event {
	struct ct_event_header hdr;
	__u32 old_tid;      /* tid that called execve (may differ from the leader's) */
	__u32 args_len;     /* bytes of argv that follow the struct */
	__u32 args_truncated; /* 1 if argv was longer than CT_EXEC_ARGS_MAX */
	__u32 pad;
	char comm[CT_COMM_LEN];
	char filename[CT_EXEC_FILENAME_MAX]; /* NUL-terminated path given to execve */
	/* Appended in ABI 1 (hdr.size >= 344): the file the kernel executes (for a
	 * script, its interpreter), as (inode->i_sb->s_dev in the kernel's dev_t
	 * encoding, inode->i_ino); 0/0 if unknown. */
	__u64 file_dev;
	__u64 file_ino;
	__u32 hold; /* enum ct_hold */
	__u32 watch; /* enum ct_watch_match (format 1.6; 0 before) */
};

struct ct_exit_event {
	struct ct_event_header hdr;
	__s32 exit_code; /* wait(2) status format */
	__u32 pad;
};

struct ct_mmap_exec_event {
	struct ct_event_header hdr;
	__u64 addr;
	__u64 len;
	__s32 fd;
	__u32 prot;
	/* Appended in ABI 1 (hdr.size >= 80): the mapped file, as in ct_exec_event. */
	__u64 file_dev;
	__u64 file_ino;
	__u32 hold; /* enum ct_hold */
	__u32 pad;
};

/* Key of the known-files map: a file user space has decided on. */
struct ct_file_id {
	__u64 dev; /* inode->i_sb->s_dev, kernel encoding: major << 20 | minor */
	__u64 ino;
};

/*
 * Totals of one TCP connection (connect or accept, IPv4 or IPv6) of a traced
 * process, from its syscalls: bytes are the return values of write, writev,
 * sendto, sendmsg, sendmmsg (sent) and read, readv, recvfrom, recvmsg,
 * recvmmsg (received) on its fd, by the process that opened it.
 * hdr.ts_ns is when it ended; hdr.tid the thread that ended it (0 for
 * CT_TCP_END_RECORDING).
 */
struct ct_tcp_event {
	struct ct_event_header hdr;
	__u64 open_ns;        /* CLOCK_MONOTONIC when connect/accept returned */
	__u64 bytes_sent;     /* payload bytes the syscalls moved out (TLS: ciphertext) */
	__u64 bytes_received; /* ... and in */
	__u64 ssl;            /* last SSL* tied to it (CT_TCP_TLS_SEEN), else 0 */
	__u64 conn_gen;       /* its connection generation, else 0 */
	__u32 send_calls;     /* syscalls that sent bytes (saturates) */
	__u32 recv_calls;     /* syscalls that received bytes (saturates) */
	__s32 fd;
	__s32 connect_ret;    /* connect() return value (0 or -EINPROGRESS); 0 for accept */
	__u16 family;         /* AF_INET or AF_INET6 */
	__u16 local_port;     /* host order */
	__u16 remote_port;    /* host order */
	__u8 origin;          /* enum ct_tcp_origin */
	__u8 end;             /* enum ct_tcp_end */
	__u32 flags;          /* enum ct_tcp_flags */
	__u32 pad;
	__u8 local_addr[16];  /* IPv6, or IPv4-mapped IPv6 */
	__u8 remote_addr[16];
};

/*
 * Value of the BPF map `tcp_socks` (key: struct ct_tcp_key), which ct-record
 * reads at the end to write CT_TCP_END_RECORDING events. Not part of captures.
 */
struct ct_tcp_key {
	__u32 tgid;
	__s32 fd;
};

struct ct_tcp_state {
	struct ct_tcp_event ev; /* hdr unused until the event is written */
	__u64 sock;             /* struct sock * (tells a reused fd number apart) */
};

/*
 * Per-CPU loss and activity counters, summed by user space and written to the
 * capture periodically. Appending fields is allowed; the map value grows.
 */
struct ct_counters {
	__u64 events;            /* events submitted to the ring */
	__u64 ring_full_events;  /* reservations that failed */
	__u64 ring_full_bytes;   /* payload bytes lost to failed reservations */
	__u64 read_fault_events; /* bpf_probe_read_user failures */
	__u64 read_fault_bytes;
	__u64 truncated_calls;   /* calls longer than the payload cap */
	__u64 truncated_bytes;   /* bytes beyond the cap */
	__u64 call_map_full;     /* entry probes that could not remember their arguments */
	__u64 conn_map_full;     /* connections that could not be tracked */
	__u64 orphan_returns;    /* return probes without a matching entry */
	__u64 data_bytes;        /* payload bytes submitted to the ring */
	__u64 tcp_map_full;      /* TCP connections that could not be tracked (no totals) */
};

#endif /* CT_ABI_H */
