#include "hsmnet/outbox.h"

#include <filesystem>
#include <system_error>

namespace rampart::hsmnet {
namespace {

constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE hsm_outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  peer TEXT NOT NULL,
  kind INTEGER NOT NULL,
  name BLOB NOT NULL,
  refusals INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX hsm_outbox_by_peer ON hsm_outbox (peer, seq);
CREATE INDEX hsm_outbox_by_name ON hsm_outbox (name, kind);
)sql";

constexpr store::Migration kMigrations[] = {{1, kSchemaV1}};

Result<int64_t> OneInt(store::Database& db, std::string_view sql, std::string_view arg, bool blob) {
  int64_t out = 0;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto st, tx.Prepare(sql));
    if (blob) {
      st->BindBlob(1, arg);
    } else {
      st->Bind(1, arg);
    }
    ASSIGN_OR_RETURN(bool row, st->Step());
    if (row && !st->IsNull(0)) out = st->Int(0);
    return Status::Ok();
  }));
  return out;
}

// A row of an outbox file, as stored (the kind is not checked: Head
// skips damaged rows wherever they are).
struct RawEntry {
  int64_t seq = 0;
  std::string peer;
  int64_t kind = 0;
  std::string name;
  int64_t refusals = 0;
};

// Every row of the outbox file at path, oldest first.
Result<std::vector<RawEntry>> ReadOutboxFile(const std::string& path) {
  store::SqliteOptions o;
  o.path = path;
  o.read_connections = 1;
  ASSIGN_OR_RETURN(auto db, store::OpenSqlite(o));
  // A file that was created but never migrated gets the (empty) table.
  RETURN_IF_ERROR(db->Migrate("hsmnet_outbox", kMigrations));
  std::vector<RawEntry> out;
  RETURN_IF_ERROR(db->Read([&](store::Tx& tx) -> Status {
    out.clear();
    ASSIGN_OR_RETURN(auto st, tx.Prepare("SELECT seq, peer, kind, name, refusals FROM hsm_outbox ORDER BY seq"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, st->Step());
      if (!row) break;
      out.push_back({st->Int(0), st->Text(1), st->Int(2), st->Text(3), st->Int(4)});
    }
    return Status::Ok();
  }));
  return out;
}

// Inserts one imported row under its own number, unless that very entry
// is there already (imported before: false); under a new number when the
// number holds another entry.
Result<bool> InsertImported(store::Tx& tx, const RawEntry& e) {
  ASSIGN_OR_RETURN(auto find, tx.Prepare("SELECT peer, kind, name FROM hsm_outbox WHERE seq = ?"));
  ASSIGN_OR_RETURN(bool taken, find->Bind(1, e.seq).Step());
  if (taken && find->Text(0) == e.peer && find->Int(1) == e.kind && find->Text(2) == e.name) {
    return false;
  }
  // ?5 NULL: SQLite numbers the row (after every number used so far).
  ASSIGN_OR_RETURN(auto ins, tx.Prepare("INSERT INTO hsm_outbox (peer, kind, name, refusals, seq) "
                                        "VALUES (?1, ?2, ?3, ?4, ?5)"));
  ins->Bind(1, e.peer).Bind(2, e.kind).BindBlob(3, e.name).Bind(4, e.refusals);
  if (taken) {
    ins->BindNull(5);
  } else {
    ins->Bind(5, e.seq);
  }
  RETURN_IF_ERROR(ins->Run());
  return true;
}

// Removes the SQLite file at path and the files SQLite keeps beside it.
Status RemoveDatabaseFile(const std::string& path) {
  for (const char* suffix : {"-wal", "-shm", "-journal", ""}) {
    std::error_code ec;
    std::filesystem::remove(path + suffix, ec);
    if (ec) return Status::Internal("cannot remove " + path + suffix + ": " + ec.message());
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Outbox>> Outbox::Open(store::Database& db) {
  RETURN_IF_ERROR(db.Migrate("hsmnet_outbox", kMigrations));
  return std::unique_ptr<Outbox>(new Outbox(db));
}

Status Outbox::AddIn(store::Tx& tx, PeerQueue& queue, Kind kind, std::string_view name) {
  queue.seqs.clear();
  if (queue.peers.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(auto ins, tx.Prepare("INSERT INTO hsm_outbox (peer, kind, name) VALUES (?, ?, ?)"));
  ASSIGN_OR_RETURN(auto last, tx.Prepare("SELECT last_insert_rowid()"));
  for (const std::string& peer : queue.peers) {
    RETURN_IF_ERROR(ins->Reset());
    ins->Bind(1, peer).Bind(2, int64_t{static_cast<uint8_t>(kind)}).BindBlob(3, name);
    RETURN_IF_ERROR(ins->Run());
    RETURN_IF_ERROR(last->Reset());
    ASSIGN_OR_RETURN(bool row, last->Step());
    if (!row) return Status::Internal("no sequence number for an outbox entry");
    queue.seqs.push_back(last->Int(0));
  }
  return Status::Ok();
}

Result<std::vector<int64_t>> Outbox::Add(const std::vector<std::string>& peers, Kind kind,
                                         std::string_view name) {
  PeerQueue queue{peers, {}};
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status { return AddIn(tx, queue, kind, name); }));
  return std::move(queue.seqs);
}

Result<std::optional<Outbox::Entry>> Outbox::Head(std::string_view peer) {
  while (true) {
    std::optional<Entry> out;
    RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto st, tx.Prepare("SELECT seq, kind, name, refusals FROM hsm_outbox WHERE peer = ? "
                                           "ORDER BY seq LIMIT 1"));
      ASSIGN_OR_RETURN(bool row, st->Bind(1, peer).Step());
      if (!row) return Status::Ok();
      out.emplace();
      out->seq = st->Int(0);
      out->peer = std::string(peer);
      int64_t kind = st->Int(1);
      // 0 marks a kind this version does not know (a damaged row).
      out->kind = static_cast<Kind>(kind >= 1 && kind <= kMaxKind ? kind : 0);
      out->name = st->Text(2);
      out->refusals = st->Int(3);
      return Status::Ok();
    }));
    if (!out || static_cast<uint8_t>(out->kind) != 0) return out;
    RETURN_IF_ERROR(Remove(out->seq));
  }
}

Status Outbox::Remove(int64_t seq) {
  return db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto st, tx.Prepare("DELETE FROM hsm_outbox WHERE seq = ?"));
    return st->Bind(1, seq).Run();
  });
}

Result<int64_t> Outbox::CountRefusal(int64_t seq) {
  int64_t count = 0;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto up, tx.Prepare("UPDATE hsm_outbox SET refusals = refusals + 1 WHERE seq = ?"));
    RETURN_IF_ERROR(up->Bind(1, seq).Run());
    ASSIGN_OR_RETURN(auto get, tx.Prepare("SELECT refusals FROM hsm_outbox WHERE seq = ?"));
    ASSIGN_OR_RETURN(bool row, get->Bind(1, seq).Step());
    if (row) count = get->Int(0);
    return Status::Ok();
  }));
  return count;
}

Result<int64_t> Outbox::Pending(std::string_view peer) {
  return OneInt(db_, "SELECT COUNT(*) FROM hsm_outbox WHERE peer = ?", peer, false);
}

Result<int64_t> Outbox::LastSeq(std::string_view peer) {
  return OneInt(db_, "SELECT MAX(seq) FROM hsm_outbox WHERE peer = ?", peer, false);
}

Result<bool> Outbox::KeyOwed(std::string_view key_id) {
  std::string sql = "SELECT COUNT(*) FROM hsm_outbox WHERE name = ? AND kind = " +
                    std::to_string(static_cast<int>(Kind::kPutKey));
  ASSIGN_OR_RETURN(int64_t n, OneInt(db_, sql, key_id, true));
  return n > 0;
}

Status Outbox::KeyDelivered(std::string_view peer, std::string_view key_id) {
  return db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto st, tx.Prepare("DELETE FROM hsm_outbox WHERE peer = ? AND name = ? AND kind = ?"));
    st->Bind(1, peer).BindBlob(2, key_id).Bind(3, int64_t{static_cast<uint8_t>(Kind::kPutKey)});
    return st->Run();
  });
}

Result<int64_t> Outbox::KeepOnly(const std::vector<std::string>& peers) {
  int64_t dropped = 0;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    dropped = 0;
    ASSIGN_OR_RETURN(auto list, tx.Prepare("SELECT DISTINCT peer FROM hsm_outbox"));
    std::vector<std::string> gone;
    while (true) {
      ASSIGN_OR_RETURN(bool row, list->Step());
      if (!row) break;
      std::string peer = list->Text(0);
      bool kept = false;
      for (const std::string& p : peers) kept = kept || p == peer;
      if (!kept) gone.push_back(std::move(peer));
    }
    ASSIGN_OR_RETURN(auto del, tx.Prepare("DELETE FROM hsm_outbox WHERE peer = ?"));
    for (const std::string& peer : gone) {
      RETURN_IF_ERROR(del->Reset());
      RETURN_IF_ERROR(del->Bind(1, peer).Run());
      dropped += del->Changes();
    }
    return Status::Ok();
  }));
  return dropped;
}

Result<int64_t> Outbox::ImportLegacy(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (ec) return Status::Internal("cannot look for " + path + ": " + ec.message());
    return int64_t{0};
  }
  ASSIGN_OR_RETURN(std::vector<RawEntry> rows, ReadOutboxFile(path));
  int64_t moved = 0;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    moved = 0;
    for (const RawEntry& e : rows) {
      ASSIGN_OR_RETURN(bool inserted, InsertImported(tx, e));
      moved += inserted ? 1 : 0;
    }
    return Status::Ok();
  }));
  // Only after the commit: a node that dies before this line imports the
  // same rows again at its next start, and InsertImported skips them.
  RETURN_IF_ERROR(RemoveDatabaseFile(path));
  return moved;
}

}  // namespace rampart::hsmnet
