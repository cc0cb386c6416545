#include "locate/boringssl/role_classifier.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>

#include "locate/boringssl/reason_codes.hpp"

namespace ct::locate::boringssl {
namespace {

std::string reason_name(uint32_t reason) {
    switch (reason) {
        case kShouldNotHaveBeenCalled:
            return "66 SHOULD_NOT_HAVE_BEEN_CALLED";
        case kBadLength:
            return "111 BAD_LENGTH";
        case kConnectionTypeNotSet:
            return "134 CONNECTION_TYPE_NOT_SET";
        case kNullSslCtx:
            return "185 NULL_SSL_CTX";
        case kSslHandshakeFailure:
            return "215 SSL_HANDSHAKE_FAILURE";
        case kUninitialized:
            return "226 UNINITIALIZED";
        case kApplicationDataOnShutdown:
            return "291 APPLICATION_DATA_ON_SHUTDOWN";
        default:
            return std::to_string(reason);
    }
}

// One function as the classifier sees it.
struct Profile {
    uint64_t entry = 0;
    const FunctionFacts* facts = nullptr;
    unsigned callers = 0;
    std::vector<const ErrorCall*> sites;
    std::set<uint32_t> reasons;

    bool has(uint32_t reason) const { return reasons.contains(reason); }
    bool transfers_to(uint64_t target) const {
        return facts->direct_calls.contains(target) || facts->tail_jumps.contains(target);
    }
    std::string describe() const {
        std::string list;
        for (const ErrorCall* call : sites) {
            list += fmt::format("{}{}", list.empty() ? "" : ", ", reason_name(*call->reason));
            if (call->line)
                list += fmt::format(" (line {})", *call->line);
        }
        return fmt::format("{:#x} [ssl_lib.cc errors: {}; {} direct call site{}]", entry, list,
                           callers, callers == 1 ? "" : "s");
    }
};

std::string describe_all(const std::vector<const Profile*>& profiles) {
    std::string text;
    for (const Profile* p : profiles)
        text += (text.empty() ? "" : "; ") + p->describe();
    return text.empty() ? "none" : text;
}

class Classifier {
  public:
    Classifier(const std::map<uint64_t, ErrorCall>& calls, const SiteAttribution& attribution) {
        std::set<uint64_t> reached;
        for (const auto& [entry, facts] : attribution.functions) {
            Profile profile;
            profile.entry = entry;
            profile.facts = &facts;
            auto callers = attribution.direct_callers.find(entry);
            profile.callers = callers == attribution.direct_callers.end() ? 0 : callers->second;
            for (uint64_t site : facts.sites_reached) {
                auto call = calls.find(site);
                if (call == calls.end())
                    continue;
                profile.sites.push_back(&call->second);
                profile.reasons.insert(*call->second.reason);
                reached.insert(site);
            }
            profiles_.push_back(std::move(profile));
        }
        for (const auto& [site, call] : calls) {
            if (!reached.contains(site))
                orphans_.push_back(&call);
        }
        for (const auto& [site, why] : attribution.orphan_sites)
            orphan_why_[site] = why;
    }

    RoleClassification run() {
        find_handshake();
        find_write();
        find_read();
        find_optional(Role::SslShutdown, kApplicationDataOnShutdown,
                      "only function with APPLICATION_DATA_ON_SHUTDOWN");
        find_optional(Role::SslNew, kNullSslCtx, "only function with NULL_SSL_CTX");
        result_.notes.push_back(
            "SSL_free, SSL_clear: not identifiable (ssl_lib.cc gives them no error sites)");
        result_.notes.push_back("SSL_write_ex, SSL_read_ex: BoringSSL has none");
        return std::move(result_);
    }

  private:
    std::vector<const Profile*> with_reason(uint32_t reason) const {
        std::vector<const Profile*> out;
        for (const Profile& p : profiles_) {
            if (p.has(reason))
                out.push_back(&p);
        }
        return out;
    }

    // Error sites with this reason that no function could be found for: each might be
    // another copy of the function we are after.
    std::string orphans_with(uint32_t reason) const {
        std::string text;
        for (const ErrorCall* call : orphans_) {
            if (*call->reason != reason)
                continue;
            auto why = orphan_why_.find(call->site_end_va);
            text += fmt::format("{}{:#x} ({})", text.empty() ? "" : "; ", call->site_va,
                                why == orphan_why_.end() ? "unattributed" : why->second);
        }
        return text;
    }

    void refuse(Role role, std::string why) {
        result_.refusals.push_back(fmt::format("{}: {}", role_symbol(role), why));
    }

    bool usable(Role role, const Profile& p) {
        if (p.facts->complete)
            return true;
        refuse(role, fmt::format("control flow of {:#x} not fully followed ({})", p.entry,
                                 p.facts->incomplete_reason));
        return false;
    }

    void found(Role role, const Profile& p, std::string why) {
        result_.found.push_back(
            RoleFinding{role, p.entry, fmt::format("{}; {}", why, p.describe())});
    }

    // SSL_do_handshake is the one function reporting CONNECTION_TYPE_NOT_SET.
    void find_handshake() {
        const auto candidates = with_reason(kConnectionTypeNotSet);
        const std::string orphans = orphans_with(kConnectionTypeNotSet);
        if (candidates.size() != 1 || !orphans.empty()) {
            refuse(Role::SslDoHandshake,
                   fmt::format("{} functions report CONNECTION_TYPE_NOT_SET, need exactly 1: {}{}",
                               candidates.size(), describe_all(candidates),
                               orphans.empty() ? "" : "; unattributed sites: " + orphans));
            return;
        }
        const Profile& hs = *candidates.front();
        handshake_ = &hs;
        std::string why = "only function with CONNECTION_TYPE_NOT_SET";
        // Its identity rests on that one site and on SSL_write and ssl_read_impl calling
        // it, so an unfollowed branch inside it (which can only hide sites, and hidden
        // sites count as unattributed) is tolerated.
        if (!hs.facts->complete) {
            why +=
                fmt::format(" (control flow not fully followed: {})", hs.facts->incomplete_reason);
        }
        const auto& imm = hs.facts->small_immediates;
        if (imm.contains(kCallbackConnectExit) || imm.contains(kCallbackAcceptExit)) {
            why += "; passes SSL_CB_CONNECT_EXIT/SSL_CB_ACCEPT_EXIT to the info callback";
        }
        found(Role::SslDoHandshake, hs, why);
    }

    // SSL_write is the one function reporting BAD_LENGTH; it also reports UNINITIALIZED
    // and SSL_HANDSHAKE_FAILURE and calls SSL_do_handshake.
    void find_write() {
        const auto candidates = with_reason(kBadLength);
        const std::string orphans = orphans_with(kBadLength);
        if (candidates.size() != 1 || !orphans.empty()) {
            refuse(Role::SslWrite,
                   fmt::format("{} functions report BAD_LENGTH, need exactly 1: {}{}",
                               candidates.size(), describe_all(candidates),
                               orphans.empty() ? "" : "; unattributed sites: " + orphans));
            return;
        }
        const Profile& w = *candidates.front();
        if (!w.has(kUninitialized) || !w.has(kSslHandshakeFailure)) {
            refuse(Role::SslWrite,
                   "the BAD_LENGTH function lacks UNINITIALIZED or "
                   "SSL_HANDSHAKE_FAILURE: " +
                       w.describe());
            return;
        }
        if (handshake_ == nullptr) {
            refuse(Role::SslWrite, "needs SSL_do_handshake, which was not found");
            return;
        }
        if (!w.transfers_to(handshake_->entry)) {
            refuse(Role::SslWrite,
                   "the BAD_LENGTH function does not call SSL_do_handshake: " + w.describe());
            return;
        }
        if (!usable(Role::SslWrite, w))
            return;
        write_ = &w;
        found(Role::SslWrite, w,
              fmt::format("only function with BAD_LENGTH; calls SSL_do_handshake at {:#x}",
                          handshake_->entry));
    }

    // ssl_read_impl reports UNINITIALIZED and SSL_HANDSHAKE_FAILURE and calls
    // SSL_do_handshake; SSL_peek (inlined into SSL_read, or alone) reports the QUIC
    // SHOULD_NOT_HAVE_BEEN_CALLED and calls it. SSL_read is the one that then consumes
    // the bytes it copied; SSL_peek does not. SSL_shutdown (APPLICATION_DATA_ON_SHUTDOWN)
    // also calls ssl_read_impl and is excluded.
    void find_read() {
        if (handshake_ == nullptr) {
            refuse(Role::SslRead, "needs SSL_do_handshake, which was not found");
            return;
        }
        std::vector<const Profile*> read_impls;
        for (const Profile& p : profiles_) {
            if (&p == write_ || p.has(kBadLength) || p.has(kApplicationDataOnShutdown))
                continue;
            if (p.has(kUninitialized) && p.has(kSslHandshakeFailure) &&
                p.transfers_to(handshake_->entry)) {
                read_impls.push_back(&p);
            }
        }
        if (read_impls.empty()) {
            refuse(Role::SslRead,
                   "no ssl_read_impl: no function other than SSL_write reports "
                   "UNINITIALIZED and SSL_HANDSHAKE_FAILURE and calls "
                   "SSL_do_handshake");
            return;
        }
        std::vector<const Profile*> peek_like;
        std::optional<uint64_t> impl_used;
        for (const Profile& p : profiles_) {
            if (&p == write_ || p.has(kBadLength) || p.has(kApplicationDataOnShutdown))
                continue;
            if (!p.has(kShouldNotHaveBeenCalled))
                continue;
            for (const Profile* impl : read_impls) {
                if (impl == &p || p.transfers_to(impl->entry)) {
                    peek_like.push_back(&p);
                    impl_used = impl->entry;
                    break;
                }
            }
        }
        std::vector<const Profile*> consuming;
        for (const Profile* p : peek_like) {
            if (p->facts->advances_copy_source)
                consuming.push_back(p);
        }
        if (consuming.size() != 1) {
            refuse(Role::SslRead,
                   fmt::format("{} SSL_peek-like functions (QUIC check, then ssl_read_impl), "
                               "{} of them consume what they copy, need exactly 1: {}",
                               peek_like.size(), consuming.size(), describe_all(peek_like)));
            return;
        }
        const Profile& r = *consuming.front();
        if (!usable(Role::SslRead, r))
            return;
        std::string why = fmt::format(
            "SHOULD_NOT_HAVE_BEEN_CALLED then ssl_read_impl at {:#x} (UNINITIALIZED, "
            "SSL_HANDSHAKE_FAILURE, calls SSL_do_handshake); advances its memcpy source after "
            "copying (SSL_read, not SSL_peek)",
            *impl_used);
        if (peek_like.size() > 1) {
            why += fmt::format("; {} copy-only SSL_peek function(s) ignored", peek_like.size() - 1);
        }
        found(Role::SslRead, r, why);
    }

    void find_optional(Role role, uint32_t reason, const char* why) {
        const auto candidates = with_reason(reason);
        if (candidates.size() == 1 && orphans_with(reason).empty() &&
            candidates.front()->facts->complete) {
            found(role, *candidates.front(), why);
        } else {
            result_.notes.push_back(fmt::format("{} not hooked: {} functions report {}: {}",
                                                role_symbol(role), candidates.size(),
                                                reason_name(reason), describe_all(candidates)));
        }
    }

    std::vector<Profile> profiles_;
    std::vector<const ErrorCall*> orphans_;
    std::map<uint64_t, std::string> orphan_why_;
    const Profile* handshake_ = nullptr;
    const Profile* write_ = nullptr;
    RoleClassification result_;
};

}  // namespace

RoleClassification classify_roles(const std::map<uint64_t, ErrorCall>& calls,
                                  const SiteAttribution& attribution) {
    return Classifier(calls, attribution).run();
}

}  // namespace ct::locate::boringssl
