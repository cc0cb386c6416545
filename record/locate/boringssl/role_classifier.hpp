// Decides which function is SSL_write, SSL_read, SSL_do_handshake, ... from the
// ssl_lib.cc error sites each one contains (public reason codes) and from who calls
// whom. Architecture-neutral: it sees only FunctionFacts and ErrorCalls.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "locate/boringssl/code_analyzer.hpp"
#include "locate/boringssl/site_attribution.hpp"
#include "locate/tls_locator.hpp"

namespace ct::locate::boringssl {

struct RoleFinding {
    Role role;
    uint64_t vaddr = 0;
    std::string evidence;
};

struct RoleClassification {
    std::vector<RoleFinding> found;     // meaningful only when refusals is empty
    std::vector<std::string> refusals;  // one per required role that is not certain
    std::vector<std::string> notes;     // optional roles, corroboration, what was skipped
};

// `calls`: the ssl_lib.cc error sites that call ERR_put_error(ERR_LIB_SSL, ...), by
// the end address of their address load.
RoleClassification classify_roles(const std::map<uint64_t, ErrorCall>& calls,
                                  const SiteAttribution& attribution);

}  // namespace ct::locate::boringssl
