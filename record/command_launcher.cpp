#include "command_launcher.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace ct::record {

Expected<CommandLauncher> CommandLauncher::fork_waiting(const std::vector<std::string>& argv) {
    if (argv.empty())
        return fail("no command given after --");
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        return fail_errno("cannot create a pipe");
    UniqueFd read_end(fds[0]), write_end(fds[1]);
    // Prepare argv before fork: the child must only call async-signal-safe functions.
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0)
        return fail_errno("cannot fork");
    if (pid == 0) {
        write_end.reset();
        // The recorder blocks these in all its threads; the command gets defaults.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        char go = 0;
        ssize_t n;
        do {
            n = ::read(read_end.get(), &go, 1);
        } while (n < 0 && errno == EINTR);
        if (n != 1)
            ::_exit(127);  // the recorder gave up before attaching
        ::execvp(args[0], args.data());
        int err = errno;
        const char* msg = "ct-record: cannot execute the command: ";
        (void)!::write(2, msg, std::strlen(msg));
        (void)!::write(2, args[0], std::strlen(args[0]));
        (void)!::write(2, ": ", 2);
        (void)!::write(2, std::strerror(err), std::strlen(std::strerror(err)));
        (void)!::write(2, "\n", 1);
        ::_exit(err == ENOENT ? 127 : 126);
    }
    CommandLauncher launcher;
    launcher.pid_ = pid;
    launcher.go_ = std::move(write_end);
    return launcher;
}

CommandLauncher::~CommandLauncher() {
    abort();
}

void CommandLauncher::release() {
    if (!go_)
        return;
    char go = 1;
    (void)!::write(go_.get(), &go, 1);
    go_.reset();
}

void CommandLauncher::abort() {
    go_.reset();
}

std::string resolve_in_path(const std::string& argv0) {
    if (argv0.find('/') != std::string::npos)
        return argv0;
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        std::string candidate = (dir.empty() ? "." : dir) + "/" + argv0;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            ::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
    }
    return {};
}

std::vector<std::string> executables_behind(const std::string& path) {
    std::vector<std::string> out;
    std::string current = path;
    for (int depth = 0; depth < 4 && !current.empty(); ++depth) {
        out.push_back(current);
        std::ifstream in(current, std::ios::binary);
        char magic[2] = {};
        if (!in.read(magic, 2) || magic[0] != '#' || magic[1] != '!')
            break;
        std::string line;
        std::getline(in, line);
        std::istringstream words(line);
        std::string interpreter, arg;
        words >> interpreter >> arg;
        if (interpreter.empty())
            break;
        // "#!/usr/bin/env node": env runs `node` from PATH.
        if (interpreter.size() >= 4 && interpreter.substr(interpreter.size() - 4) == "/env" &&
            !arg.empty() && arg[0] != '-') {
            out.push_back(interpreter);
            current = resolve_in_path(arg);
        } else {
            current = interpreter;
        }
    }
    return out;
}

}  // namespace ct::record
