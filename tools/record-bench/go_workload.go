// record-bench-go-workload: Go crypto/tls client and server in one process over
// net.Pipe (no syscalls), for the per-call cost of ct-record's Go probes. Commands
// on stdin, one answer line each, like record-bench-workload:
//
//	run N SIZE   N pairs of client (*tls.Conn).Write(SIZE) and server Reads until SIZE
//	             bytes; answers "ok ns_per_pair=... cpu_ns_per_pair=..." (the CPU time
//	             of the whole process: goroutines move between threads)
//	quit
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "bench"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"bench"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func cpuNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func main() {
	a, b := net.Pipe()
	client := tls.Client(a, &tls.Config{InsecureSkipVerify: true})
	server := tls.Server(b, &tls.Config{Certificates: []tls.Certificate{selfSigned()}})
	want := make(chan int)
	done := make(chan error)
	go func() {
		buf := make([]byte, 64<<20)
		for size := range want {
			_, err := io.ReadFull(server, buf[:size])
			done <- err
		}
	}()
	payload := make([]byte, 64<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	// The handshake, outside any measurement.
	want <- 1
	if _, err := client.Write(payload[:1]); err != nil {
		panic(err)
	}
	if err := <-done; err != nil {
		panic(err)
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		if f[0] == "quit" {
			return
		}
		if f[0] != "run" || len(f) != 3 {
			fmt.Println("error: run N SIZE | quit")
			continue
		}
		n, _ := strconv.Atoi(f[1])
		size, _ := strconv.Atoi(f[2])
		if n <= 0 || size <= 0 || size > len(payload) {
			fmt.Println("error: bad N or SIZE")
			continue
		}
		cpu0, t0 := cpuNs(), time.Now()
		for i := 0; i < n; i++ {
			want <- size
			if _, err := client.Write(payload[:size]); err != nil {
				panic(err)
			}
			if err := <-done; err != nil {
				panic(err)
			}
		}
		wall, cpu := time.Since(t0).Nanoseconds(), cpuNs()-cpu0
		fmt.Printf("ok ns_per_pair=%.1f cpu_ns_per_pair=%.1f\n", float64(wall)/float64(n),
			float64(cpu)/float64(n))
	}
}
