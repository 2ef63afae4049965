// `rampart audit validate`: checks a trail directory's log files against
// their signed digest chain (see rampart/audit/digest_validate.h).
//
// Thread-safety: used from main's thread only.
#pragma once

#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace rampart::cli {

class AuditCommand {
 public:
  // Adds the `audit` subcommand and its `validate` subcommand to app.
  explicit AuditCommand(CLI::App& app);

  bool parsed() const;
  // Runs what was parsed: 0 when every file is valid, 1 when any is not
  // (or no digest was found), 2 on bad arguments or unreadable input.
  int Run() const;

 private:
  CLI::App* audit_ = nullptr;
  CLI::App* validate_ = nullptr;
  std::string trail_dir_;
  std::string public_keys_file_;
  std::string start_time_;
  std::string end_time_;
  std::string account_id_;
  std::string region_;
  std::string trail_name_;
  bool verbose_ = false;
};

}  // namespace rampart::cli
