// The network HSM commands (docs/hsm.md, "Network HSM"):
//   hsm-server --config FILE         run a node of the network HSM
//   hsm-admin  --config CLIENT.conf --user NAME --password-file F [--role CO|CU|AU] CMD
//     list-users | create-user NAME CO|CU|AU --new-password-file F
//     delete-user NAME | change-password NAME --new-password-file F
//     list-keys | share-key KEY USER | unshare-key KEY USER
//   (KEY: a key's hex id, its application id in hex, or its label)
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace rampart::cli {

class HsmnetCommand {
 public:
  // Adds "hsm-server" and "hsm-admin" to app.
  explicit HsmnetCommand(CLI::App& app);
  bool parsed() const;
  // Runs the parsed subcommand; the process exit code.
  int Run();

 private:
  int RunServer();
  int RunAdmin();

  CLI::App* server_ = nullptr;
  CLI::App* admin_ = nullptr;
  std::string server_config_;
  std::string client_config_;
  std::string user_;
  std::string password_file_;
  std::string role_ = "CO";
  std::string new_password_file_;
  std::vector<std::string> args_;
};

}  // namespace rampart::cli
