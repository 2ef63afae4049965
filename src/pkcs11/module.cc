// Module loading and slot discovery (see include/rampart/pkcs11/module.h).
#include "rampart/pkcs11/module.h"

#include <dlfcn.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "pkcs11/module_impl.h"
#include "rampart/core/log.h"

namespace rampart::pkcs11 {
namespace {

// One Module per canonical library path for the whole process: Cryptoki
// allows a single C_Initialize per library until C_Finalize.
std::mutex& RegistryMu() {
  static std::mutex mu;
  return mu;
}
// Signalled when a Module finalises and leaves the registry.
std::condition_variable& RegistryCv() {
  static std::condition_variable cv;
  return cv;
}
// An entry exists from Load until the Module's destructor has finalised, so
// an expired entry means "finalising: wait".
std::map<std::string, std::weak_ptr<Module>>& Registry() {
  static auto* r = new std::map<std::string, std::weak_ptr<Module>>();
  return *r;
}

Result<std::string> CanonicalLibraryPath(std::string_view path) {
  std::filesystem::path p(path);
  if (path.empty() || !p.is_absolute()) {
    return Status::Validation("PKCS#11 module path must be absolute");
  }
  std::error_code ec;
  std::filesystem::path canon = std::filesystem::canonical(p, ec);
  if (ec || !std::filesystem::is_regular_file(canon, ec)) {
    return Status::Validation("PKCS#11 module not found: " + std::string(path));
  }
  return canon.string();
}

// Initialises with OS locking; a module that cannot lock is initialised
// single-threaded and every call to it is serialized.
Status Initialize(Module::Impl& m) {
  ck_c_initialize_args args{};
  args.flags = CKF_OS_LOCKING_OK;
  ck_rv_t rv = m.fns->C_Initialize(&args);
  if (rv == CKR_CANT_LOCK) {
    rv = m.fns->C_Initialize(nullptr);
    m.serialized = true;
  }
  if (rv != CKR_OK) return CkrStatus("C_Initialize", rv);
  return Status::Ok();
}

std::string DescribeInfo(ck_function_list* fns) {
  ck_info info{};
  if (fns->C_GetInfo(&info) != CKR_OK) return "";
  return TrimPadded(info.manufacturer_id, sizeof info.manufacturer_id) + " " +
         TrimPadded(info.library_description, sizeof info.library_description) + " (Cryptoki " +
         std::to_string(info.cryptoki_version.major) + "." +
         std::to_string(info.cryptoki_version.minor) + ")";
}

Result<std::unique_ptr<Module::Impl>> OpenLibrary(const std::string& path) {
  auto impl = std::make_unique<Module::Impl>();
  impl->path = path;
  // RTLD_NODELETE: vendor modules commonly leave thread-locals and atexit
  // handlers behind, so the library stays mapped after C_Finalize.
  impl->library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (impl->library == nullptr) {
    const char* err = dlerror();
    return Status::Validation("cannot load PKCS#11 module: " + std::string(err ? err : path));
  }
  auto get_list =
      reinterpret_cast<ck_rv_t (*)(ck_function_list**)>(dlsym(impl->library, "C_GetFunctionList"));
  if (get_list == nullptr) {
    return Status::Validation("not a PKCS#11 module (no C_GetFunctionList): " + path);
  }
  ck_rv_t rv = get_list(&impl->fns);
  if (rv != CKR_OK || impl->fns == nullptr) return CkrStatus("C_GetFunctionList", rv);
  if (impl->fns->version.major != 2) {
    return Status::Validation("PKCS#11 module " + path + " implements Cryptoki " +
                              std::to_string(impl->fns->version.major) + ", not 2.x");
  }
  RETURN_IF_ERROR(Initialize(*impl));
  impl->description = DescribeInfo(impl->fns);
  return impl;
}

TokenInfo ToTokenInfo(const ck_token_info& t) {
  TokenInfo info;
  info.label = TrimPadded(t.label, sizeof t.label);
  info.manufacturer = TrimPadded(t.manufacturer_id, sizeof t.manufacturer_id);
  info.model = TrimPadded(t.model, sizeof t.model);
  info.serial = TrimPadded(t.serial_number, sizeof t.serial_number);
  info.flags = t.flags;
  info.initialized = (t.flags & CKF_TOKEN_INITIALIZED) != 0;
  info.login_required = (t.flags & CKF_LOGIN_REQUIRED) != 0;
  info.user_pin_initialized = (t.flags & CKF_USER_PIN_INITIALIZED) != 0;
  info.has_rng = (t.flags & CKF_RNG) != 0;
  return info;
}

bool Matches(const SlotInfo& slot, const TokenSelector& sel) {
  if (!slot.token) return false;
  if (sel.slot_id && *sel.slot_id != slot.slot_id) return false;
  if (sel.label && *sel.label != slot.token->label) return false;
  if (sel.serial && *sel.serial != slot.token->serial) return false;
  return true;
}

}  // namespace

Result<std::shared_ptr<Module>> Module::Load(std::string_view path, LoadOptions options) {
  ASSIGN_OR_RETURN(std::string canon, CanonicalLibraryPath(path));
  std::unique_lock<std::mutex> lock(RegistryMu());
  for (;;) {
    auto it = Registry().find(canon);
    if (it == Registry().end()) break;
    if (auto existing = it->second.lock()) return existing;
    RegistryCv().wait(lock);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl, OpenLibrary(canon));
  impl->serialized = impl->serialized || options.serialize_calls;
  std::shared_ptr<Module> module(new Module(std::move(impl)));
  Registry()[canon] = module;
  log::Info("pkcs11 module loaded", {{"path", canon},
                                     {"library", module->impl_->description},
                                     {"serialized", module->impl_->serialized ? "true" : "false"}});
  return module;
}

Module::Module(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Module::~Module() {
  ck_rv_t rv = impl_->fns->C_Finalize(nullptr);
  if (rv != CKR_OK) {
    log::Warn("pkcs11 C_Finalize failed", {{"path", impl_->path}, {"rv", CkrName(rv)}});
  }
  // Only now may a new Load of the same path initialise the library again.
  std::lock_guard<std::mutex> lock(RegistryMu());
  Registry().erase(impl_->path);
  RegistryCv().notify_all();
}

const std::string& Module::path() const { return impl_->path; }
std::string Module::Description() const { return impl_->description; }
bool Module::serialized() const { return impl_->serialized; }

std::unique_lock<std::mutex> Module::CallLock() const {
  if (!impl_->serialized) return {};
  return std::unique_lock<std::mutex>(impl_->call_mu);
}

Result<std::vector<SlotInfo>> Module::ListSlots(bool token_present_only) const {
  auto lock = CallLock();
  ck_function_list* f = impl_->fns;
  unsigned long count = 0;
  ck_rv_t rv = f->C_GetSlotList(token_present_only ? 1 : 0, nullptr, &count);
  if (rv != CKR_OK) return CkrStatus("C_GetSlotList", rv);
  std::vector<ck_slot_id_t> ids(count);
  // The list can grow between the two calls (hot-plugged readers).
  rv = f->C_GetSlotList(token_present_only ? 1 : 0, ids.data(), &count);
  if (rv != CKR_OK) return CkrStatus("C_GetSlotList", rv);
  ids.resize(count);
  std::vector<SlotInfo> slots;
  for (ck_slot_id_t id : ids) {
    ck_slot_info si{};
    rv = f->C_GetSlotInfo(id, &si);
    if (rv != CKR_OK) return CkrStatus("C_GetSlotInfo", rv);
    SlotInfo slot;
    slot.slot_id = id;
    slot.description = TrimPadded(si.slot_description, sizeof si.slot_description);
    slot.manufacturer = TrimPadded(si.manufacturer_id, sizeof si.manufacturer_id);
    slot.token_present = (si.flags & CKF_TOKEN_PRESENT) != 0;
    if (slot.token_present) {
      ck_token_info ti{};
      rv = f->C_GetTokenInfo(id, &ti);
      if (rv == CKR_OK)
        slot.token = ToTokenInfo(ti);
      else if (rv != CKR_TOKEN_NOT_PRESENT && rv != CKR_TOKEN_NOT_RECOGNIZED)
        return CkrStatus("C_GetTokenInfo", rv);
    }
    slots.push_back(std::move(slot));
  }
  return slots;
}

Result<SlotInfo> Module::FindSlot(const TokenSelector& selector) const {
  ASSIGN_OR_RETURN(std::vector<SlotInfo> slots, ListSlots(true));
  for (SlotInfo& s : slots) {
    if (Matches(s, selector)) return std::move(s);
  }
  return Status::Error(ErrorCode::kNotFound,
                       "no PKCS#11 token matches the selector in " + impl_->path);
}

}  // namespace rampart::pkcs11
