// The rampart binary: one executable, subcommands via CLI11.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "main/advisor_command.h"
#include "main/audit_command.h"
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

  auto* advisor =
      app.add_subcommand("advisor", "IAM access advisor: ingest CloudTrail files, propose SCPs");
  advisor->require_subcommand(1);
  std::string advisor_data_dir = "./data";
  advisor->add_option("--data-dir", advisor_data_dir, "Data directory (default ./data)");
  std::string ingest_dir;
  auto* ingest =
      advisor->add_subcommand("ingest", "Read CloudTrail log files (*.json.gz, *.json) under DIR");
  ingest->add_option("DIR", ingest_dir, "Directory of CloudTrail log files")->required();
  ingest->add_option("--data-dir", advisor_data_dir, "Data directory (default ./data)");
  rampart::cli::ProposeScpOptions propose_opts;
  auto* propose = advisor->add_subcommand(
      "propose-scp", "Print an SCP denying the services unused under an entity path");
  propose->add_option("--entity-path", propose_opts.entity_path, "o-.../r-...[/ou-...][/account]")
      ->required();
  propose->add_option("--unused-days", propose_opts.unused_days,
                      "Deny the services unused for this many days")
      ->required();
  propose->add_flag("--attach", propose_opts.attach,
                    "Create and attach the SCP through the server's Organizations API");
  propose->add_option("--endpoint", propose_opts.endpoint,
                      "Server for --attach (default http://127.0.0.1:4566)");
  propose->add_option("--data-dir", advisor_data_dir, "Data directory (default ./data)");

  auto* version = app.add_subcommand("version", "Print the version");
  rampart::cli::HsmCommand hsm(app);
  rampart::cli::HsmnetCommand hsmnet(app);
  rampart::cli::AuditCommand audit(app);
  CLI11_PARSE(app, argc, argv);

  if (version->parsed()) {
    std::printf("rampart %s\n", kVersion);
    return 0;
  }
  if (ingest->parsed()) {
    return rampart::cli::RunAdvisorIngest(advisor_data_dir, ingest_dir);
  }
  if (propose->parsed()) {
    propose_opts.data_dir = advisor_data_dir;
    return rampart::cli::RunProposeScp(propose_opts);
  }
  if (hsm.parsed()) return hsm.Run();
  if (audit.parsed()) return audit.Run();
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
