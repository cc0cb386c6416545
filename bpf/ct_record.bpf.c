// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ct-record's probes: TLS plaintext at the SSL_read/SSL_write boundary, the
 * connection lifecycle, the socket behind each connection, and the process
 * tree of the target. Emits the events of ct_abi.h into one ring buffer.
 *
 * Uprobes attach to files, so every process that maps a probed library hits
 * them; `traced` holds the process tree being recorded and everything else
 * returns at the first map lookup.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "ct_abi.h"
#include "ct_syscalls.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before load. */
const volatile __u64 payload_cap = 16 << 20; /* bytes recorded per call; the rest is truncation */
/* Data events wake the recorder only when the ring's backlog crosses this. */
const volatile __u64 wakeup_data_bytes = 4 << 20;
/* --lossless: a traced process whose TLS call finds the ring's backlog above this is
 * stopped (SIGSTOP) until the recorder has drained it. 0: never (the default). */
const volatile __u64 lossless_high_water = 0;

#define AF_UNIX_ 1
#define AF_INET_ 2
#define AF_INET6_ 10
#define S_IFMT_ 00170000
#define S_IFSOCK_ 0140000
#define PROT_EXEC_ 0x4

/* Connection flags (struct conn_state.flags). */
#define CONN_HAS_DATA (1u << 0)
#define CONN_HS_STARTED (1u << 1)
#define CONN_HS_DONE (1u << 2)
/* Its library's ciphertext passes BIO_write, which is probed: the socket is found by
 * matching that ciphertext with a send (SOCKET origin 8), never by I/O made inside its
 * TLS calls (which, with a memory BIO, is some other socket's: node runs JavaScript
 * callbacks inside SSL_read). */
#define CONN_CIPHER_KEYED (1u << 3)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20); /* resized by user space */
} events SEC(".maps");

/* Processes being recorded (tgid -> 1). Seeded by user space, grown on fork. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} traced SEC(".maps");

/*
 * TLS read/write calls in flight, per thread, as a stack: an application may
 * call SSL_write from a callback that runs inside SSL_read (node does, from
 * its session callback), and each such call must be recorded. A call on the
 * same SSL* in the same direction as the frame below it is the library calling
 * itself (SSL_write_ex -> SSL_write): only the outer one records.
 */
#define IO_STACK_DEPTH 4 /* power of two */

struct io_frame {
	__u64 ssl;
	__u64 buf;
	__u64 num;      /* requested length */
	__u64 len_ptr;  /* size_t *written / *readbytes of the _ex variants, else 0 */
	__u64 start_ns;
	__u32 func;     /* enum ct_func */
	__u32 nested;   /* library-internal calls below this frame still open */
	/* Its connection's ciphertext went through BIO_write and its socket is known: BIO_write
	 * inside this call has nothing left to learn and returns before the `conns` lookup. */
	__u32 bio_done;
	__u32 pad;
};

struct io_stack {
	__u32 top;      /* frames in use */
	__u32 overflow; /* calls that found the stack full (not recorded) */
	struct io_frame frames[IO_STACK_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct io_stack);
} active_io SEC(".maps");

static __always_inline bool is_write_func(__u32 func)
{
	return func == CT_FUNC_SSL_WRITE || func == CT_FUNC_SSL_WRITE_EX ||
	       func == CT_FUNC_GNUTLS_RECORD_SEND || func == CT_FUNC_GNUTLS_RECORD_SEND2 ||
	       func == CT_FUNC_GNUTLS_RECORD_SEND_RANGE ||
	       func == CT_FUNC_GNUTLS_RECORD_SEND_EARLY_DATA;
}

static __always_inline bool is_gnutls_func(__u32 func)
{
	return func >= CT_FUNC_GNUTLS_RECORD_SEND && func <= CT_FUNC_GNUTLS_DEINIT;
}

/* GnuTLS's "call me again" errors: the call moved no plaintext yet. */
#define GNUTLS_E_AGAIN_ (-28)
#define GNUTLS_E_INTERRUPTED_ (-52)

struct hs_call {
	__u64 ssl;
	__u32 func; /* CT_FUNC_SSL_DO_HANDSHAKE or CT_FUNC_GNUTLS_HANDSHAKE */
	__u32 depth;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct hs_call);
} active_hs SEC(".maps");

struct conn_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

struct conn_state {
	__u64 gen;
	__u64 pos[2]; /* bytes that flowed so far, per direction */
	__s32 fd;     /* last socket seen under this connection, -1 if none */
	__u32 flags;
	/* GnuTLS: the plaintext of a gnutls_record_send* that returned GNUTLS_E_AGAIN or
	 * GNUTLS_E_INTERRUPTED. GnuTLS has encrypted it already; the caller may retry with
	 * (NULL, 0), and the retry's return value then counts bytes of this buffer. */
	__u64 again_buf;
	__u64 again_len;
	__u64 go_netfd; /* Go: the *net.netFD under the *tls.Conn, 0 if unknown */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn_state);
} conns SEC(".maps");

/* A syscall entered by a traced thread whose exit we want to see. */
struct pending_syscall {
	__u64 id;
	__u64 arg[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct pending_syscall);
} pending_syscalls SEC(".maps");

/*
 * Ciphertext the TLS library handed to BIO_write inside a TLS call on a connection, keyed
 * by its first CIPHER_KEY_LEN bytes: a send syscall whose data starts with those bytes
 * carries that connection's records, so its fd is the connection's socket. This is exact
 * whichever thread writes and whenever (node and python's asyncio write the ciphertext
 * of a memory BIO after the TLS call returned, possibly batched with other records; a
 * socket BIO writes inside BIO_write). 24 bytes of a TLS record are at least 11 bytes of
 * ciphertext or handshake randomness (the TLS 1.2 explicit nonce is a counter), so two
 * connections do not share a key; if they ever did, the key is marked ambiguous and
 * binds nothing.
 */
#define CIPHER_KEY_LEN 24

struct cipher_key {
	__u32 tgid;
	__u32 pad;
	__u8 bytes[CIPHER_KEY_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct cipher_key);
	__type(value, __u64); /* the SSL*, 0 if two connections wrote these bytes */
} cipher_keys SEC(".maps");

/* Entry 0 holds every count, except the ring-full and read-fault counts of events
 * whose sequence number was taken in epoch 1 (CT_SEQ_EPOCH_BIT), which go to entry 1:
 * user space then tells which file of a --watch series they belong to. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct ct_counters);
} counters SEC(".maps");

/* --lossless: processes stopped for backpressure (tgid -> CLOCK_MONOTONIC of the stop).
 * User space sends SIGCONT and deletes the entry once the ring has drained. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} throttled SEC(".maps");

/*
 * The exec/dlopen hold. Files user space has decided on (probed, or examined and
 * found to hold no TLS code), keyed as the kernel names them. A traced process
 * that executes or maps executable a file not in here is stopped (SIGSTOP) before
 * it runs one instruction of it; user space attaches the file's probes, adds the
 * file here and continues the process (SIGCONT).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ct_file_id);
	__type(value, __u32);
} known_files SEC(".maps");

/* Processes stopped by a hold, so that whoever outlives a crashed ct-record can
 * continue every one of them: seq of the event that reported the hold -> tgid.
 * Keyed per hold, not per process: user space removes the entry of the hold it
 * ended, never the next hold of the same process. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} held SEC(".maps");

#define SIGSTOP_ 19

__u64 next_seq = 0;
__u64 next_gen = 0;

/*
 * --watch: rules that make a process that is not traced yet join the traced set
 * when it executes a program (then it is recorded with its descendants, as a -p
 * target). Bits of enum ct_watch_rules; 0 (the default, and after the recording
 * stops): nothing joins. Set by user space after load.
 */
__u32 watch_rules = 0;

/* --match-name: comm or executable basename, first 15 bytes, NUL-padded. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[CT_COMM_LEN]);
	__type(value, __u32);
} watch_names SEC(".maps");

/* --match-exe: the executed file, keyed as known_files. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct ct_file_id);
	__type(value, __u32);
} watch_exes SEC(".maps");

/* --match-user: real uid. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} watch_uids SEC(".maps");

static __always_inline struct ct_counters *counters_get(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&counters, &zero);
}

/* The counters of the losses of an event numbered in `epoch`. */
static __always_inline struct ct_counters *loss_counters_get(__u32 epoch)
{
	__u32 key = epoch ? 1 : 0;
	return bpf_map_lookup_elem(&counters, &key);
}

static __always_inline bool is_traced(__u32 tgid)
{
	return bpf_map_lookup_elem(&traced, &tgid) != NULL;
}

/* Sequence numbers are taken before the reservation, so a failed one leaves a gap.
 * The top bit of next_seq is the epoch (CT_SEQ_EPOCH_BIT), which user space flips to
 * cut the numbers at a rotation; it is not part of the number. */
static __always_inline __u64 take_seq(__u32 *epoch)
{
	__u64 v = __sync_fetch_and_add(&next_seq, 1);
	*epoch = v >> 63;
	return v & ~CT_SEQ_EPOCH_BIT;
}

static __always_inline void fill_header(struct ct_event_header *h, __u16 type, __u16 size,
					__u64 seq, __u64 pid_tgid)
{
	h->type = type;
	h->size = size;
	h->cpu = bpf_get_smp_processor_id();
	h->seq = seq;
	h->ts_ns = bpf_ktime_get_ns();
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
}

static __always_inline void count_submit(__u64 data_bytes)
{
	struct ct_counters *c = counters_get();
	if (c) {
		c->events++;
		c->data_bytes += data_bytes;
	}
}

static __always_inline void count_ring_full(__u64 bytes, __u32 epoch)
{
	struct ct_counters *c = loss_counters_get(epoch);
	if (c) {
		c->ring_full_events++;
		c->ring_full_bytes += bytes;
	}
}

/* Reserves a fixed-size event and fills its header; NULL (counted) if the ring is full. */
#define RESERVE_EVENT(ptr, TYPE, pid_tgid)                                                        \
	({                                                                                         \
		__u32 __epoch;                                                                     \
		__u64 __seq = take_seq(&__epoch);                                                  \
		ptr = bpf_ringbuf_reserve(&events, sizeof(*ptr), 0);                               \
		if (ptr)                                                                           \
			fill_header(&ptr->hdr, TYPE, sizeof(*ptr), __seq, pid_tgid);              \
		else                                                                               \
			count_ring_full(0, __epoch);                                               \
		ptr;                                                                               \
	})

/* ---- connections ---------------------------------------------------------------------- */

static __always_inline void emit_conn(__u64 pid_tgid, __u64 ssl, struct conn_state *st, __u8 kind,
				      __u8 func, __s32 ret)
{
	struct ct_conn_event *e;
	if (!RESERVE_EVENT(e, CT_EVENT_CONN, pid_tgid))
		return;
	e->ssl = ssl;
	e->conn_gen = st->gen;
	e->bytes_written = st->pos[CT_DIR_WRITE];
	e->bytes_read = st->pos[CT_DIR_READ];
	e->ret = ret;
	e->kind = kind;
	e->func = func;
	e->pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	count_submit(0);
}

/* The state of (process, SSL*), created with a fresh generation on first sight. */
static __always_inline struct conn_state *conn_get(__u64 pid_tgid, __u64 ssl, __u8 func)
{
	struct conn_key key = {.tgid = pid_tgid >> 32, .pad = 0, .ssl = ssl};
	struct conn_state *st = bpf_map_lookup_elem(&conns, &key);
	if (st)
		return st;
	struct conn_state init = {};
	init.gen = __sync_fetch_and_add(&next_gen, 1) + 1;
	init.fd = -1;
	if (bpf_map_update_elem(&conns, &key, &init, BPF_NOEXIST) != 0) {
		st = bpf_map_lookup_elem(&conns, &key); /* another thread won the race */
		if (!st) {
			struct ct_counters *c = counters_get();
			if (c)
				c->conn_map_full++;
		}
		return st;
	}
	st = bpf_map_lookup_elem(&conns, &key);
	if (st)
		emit_conn(pid_tgid, ssl, st, CT_CONN_OPEN, func, 0);
	return st;
}

/* Ends the current generation of (process, SSL*): the next use starts a new one. */
static __always_inline void conn_end(__u64 pid_tgid, __u64 ssl, __u8 func)
{
	struct conn_key key = {.tgid = pid_tgid >> 32, .pad = 0, .ssl = ssl};
	struct conn_state *st = bpf_map_lookup_elem(&conns, &key);
	if (!st)
		return;
	emit_conn(pid_tgid, ssl, st, CT_CONN_CLOSE, func, 0);
	bpf_map_delete_elem(&conns, &key);
}

/* ---- the exec/dlopen hold ------------------------------------------------------------ */

static __always_inline void file_identity(struct file *f, __u64 *dev, __u64 *ino)
{
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	*dev = inode ? BPF_CORE_READ(inode, i_sb, s_dev) : 0;
	*ino = inode ? BPF_CORE_READ(inode, i_ino) : 0;
}

/* Stops the current process if `dev`/`ino` is a file user space has not decided on.
 * Returns enum ct_hold. */
static __always_inline __u32 hold_if_unknown(__u64 seq, __u32 tgid, __u64 dev, __u64 ino)
{
	if (dev == 0 && ino == 0)
		return CT_HOLD_FAILED;
	struct ct_file_id id = {.dev = dev, .ino = ino};
	if (bpf_map_lookup_elem(&known_files, &id))
		return CT_HOLD_NONE;
	if (bpf_map_update_elem(&held, &seq, &tgid, BPF_ANY) != 0)
		return CT_HOLD_FAILED;
	if (bpf_send_signal(SIGSTOP_) != 0) {
		bpf_map_delete_elem(&held, &seq);
		return CT_HOLD_FAILED;
	}
	return CT_HOLD_STOPPED;
}

/* The file behind `fd` of the current task, or NULL. */
static __always_inline struct file *current_fd_file(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) != 0)
		return NULL;
	return f;
}

/* ---- sockets -------------------------------------------------------------------------- */

/* The socket behind `fd` of the current task, NULL if `fd` is not a socket. */
static __always_inline struct sock *sock_of_fd(int fd)
{
	struct file *f = current_fd_file(fd);
	if (!f)
		return NULL;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT_) != S_IFSOCK_)
		return NULL;
	struct socket *sock = (struct socket *)BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(sock, sk);
}

/* Family, ports (host order) and addresses (IPv4 as IPv4-mapped IPv6) of `sk`. */
static __always_inline __u16 read_sock_addrs(struct sock *sk, __u16 *local_port,
					     __u16 *remote_port, __u8 (*local_addr)[16],
					     __u8 (*remote_addr)[16])
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET_) {
		__u32 src = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 dst = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		(*local_addr)[10] = (*local_addr)[11] = 0xff;
		(*remote_addr)[10] = (*remote_addr)[11] = 0xff;
		__builtin_memcpy(&(*local_addr)[12], &src, 4);
		__builtin_memcpy(&(*remote_addr)[12], &dst, 4);
	} else if (family == AF_INET6_) {
		/* dst is a pointer to the 16-byte array: BPF_CORE_READ_INTO reads sizeof(*dst). */
		BPF_CORE_READ_INTO(local_addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(remote_addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	if (family == AF_INET_ || family == AF_INET6_) {
		*local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
		*remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	}
	return family;
}

/* Fills family, ports and addresses from the socket behind `fd` of the current task. */
static __always_inline int read_socket(int fd, struct ct_socket_event *e)
{
	struct sock *sk = sock_of_fd(fd);
	if (!sk)
		return -1;
	e->family = read_sock_addrs(sk, &e->local_port, &e->remote_port, &e->local_addr,
				    &e->remote_addr);
	return 0;
}

static __always_inline void emit_socket(__u64 pid_tgid, __u64 ssl, __u64 gen, int fd, int ret,
					__u8 origin)
{
	struct ct_socket_event *e;
	if (!RESERVE_EVENT(e, CT_EVENT_SOCKET, pid_tgid))
		return;
	__builtin_memset(&e->fd, 0, sizeof(*e) - __builtin_offsetof(struct ct_socket_event, fd));
	e->ssl = ssl;
	e->conn_gen = gen;
	e->fd = fd;
	e->ret = ret;
	e->origin = origin;
	if (read_socket(fd, e) != 0 && origin == CT_SOCKET_FROM_IO) {
		bpf_ringbuf_discard(e, 0); /* not a socket (a log file, a pipe): not ours */
		return;
	}
	bpf_ringbuf_submit(e, 0);
	count_submit(0);
}

/* ---- TCP connections: totals from syscalls ------------------------------------------- */

#define IPPROTO_TCP_ 6
#define SOCK_STREAM_ 1
#define EINPROGRESS_ 115
#define MMSGHDR_SIZE_ 64     /* struct mmsghdr on 64-bit targets */
#define MMSGHDR_LEN_OFF_ 56  /* its msg_len */
#define MMSG_MAX_ 1024       /* UIO_MAXIOV: the kernel's limit on vlen */
#define MSG_PEEK_ 2

/* Every TCP connection a traced process opened with connect or accept, until its
 * close() (or the process's exit/exec): addresses and bytes moved by syscalls. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ct_tcp_key);
	__type(value, struct ct_tcp_state);
} tcp_socks SEC(".maps");

/* Writes the totals of `st` as a CT_EVENT_TCP. */
static __always_inline void tcp_emit(__u64 pid_tgid, struct ct_tcp_state *st, __u8 end)
{
	if ((st->ev.flags & CT_TCP_INHERITED) && !st->ev.bytes_sent && !st->ev.bytes_received)
		return; /* a child that never used its parent's socket: nothing to say */
	struct ct_tcp_event *e;
	if (!RESERVE_EVENT(e, CT_EVENT_TCP, pid_tgid))
		return;
	__builtin_memcpy(&e->open_ns, &st->ev.open_ns,
			 sizeof(*e) - __builtin_offsetof(struct ct_tcp_event, open_ns));
	e->end = end;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	count_submit(0);
}

/* Starts tracking `fd` if it is a TCP socket; true if it is one. */
static __always_inline bool tcp_track(__u64 pid_tgid, int fd, __u8 origin, int ret)
{
	struct sock *sk = sock_of_fd(fd);
	if (!sk)
		return false;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if ((family != AF_INET_ && family != AF_INET6_) ||
	    BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP_ ||
	    BPF_CORE_READ(sk, sk_type) != SOCK_STREAM_)
		return false;
	struct ct_tcp_key key = {.tgid = pid_tgid >> 32, .fd = fd};
	struct ct_tcp_state *old = bpf_map_lookup_elem(&tcp_socks, &key);
	if (old) {
		if (old->sock == (__u64)sk)
			return true; /* connect() again on the same socket */
		tcp_emit(pid_tgid, old, CT_TCP_END_REPLACED);
		bpf_map_delete_elem(&tcp_socks, &key);
	}
	struct ct_tcp_state st = {};
	st.sock = (__u64)sk;
	st.ev.open_ns = bpf_ktime_get_ns();
	st.ev.fd = fd;
	st.ev.connect_ret = ret;
	st.ev.origin = origin;
	st.ev.family = read_sock_addrs(sk, &st.ev.local_port, &st.ev.remote_port,
				       &st.ev.local_addr, &st.ev.remote_addr);
	if (bpf_map_update_elem(&tcp_socks, &key, &st, BPF_ANY) != 0) {
		struct ct_counters *c = counters_get();
		if (c)
			c->tcp_map_full++;
	}
	return true;
}

/* A TLS probe tied (ssl, gen) to `fd`: that connection is not unseen. */
static __always_inline void tcp_mark_tls(__u64 pid_tgid, int fd, __u64 ssl, __u64 gen)
{
	struct ct_tcp_key key = {.tgid = pid_tgid >> 32, .fd = fd};
	struct ct_tcp_state *st = bpf_map_lookup_elem(&tcp_socks, &key);
	if (!st)
		return;
	st->ev.flags |= CT_TCP_TLS_SEEN;
	st->ev.ssl = ssl;
	st->ev.conn_gen = gen;
}

/* Ends the tracking of `fd` (close()). */
static __always_inline void tcp_end_fd(__u64 pid_tgid, int fd, __u8 end)
{
	struct ct_tcp_key key = {.tgid = pid_tgid >> 32, .fd = fd};
	struct ct_tcp_state *st = bpf_map_lookup_elem(&tcp_socks, &key);
	if (!st)
		return;
	tcp_emit(pid_tgid, st, end);
	bpf_map_delete_elem(&tcp_socks, &key);
}

static __always_inline bool is_send_syscall(__u64 id)
{
	return id == CT_NR_write || id == CT_NR_writev || id == CT_NR_sendto ||
	       id == CT_NR_sendmsg || id == CT_NR_sendmmsg;
}

static __always_inline bool is_recv_syscall(__u64 id)
{
	return id == CT_NR_read || id == CT_NR_readv || id == CT_NR_recvfrom ||
	       id == CT_NR_recvmsg || id == CT_NR_recvmmsg;
}

struct mmsg_sum {
	__u64 vec;
	__u64 total;
};

static long add_mmsg_len(__u32 index, void *data)
{
	struct mmsg_sum *m = data;
	__u32 len = 0;
	if (bpf_probe_read_user(&len, sizeof(len),
				(const void *)(m->vec + (__u64)index * MMSGHDR_SIZE_ +
					       MMSGHDR_LEN_OFF_)) != 0)
		return 1;
	m->total += len;
	return 0;
}

/*
 * The flags of a receive: recvfrom(fd, buf, len, flags, ...), recvmsg(fd, msg, flags),
 * recvmmsg(fd, vec, vlen, flags, timeout); read and readv have none. MSG_PEEK leaves the
 * data queued. MSG_TRUNC on a TCP socket discards the bytes instead of copying them: they
 * left the socket all the same, and the return value counts them, so they count.
 */
static __always_inline __u64 recv_flags(long id, struct pt_regs *regs)
{
	if (id == CT_NR_recvfrom || id == CT_NR_recvmmsg)
		return PT_REGS_PARM4_CORE_SYSCALL(regs);
	if (id == CT_NR_recvmsg)
		return PT_REGS_PARM3_CORE_SYSCALL(regs);
	return 0;
}

/*
 * At the exit of a syscall that returned > 0: if it was socket I/O on a tracked TCP
 * socket, adds what it moved. The syscall's number and arguments are still in
 * `regs` (x86-64 and arm64 syscalls preserve the argument registers), so the
 * entry needs no bookkeeping: the cost is one map lookup per traced I/O syscall.
 */
static __always_inline void tcp_io_exit(__u64 pid_tgid, struct pt_regs *regs, long ret)
{
	long id = CT_SYSCALL_NR(regs);
	bool send = is_send_syscall(id);
	if (!send && !is_recv_syscall(id))
		return;
	struct ct_tcp_key key = {.tgid = pid_tgid >> 32,
				 .fd = (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs)};
	struct ct_tcp_state *st = bpf_map_lookup_elem(&tcp_socks, &key);
	if (!st)
		return;
	if (!send && (recv_flags(id, regs) & MSG_PEEK_))
		return; /* the bytes stay queued: the read that takes them counts them */
	__u64 n = ret;
	if (id == CT_NR_sendmmsg || id == CT_NR_recvmmsg) {
		/* ret counts messages; each mmsghdr's msg_len holds its bytes. */
		struct mmsg_sum m = {.vec = PT_REGS_PARM2_CORE_SYSCALL(regs), .total = 0};
		bpf_loop(ret < MMSG_MAX_ ? ret : MMSG_MAX_, add_mmsg_len, &m, 0);
		n = m.total;
	}
	if (send) {
		__sync_fetch_and_add(&st->ev.bytes_sent, n);
		if (st->ev.send_calls != ~0u)
			st->ev.send_calls++;
	} else {
		__sync_fetch_and_add(&st->ev.bytes_received, n);
		if (st->ev.recv_calls != ~0u)
			st->ev.recv_calls++;
	}
}

struct tcp_flush_ctx {
	__u64 pid_tgid;
	__u32 tgid;
	__u32 end;
};

static long tcp_flush_one(struct bpf_map *map, const void *key, void *value, void *data)
{
	const struct ct_tcp_key *k = key;
	struct ct_tcp_state *st = value;
	struct tcp_flush_ctx *c = data;
	if (k->tgid != c->tgid)
		return 0;
	if (c->end == CT_TCP_END_EXEC) {
		/* Survived the exec? (sock 0: found in /proc by ct-record, pointer unknown) */
		struct sock *now = sock_of_fd(k->fd);
		if (now && ((__u64)now == st->sock || st->sock == 0))
			return 0;
	}
	tcp_emit(c->pid_tgid, st, c->end);
	bpf_map_delete_elem(&tcp_socks, key);
	return 0;
}

struct tcp_inherit_ctx {
	__u32 parent;
	__u32 child;
	__u64 now;
};

static long tcp_inherit_one(struct bpf_map *map, const void *key, void *value, void *data)
{
	const struct ct_tcp_key *k = key;
	struct tcp_inherit_ctx *c = data;
	if (k->tgid != c->parent)
		return 0;
	struct ct_tcp_key ck = {.tgid = c->child, .fd = k->fd};
	struct ct_tcp_state st = *(struct ct_tcp_state *)value;
	st.ev.open_ns = c->now;
	st.ev.bytes_sent = st.ev.bytes_received = 0;
	st.ev.send_calls = st.ev.recv_calls = 0;
	st.ev.ssl = st.ev.conn_gen = 0;
	st.ev.flags = CT_TCP_INHERITED; /* the parent's TLS link is not the child's */
	bpf_map_update_elem(&tcp_socks, &ck, &st, BPF_NOEXIST);
	return 0;
}

/* A forked child shares its parent's sockets: what it moves on them is counted too. */
static __always_inline void tcp_inherit(__u32 parent, __u32 child)
{
	struct tcp_inherit_ctx c = {.parent = parent, .child = child, .now = bpf_ktime_get_ns()};
	bpf_for_each_map_elem(&tcp_socks, tcp_inherit_one, &c, 0);
}

/* The process exited (or executed a program): totals of its TCP sockets that are gone. */
static __always_inline void tcp_flush_process(__u64 pid_tgid, __u8 end)
{
	struct tcp_flush_ctx c = {.pid_tgid = pid_tgid, .tgid = pid_tgid >> 32, .end = end};
	bpf_for_each_map_elem(&tcp_socks, tcp_flush_one, &c, 0);
}

/* Remembers `fd` as the socket of (process, ssl) if it is a socket and new. */
static __always_inline void learn_fd_for(__u64 pid_tgid, __u64 ssl, int fd, __u8 origin)
{
	struct conn_key key = {.tgid = pid_tgid >> 32, .pad = 0, .ssl = ssl};
	struct conn_state *st = bpf_map_lookup_elem(&conns, &key);
	if (!st || st->fd == fd)
		return;
	struct ct_socket_event probe = {};
	if (read_socket(fd, &probe) != 0 ||
	    (probe.family != AF_INET_ && probe.family != AF_INET6_ && origin != CT_SOCKET_FROM_IO))
		return;
	st->fd = fd;
	emit_socket(pid_tgid, ssl, st->gen, fd, 0, origin);
	tcp_mark_tls(pid_tgid, fd, ssl, st->gen);
}

/* The TLS call this thread is inside, if any; *frame is its frame (NULL in a handshake). */
static __always_inline __u64 current_call(__u64 pid_tgid, struct io_frame **frame)
{
	struct io_stack *io = bpf_map_lookup_elem(&active_io, &pid_tgid);
	if (io && io->top > 0) {
		*frame = &io->frames[(io->top - 1) & (IO_STACK_DEPTH - 1)];
		return (*frame)->ssl;
	}
	*frame = NULL;
	struct hs_call *hs = bpf_map_lookup_elem(&active_hs, &pid_tgid);
	return hs ? hs->ssl : 0;
}

static __always_inline __u64 current_ssl(__u64 pid_tgid)
{
	struct io_frame *frame;
	return current_call(pid_tgid, &frame);
}

/* Socket I/O by a traced thread inside a TLS call: with a socket BIO (OpenSSL's, or a
 * library's own transport callback, as in GnuTLS, Bun's uSockets and rust-openssl), it is
 * that connection's socket (origin 1). Not for a connection whose ciphertext is matched
 * by content: its library may use a memory BIO, and I/O inside its calls may then be
 * another socket's. */
static __always_inline void on_socket_io(__u64 pid_tgid, int fd)
{
	__u64 ssl = current_ssl(pid_tgid);
	if (!ssl)
		return;
	struct conn_key key = {.tgid = pid_tgid >> 32, .pad = 0, .ssl = ssl};
	struct conn_state *st = bpf_map_lookup_elem(&conns, &key);
	if (st && !(st->flags & CONN_CIPHER_KEYED))
		learn_fd_for(pid_tgid, ssl, fd, CT_SOCKET_FROM_IO);
}

/*
 * BIO_write(bio, data, len) / BIO_write_ex(bio, data, len, written) inside a TLS call:
 * OpenSSL's record layer handing a connection's ciphertext to its BIO. Remembers the
 * first bytes under the connection (see cipher_keys) until it has a socket.
 */
static __always_inline int bio_write_entry(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!is_traced(pid_tgid >> 32))
		return 0;
	struct io_frame *frame;
	__u64 ssl = current_call(pid_tgid, &frame);
	if (!ssl)
		return 0; /* not inside a TLS call: not a connection's records */
	if (frame && frame->bio_done)
		return 0;
	struct conn_key ck = {.tgid = pid_tgid >> 32, .pad = 0, .ssl = ssl};
	struct conn_state *st = bpf_map_lookup_elem(&conns, &ck);
	if (!st)
		return 0;
	st->flags |= CONN_CIPHER_KEYED;
	if (st->fd >= 0) {
		if (frame)
			frame->bio_done = 1; /* the call's next records (one per 16 KiB) stop above */
		return 0;
	}
	__s64 len = (__s64)(int)PT_REGS_PARM3(ctx);
	if (len < CIPHER_KEY_LEN)
		return 0;
	struct cipher_key k = {.tgid = pid_tgid >> 32, .pad = 0};
	if (bpf_probe_read_user(k.bytes, sizeof(k.bytes), (const void *)PT_REGS_PARM2(ctx)) != 0)
		return 0;
	__u64 *owner = bpf_map_lookup_elem(&cipher_keys, &k);
	if (owner) {
		if (*owner != ssl)
			*owner = 0; /* two connections wrote the same bytes: they name no one */
		return 0;
	}
	bpf_map_update_elem(&cipher_keys, &k, &ssl, BPF_NOEXIST);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_BIO_write)
{
	return bio_write_entry(ctx);
}

/* The first bytes a send syscall writes: its buffer, or its first iovec's. */
static __always_inline __u64 send_data(long id, struct pt_regs *regs, __u64 *len)
{
	__u64 arg2 = PT_REGS_PARM2_CORE_SYSCALL(regs);
	if (id == CT_NR_write || id == CT_NR_sendto) {
		*len = PT_REGS_PARM3_CORE_SYSCALL(regs);
		return arg2;
	}
	__u64 iov = 0;
	if (id == CT_NR_writev) {
		if (PT_REGS_PARM3_CORE_SYSCALL(regs) < 1)
			return 0;
		iov = arg2;
	} else if (id == CT_NR_sendmsg) {
		__u64 iovlen = 0;
		if (bpf_probe_read_user(&iov, sizeof(iov), (const void *)(arg2 + 16)) != 0 ||
		    bpf_probe_read_user(&iovlen, sizeof(iovlen), (const void *)(arg2 + 24)) != 0 ||
		    iovlen < 1)
			return 0;
	} else {
		return 0;
	}
	__u64 first[2] = {}; /* struct iovec: base, len */
	if (!iov || bpf_probe_read_user(first, sizeof(first), (const void *)iov) != 0)
		return 0;
	*len = first[1];
	return first[0];
}

/* A send on a tracked TCP socket that no connection owns yet: if its data starts with
 * ciphertext a connection without a socket wrote (cipher_keys), this is its socket. */
static __always_inline void bind_by_ciphertext(__u64 pid_tgid, long id, struct pt_regs *regs,
					       int fd)
{
	struct ct_tcp_key tk = {.tgid = pid_tgid >> 32, .fd = fd};
	struct ct_tcp_state *ts = bpf_map_lookup_elem(&tcp_socks, &tk);
	if (!ts || (ts->ev.flags & CT_TCP_TLS_SEEN))
		return;
	__u64 len = 0;
	__u64 data = send_data(id, regs, &len);
	if (!data || len < CIPHER_KEY_LEN)
		return;
	struct cipher_key k = {.tgid = pid_tgid >> 32, .pad = 0};
	if (bpf_probe_read_user(k.bytes, sizeof(k.bytes), (const void *)data) != 0)
		return;
	__u64 *owner = bpf_map_lookup_elem(&cipher_keys, &k);
	if (!owner || !*owner)
		return;
	__u64 ssl = *owner;
	bpf_map_delete_elem(&cipher_keys, &k);
	struct conn_key ck = {.tgid = pid_tgid >> 32, .pad = 0, .ssl = ssl};
	struct conn_state *st = bpf_map_lookup_elem(&conns, &ck);
	if (!st || st->fd >= 0)
		return; /* a connection has one socket, and keeps the first one found */
	st->fd = fd;
	emit_socket(pid_tgid, ssl, st->gen, fd, 0, CT_SOCKET_FROM_CIPHERTEXT);
	tcp_mark_tls(pid_tgid, fd, ssl, st->gen);
}

/* ---- TLS read/write ------------------------------------------------------------------- */

static __always_inline int io_entry(struct pt_regs *ctx, __u32 func, __u64 len_ptr)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!is_traced(pid_tgid >> 32))
		return 0;
	__u64 ssl = PT_REGS_PARM1(ctx);
	struct io_stack *stack = bpf_map_lookup_elem(&active_io, &pid_tgid);
	if (!stack) {
		static const struct io_stack empty = {};
		bpf_map_update_elem(&active_io, &pid_tgid, &empty, BPF_NOEXIST);
		stack = bpf_map_lookup_elem(&active_io, &pid_tgid);
		if (!stack) {
			struct ct_counters *c = counters_get();
			if (c)
				c->call_map_full++;
			return 0;
		}
	}
	__u32 top = stack->top;
	if (top > 0 && top <= IO_STACK_DEPTH) {
		struct io_frame *below = &stack->frames[(top - 1) & (IO_STACK_DEPTH - 1)];
		if (is_write_func(below->func) == is_write_func(func) &&
		    (below->ssl == ssl || (is_gnutls_func(func) && !is_gnutls_func(below->func)))) {
			/* The library calling itself (SSL_write_ex -> SSL_write, gnutls_record_send
			 * -> gnutls_record_send2), or an OpenSSL API over GnuTLS (libgnutls-openssl's
			 * SSL_write -> gnutls_record_send): the outer call records. */
			below->nested++;
			return 0;
		}
	}
	if (top >= IO_STACK_DEPTH) {
		stack->overflow++;
		struct ct_counters *c = counters_get();
		if (c)
			c->call_map_full++;
		return 0;
	}
	struct io_frame *f = &stack->frames[top & (IO_STACK_DEPTH - 1)];
	f->ssl = ssl;
	f->buf = PT_REGS_PARM2(ctx);
	f->num = PT_REGS_PARM3(ctx);
	f->len_ptr = len_ptr;
	f->start_ns = bpf_ktime_get_ns();
	f->func = func;
	f->nested = 0;
	f->bio_done = 0;
	f->pad = 0;
	stack->top = top + 1;
	struct conn_state *st = conn_get(pid_tgid, ssl, func); /* syscalls and BIO_write find it */
	if (st && (st->flags & CONN_CIPHER_KEYED) && st->fd >= 0)
		f->bio_done = 1;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_SSL_write)
{
	return io_entry(ctx, CT_FUNC_SSL_WRITE, 0);
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_SSL_write_ex)
{
	return io_entry(ctx, CT_FUNC_SSL_WRITE_EX, PT_REGS_PARM4(ctx));
}

/* OpenSSL 3.3+ ssl_write_internal(ssl, buf, num, flags, written), located in stripped
 * static OpenSSL: SSL_write_ex's semantics with `written` in the 5th argument. */
SEC("uprobe")
int BPF_KPROBE(probe_entry_ssl_write_internal_flags)
{
	return io_entry(ctx, CT_FUNC_SSL_WRITE_EX, PT_REGS_PARM5(ctx));
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_SSL_read)
{
	return io_entry(ctx, CT_FUNC_SSL_READ, 0);
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_SSL_read_ex)
{
	return io_entry(ctx, CT_FUNC_SSL_READ_EX, PT_REGS_PARM4(ctx));
}

/* GnuTLS: (gnutls_session_t, data, size, ...) -> ssize_t, like SSL_write/SSL_read. */
SEC("uprobe")
int BPF_KPROBE(probe_entry_gnutls_record_send)
{
	return io_entry(ctx, CT_FUNC_GNUTLS_RECORD_SEND, 0);
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_gnutls_record_send2)
{
	return io_entry(ctx, CT_FUNC_GNUTLS_RECORD_SEND2, 0);
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_gnutls_record_send_range)
{
	return io_entry(ctx, CT_FUNC_GNUTLS_RECORD_SEND_RANGE, 0);
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_gnutls_record_send_early_data)
{
	return io_entry(ctx, CT_FUNC_GNUTLS_RECORD_SEND_EARLY_DATA, 0);
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_gnutls_record_recv)
{
	return io_entry(ctx, CT_FUNC_GNUTLS_RECORD_RECV, 0);
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_gnutls_record_recv_seq)
{
	return io_entry(ctx, CT_FUNC_GNUTLS_RECORD_RECV_SEQ, 0);
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_gnutls_record_recv_early_data)
{
	return io_entry(ctx, CT_FUNC_GNUTLS_RECORD_RECV_EARLY_DATA, 0);
}

/* State for emitting one call's payload in chunks from a bpf_loop callback. */
struct emit_ctx {
	__u64 pid_tgid;
	__u64 ssl;
	__u64 gen;
	__u64 buf;
	__u64 start_ns;
	__u64 call_len; /* bytes the call transferred */
	__u64 recorded; /* bytes to record: min(call_len, payload_cap) */
	__u64 pos0;     /* stream position of the call's first byte */
	__u8 direction;
	__u8 func;
	__u16 truncated;
};

static __always_inline void emit_loss(struct emit_ctx *c, __u64 off, __u64 seq, __u64 len,
				      __u32 reason)
{
	struct ct_loss_event *l = bpf_ringbuf_reserve(&events, sizeof(*l), 0);
	if (!l)
		return; /* the sequence gap still shows the loss */
	fill_header(&l->hdr, CT_EVENT_LOSS, sizeof(*l), seq, c->pid_tgid);
	l->ssl = c->ssl;
	l->conn_gen = c->gen;
	l->stream_pos = c->pos0 + off;
	l->lost_len = len;
	l->reason = reason;
	l->direction = c->direction;
	l->func = c->func;
	l->pad = 0;
	bpf_ringbuf_submit(l, 0);
	count_submit(0);
}

/*
 * Data events do not wake the recorder one by one: a wakeup is an irq_work (a
 * self-IPI), which costs microseconds in a VM, and wakes the recorder for one
 * event. The event that makes the backlog cross wakeup_data_bytes wakes it; the
 * recorder's periodic poll drains smaller backlogs. Other events (fork, exec,
 * mmap, connections) still wake it at once: it must react to them.
 */
static __always_inline __u64 data_wakeup_flags(__u64 record_bytes)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	if (avail >= wakeup_data_bytes && avail - record_bytes < wakeup_data_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/*
 * --lossless: past the high-water mark, the calling process is stopped before it returns
 * to its own code (the signal is taken on the way back to user space), so it cannot
 * produce more until the recorder has drained the ring and resumed it. The ring keeps
 * room above the mark for calls already under way in other threads.
 */
static __always_inline void throttle_if_backlogged(__u64 pid_tgid)
{
	if (!lossless_high_water ||
	    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < lossless_high_water)
		return;
	__u32 tgid = pid_tgid >> 32;
	__u64 now = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&throttled, &tgid, &now, BPF_NOEXIST) != 0)
		return; /* stopped already, or no room: no stop we could not undo */
	/* Also in `held`, under a key no event sequence number reaches, so that the hold
	 * watchdog continues this process too if ct-record dies. */
	__u64 held_key = CT_HELD_KEY_THROTTLE | tgid;
	bpf_map_update_elem(&held, &held_key, &tgid, BPF_ANY);
	bpf_send_signal(SIGSTOP_);
}

/*
 * One ring reservation per chunk. The verifier needs constant reservation
 * sizes, so payloads go to the smallest of a few size tiers that fits.
 */
#define DEFINE_EMIT_TIER(CAP)                                                                     \
	static __always_inline int emit_tier_##CAP(struct emit_ctx *c, __u64 off, __u64 n,       \
						   __u64 seq)                                     \
	{                                                                                          \
		struct ct_data_event *e =                                                          \
			bpf_ringbuf_reserve(&events, sizeof(struct ct_data_event) + (CAP), 0);     \
		if (!e)                                                                            \
			return 1;                                                                  \
		__u32 len = n;                                                                     \
		barrier_var(len); /* keep the clamp: the verifier needs it at this point */        \
		if (len > (CAP))                                                                   \
			len = (CAP);                                                               \
		if (bpf_probe_read_user((void *)(e + 1), len, (const void *)(c->buf + off))) {     \
			bpf_ringbuf_discard(e, 0);                                                 \
			return 2;                                                                  \
		}                                                                                  \
		fill_header(&e->hdr, CT_EVENT_DATA, sizeof(*e), seq, c->pid_tgid);                \
		e->ssl = c->ssl;                                                                   \
		e->conn_gen = c->gen;                                                              \
		e->stream_pos = c->pos0 + off;                                                     \
		e->call_start_ns = c->start_ns;                                                    \
		e->call_len = c->call_len;                                                         \
		e->chunk_offset = off;                                                             \
		e->data_len = len;                                                                 \
		e->flags = (c->truncated ? CT_DATA_TRUNCATED : 0) |                               \
			   (off + len >= c->recorded ? CT_DATA_LAST_CHUNK : 0);                    \
		e->direction = c->direction;                                                       \
		e->func = c->func;                                                                 \
		bpf_get_current_comm(e->comm, sizeof(e->comm));                                    \
		bpf_ringbuf_submit(e, data_wakeup_flags(sizeof(*e) + (CAP)));                      \
		count_submit(len);                                                                 \
		return 0;                                                                          \
	}

DEFINE_EMIT_TIER(256)
DEFINE_EMIT_TIER(1024)
DEFINE_EMIT_TIER(4096)
DEFINE_EMIT_TIER(16384)
DEFINE_EMIT_TIER(65536)

/*
 * bpf_loop callback for chunk `index` of a call. It derives everything from the
 * index and never writes the shared context, so the verifier sees the same
 * state on every iteration and converges at once.
 */
static long emit_chunk(__u32 index, void *data)
{
	struct emit_ctx *c = data;
	__u64 off = (__u64)index * CT_DATA_CHUNK_MAX;
	if (off >= c->recorded && index != 0)
		return 1;
	__u64 n = c->recorded - off;
	if (n > CT_DATA_CHUNK_MAX)
		n = CT_DATA_CHUNK_MAX;
	__u32 epoch;
	__u64 seq = take_seq(&epoch);
	int err;
	if (n <= 256)
		err = emit_tier_256(c, off, n, seq);
	else if (n <= 1024)
		err = emit_tier_1024(c, off, n, seq);
	else if (n <= 4096)
		err = emit_tier_4096(c, off, n, seq);
	else if (n <= 16384)
		err = emit_tier_16384(c, off, n, seq);
	else
		err = emit_tier_65536(c, off, n, seq);
	if (err) {
		struct ct_counters *cnt = loss_counters_get(epoch);
		if (cnt) {
			if (err == 1) {
				cnt->ring_full_events++;
				cnt->ring_full_bytes += n;
			} else {
				cnt->read_fault_events++;
				cnt->read_fault_bytes += n;
			}
		}
		emit_loss(c, off, seq, n, err == 1 ? CT_LOSS_RING_FULL : CT_LOSS_READ_FAULT);
	}
	return off + n >= c->recorded;
}

/* Emits the `n` bytes at `buf` that one call moved on (process, ssl) in direction `dir`. */
static __always_inline int record_call(__u64 pid_tgid, __u64 ssl, __u32 func, __u32 dir, __u64 buf,
				  __u64 n, __u64 start_ns)
{
	struct conn_state *st = conn_get(pid_tgid, ssl, func);
	if (!st)
		return 0;
	dir &= 1;
	st->flags |= CONN_HAS_DATA;
	struct emit_ctx ec = {
		.pid_tgid = pid_tgid,
		.ssl = ssl,
		.gen = st->gen,
		.buf = buf,
		.start_ns = start_ns,
		.call_len = n,
		.recorded = n > payload_cap ? payload_cap : n,
		.pos0 = __sync_fetch_and_add(&st->pos[dir], n),
		.direction = dir,
		.func = func,
		.truncated = n > payload_cap,
	};
	if (ec.truncated) {
		struct ct_counters *c = counters_get();
		if (c) {
			c->truncated_calls++;
			c->truncated_bytes += n - ec.recorded;
		}
	}
	__u32 chunks = (ec.recorded + CT_DATA_CHUNK_MAX - 1) / CT_DATA_CHUNK_MAX;
	bpf_loop(chunks ? chunks : 1, emit_chunk, &ec, 0);
	throttle_if_backlogged(pid_tgid);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(probe_return_SSL_io)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct io_stack *stack = bpf_map_lookup_elem(&active_io, &pid_tgid);
	if (!stack || (stack->top == 0 && stack->overflow == 0)) {
		if (is_traced(pid_tgid >> 32)) {
			struct ct_counters *c = counters_get();
			if (c)
				c->orphan_returns++;
		}
		return 0;
	}
	if (stack->overflow > 0) {
		stack->overflow--;
		return 0;
	}
	__u32 top = stack->top;
	struct io_frame *f = &stack->frames[(top - 1) & (IO_STACK_DEPTH - 1)];
	if (f->nested > 0) {
		f->nested--;
		return 0;
	}
	struct io_frame call = *f;
	stack->top = top - 1;

	long ret = PT_REGS_RC(ctx);
	__u64 n;
	if (call.func == CT_FUNC_GNUTLS_RECORD_SEND_EARLY_DATA && ret == 0) {
		/* GnuTLS 3.7 returns 0 when it queued all `size` bytes for the handshake. */
		n = call.num;
	} else if (is_gnutls_func(call.func)) {
		/* ssize_t: bytes moved, or a negative GNUTLS_E_* code. */
		if (ret <= 0) {
			if ((ret == GNUTLS_E_AGAIN_ || ret == GNUTLS_E_INTERRUPTED_) &&
			    is_write_func(call.func) && call.num > 0 && call.buf) {
				struct conn_key key = {.tgid = pid_tgid >> 32, .pad = 0, .ssl = call.ssl};
				struct conn_state *cst = bpf_map_lookup_elem(&conns, &key);
				if (cst) {
					cst->again_buf = call.buf;
					cst->again_len = call.num;
				}
			}
			return 0; /* retried calls record once, when they succeed */
		}
		n = ret;
		if (is_write_func(call.func)) {
			struct conn_key key = {.tgid = pid_tgid >> 32, .pad = 0, .ssl = call.ssl};
			struct conn_state *cst = bpf_map_lookup_elem(&conns, &key);
			if (cst && cst->again_len) {
				if (call.num == 0) {
					/* The (NULL, 0) retry: its bytes are those of the call that
					 * returned GNUTLS_E_AGAIN. */
					call.buf = cst->again_buf;
					call.num = cst->again_len;
				}
				cst->again_buf = 0;
				cst->again_len = 0;
			}
		}
	} else if (call.func == CT_FUNC_SSL_WRITE_EX || call.func == CT_FUNC_SSL_READ_EX) {
		size_t done = 0;
		if ((int)ret != 1 || !call.len_ptr ||
		    bpf_probe_read_user(&done, sizeof(done), (const void *)call.len_ptr) != 0)
			return 0;
		n = done;
	} else {
		if ((int)ret <= 0)
			return 0; /* WANT_READ/WANT_WRITE or error: retried calls record once */
		n = (__u32)(int)ret;
	}
	if (n > call.num)
		n = call.num; /* never trust a length beyond what the caller asked for */
	if (n == 0)
		return 0;
	record_call(pid_tgid, call.ssl, call.func,
		    is_write_func(call.func) ? CT_DIR_WRITE : CT_DIR_READ, call.buf, n,
		    call.start_ns);
	return 0;
}

/* ---- Go crypto/tls ---------------------------------------------------------------------- */

/*
 * Go's internal register ABI (amd64, Go 1.17+): the receiver and arguments go in RAX,
 * RBX, RCX, RDI, ..., results come back in RAX, RBX, ..., and R14 holds the running
 * goroutine (g) throughout. (*Conn).Write(b) and (*Conn).Read(b): RAX = *tls.Conn,
 * b = (RBX ptr, RCX len, RDI cap); they return n in RAX. Returns are probed on each RET
 * instruction: a uretprobe would replace the return address on the goroutine's stack,
 * which Go copies elsewhere when it grows. A goroutine may move to another thread
 * during the call, so the call is remembered under (process, g), not the thread.
 */
#define GO_CONN_NETCONN_DATA 8 /* tls.Conn.conn (net.Conn: itab, data) is the first field */
#define GO_NETFD_SYSFD 16      /* netFD.pfd.Sysfd, after poll.fdMutex (16 bytes) */
#define GO_NETFD_FAMILY 56     /* netFD.family, after poll.FD (56 bytes, Go 1.18 to 1.23) */
#define GO_NETFD_SOTYPE 64     /* netFD.sotype */

struct go_call_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

struct go_call {
	__u64 conn;
	__u64 buf;
	__u64 num;
	__u64 start_ns;
	__u64 stack_lo; /* g.stack at entry: a buffer on the goroutine's stack moves with it */
	__u64 stack_hi;
	__u32 func;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_call_key);
	__type(value, struct go_call);
} go_calls SEC(".maps");

#if defined(__TARGET_ARCH_x86)
/* The socket under a *tls.Conn whose net.Conn is a *net.TCPConn: conn.fd (a *netFD,
 * the first word of TCPConn) -> pfd.Sysfd. -1 if the chain does not look like one. */
static __always_inline int go_conn_fd(__u64 conn, __u64 *netfd_out)
{
	__u64 data = 0, netfd = 0;
	__s64 sysfd = -1, family = 0, sotype = 0;
	if (bpf_probe_read_user(&data, sizeof(data), (const void *)(conn + GO_CONN_NETCONN_DATA)) ||
	    !data)
		return -1;
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (const void *)data) || !netfd)
		return -1;
	if (bpf_probe_read_user(&sysfd, sizeof(sysfd), (const void *)(netfd + GO_NETFD_SYSFD)) ||
	    bpf_probe_read_user(&family, sizeof(family), (const void *)(netfd + GO_NETFD_FAMILY)) ||
	    bpf_probe_read_user(&sotype, sizeof(sotype), (const void *)(netfd + GO_NETFD_SOTYPE)))
		return -1;
	if ((family != AF_INET_ && family != AF_INET6_) || sotype != SOCK_STREAM_ || sysfd < 0 ||
	    sysfd > 0x7fffffff)
		return -1;
	*netfd_out = netfd;
	return (int)sysfd;
}

static __always_inline int go_io_entry(struct pt_regs *ctx, __u32 func)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!is_traced(pid_tgid >> 32))
		return 0;
	__u64 conn = ctx->ax, g = ctx->r14;
	if (!conn || !g)
		return 0;
	struct go_call call = {
		.conn = conn,
		.buf = ctx->bx,
		.num = ctx->cx,
		.start_ns = bpf_ktime_get_ns(),
		.func = func,
	};
	__u64 stack[2] = {};
	if (bpf_probe_read_user(stack, sizeof(stack), (const void *)g) == 0) {
		call.stack_lo = stack[0];
		call.stack_hi = stack[1];
	}
	__u64 netfd = 0;
	int fd = go_conn_fd(conn, &netfd);
	/* No SSL_free: a *tls.Conn address over another socket is a new connection. */
	struct conn_key key = {.tgid = pid_tgid >> 32, .pad = 0, .ssl = conn};
	struct conn_state *old = bpf_map_lookup_elem(&conns, &key);
	if (old && netfd && old->go_netfd && old->go_netfd != netfd)
		conn_end(pid_tgid, conn, func);
	struct conn_state *st = conn_get(pid_tgid, conn, func);
	if (st && netfd) {
		st->go_netfd = netfd;
		learn_fd_for(pid_tgid, conn, fd, CT_SOCKET_FROM_GO_CONN);
	}
	struct go_call_key k = {.tgid = pid_tgid >> 32, .pad = 0, .g = g};
	if (bpf_map_update_elem(&go_calls, &k, &call, BPF_ANY) != 0) {
		struct ct_counters *c = counters_get();
		if (c)
			c->call_map_full++;
	}
	return 0;
}

static __always_inline int go_io_return(struct pt_regs *ctx, __u32 func)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct go_call_key k = {.tgid = pid_tgid >> 32, .pad = 0, .g = ctx->r14};
	struct go_call *p = bpf_map_lookup_elem(&go_calls, &k);
	if (!p) {
		if (is_traced(pid_tgid >> 32)) {
			struct ct_counters *c = counters_get();
			if (c)
				c->orphan_returns++;
		}
		return 0;
	}
	struct go_call call = *p;
	bpf_map_delete_elem(&go_calls, &k);
	if (call.func != func)
		return 0; /* left by a call entered before its return probes were attached */
	long n = ctx->ax;
	if (n <= 0)
		return 0;
	if ((__u64)n > call.num)
		n = call.num;
	__u64 buf = call.buf;
	if (buf >= call.stack_lo && buf < call.stack_hi) {
		/* The buffer is on the goroutine's stack: if the stack grew, Go copied it
		 * and everything on it keeps its distance from the top. */
		__u64 stack[2] = {};
		if (bpf_probe_read_user(stack, sizeof(stack), (const void *)k.g) == 0 &&
		    stack[1] != call.stack_hi)
			buf = buf - call.stack_hi + stack[1];
	}
	record_call(pid_tgid, call.conn, func,
		    func == CT_FUNC_GO_CONN_WRITE ? CT_DIR_WRITE : CT_DIR_READ, buf, n,
		    call.start_ns);
	return 0;
}

static __always_inline int go_close_entry(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (is_traced(pid_tgid >> 32) && ctx->ax)
		conn_end(pid_tgid, ctx->ax, CT_FUNC_GO_CONN_CLOSE);
	return 0;
}
#else
/* Go's register ABI differs on other machines; the locator refuses them. */
static __always_inline int go_io_entry(struct pt_regs *ctx, __u32 func) { return 0; }
static __always_inline int go_io_return(struct pt_regs *ctx, __u32 func) { return 0; }
static __always_inline int go_close_entry(struct pt_regs *ctx) { return 0; }
#endif

SEC("uprobe")
int BPF_KPROBE(probe_entry_go_conn_write)
{
	return go_io_entry(ctx, CT_FUNC_GO_CONN_WRITE);
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_go_conn_read)
{
	return go_io_entry(ctx, CT_FUNC_GO_CONN_READ);
}

/* Attached as plain uprobes on the RET instructions. */
SEC("uprobe")
int BPF_KPROBE(probe_ret_go_conn_write)
{
	return go_io_return(ctx, CT_FUNC_GO_CONN_WRITE);
}

SEC("uprobe")
int BPF_KPROBE(probe_ret_go_conn_read)
{
	return go_io_return(ctx, CT_FUNC_GO_CONN_READ);
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_go_conn_close)
{
	return go_close_entry(ctx);
}

/* ---- handshakes and lifecycle ----------------------------------------------------------- */

static __always_inline int handshake_entry(struct pt_regs *ctx, bool new_generation_after_data,
					   __u32 func)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!is_traced(pid_tgid >> 32))
		return 0;
	__u64 ssl = PT_REGS_PARM1(ctx);
	struct hs_call *cur = bpf_map_lookup_elem(&active_hs, &pid_tgid);
	if (cur && cur->ssl == ssl) {
		cur->depth++;
		return 0;
	}
	struct hs_call call = {.ssl = ssl, .func = func, .depth = 0};
	bpf_map_update_elem(&active_hs, &pid_tgid, &call, BPF_ANY);
	if (new_generation_after_data) {
		/* Without SSL_free to hook, a handshake on an SSL* that already carried
		 * data means the address was reused for a new connection. */
		struct conn_key key = {.tgid = pid_tgid >> 32, .pad = 0, .ssl = ssl};
		struct conn_state *old = bpf_map_lookup_elem(&conns, &key);
		if (old && (old->flags & CONN_HAS_DATA))
			conn_end(pid_tgid, ssl, func);
	}
	struct conn_state *st = conn_get(pid_tgid, ssl, func);
	if (st && !(st->flags & CONN_HS_STARTED)) {
		st->flags |= CONN_HS_STARTED;
		emit_conn(pid_tgid, ssl, st, CT_CONN_HANDSHAKE_START, func, 0);
	}
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_SSL_do_handshake)
{
	return handshake_entry(ctx, false, CT_FUNC_SSL_DO_HANDSHAKE);
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_SSL_do_handshake_regen)
{
	return handshake_entry(ctx, true, CT_FUNC_SSL_DO_HANDSHAKE);
}

/* gnutls_handshake(session) -> int: 0 done, GNUTLS_E_AGAIN/INTERRUPTED to be called
 * again, any other negative value a failure. gnutls_deinit ends the generation. */
SEC("uprobe")
int BPF_KPROBE(probe_entry_gnutls_handshake)
{
	return handshake_entry(ctx, false, CT_FUNC_GNUTLS_HANDSHAKE);
}

SEC("uretprobe")
int BPF_KRETPROBE(probe_return_SSL_do_handshake)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct hs_call *cur = bpf_map_lookup_elem(&active_hs, &pid_tgid);
	if (!cur)
		return 0;
	if (cur->depth > 0) {
		cur->depth--;
		return 0;
	}
	__u64 ssl = cur->ssl;
	__u32 func = cur->func;
	bpf_map_delete_elem(&active_hs, &pid_tgid);
	int ret = (int)PT_REGS_RC(ctx);
	struct conn_key key = {.tgid = pid_tgid >> 32, .pad = 0, .ssl = ssl};
	struct conn_state *st = bpf_map_lookup_elem(&conns, &key);
	if (!st || (st->flags & CONN_HS_DONE))
		return 0;
	if (func == CT_FUNC_GNUTLS_HANDSHAKE) {
		if (ret == GNUTLS_E_AGAIN_ || ret == GNUTLS_E_INTERRUPTED_)
			return 0; /* the handshake goes on */
	} else if (ret < 0) {
		return 0; /* WANT_READ/WANT_WRITE: the handshake goes on */
	}
	st->flags |= CONN_HS_DONE;
	emit_conn(pid_tgid, ssl, st, CT_CONN_HANDSHAKE_DONE, func, ret);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_SSL_free)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (is_traced(pid_tgid >> 32))
		conn_end(pid_tgid, PT_REGS_PARM1(ctx), CT_FUNC_SSL_FREE);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(probe_entry_gnutls_deinit)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (is_traced(pid_tgid >> 32))
		conn_end(pid_tgid, PT_REGS_PARM1(ctx), CT_FUNC_GNUTLS_DEINIT);
	return 0;
}

/* OpenSSL calls SSL_clear itself at the start of a handshake; only a clear
 * after application data means the SSL* is being reused for a new connection. */
SEC("uprobe")
int BPF_KPROBE(probe_entry_SSL_clear)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!is_traced(pid_tgid >> 32))
		return 0;
	__u64 ssl = PT_REGS_PARM1(ctx);
	struct conn_key key = {.tgid = pid_tgid >> 32, .pad = 0, .ssl = ssl};
	struct conn_state *st = bpf_map_lookup_elem(&conns, &key);
	if (st && (st->flags & CONN_HAS_DATA))
		conn_end(pid_tgid, ssl, CT_FUNC_SSL_CLEAR);
	return 0;
}

/* A new SSL* may reuse a freed address whose SSL_free we did not see. */
SEC("uretprobe")
int BPF_KRETPROBE(probe_return_SSL_new)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 ssl = PT_REGS_RC(ctx);
	if (ssl && is_traced(pid_tgid >> 32)) {
		conn_end(pid_tgid, ssl, CT_FUNC_SSL_NEW);
		conn_get(pid_tgid, ssl, CT_FUNC_SSL_NEW); /* its OPEN says: from the very start */
	}
	return 0;
}

/* ---- syscalls --------------------------------------------------------------------------- */

SEC("raw_tp/sys_enter")
int handle_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!is_traced(pid_tgid >> 32))
		return 0;
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long id = (long)ctx->args[1];
	switch (id) {
	case CT_NR_write:
	case CT_NR_writev:
	case CT_NR_sendto:
	case CT_NR_sendmsg:
	case CT_NR_sendmmsg: {
		int fd = (int)PT_REGS_PARM1_CORE_SYSCALL(regs);
		bind_by_ciphertext(pid_tgid, id, regs, fd);
		on_socket_io(pid_tgid, fd);
		break;
	}
	case CT_NR_read:
	case CT_NR_readv:
	case CT_NR_recvfrom:
	case CT_NR_recvmsg:
	case CT_NR_recvmmsg:
		on_socket_io(pid_tgid, (int)PT_REGS_PARM1_CORE_SYSCALL(regs));
		break;
	case CT_NR_close:
		tcp_end_fd(pid_tgid, (int)PT_REGS_PARM1_CORE_SYSCALL(regs), CT_TCP_END_CLOSE);
		break;
	case CT_NR_accept:
	case CT_NR_accept4: {
		struct pending_syscall p = {.id = id};
		bpf_map_update_elem(&pending_syscalls, &pid_tgid, &p, BPF_ANY);
		break;
	}
	case CT_NR_connect: {
		struct pending_syscall p = {.id = id};
		p.arg[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
		bpf_map_update_elem(&pending_syscalls, &pid_tgid, &p, BPF_ANY);
		break;
	}
	case CT_NR_mmap: {
		__u64 prot = PT_REGS_PARM3_CORE_SYSCALL(regs);
		int fd = (int)PT_REGS_PARM5_CORE_SYSCALL(regs);
		if ((prot & PROT_EXEC_) && fd >= 0) {
			struct pending_syscall p = {.id = id};
			p.arg[0] = fd;
			p.arg[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
			p.arg[2] = prot;
			bpf_map_update_elem(&pending_syscalls, &pid_tgid, &p, BPF_ANY);
		}
		break;
	}
	default:
		break;
	}
	return 0;
}

SEC("raw_tp/sys_exit")
int handle_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!is_traced(pid_tgid >> 32))
		return 0;
	long ret = (long)ctx->args[1];
	struct pending_syscall *p = bpf_map_lookup_elem(&pending_syscalls, &pid_tgid);
	if (!p) {
		if (ret > 0)
			tcp_io_exit(pid_tgid, (struct pt_regs *)ctx->args[0], ret);
		return 0;
	}
	struct pending_syscall call = *p;
	bpf_map_delete_elem(&pending_syscalls, &pid_tgid);
	if (call.id == CT_NR_connect) {
		emit_socket(pid_tgid, 0, 0, (int)call.arg[0], (int)ret, CT_SOCKET_FROM_CONNECT);
		if (ret == 0 || ret == -EINPROGRESS_)
			tcp_track(pid_tgid, (int)call.arg[0], CT_TCP_FROM_CONNECT, (int)ret);
	} else if (call.id == CT_NR_accept || call.id == CT_NR_accept4) {
		if (ret >= 0 && tcp_track(pid_tgid, (int)ret, CT_TCP_FROM_ACCEPT, 0))
			emit_socket(pid_tgid, 0, 0, (int)ret, 0, CT_SOCKET_FROM_ACCEPT);
	} else if (call.id == CT_NR_mmap && ret >= 0) {
		struct ct_mmap_exec_event *e;
		if (!RESERVE_EVENT(e, CT_EVENT_MMAP_EXEC, pid_tgid))
			return 0;
		e->addr = ret;
		e->len = call.arg[1];
		e->fd = (int)call.arg[0];
		e->prot = (__u32)call.arg[2];
		e->pad = 0;
		e->file_dev = 0;
		e->file_ino = 0;
		struct file *f = current_fd_file(e->fd);
		if (f)
			file_identity(f, &e->file_dev, &e->file_ino);
		/* The signal is taken on the way back to user space: the library's code
		 * has not run, and the loader has not returned from this mmap yet. */
		e->hold = hold_if_unknown(e->hdr.seq, pid_tgid >> 32, e->file_dev, e->file_ino);
		bpf_ringbuf_submit(e, 0);
		count_submit(0);
	}
	return 0;
}

/* ---- process tree ----------------------------------------------------------------------- */

SEC("raw_tp/sched_process_fork")
int handle_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 parent_tgid = BPF_CORE_READ(parent, tgid);
	if (!is_traced(parent_tgid))
		return 0;
	__u32 child_tgid = BPF_CORE_READ(child, tgid);
	if (child_tgid == parent_tgid)
		return 0; /* a new thread of a traced process is traced already */
	__u32 one = 1;
	bpf_map_update_elem(&traced, &child_tgid, &one, BPF_ANY);
	tcp_inherit(parent_tgid, child_tgid);
	struct ct_fork_event *e;
	if (!RESERVE_EVENT(e, CT_EVENT_FORK, bpf_get_current_pid_tgid()))
		return 0;
	e->child_pid = child_tgid;
	e->child_tid = BPF_CORE_READ(child, pid);
	e->start_ns = BPF_CORE_READ(child, start_time);
	bpf_ringbuf_submit(e, 0);
	count_submit(0);
	return 0;
}

/* --watch: does the program this untraced process just executed match a rule?
 * Returns enum ct_watch_match. Runs once per exec on the machine, never in a probe. */
static __always_inline __u32 watch_match(struct linux_binprm *bprm, __u32 rules)
{
	if (rules & CT_WATCH_NAMES) {
		char name[CT_COMM_LEN] = {};
		bpf_get_current_comm(name, sizeof(name));
		if (bpf_map_lookup_elem(&watch_names, name))
			return CT_WATCH_MATCHED;
		char base[CT_COMM_LEN] = {};
		const unsigned char *dname = BPF_CORE_READ(bprm, file, f_path.dentry, d_name.name);
		if (dname && bpf_probe_read_kernel_str(base, sizeof(base), dname) > 0 &&
		    bpf_map_lookup_elem(&watch_names, base))
			return CT_WATCH_MATCHED;
	}
	if (rules & CT_WATCH_EXES) {
		struct ct_file_id id = {};
		file_identity(BPF_CORE_READ(bprm, file), &id.dev, &id.ino);
		if (bpf_map_lookup_elem(&watch_exes, &id))
			return CT_WATCH_MATCHED;
	}
	if (rules & CT_WATCH_UIDS) {
		__u32 uid = (__u32)bpf_get_current_uid_gid();
		if (bpf_map_lookup_elem(&watch_uids, &uid))
			return CT_WATCH_MATCHED;
	}
	/* A command-line pattern is matched in user space, on this event. */
	return (rules & CT_WATCH_CMDLINES) ? CT_WATCH_CANDIDATE : CT_WATCH_NONE;
}

SEC("raw_tp/sched_process_exec")
int handle_exec(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	__u32 watch = CT_WATCH_NONE;
	if (!is_traced(pid_tgid >> 32)) {
		__u32 rules = watch_rules;
		if (!rules)
			return 0;
		watch = watch_match(bprm, rules);
		if (watch == CT_WATCH_NONE)
			return 0;
		if (watch == CT_WATCH_MATCHED) {
			__u32 tgid = pid_tgid >> 32, one = 1;
			bpf_map_update_elem(&traced, &tgid, &one, BPF_ANY);
		}
	}
	__u64 seq;
	__u32 epoch = 0;
	if (watch == CT_WATCH_CANDIDATE) {
		/* Not traced: the event is only a question to user space, never written to
		 * a capture, so it takes no sequence number (that would count as lost). */
		seq = CT_SEQ_NONE;
	} else {
		tcp_flush_process(pid_tgid, CT_TCP_END_EXEC); /* close-on-exec sockets are gone */
		seq = take_seq(&epoch);
	}
	struct ct_exec_event *e =
		bpf_ringbuf_reserve(&events, sizeof(struct ct_exec_event) + CT_EXEC_ARGS_MAX, 0);
	if (!e) {
		count_ring_full(0, epoch);
		return 0;
	}
	fill_header(&e->hdr, CT_EVENT_EXEC, sizeof(*e), seq, pid_tgid);
	e->old_tid = (__u32)ctx->args[1];
	e->pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	const char *filename = BPF_CORE_READ(bprm, filename);
	if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename) < 0)
		e->filename[0] = 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 start = BPF_CORE_READ(task, mm, arg_start);
	__u64 end = BPF_CORE_READ(task, mm, arg_end);
	__u64 len = end > start ? end - start : 0;
	e->args_truncated = len > CT_EXEC_ARGS_MAX;
	__u32 n = len > CT_EXEC_ARGS_MAX ? CT_EXEC_ARGS_MAX : len;
	barrier_var(n);
	if (n > CT_EXEC_ARGS_MAX)
		n = CT_EXEC_ARGS_MAX;
	if (n == 0 || bpf_probe_read_user((void *)(e + 1), n, (const void *)start) != 0)
		n = 0;
	e->args_len = n;
	/* bprm->file is what runs: for a script, its interpreter. The stop happens
	 * before the new program's first instruction. */
	e->watch = watch;
	file_identity(BPF_CORE_READ(bprm, file), &e->file_dev, &e->file_ino);
	e->hold = watch == CT_WATCH_CANDIDATE
		      ? CT_HOLD_NONE
		      : hold_if_unknown(seq, pid_tgid >> 32, e->file_dev, e->file_ino);
	bpf_ringbuf_submit(e, 0);
	count_submit(0);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int handle_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	if (!is_traced(tgid))
		return 0;
	/* A thread that dies inside a TLS call never returns from it. */
	bpf_map_delete_elem(&active_io, &pid_tgid);
	bpf_map_delete_elem(&active_hs, &pid_tgid);
	bpf_map_delete_elem(&pending_syscalls, &pid_tgid);
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0; /* other threads live on */
	bpf_map_delete_elem(&traced, &tgid);
	tcp_flush_process(pid_tgid, CT_TCP_END_EXIT);
	struct ct_exit_event *e;
	if (!RESERVE_EVENT(e, CT_EVENT_EXIT, pid_tgid))
		return 0;
	e->exit_code = BPF_CORE_READ(task, exit_code);
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	count_submit(0);
	return 0;
}
