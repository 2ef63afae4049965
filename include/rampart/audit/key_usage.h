// Answers server::AuditQueries from the stored events.
//
// Thread-safety: thread-safe (reads only).
#pragma once

#include "rampart/server/audit.h"
#include "rampart/store/store.h"

namespace rampart::audit {

class EventQueries final : public server::AuditQueries {
 public:
  // REQUIRES: db outlives this; the audit migration ran.
  explicit EventQueries(store::Database& db) : db_(db) {}

  Result<std::optional<server::KeyUse>> LastKeyUse(std::string_view account,
                                                   std::string_view access_key_id) const override;

 private:
  store::Database& db_;
};

}  // namespace rampart::audit
