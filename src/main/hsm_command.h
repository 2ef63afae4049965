// `rampart hsm`: PKCS#11 token administration and checks (docs/hsm.md,
// "The rampart hsm command"):
//   slots       --module PATH                      list slots and tokens
//   init-token  --module PATH --slot N --label L --so-pin-file F --pin-file F
//   keys        --config FILE --backend NAME       list a backend's keys
//   selftest    --module PATH --token-label L --pin-file F [--keep]
//               one key of each algorithm, each used and checked
//   resync      --config FILE --cluster ID         re-synchronise a cluster's members
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace rampart::cli {

class HsmCommand {
 public:
  // Adds the "hsm" subcommand and its own subcommands to app.
  explicit HsmCommand(CLI::App& app);
  bool parsed() const;
  // Runs the parsed subcommand; the process exit code.
  int Run();

 private:
  CLI::App* hsm_ = nullptr;
  CLI::App* slots_ = nullptr;
  CLI::App* init_ = nullptr;
  CLI::App* keys_ = nullptr;
  CLI::App* selftest_ = nullptr;
  CLI::App* resync_ = nullptr;
  std::string module_;
  uint64_t slot_ = 0;
  std::string label_;
  std::string so_pin_file_;
  std::string pin_file_;
  std::string config_file_;
  std::string backend_;
  std::string cluster_;
  bool keep_ = false;
};

}  // namespace rampart::cli
