// A Go crypto/tls client for the recorder's tests: HTTPS/1.1 requests to the
// local log server (tests/servers/tls_log_server.py) through net/http.
//
//	https_client CERT PORT BYTES [CONNECTIONS]
//	https_client CERT PORT direct
//	https_client CERT PORT h2 PATH
//
// Per connection: GET /bytes/BYTES, then POST /echo with a BYTES/2 body on the
// same keep-alive connection. Prints "OK <connections>" when every response was
// complete.
//
// "direct": one request through tls.Client without net/http, written by
// (*tls.Conn).Write as the connection's first call (the handshake runs inside that
// Write, on a new goroutine whose stack grows meanwhile), the response read to EOF.
// "h2": GET PATH over HTTP/2 (ALPN h2, required), then prints "OK h2 <body bytes>".
// (The array is meant for the stack, but `go build -gcflags=-m` shows that Go 1.19
// moves it to the heap: Write's parameter escapes.)
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: https_client CERT PORT BYTES [CONNECTIONS]")
		os.Exit(2)
	}
	pem, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	if os.Args[3] == "h2" && len(os.Args) > 4 {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
			ForceAttemptHTTP2: true}
		resp, err := (&http.Client{Transport: tr}).Get("https://127.0.0.1:" + os.Args[2] + os.Args[4])
		if err != nil {
			panic(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.ProtoMajor != 2 {
			panic(fmt.Sprintf("h2: %s, %v", resp.Proto, err))
		}
		fmt.Printf("OK h2 %d\n", len(body))
		return
	}
	if os.Args[3] == "direct" {
		done := make(chan int)
		go func() { done <- writeFromStack(pool, os.Args[2]) }()
		fmt.Printf("OK direct %d\n", <-done)
		return
	}
	size, _ := strconv.Atoi(os.Args[3])
	conns := 1
	if len(os.Args) > 4 {
		conns, _ = strconv.Atoi(os.Args[4])
	}
	base := "https://127.0.0.1:" + os.Args[2]
	for i := 0; i < conns; i++ {
		// A transport per connection: each one dials its own TLS connection.
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		client := &http.Client{Transport: tr}
		resp, err := client.Get(fmt.Sprintf("%s/bytes/%d", base, size))
		if err != nil {
			panic(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(got) != size {
			panic(fmt.Sprintf("GET: %d bytes, %v", len(got), err))
		}
		body := bytes.Repeat([]byte("hello from go "), size/28+1)[:size/2]
		resp, err = client.Post(base+"/echo", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			panic(err)
		}
		got, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			panic(fmt.Sprintf("POST: %d bytes back, %v", len(got), err))
		}
		tr.CloseIdleConnections()
	}
	fmt.Printf("OK %d\n", conns)
}

const stackRequest = "GET /bytes/1000 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: " +
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n" +
	"Connection: close\r\n\r\n"

// writeFromStack returns the bytes of the response it read.
func writeFromStack(pool *x509.CertPool, port string) int {
	raw, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		panic(err)
	}
	conn := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	var req [len(stackRequest)]byte
	copy(req[:], stackRequest)
	if n, err := conn.Write(req[:]); err != nil || n != len(req) {
		panic(fmt.Sprintf("write: %d, %v", n, err))
	}
	got, err := io.ReadAll(conn)
	if err != nil {
		panic(err)
	}
	conn.Close()
	return len(got)
}
