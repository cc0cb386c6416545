"""Client programs the tests run under ct-record, as source strings."""

PYTHON_REQUESTS = r'''
import http.client, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
port = int(sys.argv[2])
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
conn.request("GET", "/bytes/1000")
assert len(conn.getresponse().read()) == 1000
conn.request("POST", "/echo", body=b"hello from python " * 50,
             headers={"Content-Type": "text/plain"})
assert conn.getresponse().read() == b"hello from python " * 50
conn.close()
'''

# argv: cafile port count
PYTHON_MANY_CONNECTIONS = r'''
import http.client, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
port, count = int(sys.argv[2]), int(sys.argv[3])
for i in range(count):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
    conn.request("GET", f"/bytes/{100 + i}")
    assert len(conn.getresponse().read()) == 100 + i
    conn.close()
'''

# argv: cafile port request_bytes response_bytes
PYTHON_BIG = r'''
import http.client, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
port, up, down = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
body = bytes((i * 131 + i // 977) & 0xff for i in range(up))
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
conn.request("POST", "/upload", body=body)
conn.getresponse().read()
conn.request("GET", f"/bytes/{down}")
assert len(conn.getresponse().read()) == down
conn.close()
'''

NODE_REQUESTS = r'''
const https = require('https');
const fs = require('fs');
const [cafile, port] = process.argv.slice(1);
const agent = new https.Agent({ keepAlive: true, ca: fs.readFileSync(cafile) });
function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path, agent,
                                headers: body ? { 'Content-Length': Buffer.byteLength(body) } : {} },
      res => { const chunks = []; res.on('data', c => chunks.push(c));
               res.on('end', () => resolve(Buffer.concat(chunks))); });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}
(async () => {
  const a = await request('GET', '/bytes/5000');
  if (a.length !== 5000) throw new Error('short read');
  const b = await request('POST', '/echo', 'hello from node '.repeat(100));
  if (b.toString() !== 'hello from node '.repeat(100)) throw new Error('bad echo');
  agent.destroy();
})();
'''

# A non-blocking client that makes SSL_write fail with WANT_WRITE and retries the
# same buffer, as the OpenSSL API requires. argv: cafile port. Prints the retries.
PYTHON_RETRY_WRITE = r'''
import select, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
port = int(sys.argv[2])
raw = socket.create_connection(("127.0.0.1", port))
raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
body = bytes((i * 7) & 0xff for i in range(3 << 20))
s.setblocking(False)
head = f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
data = memoryview(head + body)
retries = 0
while data:
    try:
        n = s.send(data[:1 << 16])
        data = data[n:]
    except ssl.SSLWantWriteError:
        retries += 1
        select.select([], [s], [], 5)
    except ssl.SSLWantReadError:
        retries += 1
        select.select([s], [], [], 5)
s.setblocking(True)
response = b""
while b"\r\n\r\n" not in response:
    response += s.recv(4096)
s.close()
print(f"RETRIES {retries}")
'''

# Makes a request every 20 ms until killed; prints "SENT <i> <unix time>" per request.
PYTHON_STREAM = r'''
import http.client, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[1])
port = int(sys.argv[2])
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
i = 0
while True:
    conn.request("POST", "/echo", body=f"marker-{i:06d}".encode())
    conn.getresponse().read()
    print(f"SENT {i} {time.time()}", flush=True)
    i += 1
    time.sleep(0.02)
'''

# Traffic in a pattern, printing "DONE <i> <time>" when exchange (or SSE event) i has
# been received in full. argv: cert port pattern, where pattern is
#   steady  ~7 requests/s on one keep-alive connection
#   bursty  bursts of 20 back-to-back requests, then 1 s of silence
#   sse     one slow server-sent-event stream, an event every 100 ms
PYTHON_PACED = r'''
import http.client, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[1])
port, pattern = int(sys.argv[2]), sys.argv[3]
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
if pattern == "sse":
    conn.request("GET", "/sse?n=100000&ms=100")
    res = conn.getresponse()
    i = 0
    while True:
        line = res.readline()
        if not line:
            break
        if line.startswith(b"data: "):
            print(f"DONE {i} {time.time()}", flush=True)
            i += 1
    sys.exit(0)
i = 0
while True:
    conn.request("POST", "/echo", body=f"marker-{i:06d}".encode())
    conn.getresponse().read()
    print(f"DONE {i} {time.time()}", flush=True)
    i += 1
    if pattern == "steady":
        time.sleep(0.14)
    elif i % 20 == 0:
        time.sleep(1.0)
'''

# Waits for a go-file, then makes requests (lets a test attach by PID first).
PYTHON_WAIT_THEN_REQUEST = r'''
import http.client, os, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[1])
port, go = int(sys.argv[2]), sys.argv[3]
print("READY", flush=True)
while not os.path.exists(go):
    time.sleep(0.02)
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
conn.request("GET", "/bytes/777")
assert len(conn.getresponse().read()) == 777
conn.request("POST", "/echo", body=b"attached by pid")
conn.getresponse().read()
conn.close()
'''

# node's fetch (undici) writes from inside SSL_read's session callback on a new
# connection: the write must still be recorded. argv: port size; CA via NODE_EXTRA_CA_CERTS.
NODE_FETCH = r'''
const [port, size] = process.argv.slice(1);
(async () => {
  const body = JSON.stringify({ text: 'y'.repeat(Number(size)) });
  const res = await fetch(`https://127.0.0.1:${port}/echo`,
                          { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const text = await res.text();
  if (text !== body) throw new Error('bad echo');
})();
'''

# libcurl's GnuTLS flavour (Debian's libcurl3-gnutls, the one git uses), loaded with
# dlopen through ctypes: a GET and a POST on one keep-alive connection.
# argv: cafile port
PYTHON_CURL_GNUTLS = r'''
import ctypes, sys
curl = ctypes.CDLL("libcurl-gnutls.so.4")
curl.curl_easy_init.restype = ctypes.c_void_p
curl.curl_easy_perform.argtypes = [ctypes.c_void_p]
curl.curl_easy_cleanup.argtypes = [ctypes.c_void_p]
CURLOPT_URL, CURLOPT_CAINFO, CURLOPT_WRITEFUNCTION = 10002, 10065, 20011
CURLOPT_POSTFIELDS, CURLOPT_POSTFIELDSIZE, CURLOPT_HTTPGET = 10015, 60, 80
got = []
WRITE = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t,
                         ctypes.c_void_p)
def on_data(ptr, size, nmemb, _):
    got.append(ctypes.string_at(ptr, size * nmemb))
    return size * nmemb
callback = WRITE(on_data)
assert curl.curl_global_init(3) == 0
h = ctypes.c_void_p(curl.curl_easy_init())
def setopt(option, value):
    assert curl.curl_easy_setopt(h, ctypes.c_int(option), value) == 0, option
setopt(CURLOPT_CAINFO, ctypes.c_char_p(sys.argv[1].encode()))
setopt(CURLOPT_WRITEFUNCTION, callback)
base = f"https://127.0.0.1:{sys.argv[2]}"
setopt(CURLOPT_URL, ctypes.c_char_p(f"{base}/bytes/70000".encode()))
assert curl.curl_easy_perform(h) == 0
assert len(b"".join(got)) == 70000
got.clear()
body = ctypes.create_string_buffer(b"curl-gnutls says hi " * 250, 5000)
setopt(CURLOPT_URL, ctypes.c_char_p(f"{base}/echo".encode()))
setopt(CURLOPT_POSTFIELDSIZE, ctypes.c_long(5000))
setopt(CURLOPT_POSTFIELDS, body)
assert curl.curl_easy_perform(h) == 0
assert b"".join(got) == body.raw
curl.curl_easy_cleanup(h)
'''

# GnuTLS itself through ctypes, on a non-blocking socket with a small send buffer: a
# 3 MiB upload that hits GNUTLS_E_AGAIN, retried as `mode` says: "same" (the same
# data and size) or "null" (NULL and 0, which GnuTLS documents as equivalent).
# argv: port mode. Prints "RETRIES <n>".
PYTHON_GNUTLS_RETRY = r'''
import ctypes, select, socket, sys
g = ctypes.CDLL("libgnutls.so.30")
for name in ("gnutls_record_send", "gnutls_record_recv"):
    getattr(g, name).restype = ctypes.c_ssize_t
    getattr(g, name).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
for name in ("gnutls_handshake", "gnutls_record_get_direction", "gnutls_deinit"):
    getattr(g, name).argtypes = [ctypes.c_void_p]
g.gnutls_set_default_priority.argtypes = [ctypes.c_void_p]
g.gnutls_credentials_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
g.gnutls_transport_set_int2.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
g.gnutls_bye.argtypes = [ctypes.c_void_p, ctypes.c_int]
g.gnutls_strerror.restype = ctypes.c_char_p
E_AGAIN, E_INTERRUPTED = -28, -52
port, mode = int(sys.argv[1]), sys.argv[2]
cred = ctypes.c_void_p()
assert g.gnutls_certificate_allocate_credentials(ctypes.byref(cred)) == 0
session = ctypes.c_void_p()
assert g.gnutls_init(ctypes.byref(session), 2 | 8) == 0  # GNUTLS_CLIENT | GNUTLS_NONBLOCK
assert g.gnutls_set_default_priority(session) == 0
assert g.gnutls_credentials_set(session, 1, cred) == 0  # GNUTLS_CRD_CERTIFICATE
raw = socket.create_connection(("127.0.0.1", port))
raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
raw.setblocking(False)
g.gnutls_transport_set_int2(session, raw.fileno(), raw.fileno())
def wait():
    if g.gnutls_record_get_direction(session):
        select.select([], [raw], [], 5)
    else:
        select.select([raw], [], [], 5)
while True:
    rc = g.gnutls_handshake(session)
    if rc == 0:
        break
    assert rc in (E_AGAIN, E_INTERRUPTED), g.gnutls_strerror(rc)
    wait()
body = bytes((i * 7) & 0xff for i in range(3 << 20))
data = f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
buf = ctypes.create_string_buffer(data, len(data))
off, retries, pending = 0, 0, False
while off < len(data):
    if pending and mode == "null":
        n = g.gnutls_record_send(session, None, 0)
    else:
        n = g.gnutls_record_send(session, ctypes.byref(buf, off), min(len(data) - off, 1 << 16))
    if n in (E_AGAIN, E_INTERRUPTED):
        retries += 1
        pending = True
        wait()
        continue
    assert n > 0, g.gnutls_strerror(n)
    pending = False
    off += n
response = b""
rbuf = ctypes.create_string_buffer(4096)
while b"}" not in response:
    n = g.gnutls_record_recv(session, rbuf, 4096)
    if n in (E_AGAIN, E_INTERRUPTED):
        select.select([raw], [], [], 5)
        continue
    assert n > 0, n
    response += rbuf.raw[:n]
raw.setblocking(True)
g.gnutls_bye(session, 1)  # GNUTLS_SHUT_WR
raw.close()
g.gnutls_deinit(session)
print(f"RETRIES {retries}")
'''

# GnuTLS's OpenSSL compatibility library (libgnutls-openssl.so.27): SSL_write over
# gnutls_record_send. Sends one request; prints the bytes SSL_read returned (this
# library's SSL_read returns 0 at once against a TLS 1.3 server, ct or not).
# argv: port
PYTHON_GNUTLS_OPENSSL = r'''
import ctypes, socket, sys
o = ctypes.CDLL("libgnutls-openssl.so.27")
for name in ("SSLv23_client_method", "SSL_CTX_new", "SSL_new"):
    getattr(o, name).restype = ctypes.c_void_p
o.SSL_CTX_new.argtypes = [ctypes.c_void_p]
o.SSL_new.argtypes = [ctypes.c_void_p]
o.SSL_set_fd.argtypes = [ctypes.c_void_p, ctypes.c_int]
o.SSL_connect.argtypes = [ctypes.c_void_p]
o.SSL_write.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
o.SSL_read.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
o.SSL_free.argtypes = [ctypes.c_void_p]
o.SSL_library_init()
ssl = o.SSL_new(o.SSL_CTX_new(o.SSLv23_client_method()))
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
o.SSL_set_fd(ssl, s.fileno())
assert o.SSL_connect(ssl) == 1
req = b"GET /bytes/3000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
assert o.SSL_write(ssl, req, len(req)) == len(req)
buf = ctypes.create_string_buffer(65536)
got = 0
while True:
    n = o.SSL_read(ssl, buf, 65536)
    if n <= 0:
        break
    got += n
print(f"READ {got}")
o.SSL_free(ssl)
s.close()
'''
