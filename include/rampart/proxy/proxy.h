// `rampart proxy --config FILE`: the egress proxy (issue 7).
#pragma once

#include <string>

namespace rampart::proxy {

// Loads and validates the config, starts the proxy and its control loop
// (admin endpoint, config-file watcher) and serves until SIGTERM or SIGINT
// (graceful stop). SIGHUP, POST /reload and a change to the config file
// reload the config (a bad one is logged and the old one kept); SIGUSR1
// reopens the access log.
// Prints "rampart proxy listening on ADDR" on stdout per listener once
// connections are accepted. Returns the process exit code: 0 after a clean
// stop, 2 for a bad config, 1 when the proxy cannot start.
//
// REQUIRES: called from the main thread before any other thread exists
// (it sets the process signal mask).
int RunProxy(const std::string& config_path);

}  // namespace rampart::proxy
