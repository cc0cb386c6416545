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
