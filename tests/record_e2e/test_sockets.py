"""Each TLS connection is tied to its own socket (so its client port and 4-tuple are
right) when a client keeps several connections open at once: node and python's
asyncio (OpenSSL behind memory BIOs, the ciphertext written by the event loop after
the TLS calls), python threads (socket BIOs) and curl --parallel. The server logs every connection's client port with
the bytes it received and sent; each captured connection must carry the port of the
connection whose bytes it holds, and ct-record must report no connection as having an
unknown socket or as unseen traffic."""
import os
import unittest

from harness import PYTHON, RecordTest

CONNECTIONS = 8

# argv: cafile port count. Connection i opens 30*i ms after the first, while the
# earlier ones are receiving (a socket guessed from the thread's last receive was
# another connection's), makes three streamed requests and then one with a body of its
# own on the same keep-alive connection, all of them at the same time as the others.
NODE_CONCURRENT = r'''
const https = require('https');
const fs = require('fs');
const [cafile, port, count] = process.argv.slice(1);
const n = +count;
const agent = new https.Agent({ keepAlive: true, maxSockets: n, ca: fs.readFileSync(cafile) });
function request(path, body) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method: body ? 'POST' : 'GET', path, agent,
        headers: body ? { 'Content-Length': Buffer.byteLength(body) } : {} },
      res => { const c = []; res.on('data', x => c.push(x)); res.on('end', () => resolve(Buffer.concat(c))); });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}
const sleep = ms => new Promise(r => setTimeout(r, ms));
(async () => {
  const sockets = new Set();
  agent.on('free', s => sockets.add(s));
  await Promise.all([...Array(n).keys()].map(async i => {
    await sleep(i * 30);
    for (let round = 0; round < 3; round++)
      await request(`/sse?n=4&ms=${10 + i}`, null);
  }));
  const echoed = await Promise.all([...Array(n).keys()].map(i => request('/echo', `node ${i} `.repeat(10 + i))));
  echoed.forEach((b, i) => { if (b.toString() !== `node ${i} `.repeat(10 + i)) throw new Error('bad echo'); });
  if (sockets.size !== n) throw new Error(`expected ${n} connections, used ${sockets.size}`);
  agent.destroy();
})().catch(e => { console.error(e); process.exit(1); });
'''

# argv: cafile port count. One keep-alive connection per thread, all open together.
PYTHON_THREADS = r'''
import http.client, ssl, sys, threading
ctx = ssl.create_default_context(cafile=sys.argv[1])
port, n = int(sys.argv[2]), int(sys.argv[3])
barrier = threading.Barrier(n)
errors = []
def run(i):
    try:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
        conn.connect()
        barrier.wait()
        for round in range(3):
            conn.request("GET", f"/sse?n=3&ms={5 + i}")
            conn.getresponse().read()
            body = f"thread {i} round {round} ".encode() * (5 + i)
            conn.request("POST", "/echo", body=body)
            assert conn.getresponse().read() == body
        conn.close()
    except Exception as e:
        errors.append(e)
threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
if errors: raise errors[0]
'''

# argv: cafile port count. asyncio: OpenSSL behind memory BIOs (ssl.MemoryBIO), the
# ciphertext written by the event loop after the TLS calls, all on one thread.
PYTHON_ASYNCIO = r'''
import asyncio, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
port, n = int(sys.argv[2]), int(sys.argv[3])
async def one(i):
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    await asyncio.sleep(i * 0.02)
    for k in range(3):
        body = f"asyncio {i} {k} ".encode() * (3 + i)
        w.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await w.drain()
        head = await r.readuntil(b"\r\n\r\n")
        length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
        assert await r.readexactly(int(length[0].split(b":")[1])) == body
    w.close()
    await w.wait_closed()
async def main():
    await asyncio.gather(*(one(i) for i in range(n)))
asyncio.run(main())
'''


class ConcurrentConnections(RecordTest):
    def check(self, cap, proc):
        self.assert_matches_server(cap, CONNECTIONS)  # by client port, byte for byte
        ports = [c["local_port"] for c in cap.with_data()]
        self.assertEqual(len(set(ports)), CONNECTIONS, ports)
        # Every connection has exactly one socket, found by an exact rule.
        origins = cap.socket_origins()
        for c in cap.with_data():
            self.assertEqual(len(origins.get(c["gen"], [])), 1, (c["gen"], origins.get(c["gen"])))
            origin, port = origins[c["gen"]][0]
            self.assertEqual(port, c["local_port"])
            self.assertNotIn(origin, (3, 4), "a guessed socket")
        self.assertNotIn("UNKNOWN SOCKET", proc.stderr)
        self.assertNotIn("UNSEEN", proc.stderr)
        return origins

    def test_node_concurrent_keepalive_connections(self):
        cap, proc = self.record(["/usr/bin/node", "-e", NODE_CONCURRENT, self.server.cert,
                                 str(self.server.port), str(CONNECTIONS)])
        origins = self.check(cap, proc)
        # node writes the ciphertext of its memory BIOs itself: matched by content.
        self.assertEqual({o for gen in origins.values() for o, _ in gen}, {8})

    def test_python_threads(self):
        cap, proc = self.record([PYTHON, "-c", PYTHON_THREADS, self.server.cert,
                                 str(self.server.port), str(CONNECTIONS)])
        self.check(cap, proc)

    def test_python_asyncio(self):
        cap, proc = self.record([PYTHON, "-c", PYTHON_ASYNCIO, self.server.cert,
                                 str(self.server.port), str(CONNECTIONS)])
        origins = self.check(cap, proc)
        self.assertEqual({o for gen in origins.values() for o, _ in gen}, {8})

    def test_curl_parallel(self):
        s = self.server
        args = ["curl", "-sS", "--parallel", "--parallel-immediate", "--parallel-max",
                str(CONNECTIONS), "--cacert", s.cert]
        for i in range(CONNECTIONS):
            args += ["-o", "/dev/null", f"{s.url}/sse?n=4&ms={10 + i}"]
        cap, proc = self.record(args)
        self.check(cap, proc)


if __name__ == "__main__":
    unittest.main()
