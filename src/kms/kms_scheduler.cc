// Scheduled KMS work: deleting keys whose waiting period has ended,
// rotating keys whose automatic rotation is due and deleting imported key
// material past its ValidTo, by one background thread.
//
// Lookups still apply both lazily (a key past its deletion date is never
// served, a key due for rotation rotates at its next use), so the outcome
// does not depend on when the thread last ran; the thread makes the work
// happen for keys nobody uses. Each key is handled in its own write
// transaction that re-reads the row, so a CancelKeyDeletion or a rotation
// by a request in between wins.
#include <condition_variable>
#include <mutex>
#include <thread>

#include "kms/kms_internal.h"
#include "rampart/core/log.h"
#include "rampart/core/thread_name.h"
#include "rampart/kms/kms_service.h"

namespace rampart::kms {
namespace internal {

// The background thread. Thread-safety: Start/Stop from one thread.
class Scheduler {
 public:
  Scheduler(KmsService& service, const Clock& clock, std::chrono::milliseconds interval)
      : service_(service), clock_(clock), interval_(interval) {
    thread_ = std::thread([this] {
      SetCurrentThreadName("kms-scheduler");
      Run();
    });
  }
  ~Scheduler() { Stop(); }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      auto counts = service_.SweepOnce(clock_.Now());
      if (!counts.ok()) {
        log::Warn("kms scheduled work failed", {{"error", counts.status().ToString()}});
      } else if (counts->deleted > 0 || counts->rotated > 0 || counts->expired_imports > 0) {
        log::Info("kms scheduled work",
                  {{"deleted", std::to_string(counts->deleted)},
                   {"rotated", std::to_string(counts->rotated)},
                   {"expired_imports", std::to_string(counts->expired_imports)}});
      }
      lock.lock();
      wake_.wait_for(lock, interval_, [this] { return stopping_; });
    }
  }

  KmsService& service_;
  const Clock& clock_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

namespace {

// Ids of keys whose deletion date or rotation date is at or before now.
struct DueWork {
  std::vector<std::string> expired;   // "<region>/<key id>": deletion date passed
  std::vector<std::string> rotate;    // rotation due
  std::vector<std::string> imports;   // "<region>/<key id>": imported material past ValidTo
};

Status Collect(store::Tx& tx, std::string_view sql, std::string_view state, int64_t now,
               std::vector<std::string>& out) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
  q->Bind(1, state).Bind(2, now);
  while (true) {
    ASSIGN_OR_RETURN(bool more, q->Step());
    if (!more) return Status::Ok();
    out.push_back(q->Text(0));
  }
}

Status DueKeys(store::Database& db, int64_t now, DueWork& work) {
  return db.Read([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(Collect(tx, "SELECT region || '/' || key_id FROM kms_keys WHERE state = ? "
                                "AND deletion_date <= ?", kPendingDeletion, now, work.expired));
    // A multi-Region key rotates once, through its primary's row.
    RETURN_IF_ERROR(Collect(tx, "SELECT key_id FROM kms_keys WHERE state = ? AND "
                                "rotation_enabled = 1 AND next_rotation <= ? AND "
                                "(multi_region = 0 OR region = primary_region)", kEnabled, now,
                            work.rotate));
    return Collect(tx, "SELECT region || '/' || key_id FROM kms_keys WHERE state != ? AND "
                       "origin = 'EXTERNAL' AND expiration_model = 'KEY_MATERIAL_EXPIRES' AND "
                       "valid_to > 0 AND valid_to <= ?", kPendingImport, now, work.imports);
  });
}

// Splits "<region>/<key id>" as DueKeys collects it.
Result<std::pair<std::string, std::string>> SplitKeyRef(const std::string& region_and_id) {
  const size_t slash = region_and_id.find('/');
  if (slash == std::string::npos) return Status::Internal("bad key reference");
  return std::make_pair(region_and_id.substr(0, slash), region_and_id.substr(slash + 1));
}

// Deletes the key named by "<region>/<key id>" if it is still pending
// deletion with a passed date.
Result<bool> DeleteIfExpired(Kms& kms, const std::string& region_and_id, int64_t now) {
  ASSIGN_OR_RETURN(auto ref, SplitKeyRef(region_and_id));
  const std::string& region = ref.first;
  const std::string& key_id = ref.second;
  bool deleted = false;
  RETURN_IF_ERROR(WriteKey(kms, key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT state, deletion_date FROM kms_keys "
                                        "WHERE key_id = ? AND region = ?"));
    q->Bind(1, key_id).Bind(2, region);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row || q->Text(0) != kPendingDeletion || q->Int(1) > now) return Status::Ok();
    deleted = true;
    return DeleteKeyRows(tx, region, key_id, now);
  }));
  return deleted;
}

// Expires the imported material of the key named by "<region>/<key id>"
// if its ValidTo has still passed.
Result<bool> ExpireImport(Kms& kms, const std::string& region_and_id, int64_t now) {
  ASSIGN_OR_RETURN(auto ref, SplitKeyRef(region_and_id));
  return ExpireImportedMaterial(kms, ref.first, ref.second, now);
}

}  // namespace
}  // namespace internal

// The constructor and destructor live here, where Scheduler is complete.
KmsService::KmsService(store::Database& db, const SecretBytes& root_key,
                       const iam::EngineAuthorizer& authorizer)
    : kms_(std::make_unique<internal::Kms>(db, root_key, authorizer)) {}

KmsService::~KmsService() { StopScheduler(); }

Result<SweepCounts> KmsService::SweepOnce(TimePoint now) {
  const int64_t seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  internal::DueWork work;
  RETURN_IF_ERROR(internal::DueKeys(kms_->db, seconds, work));
  SweepCounts counts;
  for (const std::string& id : work.expired) {
    auto deleted = internal::DeleteIfExpired(*kms_, id, seconds);
    if (!deleted.ok()) {
      log::Warn("kms key deletion failed", {{"key_id", id}, {"error", deleted.status().ToString()}});
    } else if (*deleted) {
      ++counts.deleted;
    }
  }
  for (const std::string& id : work.rotate) {
    // RotateKey re-checks inside its transaction that the rotation is still
    // due (a request may have done it since the read); counted either way.
    Status st = internal::RotateKey(*kms_, id, seconds);
    if (!st.ok()) {
      log::Warn("kms key rotation failed", {{"key_id", id}, {"error", st.ToString()}});
    } else {
      ++counts.rotated;
    }
  }
  for (const std::string& id : work.imports) {
    auto expired = internal::ExpireImport(*kms_, id, seconds);
    if (!expired.ok()) {
      log::Warn("kms import expiry failed", {{"key_id", id}, {"error", expired.status().ToString()}});
    } else if (*expired) {
      ++counts.expired_imports;
    }
  }
  RETURN_IF_ERROR(internal::DeleteExpiredImportTokens(*kms_, seconds));
  return counts;
}

void KmsService::StartScheduler(const Clock& clock, std::chrono::milliseconds interval) {
  StopScheduler();
  scheduler_ = std::make_unique<internal::Scheduler>(*this, clock, interval);
}

void KmsService::StopScheduler() {
  if (scheduler_) scheduler_->Stop();
  scheduler_.reset();
}

}  // namespace rampart::kms
