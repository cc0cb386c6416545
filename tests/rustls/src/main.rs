// A rustls client for the recorder's tests: HTTP/1.1 requests to the local log server
// (tests/servers/tls_log_server.py) over rustls::Stream on a std TcpStream.
//
//     rustls_https_client CA_PEM PORT BYTES [CONNECTIONS]
//
// Per connection: GET /bytes/BYTES, then POST /echo with a BYTES/2 body on the same
// keep-alive connection (server name "localhost"). Prints "OK <connections>" when
// every response was complete.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

fn base64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    let mut certs = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body = &rest[start + 27..];
        let end = body.find("-----END CERTIFICATE-----").expect("unterminated PEM");
        certs.push(base64_decode(&body[..end]));
        rest = &body[end..];
    }
    certs
}

// One HTTP/1.1 response with a Content-Length body; its body length.
fn read_response(stream: &mut impl Read) -> usize {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().expect("content-length"))
        .expect("no content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("response body");
    length
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: rustls_https_client CA_PEM PORT BYTES [CONNECTIONS]");
        std::process::exit(2);
    }
    let pem = std::fs::read_to_string(&args[1]).expect("CA file");
    let mut roots = rustls::RootCertStore::empty();
    for der in pem_certificates(&pem) {
        roots.add(&rustls::Certificate(der)).expect("CA certificate");
    }
    let config = Arc::new(
        rustls::ClientConfig::builder()
            .with_safe_defaults()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let port: u16 = args[2].parse().expect("port");
    let size: usize = args[3].parse().expect("bytes");
    let conns: usize = args.get(4).map(|c| c.parse().expect("connections")).unwrap_or(1);
    for _ in 0..conns {
        let name = "localhost".try_into().expect("server name");
        let mut conn = rustls::ClientConnection::new(config.clone(), name).expect("connection");
        let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let get = format!("GET /bytes/{size} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        tls.write_all(get.as_bytes()).expect("write GET");
        assert_eq!(read_response(&mut tls), size);
        let body = vec![b'r'; size / 2];
        let post = format!(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        tls.write_all(post.as_bytes()).expect("write POST head");
        tls.write_all(&body).expect("write POST body");
        assert_eq!(read_response(&mut tls), body.len());
    }
    println!("OK {conns}");
}
