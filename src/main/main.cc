// The rampart binary: one executable, subcommands via CLI11.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "main/hsm_command.h"
#include "main/hsmnet_command.h"
#include "main/server_command.h"
#include "rampart/core/log.h"
#include "rampart/proxy/proxy.h"

namespace {

constexpr const char* kVersion = "0.1.0";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Rampart: a self-hosted security control plane speaking the AWS APIs"};
  app.require_subcommand(1);

  rampart::server::Config cfg;
  std::string config_file;
  std::string listen;
  auto* server = app.add_subcommand("server", "Run the API server");
  server->add_option("--config", config_file, "JSON config file");
  server->add_option("--data-dir", cfg.data_dir, "Data directory (default ./data)");
  server->add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:4566)");
  server->add_flag("--dev", cfg.dev,
                   "INSECURE local development mode: fixed account 123456789012, credentials "
                   "test/test, unknown keys accepted, loopback only");

  std::string proxy_config;
  auto* proxy = app.add_subcommand("proxy", "Run the egress proxy");
  proxy->add_option("--config", proxy_config, "JSON proxy config file")->required();

  auto* version = app.add_subcommand("version", "Print the version");
  rampart::cli::HsmCommand hsm(app);
  rampart::cli::HsmnetCommand hsmnet(app);
  CLI11_PARSE(app, argc, argv);

  if (version->parsed()) {
    std::printf("rampart %s\n", kVersion);
    return 0;
  }
  if (hsm.parsed()) return hsm.Run();
  if (hsmnet.parsed()) return hsmnet.Run();
  if (proxy->parsed()) {
    return rampart::proxy::RunProxy(proxy_config);
  }
  if (server->parsed()) {
    // Precedence: defaults < config file < flags.
    std::string flag_data_dir = cfg.data_dir;
    bool flag_dev = cfg.dev;
    if (!config_file.empty()) {
      rampart::Status st = rampart::server::LoadConfigFile(config_file, cfg);
      if (!st.ok()) {
        rampart::log::Error("bad config", {{"error", st.message()}});
        return 2;
      }
      if (server->count("--data-dir") > 0) cfg.data_dir = flag_data_dir;
      cfg.dev = cfg.dev || flag_dev;
    }
    if (!listen.empty()) {
      rampart::Status st = rampart::server::ParseListen(listen, cfg);
      if (!st.ok()) {
        rampart::log::Error("bad --listen", {{"error", st.message()}});
        return 2;
      }
    }
    return rampart::cli::RunServer(std::move(cfg));
  }
  return 0;
}
