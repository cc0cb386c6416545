// Go's crypto/tls in a Go executable, stripped or not: (*Conn).Write, (*Conn).Read and
// (*Conn).Close from the pclntab, and every RET instruction of Write and Read (Go moves
// goroutine stacks, so returns are probed at their RETs instead of with uretprobes,
// which patch the return address on the stack). See docs/locator.md.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "locate/elf_image.hpp"
#include "locate/tls_locator.hpp"

namespace ct::locate::go {

inline constexpr const char* kConnWrite = "crypto/tls.(*Conn).Write";
inline constexpr const char* kConnRead = "crypto/tls.(*Conn).Read";
inline constexpr const char* kConnClose = "crypto/tls.(*Conn).Close";

struct GoTlsResult {
    bool is_go = false;           // a Go buildinfo blob was found
    bool has_tls = false;         // crypto/tls.(*Conn).Write or Read is in the pclntab
    std::string version;          // "go1.19.8", empty if unreadable
    std::vector<Target> targets;  // return sites first, then entries
    std::optional<std::string> refusal;
    std::vector<std::string> evidence;
};

GoTlsResult locate_go_tls(const ElfImage& image);

}  // namespace ct::locate::go
