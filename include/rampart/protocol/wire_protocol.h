// The three AWS wire protocols. A header of its own so that the generated
// model tables compile without protocol.h's heavier includes.
#pragma once

#include <cstdint>

namespace rampart::protocol {

enum class Protocol : uint8_t { kJson, kRestJson, kQuery };

}  // namespace rampart::protocol
