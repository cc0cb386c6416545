// ct-record --watch: the rules that say which processes of the machine are recorded,
// and the directory of rotated captures they are recorded into.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "ct_abi.hpp"
#include "proc_reader.hpp"
#include "util/error.hpp"
#include "util/unique_fd.hpp"

namespace ct::record {

struct WatchRuleArgs {
    std::vector<std::string> names;     // --match-name: comm or executable basename
    std::vector<std::string> exes;      // --match-exe: an executable file
    std::vector<std::string> cmdlines;  // --match-cmdline: ECMAScript regex, searched
    std::vector<std::string> users;     // --match-user: user name or uid
    bool empty() const {
        return names.empty() && exes.empty() && cmdlines.empty() && users.empty();
    }
};

// The rules resolved: names cut to the kernel's 15-byte comm, files to their identity
// (as BPF names them), users to uids, patterns compiled. Several rules: any one matches.
class WatchRules {
  public:
    static Expected<WatchRules> resolve(const WatchRuleArgs& args);

    const std::vector<std::string>& names() const { return names_; }
    const std::vector<ct_file_id>& exe_ids() const { return exe_ids_; }
    const std::vector<std::uint32_t>& uids() const { return uids_; }
    bool has_cmdlines() const { return !cmdlines_.empty(); }

    // The rule a process matches ("name=python3", ...), or nothing. `exe_id`: the identity
    // of its executable, if known.
    std::optional<std::string> match(const ProcessSnapshot& p,
                                     std::optional<ct_file_id> exe_id) const;
    // Only the command-line rules, on argv joined with spaces.
    std::optional<std::string> match_cmdline(const std::vector<std::string>& argv) const;
    // Every rule as text, for the capture header and the log.
    const std::vector<std::string>& describe() const { return text_; }

  private:
    std::vector<std::string> names_;
    std::vector<std::string> exe_paths_;
    std::vector<ct_file_id> exe_ids_;
    std::vector<std::uint32_t> uids_;
    std::vector<std::pair<std::string, std::regex>> cmdlines_;
    std::vector<std::string> text_;
};

// The identity BPF gives a file (inode->i_sb->s_dev in the kernel's encoding, inode).
std::optional<ct_file_id> file_id_of(const std::string& path);

// The output directory of --watch. Holds an exclusive lock (flock on DIR/.ct-record.lock)
// for as long as it lives: one recorder per directory.
//
// Captures are named ct-<UTC start YYYYmmddTHHMMSSZ>-<series>-<index>.ctz. While one is
// written it is NAME.ctz.part; it gets its final name only once its trailer is on disk,
// so a file with the final name never changes again. Partial files left by a recorder
// that died (kill -9, power loss) are renamed to their final name when the next one
// starts: they have no trailer (a damaged capture, readable up to the last flush).
class CaptureDirectory {
  public:
    struct Limits {
        std::uint64_t keep_age_ms = 0;  // remove finished captures older than this (0: never)
        std::uint64_t keep_bytes = 0;   // ... and the oldest while all exceed this (0: no bound)
    };
    static Expected<CaptureDirectory> open(const std::string& dir, Limits limits);

    // Stale partial files renamed at open (their new names).
    const std::vector<std::string>& recovered() const { return recovered_; }
    // A new capture's path while it is written (.part) and its final path.
    struct Names {
        std::string part;
        std::string final_path;
    };
    Names next_names(std::int64_t start_realtime_ns, const std::string& series,
                     std::uint64_t index) const;
    // Renames a closed capture to its final name (and syncs the directory).
    Expected<void> publish(const Names& names) const;
    // Applies the retention limits to finished captures; returns the ones removed.
    std::vector<std::string> enforce_limits(const std::string& keep_path = {}) const;
    const std::string& path() const { return dir_; }

  private:
    std::string dir_;
    Limits limits_;
    UniqueFd lock_;
    UniqueFd dir_fd_;
    std::vector<std::string> recovered_;
};

// "1h", "30m", "7d", "90s", "500ms" or a number of seconds, to milliseconds.
Expected<std::uint64_t> parse_duration_ms(const std::string& text);

}  // namespace ct::record
