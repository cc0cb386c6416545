// Starts `ct-record -- CMD ARGS...`: the child is forked at once but waits at
// a pipe until the probes are attached, so its first request is recorded.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "util/error.hpp"
#include "util/unique_fd.hpp"

namespace ct::record {

class CommandLauncher {
  public:
    // Forks the child, which blocks before exec. Fails if argv is empty or fork fails.
    static Expected<CommandLauncher> fork_waiting(const std::vector<std::string>& argv);
    CommandLauncher(CommandLauncher&&) = default;
    CommandLauncher& operator=(CommandLauncher&&) = default;
    ~CommandLauncher();

    pid_t pid() const { return pid_; }
    // Lets the child exec. Call once the probes are in place.
    void release();
    // Tells the waiting child to exit without running the command.
    void abort();

  private:
    CommandLauncher() = default;
    pid_t pid_ = -1;
    UniqueFd go_;  // write end: one byte means "exec"; EOF means "give up"
};

// The executable `argv0` resolves to through PATH (as execvp would), or "".
std::string resolve_in_path(const std::string& argv0);

// Files the kernel and the interpreter chain would run for a script: for
// "#!/usr/bin/env node" that is env and then node from PATH. Lets ct-record
// probe a script's interpreter before it starts.
std::vector<std::string> executables_behind(const std::string& path);

}  // namespace ct::record
