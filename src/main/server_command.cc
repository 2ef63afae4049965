// `rampart server`: wires the floors together and runs until SIGTERM/SIGINT.
#include "main/server_command.h"

#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "rampart/core/log.h"
#include "rampart/core/metrics.h"
#include "rampart/audit/advisor.h"
#include "rampart/audit/advisor_service.h"
#include "rampart/audit/cloudtrail_service.h"
#include "rampart/audit/delivery.h"
#include "rampart/audit/digest.h"
#include "rampart/audit/signing_keys.h"
#include "rampart/audit/event_store.h"
#include "rampart/audit/key_usage.h"
#include "rampart/audit/store_sink.h"
#include "rampart/http/server.h"
#include "rampart/iam/iam_service.h"
#include "rampart/iam/account.h"
#include "rampart/iam/engine_authorizer.h"
#include "rampart/iam/mfa.h"
#include "rampart/iam/organizations.h"
#include "rampart/iam/simulate.h"
#include "rampart/iam/sts.h"
#include "rampart/hsm/root_key.h"
#include "rampart/kms/kms_service.h"
#include "rampart/server/audit.h"
#include "rampart/server/authorizer.h"
#include "rampart/server/dispatcher.h"
#include "rampart/server/identity.h"
#include "rampart/store/store.h"

namespace rampart::cli {
namespace {

log::Level ParseLevel(std::string_view s) {
  if (s == "debug") return log::Level::kDebug;
  if (s == "warn") return log::Level::kWarn;
  if (s == "error") return log::Level::kError;
  return log::Level::kInfo;
}

Status PrepareDataDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Internal("cannot create data dir " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  return Status::Ok();
}

std::string Endpoint(const server::Config& cfg, uint16_t port) {
  std::string host = cfg.host.find(':') != std::string::npos ? "[" + cfg.host + "]" : cfg.host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  return std::string(cfg.tls() ? "https://" : "http://") + host + ":" + std::to_string(port);
}

void PrintWelcome(const server::Config& cfg, const server::BootstrapResult& boot, uint16_t port) {
  std::string endpoint = Endpoint(cfg, port);
  std::string creds = std::filesystem::absolute(boot.credentials_file).string();
  std::printf("Rampart is listening on %s\n", endpoint.c_str());
  std::printf("  management account: %s   regions: %s%s\n", boot.account_id.c_str(),
              cfg.regions.front().c_str(), cfg.regions.size() > 1 ? " (and more)" : "");
  if (cfg.dev) {
    std::printf("  DEVELOPMENT MODE (insecure): credentials test/test, unknown keys accepted\n");
  }
  std::printf("  root credentials: %s\n\n", creds.c_str());
  std::printf("Try:\n  AWS_SHARED_CREDENTIALS_FILE=%s aws --endpoint-url %s --region %s "
              "sts get-caller-identity\n\n",
              creds.c_str(), endpoint.c_str(), cfg.regions.front().c_str());
  std::fflush(stdout);
}

int WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

void BlockTerminationSignals() {
  // Block before any thread starts, so only the main thread's sigwait sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// Variables that earlier versions read; their settings are now in the
// config file ("audit" and "kms"). A server still given one says so
// rather than silently running with other intervals than meant.
void WarnAboutRetiredVariables() {
  const std::pair<const char*, const char*> retired[] = {
      {"RAMPART_TRAIL_DELIVERY_SECONDS", "audit.delivery_interval_seconds"},
      {"RAMPART_TRAIL_DIGEST_SECONDS", "audit.digest_interval_seconds"},
      {"RAMPART_TRAIL_KEY_ROTATION_SECONDS", "audit.signing_key_rotation_seconds"},
      {"RAMPART_KMS_SCHEDULER_MS", "kms.scheduler_interval_ms"},
  };
  for (const auto& [variable, setting] : retired) {
    if (std::getenv(variable) != nullptr) {
      log::Warn("environment variable ignored: set it in the config file",
                {{"variable", variable}, {"setting", setting}});
    }
  }
}

// RAMPART_BENCH_NO_AUDIT=1 with --dev runs without an audit trail, so that
// bench/audit_cost.sh can measure what auditing costs. Outside development
// mode the variable is refused: a production server always keeps its trail.
bool AuditDisabledForBenchmark(const server::Config& cfg) {
  const char* env = std::getenv("RAMPART_BENCH_NO_AUDIT");
  return cfg.dev && env != nullptr && std::string_view(env) == "1";
}

}  // namespace

int RunServer(server::Config cfg) {
  log::SetLevel(ParseLevel(cfg.log_level));
  auto fail = [](const Status& st) {
    log::Error("cannot start", {{"error", st.ToString()}});
    return 1;
  };
  if (Status st = server::Validate(cfg); !st.ok()) return fail(st);
  BlockTerminationSignals();
  WarnAboutRetiredVariables();
  if (Status st = PrepareDataDir(cfg.data_dir); !st.ok()) return fail(st);

  // root.key, or sealed under an HSM token when the config says root_key.
  auto root_key = hsm::LoadOrCreateRootKey(cfg);
  if (!root_key.ok()) return fail(root_key.status());
  auto db = store::OpenSqlite({.path = cfg.data_dir + "/rampart.db"});
  if (!db.ok()) return fail(db.status());
  if (Status st = server::CredentialStore::Migrate(**db); !st.ok()) return fail(st);
  if (Status st = iam::IamService::Migrate(**db); !st.ok()) return fail(st);
  if (Status st = kms::KmsService::Migrate(**db); !st.ok()) return fail(st);
  if (Status st = iam::MfaService::Migrate(**db); !st.ok()) return fail(st);
  if (Status st = iam::AccountService::Migrate(**db); !st.ok()) return fail(st);
  if (Status st = iam::OrganizationsService::Migrate(**db); !st.ok()) return fail(st);
  if (Status st = audit::MigrateEventStore(**db); !st.ok()) return fail(st);
  if (Status st = audit::SigningKeys::Migrate(**db); !st.ok()) return fail(st);
  if (Status st = audit::DigestWriter::Migrate(**db); !st.ok()) return fail(st);
  if (Status st = audit::MigrateAdvisor(**db); !st.ok()) return fail(st);
  if (Status st = audit::CloudTrailService::Migrate(**db); !st.ok()) return fail(st);

  server::CredentialStore creds(**db, *root_key);
  auto boot = server::Bootstrap(creds, cfg.data_dir, cfg.dev);
  if (!boot.ok()) return fail(boot.status());

  iam::PolicyCache policy_cache;
  iam::EngineAuthorizer authorizer(**db, policy_cache);
  iam::IamService iam_service(**db, creds);
  iam_service.SetPolicyCache(&policy_cache);
  iam::OrganizationsView org_view(**db);
  authorizer.SetOrganizationView(&org_view);
  iam::OrganizationsService org_service(**db);
  org_service.SetPolicyCache(&policy_cache);
  org_service.SetAuthorizer(&authorizer);
  org_service.SetCredentialStore(&creds);
  server::Registry registry;
  iam::RegisterSts(registry);
  iam::MfaService mfa_service(**db, *root_key);
  mfa_service.Register(registry);
  iam::AccountService account_service(**db, *root_key);
  account_service.Register(registry);
  iam::SimulationService simulation_service(**db);
  simulation_service.Register(registry);
  iam::StsService sts_service(**db, creds, authorizer);
  sts_service.SetMfa(&mfa_service);
  sts_service.Register(registry);
  iam_service.Register(registry);
  org_service.Register(registry);
  kms::KmsService kms_service(**db, *root_key, authorizer);
  kms_service.SetHsmConfig(&cfg.hsm);
  if (Status st = kms_service.SetThrottling(cfg.kms.throttling, cfg.regions); !st.ok()) {
    return fail(st);
  }
  kms_service.Register(registry);
  SystemClock clock;
  if (Status st = audit::RecoverIncompleteEvents(**db); !st.ok()) return fail(st);
  audit::SigningKeys signing_keys(**db, *root_key, {.rotation = cfg.audit.signing_key_rotation});
  audit::DigestWriter digests(**db, signing_keys, {.trails_dir = cfg.data_dir + "/trails",
                                                   .period = cfg.audit.digest_interval});
  audit::TrailDelivery delivery(**db, clock, {.trails_dir = cfg.data_dir + "/trails",
                                              .interval = cfg.audit.delivery_interval,
                                              .digests = &digests,
                                              .organizations = &org_view});
  audit::EventQueries audit_queries(**db);
  iam_service.SetAuditQueries(&audit_queries);
  account_service.SetAuditQueries(&audit_queries);
  audit::CloudTrailService cloudtrail_service(**db);
  cloudtrail_service.SetDelivery(&delivery);
  cloudtrail_service.SetSigningKeys(&signing_keys);
  cloudtrail_service.SetOrganizationView(&org_view);
  cloudtrail_service.Register(registry);
  audit::AdvisorService advisor_service(**db);
  advisor_service.Register(registry);
  audit::StoreAuditSink audit(**db, {.default_region = cfg.regions.front(),
                                     .fallback_account = boot->account_id});
  audit.Start();
  delivery.Start();
  kms_service.StartScheduler(clock, cfg.kms.scheduler_interval);
  auto reset = [&]() -> Status {
    RETURN_IF_ERROR(audit.Flush());
    RETURN_IF_ERROR((*db)->WipeAllData());
    creds.InvalidateCache();
    policy_cache.InvalidateAll();
    kms_service.InvalidateCache();
    return server::Bootstrap(creds, cfg.data_dir, cfg.dev).status();
  };
  server::NullAuditSink no_audit;
  server::AuditSink* sink = &audit;
  if (AuditDisabledForBenchmark(cfg)) {
    log::Warn("RAMPART_BENCH_NO_AUDIT=1: no audit records are kept (benchmarking only)");
    sink = &no_audit;
  }
  server::Dispatcher dispatcher(
      {&cfg, db->get(), &creds, &registry, &authorizer, sink, &clock, reset});

  http::ServerOptions opts;
  opts.host = cfg.host;
  opts.port = cfg.port;
  opts.threads = cfg.threads;
  opts.body_limit = cfg.body_limit;
  opts.header_timeout = cfg.header_timeout;
  opts.idle_timeout = cfg.idle_timeout;
  if (cfg.tls()) opts.tls = http::TlsFiles{cfg.tls_cert_file, cfg.tls_key_file};
  auto srv = http::Server::Start(
      opts, [&](const http::Request& req, http::Response& resp) { dispatcher.Handle(req, resp); });
  if (!srv.ok()) return fail(srv.status());
  metrics::SetGauge("rampart_connections_active", "Open client connections.",
                    [s = srv->get()] { return static_cast<double>(s->active_connections()); });

  PrintWelcome(cfg, *boot, (*srv)->port());
  log::Info("started", {{"listen", Endpoint(cfg, (*srv)->port())}, {"dev", cfg.dev ? "true" : "false"}});
  int sig = WaitForSignal();
  log::Info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  dispatcher.SetDraining();
  (*srv)->Shutdown(cfg.drain_timeout);
  kms_service.StopScheduler();
  audit.Stop();     // flushes the group-commit queue
  delivery.Stop();  // delivers the trails' last log files
  metrics::RemoveGauge("rampart_connections_active");
  log::Info("stopped");
  return 0;
}

}  // namespace rampart::cli
