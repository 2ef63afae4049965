// `rampart advisor`: the IAM access advisor's offline commands.
//
//   ingest DIR        CloudTrail log files (*.json.gz, *.json, recursively)
//                     into the last-accessed store of the data directory.
//   propose-scp       An SCP denying the services no account under an
//                     Organizations entity path used within N days; with
//                     --attach, created and attached through the server's
//                     Organizations API.
//
// Both open <data-dir>/rampart.db directly. SQLite's WAL mode and busy
// timeout let them run beside a running server (docs/access-advisor.md).
#pragma once

#include <string>

namespace rampart::cli {

// Returns the process exit code: 0 when every file was read, 1 when some
// file was refused (the others are stored), 2 on a usage or database error.
int RunAdvisorIngest(const std::string& data_dir, const std::string& dir);

struct ProposeScpOptions {
  std::string data_dir = "./data";
  std::string entity_path;
  int unused_days = 0;
  bool attach = false;
  // --attach: the server and the management account's credentials, read
  // from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and
  // AWS_REGION / AWS_DEFAULT_REGION.
  std::string endpoint = "http://127.0.0.1:4566";
};

int RunProposeScp(const ProposeScpOptions& options);

}  // namespace rampart::cli
