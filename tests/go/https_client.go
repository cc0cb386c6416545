// A Go crypto/tls client for the recorder's tests: HTTPS/1.1 requests to the
// local log server (tests/servers/tls_log_server.py) through net/http.
//
//	https_client CERT PORT BYTES [CONNECTIONS]
//
// Per connection: GET /bytes/BYTES, then POST /echo with a BYTES/2 body on the
// same keep-alive connection. Prints "OK <connections>" when every response was
// complete.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
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
