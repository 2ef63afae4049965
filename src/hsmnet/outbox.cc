#include "hsmnet/outbox.h"

#include <filesystem>
#include <system_error>

#include "rampart/crypto/digest.h"
#include "rampart/crypto/random.h"

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

// The outbox files this database took in (ImportLegacy): one row per
// file, named by FileDigest, written in the transaction that moved the
// file's entries.
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE hsm_outbox_imported (
  digest BLOB PRIMARY KEY,
  entries INTEGER NOT NULL,
  imported_at INTEGER NOT NULL
);
)sql";

constexpr store::Migration kMigrations[] = {{1, kSchemaV1}, {2, kSchemaV2}};
// An outbox file of an earlier version gets only the table those versions
// had: it must stay readable by them.
constexpr store::Migration kLegacyMigrations[] = {{1, kSchemaV1}};

// The identity ImportLegacy gives an outbox file the first time it reads
// it (random bytes in a table of the file itself), so that a later file
// with the same rows (made by an older version after a downgrade) is not
// taken for one imported before. Older versions ignore the table.
constexpr std::string_view kFileIdTable =
    "CREATE TABLE IF NOT EXISTS hsm_outbox_file_id (id BLOB NOT NULL);";
constexpr size_t kFileIdSize = 16;

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

// An outbox file's identity and every row, oldest first.
struct OutboxFile {
  std::string id;
  std::vector<RawEntry> rows;
};

// Reads the outbox file at path, giving it an identity first if it has
// none (one transaction of the file: the identity is on disk before any of
// its rows is moved).
Result<OutboxFile> ReadOutboxFile(const std::string& path) {
  store::SqliteOptions o;
  o.path = path;
  o.read_connections = 1;
  ASSIGN_OR_RETURN(auto db, store::OpenSqlite(o));
  // A file that was created but never migrated gets the (empty) table.
  RETURN_IF_ERROR(db->Migrate("hsmnet_outbox", kLegacyMigrations));
  ASSIGN_OR_RETURN(std::string fresh_id, crypto::RandomBytes(kFileIdSize));
  OutboxFile out;
  RETURN_IF_ERROR(db->Write([&](store::Tx& tx) -> Status {
    out = OutboxFile{};
    RETURN_IF_ERROR(tx.Exec(kFileIdTable));
    ASSIGN_OR_RETURN(auto get_id, tx.Prepare("SELECT id FROM hsm_outbox_file_id LIMIT 1"));
    ASSIGN_OR_RETURN(bool has_id, get_id->Step());
    if (has_id) {
      out.id = get_id->Text(0);
    } else {
      ASSIGN_OR_RETURN(auto set_id, tx.Prepare("INSERT INTO hsm_outbox_file_id (id) VALUES (?)"));
      RETURN_IF_ERROR(set_id->BindBlob(1, fresh_id).Run());
      out.id = fresh_id;
    }
    ASSIGN_OR_RETURN(auto st, tx.Prepare("SELECT seq, peer, kind, name, refusals FROM hsm_outbox ORDER BY seq"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, st->Step());
      if (!row) break;
      out.rows.push_back({st->Int(0), st->Text(1), st->Int(2), st->Text(3), st->Int(4)});
    }
    return Status::Ok();
  }));
  return out;
}

void AppendInt(std::string& out, int64_t v) {
  auto u = static_cast<uint64_t>(v);
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((u >> shift) & 0xff));
}

void AppendBytes(std::string& out, std::string_view bytes) {
  AppendInt(out, static_cast<int64_t>(bytes.size()));
  out.append(bytes);
}

// What hsm_outbox_imported records of a file: SHA-256 over its identity
// and its rows as they were moved. The same file unchanged has the same
// digest; a file an older version changed since, or another file, has
// another.
std::string FileDigest(const OutboxFile& file) {
  std::string text = "rampart hsmnet outbox file v1";
  AppendBytes(text, file.id);
  for (const RawEntry& e : file.rows) {
    AppendInt(text, e.seq);
    AppendBytes(text, e.peer);
    AppendInt(text, e.kind);
    AppendBytes(text, e.name);
    AppendInt(text, e.refusals);
  }
  return crypto::Sha256(text);
}

Result<bool> AlreadyImported(store::Tx& tx, std::string_view digest) {
  ASSIGN_OR_RETURN(auto st, tx.Prepare("SELECT 1 FROM hsm_outbox_imported WHERE digest = ?"));
  return st->BindBlob(1, digest).Step();
}

// The highest sequence number this outbox ever gave (0: none).
Result<int64_t> HighestSeq(store::Tx& tx) {
  ASSIGN_OR_RETURN(auto st, tx.Prepare(
      "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'hsm_outbox'), 0), "
      "COALESCE((SELECT MAX(seq) FROM hsm_outbox), 0))"));
  ASSIGN_OR_RETURN(bool row, st->Step());
  return row ? st->Int(0) : int64_t{0};
}

// Inserts the file's rows in their order, under their own numbers when
// every one of them is above all numbers given here (the usual upgrade:
// the table is new), else all under new numbers after those (the table
// has entries from before a downgrade, which are older than the file's).
Status InsertImported(store::Tx& tx, const std::vector<RawEntry>& rows) {
  ASSIGN_OR_RETURN(int64_t highest, HighestSeq(tx));
  bool keep_numbers = rows.empty() || rows.front().seq > highest;
  // ?5 NULL: SQLite numbers the row (after every number used so far).
  ASSIGN_OR_RETURN(auto ins, tx.Prepare("INSERT INTO hsm_outbox (peer, kind, name, refusals, seq) "
                                        "VALUES (?1, ?2, ?3, ?4, ?5)"));
  for (const RawEntry& e : rows) {
    RETURN_IF_ERROR(ins->Reset());
    ins->Bind(1, e.peer).Bind(2, e.kind).BindBlob(3, e.name).Bind(4, e.refusals);
    if (keep_numbers) {
      ins->Bind(5, e.seq);
    } else {
      ins->BindNull(5);
    }
    RETURN_IF_ERROR(ins->Run());
  }
  return Status::Ok();
}

Result<bool> FileExists(const std::string& path) {
  std::error_code ec;
  bool exists = std::filesystem::exists(path, ec);
  if (ec) return Status::Internal("cannot look for " + path + ": " + ec.message());
  return exists;
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
  ASSIGN_OR_RETURN(bool exists, FileExists(path));
  if (!exists) return int64_t{0};
  ASSIGN_OR_RETURN(int64_t moved, MoveLegacyEntries(path));
  // Only after the commit: a node that dies before this line finds the
  // file again at its next start, and MoveLegacyEntries recognises it.
  RETURN_IF_ERROR(RemoveDatabaseFile(path));
  return moved;
}

Result<int64_t> Outbox::MoveLegacyEntries(const std::string& path) {
  ASSIGN_OR_RETURN(bool exists, FileExists(path));
  if (!exists) return int64_t{0};
  ASSIGN_OR_RETURN(OutboxFile file, ReadOutboxFile(path));
  if (file.rows.empty()) return int64_t{0};
  const std::string digest = FileDigest(file);
  int64_t moved = 0;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    moved = 0;
    ASSIGN_OR_RETURN(bool done, AlreadyImported(tx, digest));
    if (done) return Status::Ok();
    RETURN_IF_ERROR(InsertImported(tx, file.rows));
    ASSIGN_OR_RETURN(auto mark, tx.Prepare("INSERT INTO hsm_outbox_imported (digest, entries, imported_at) "
                                           "VALUES (?, ?, strftime('%s','now'))"));
    RETURN_IF_ERROR(mark->BindBlob(1, digest).Bind(2, static_cast<int64_t>(file.rows.size())).Run());
    moved = static_cast<int64_t>(file.rows.size());
    return Status::Ok();
  }));
  return moved;
}

}  // namespace rampart::hsmnet
