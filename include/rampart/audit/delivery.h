// TrailDelivery: writes the events of logging trails as CloudTrail log
// files, gzip JSON {"Records":[...]}, to
//   <data-dir>/trails/<bucket>/[<prefix>/]AWSLogs/<account>/CloudTrail/<region>/
//     YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<id>.json.gz
// (the S3 key layout of CloudTrail, with a directory standing in for the
// bucket). An organization trail of the management account writes every
// member account's events under AWSLogs/<org id>/<account>/CloudTrail/...
// A background thread delivers every interval (CloudTrail: at most 5
// minutes) and once more on Stop().
//
// Each trail keeps the seq of the last event it considered, so a restart
// neither repeats nor skips events; files are written to a temporary name,
// synced and renamed, so a file either exists whole or not at all. A
// file's name is derived from the trail, account, region and its first
// event, so a pass retried after a failure (or a crash before the trail's
// progress was saved) rewrites the same file instead of adding a second
// copy of its events.
//
// Thread-safety: DeliverOnce may run concurrently with Wake; Start/Stop
// from one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "rampart/core/clock.h"
#include "rampart/core/status.h"
#include "rampart/iam/engine_authorizer.h"
#include "rampart/store/store.h"

namespace rampart::audit {

class DigestWriter;

class TrailDelivery {
 public:
  struct Options {
    std::string trails_dir;  // <data-dir>/trails
    std::chrono::seconds interval{300};
    // Told about every log file and asked for due digest files after each
    // delivery (log file integrity validation); may be null. Outlives this.
    DigestWriter* digests = nullptr;
    // Which organization an account is in, for organization trails; may be
    // null (then organization trails receive nothing). Outlives this.
    const iam::OrganizationView* organizations = nullptr;
  };
  // REQUIRES: db and clock outlive the delivery; the audit tables exist.
  TrailDelivery(store::Database& db, const Clock& clock, Options options);
  ~TrailDelivery();
  TrailDelivery(const TrailDelivery&) = delete;
  TrailDelivery& operator=(const TrailDelivery&) = delete;

  void Start();
  void Stop();  // delivers once more, then joins
  void Wake();  // deliver soon

  // Delivers every pending event of every trail now; the number of files
  // written.
  Result<int> DeliverOnce();

 private:
  void Run();

  store::Database& db_;
  const Clock& clock_;
  const Options options_;
  std::mutex run_mu_;  // one delivery at a time
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  bool woken_ = false;     // guarded by mu_
  std::thread thread_;
};

}  // namespace rampart::audit
