#include "server/certificates.hpp"

#include <cstdio>
#include <memory>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

namespace ct::replay::serve {
namespace {

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
    void operator()(X509* p) const { X509_free(p); }
};
struct FileClose {
    void operator()(std::FILE* f) const { std::fclose(f); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using File = std::unique_ptr<std::FILE, FileClose>;

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (!ext)
        return false;
    const bool ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

Cert new_cert(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key, bool ca) {
    Cert cert(X509_new());
    if (!cert)
        return nullptr;
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1)
        return nullptr;
    serial[0] &= 0x7f;  // positive
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    ASN1_INTEGER* sn = bn ? BN_to_ASN1_INTEGER(bn, nullptr) : nullptr;
    BN_free(bn);
    if (!sn)
        return nullptr;
    X509_set_serialNumber(cert.get(), sn);
    ASN1_INTEGER_free(sn);
    X509_set_version(cert.get(), 2);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600);
    X509_set_pubkey(cert.get(), key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("ct-replay"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
    X509* iss = issuer ? issuer : cert.get();
    X509_set_issuer_name(cert.get(), X509_get_subject_name(iss));
    bool ok = add_ext(cert.get(), iss, NID_subject_key_identifier, "hash") &&
              add_ext(cert.get(), iss, NID_authority_key_identifier, "keyid:always");
    if (ca) {
        ok = ok && add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(cert.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        ok = ok && add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(cert.get(), iss, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
             add_ext(cert.get(), iss, NID_ext_key_usage, "serverAuth") &&
             add_ext(cert.get(), iss, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost,IP:::1");
    }
    if (!ok || X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0)
        return nullptr;
    return cert;
}

Expected<File> create(const std::string& path, mode_t mode) {
    File f(std::fopen(path.c_str(), "w"));
    if (!f)
        return fail_errno("cannot create " + path);
    ::chmod(path.c_str(), mode);
    return f;
}

}  // namespace

Expected<CertificateFiles> make_certificates(const std::string& dir) {
    CertificateFiles files{dir + "/ca.pem", dir + "/server.pem", dir + "/server-key.pem"};
    Pkey ca_key(EVP_EC_gen("P-256"));
    Pkey key(EVP_EC_gen("P-256"));
    if (!ca_key || !key)
        return fail("cannot generate keys");
    Cert ca = new_cert(ca_key.get(), "ct-replay throw-away CA", nullptr, nullptr, true);
    if (!ca)
        return fail("cannot make the CA certificate");
    Cert leaf = new_cert(key.get(), "127.0.0.1", ca.get(), ca_key.get(), false);
    if (!leaf)
        return fail("cannot make the server certificate");
    auto ca_out = create(files.ca_file, 0644);
    if (!ca_out)
        return std::unexpected(ca_out.error());
    auto cert_out = create(files.cert_file, 0644);
    if (!cert_out)
        return std::unexpected(cert_out.error());
    auto key_out = create(files.key_file, 0600);
    if (!key_out)
        return std::unexpected(key_out.error());
    if (PEM_write_X509(ca_out->get(), ca.get()) != 1 ||
        PEM_write_X509(cert_out->get(), leaf.get()) != 1 ||
        PEM_write_X509(cert_out->get(), ca.get()) != 1 ||
        PEM_write_PrivateKey(key_out->get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return fail("cannot write the certificates into " + dir);
    return files;
}

}  // namespace ct::replay::serve
