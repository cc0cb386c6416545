// ct-replay: serves a recorded session back to the program that made it, and
// says where a re-run diverges from the recording.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "protocols/http1/types.hpp"
#include "server/certificates.hpp"
#include "server/http_server.hpp"
#include "server/matching.hpp"
#include "server/recording.hpp"
#include "server/session.hpp"

extern char** environ;

namespace {

using namespace ct::replay::serve;

constexpr int kFollowed = 0;
constexpr int kDiverged = 1;
constexpr int kUsage = 2;
constexpr int kCannotStart = 3;

const char* kDescription =
    R"(ct-replay: serve a recorded session (.ctz) back to the program that made it.

  ct-replay serve session.ctz [--port N] [--speed X | --no-delay] [-v]
  ct-replay run session.ctz [options] -- CMD ARGS...
  ct-replay serve|run --db sessions.db [--capture UUID] [--conversation KEY] ...
                                              (from a ct-analyze database; KEY: the hex key of
                                               SELECT conversation FROM v_llm_conversations)

The server listens on 127.0.0.1 and answers each request with the recorded
response of the exchange that matches it: the same method and target (query
included) and, for JSON bodies, the same body after dropping what varies
between runs (see --ignore; the default rules are listed with --list-rules).
Each recorded exchange answers once, in recorded order. A request that matches
none gets status 599 with a JSON error naming the closest recorded exchange and
the first differing JSON paths. Timing follows the recording (divided by
--speed): the head after the recorded response time, SSE event by event.

One port speaks both HTTPS (a throw-away CA and certificate for 127.0.0.1 and
localhost, generated at start) and plain HTTP; HTTP/1.1 with keep-alive, and
HTTP/2 (ALPN h2 over TLS, or prior knowledge on plain connections).
Limits of this version: recorded hosts are not told apart (all exchanges of
the capture are pooled; --host keeps some); request headers are not compared; a content-encoded
SSE response is sent in one piece; incomplete exchanges are not served.

Exit status: 0 every request matched and every recorded exchange was served;
1 the run diverged (or, for run, CMD failed); 2 bad command line; 3 the replay
could not start (unreadable capture, port in use, CMD cannot be run).)";

struct Options {
    std::string capture;
    std::string db;            // --db: exchanges from a ct-analyze database instead
    std::string capture_uuid;  // --capture: which capture of the database
    std::string conversation;  // --conversation: only the LLM calls of this conversation
    int port = 0;
    double speed = 1.0;
    bool no_delay = false;
    bool verbose = false;
    bool plain = false;
    bool http1_only = false;
    std::string cert_dir;
    std::vector<std::string> ignore;
    std::vector<std::string> hosts;  // --host
    std::vector<std::string> command;
};

std::mutex g_log_mutex;
void log_line(const std::string& line) {
    std::lock_guard lock(g_log_mutex);
    std::fprintf(stderr, "ct-replay: %s\n", line.c_str());
    std::fflush(stderr);
}

class TempDir {
  public:
    TempDir() = default;
    ~TempDir() {
        if (!path_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(path_, ec);
        }
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    bool create() {
        char templ[] = "/tmp/ct-replay-XXXXXX";
        if (!::mkdtemp(templ))
            return false;
        path_ = templ;
        return true;
    }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

std::vector<std::pair<std::string, std::string>> client_environment(std::uint16_t port,
                                                                    const CertificateFiles* certs) {
    const std::string base = fmt::format("{}://127.0.0.1:{}", certs ? "https" : "http", port);
    std::vector<std::pair<std::string, std::string>> env = {
        {"ANTHROPIC_BASE_URL", base},
        {"OPENAI_BASE_URL", base + "/v1"},
    };
    if (certs)
        for (const char* name :
             {"NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"})
            env.emplace_back(name, certs->ca_file);
    return env;
}

int replay(const Options& opt, bool run) {
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // before any thread starts: sigwait gets them

    auto recording = opt.db.empty() ? load_recording(opt.capture)
                                    : load_recording_from_db(opt.db, opt.capture_uuid,
                                                             opt.conversation);
    if (!recording) {
        std::fprintf(stderr, "ct-replay: %s\n", recording.error().what().c_str());
        return kCannotStart;
    }
    if (opt.verbose)
        for (const auto& s : recording->skipped)
            log_line("not servable: " + s);
    if (!opt.hosts.empty()) {  // --host: only the exchanges recorded with these hosts
        auto wanted = [&](const std::string& host) {
            for (const auto& h : opt.hosts)
                if (ct::analyze::http1::iequals(host, h) ||
                    (host.size() > h.size() && host[h.size()] == ':' &&
                     ct::analyze::http1::iequals(std::string_view(host).substr(0, h.size()), h)))
                    return true;
            return false;
        };
        std::erase_if(recording->exchanges,
                      [&](const RecordedExchange& x) { return !wanted(x.host); });
        for (std::size_t i = 0; i < recording->exchanges.size(); ++i)
            recording->exchanges[i].number = i + 1;
    }
    const std::size_t count = recording->exchanges.size();
    Normalizer normalizer;
    for (const auto& pattern : opt.ignore)
        normalizer.add_rule({pattern, "--ignore", ""});
    ReplaySession session(std::move(*recording), std::move(normalizer));
    if (opt.verbose)
        session.set_live_log(log_line);

    TempDir temp;
    std::optional<CertificateFiles> certs;
    if (!opt.plain) {
        std::string dir = opt.cert_dir;
        if (dir.empty()) {
            if (!temp.create()) {
                std::perror("ct-replay: mkdtemp");
                return kCannotStart;
            }
            dir = temp.path();
        } else {
            std::error_code ec;
            std::filesystem::create_directories(dir, ec);
        }
        auto made = make_certificates(dir);
        if (!made) {
            std::fprintf(stderr, "ct-replay: %s\n", made.error().what().c_str());
            return kCannotStart;
        }
        certs = *made;
    }
    ServerOptions so;
    so.port = static_cast<std::uint16_t>(opt.port);
    so.speed = opt.speed;
    so.no_delay = opt.no_delay;
    so.http2 = !opt.http1_only;
    if (certs) {
        so.cert_file = certs->cert_file;
        so.key_file = certs->key_file;
    }
    if (opt.verbose)
        so.log = log_line;
    Server server(session, so);
    auto port = server.start();
    if (!port) {
        std::fprintf(stderr, "ct-replay: %s\n", port.error().what().c_str());
        return kCannotStart;
    }
    const auto env = client_environment(*port, certs ? &*certs : nullptr);

    int command_status = 0;
    if (!run) {
        std::printf("ct-replay: serving %zu recorded exchanges from %s on 127.0.0.1:%u (%s)\n",
                    count, (opt.db.empty() ? opt.capture : opt.db).c_str(), *port,
                    certs ? "HTTPS and plain HTTP" : "plain HTTP");
        for (const auto& [k, v] : env)
            std::printf("export %s=%s\n", k.c_str(), v.c_str());
        std::printf("ct-replay: Ctrl-C ends the replay and prints the report\n");
        std::fflush(stdout);
        while (true) {
            int sig = 0;
            if (sigwait(&sigs, &sig) == 0 && (sig == SIGINT || sig == SIGTERM))
                break;
        }
    } else {
        std::map<std::string, std::string> vars;
        for (char** e = environ; *e; ++e) {
            std::string s(*e);
            auto eq = s.find('=');
            if (eq != std::string::npos)
                vars[s.substr(0, eq)] = s.substr(eq + 1);
        }
        for (const auto& [k, v] : env)
            vars[k] = v;
        // Secrets are never needed, but clients refuse to start without a key.
        for (const char* key : {"ANTHROPIC_API_KEY", "OPENAI_API_KEY"})
            if (!vars.contains(key))
                vars[key] = "ct-replay-no-key-needed";
        std::vector<std::string> env_strings;
        for (const auto& [k, v] : vars)
            env_strings.push_back(k + "=" + v);
        std::vector<char*> envp;
        for (auto& s : env_strings)
            envp.push_back(s.data());
        envp.push_back(nullptr);
        std::vector<std::string> args = opt.command;
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);

        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        sigset_t none, defaults;
        sigemptyset(&none);
        sigemptyset(&defaults);
        sigaddset(&defaults, SIGPIPE);
        sigaddset(&defaults, SIGINT);
        sigaddset(&defaults, SIGTERM);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &defaults);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        pid_t pid = 0;
        int rc = posix_spawnp(&pid, argv[0], nullptr, &attr, argv.data(), envp.data());
        posix_spawnattr_destroy(&attr);
        if (rc != 0) {
            std::fprintf(stderr, "ct-replay: cannot run %s: %s\n", argv[0], std::strerror(rc));
            server.stop();
            return kCannotStart;
        }
        if (opt.verbose)
            log_line(fmt::format("running {} (pid {}) against 127.0.0.1:{}", args[0], pid, *port));
        int status = 0;
        while (true) {
            pid_t w = ::waitpid(pid, &status, WNOHANG);
            if (w == pid)
                break;
            int sig = 0;
            if (sigwait(&sigs, &sig) == 0 && (sig == SIGINT || sig == SIGTERM))
                ::kill(pid, sig);
        }
        command_status = status;
    }
    server.stop();
    std::string report = session.report();
    if (run) {
        if (WIFEXITED(command_status))
            report += fmt::format("command: {} exited with status {}\n", opt.command[0],
                                  WEXITSTATUS(command_status));
        else if (WIFSIGNALED(command_status))
            report += fmt::format("command: {} was killed by signal {}\n", opt.command[0],
                                  WTERMSIG(command_status));
    }
    std::fputs(report.c_str(), stderr);
    std::fflush(stderr);
    const bool command_ok = WIFEXITED(command_status) && WEXITSTATUS(command_status) == 0;
    return session.followed() && command_ok ? kFollowed : kDiverged;
}

void add_common(CLI::App* cmd, Options& opt) {
    cmd->add_option("capture", opt.capture, "the recorded session (.ctz)");
    cmd->add_option("--db", opt.db, "serve from a ct-analyze database instead of a capture file")
        ->check(CLI::ExistingFile);
    cmd->add_option(
        "--capture", opt.capture_uuid,
        "with --db: the UUID of the capture to serve (needed when the database holds several)");
    cmd->add_option("--conversation", opt.conversation,
                    "with --db: serve only the LLM calls of this conversation (the hex key of "
                    "SELECT conversation FROM v_llm_conversations)");
    cmd->add_option("--port", opt.port, "port on 127.0.0.1 (default: any free port)")
        ->check(CLI::Range(0, 65535));
    auto* speed =
        cmd->add_option("--speed", opt.speed,
                        "recorded delays (response time, SSE spacing) divided by X (default 1)")
            ->check(CLI::PositiveNumber);
    cmd->add_flag("--no-delay", opt.no_delay, "no recorded delays: answer and stream at once")
        ->excludes(speed);
    cmd->add_flag("-v,--verbose", opt.verbose, "log every request and the decision taken");
    cmd->add_flag("--plain", opt.plain, "no TLS: plain HTTP only, http:// base URLs");
    cmd->add_option(
           "--host", opt.hosts,
           "serve only exchanges recorded with this Host (port optional; repeat for more), e.g. "
           "api.anthropic.com, leaving out traffic the client sends elsewhere on replay")
        ->allow_extra_args(false);
    cmd->add_flag("--http1-only", opt.http1_only, "do not offer HTTP/2 (ALPN h2) to TLS clients");
    cmd->add_option("--cert-dir", opt.cert_dir,
                    "write ca.pem, server.pem, server-key.pem here and keep them (default: a "
                    "temporary directory)");
    cmd->add_option("--ignore", opt.ignore,
                    "also ignore this JSON path when comparing request bodies (dotted; '*' one "
                    "segment, '**' any; repeat for more)")
        ->allow_extra_args(false);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{kDescription};
    app.require_subcommand(0, 1);
    bool list_rules = false;
    app.add_flag("--list-rules", list_rules,
                 "print the default rules for comparing request bodies");
    Options serve_opt, run_opt;
    auto* serve = app.add_subcommand(
        "serve", "serve the recording until SIGINT/SIGTERM, then print the report");
    add_common(serve, serve_opt);
    auto* run =
        app.add_subcommand("run",
                           "serve the recording to CMD, run it with the client environment set, "
                           "print the report when it exits");
    add_common(run, run_opt);
    run->add_option("command", run_opt.command, "the command (after --)")->required();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : kUsage;
    }
    try {
        if (list_rules) {
            for (const auto& r : default_ignore_rules())
                std::printf(
                    "%-20s %s%s\n", r.pattern.c_str(), r.why.c_str(),
                    r.text_prefix.empty()
                        ? ""
                        : fmt::format(" (only values starting with '{}')", r.text_prefix).c_str());
            return 0;
        }
        // The source: a capture file, or --db (then, for run, a first positional is the command's).
        auto source_ok = [](Options& opt, bool run_cmd) {
            if (!opt.db.empty()) {
                if (!opt.capture.empty()) {
                    if (!run_cmd)
                        return false;
                    opt.command.insert(opt.command.begin(), opt.capture);
                    opt.capture.clear();
                }
                return true;
            }
            return !opt.capture.empty() && opt.capture_uuid.empty() &&
                   opt.conversation.empty() && std::filesystem::is_regular_file(opt.capture);
        };
        Options& chosen = *serve ? serve_opt : run_opt;
        if ((*serve || *run) && !source_ok(chosen, bool(*run))) {
            std::fprintf(
                stderr,
                "ct-replay: give a capture file that exists, or --db DB [--capture UUID] "
                "[--conversation KEY]\n");
            return kUsage;
        }
        if (*serve)
            return replay(serve_opt, false);
        if (*run)
            return replay(run_opt, true);
        std::cerr << app.help();
        return kUsage;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ct-replay: %s\n", e.what());
        return kCannotStart;
    }
}
