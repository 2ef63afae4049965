#pragma once

#include "rampart/server/config.h"

namespace rampart::cli {

// Runs the server until SIGTERM or SIGINT; returns the process exit code.
int RunServer(server::Config cfg);

}  // namespace rampart::cli
