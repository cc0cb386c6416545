// TCP connections of the traced processes that no TLS probe read ("unseen"
// traffic), gathered from the events as they pass, for ct-record's summary.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "ct_abi.hpp"

namespace ct::record {

// Why a program's TLS is invisible to the probes, judged from its file: "GnuTLS
// is not supported", "a Go program: not TLS through crypto/tls.(*Conn), ...", ... Empty
// when the file names no TLS library ct knows of.
std::string unprobed_tls_reason(const std::string& exe_path);

// The peer as "a.b.c.d:port" or "[v6]:port".
std::string tcp_peer_text(const ct_tcp_event& ev);

class UnseenTraffic {
  public:
    // Every event that passes through the recorder (cheap for the others).
    void on_event(std::span<const std::uint8_t> event);
    // The executable of a process, from /proc (overrides an exec's filename).
    void note_exe(pid_t pid, const std::string& exe);
    // Probes on `path` came after `pid` had started running it.
    void note_late_probes(pid_t pid, const std::string& path);
    // `path` (mapped by `pid`, or 0 when not yet known) holds TLS code ct has no probes
    // for, e.g. "rustls-0.23.46" from the locator: named as the reason for its unseen
    // connections.
    void note_unprobed_tls(pid_t pid, const std::string& path, const std::string& what);

    // Connections that moved bytes and that no probe tied to a TLS connection.
    std::size_t unseen_connections() const;
    // One line per process: "pid P EXE: N connection(s) to PEER that no probe could read (...)".
    std::vector<std::string> report_lines() const;
    // One line per process with TLS connections that moved plaintext but were never tied to
    // a socket: "pid P EXE: N TLS connection(s) ...". Their addresses and ports are not in
    // the capture (unknown, rather than guessed).
    std::vector<std::string> socketless_lines() const;

  private:
    std::map<std::uint32_t, std::string> exe_;
    std::map<std::uint32_t, std::string> late_probes_;
    std::map<std::uint32_t, std::string> unprobed_by_pid_;
    std::map<std::string, std::string> unprobed_by_path_;
    std::map<std::uint32_t, std::vector<ct_tcp_event>> unseen_;  // by pid
    std::map<std::uint32_t, std::set<std::uint64_t>> tls_gens_;  // CONN OPEN per pid
    std::set<std::uint64_t> gens_with_socket_;
    std::map<std::uint32_t, std::set<std::uint64_t>> data_gens_;  // DATA per pid
};

}  // namespace ct::record
