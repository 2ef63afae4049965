// STS operations (query protocol, signing name "sts").
#pragma once

#include "rampart/server/context.h"

namespace rampart::iam {

// Adds the STS handlers Rampart implements to the registry.
void RegisterSts(server::Registry& registry);

}  // namespace rampart::iam
