// The per-principal policy cache: readers share a lock; invalidations bump
// a generation so that a load racing an invalidation is not stored.
#include <mutex>

#include "rampart/iam/engine.h"

namespace rampart::iam {

std::shared_ptr<const PrincipalPolicies> PolicyCache::Get(std::string_view key) const {
  std::shared_lock lock(mu_);
  auto it = entries_.find(std::string(key));
  return it == entries_.end() ? nullptr : it->second;
}

bool PolicyCache::Put(std::string_view key, std::shared_ptr<const PrincipalPolicies> value,
                      uint64_t generation) {
  std::unique_lock lock(mu_);
  // Invalidations take mu_ too, so this check and the store are atomic
  // with respect to them.
  if (generation != generation_.load(std::memory_order_acquire)) return false;
  if (entries_.size() >= max_entries_ && entries_.find(std::string(key)) == entries_.end()) {
    entries_.clear();  // crude but bounded; the loader refills on demand
  }
  entries_[std::string(key)] = std::move(value);
  return true;
}

void PolicyCache::Invalidate(std::string_view key) {
  std::unique_lock lock(mu_);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  entries_.erase(std::string(key));
}

void PolicyCache::InvalidateAll() {
  std::unique_lock lock(mu_);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  entries_.clear();
}

size_t PolicyCache::size() const {
  std::shared_lock lock(mu_);
  return entries_.size();
}

}  // namespace rampart::iam
