// Internal: what a Module holds. Constant after Load.
#pragma once

#include <mutex>
#include <string>

#include "pkcs11/p11.h"
#include "rampart/pkcs11/module.h"

namespace rampart::pkcs11 {

struct Module::Impl {
  std::string path;         // canonical path of the library
  void* library = nullptr;  // dlopen handle (kept mapped, see module.cc)
  ck_function_list* fns = nullptr;
  bool serialized = false;  // initialised without locking: one call at a time
  std::string description;
  mutable std::mutex call_mu;  // used only when serialized
};

}  // namespace rampart::pkcs11
