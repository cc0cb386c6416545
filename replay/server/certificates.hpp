// A throw-away certificate authority and a server certificate for 127.0.0.1
// and localhost, written as PEM files for the replay server and its clients.
#pragma once

#include <string>

#include "util/error.hpp"

namespace ct::replay::serve {

struct CertificateFiles {
    std::string ca_file;    // the CA certificate: what clients must trust
    std::string cert_file;  // server certificate followed by the CA (a chain)
    std::string key_file;   // the server's private key
};

// Writes ca.pem, server.pem and server-key.pem into `dir` (which must exist).
Expected<CertificateFiles> make_certificates(const std::string& dir);

}  // namespace ct::replay::serve
