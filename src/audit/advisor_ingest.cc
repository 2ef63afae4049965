// `rampart advisor ingest`: CloudTrail log files written elsewhere (for
// example copied from a real AWS trail) into the last-accessed store.
//
// Files are hostile input: sizes are bounded before and after inflating,
// JSON is parsed with the project's bounded parser, and every problem is
// reported per file without stopping the others.
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "rampart/audit/advisor.h"

namespace rampart::audit {
namespace {

namespace fs = std::filesystem;

bool IsGzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

// Inflates a gzip stream (several members, as `cat a.gz b.gz` makes, are
// accepted) up to kMaxInflatedBytes.
Result<std::string> Gunzip(std::string_view bytes) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return Status::Internal("zlib init failed");
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  char buf[64 * 1024];
  int rc = Z_OK;
  while (true) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > kMaxInflatedBytes) {
      inflateEnd(&z);
      return Status::Validation("inflated content is larger than the limit");
    }
    if (rc == Z_STREAM_END && z.avail_in > 0) {
      rc = inflateReset(&z);  // next gzip member
      if (rc != Z_OK) break;
      continue;
    }
    if (rc != Z_OK) break;
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END)
    return Status::Validation("not a valid gzip stream (truncated or corrupt)");
  return out;
}

Result<std::string> ReadFile(const fs::path& path) {
  std::error_code ec;
  uintmax_t size = fs::file_size(path, ec);
  if (ec) return Status::Validation("cannot read: " + ec.message());
  if (size > kMaxLogFileBytes) return Status::Validation("file is larger than the limit");
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::Validation("cannot open");
  std::string data(static_cast<size_t>(size), '\0');
  f.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (static_cast<size_t>(f.gcount()) != data.size()) return Status::Validation("short read");
  return data;
}

bool IsLogFile(const fs::path& path) {
  std::string name = path.filename().string();
  return name.ends_with(".json.gz") || name.ends_with(".json");
}

}  // namespace

Result<std::vector<AccessRecord>> ParseTrailLog(std::string_view bytes, size_t* skipped) {
  std::string inflated;
  if (IsGzip(bytes)) {
    ASSIGN_OR_RETURN(inflated, Gunzip(bytes));
    bytes = inflated;
  }
  json::ParseLimits limits;
  limits.max_bytes = kMaxInflatedBytes;
  auto doc = json::Parse(bytes, limits);
  if (!doc.ok()) return Status::Validation("not JSON: " + doc.status().message());
  const json::Value* records = doc->is_object() ? doc->find("Records") : nullptr;
  if (records == nullptr || !records->is_array()) {
    return Status::Validation("not a CloudTrail log file: no \"Records\" array");
  }
  std::vector<AccessRecord> out;
  for (const json::Value& r : records->as_array()) {
    std::optional<AccessRecord> access = AccessRecordFromEvent(r);
    if (access) {
      out.push_back(std::move(*access));
    } else if (skipped != nullptr) {
      ++*skipped;
    }
  }
  return out;
}

Result<IngestReport> IngestDirectory(store::Database& db, const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::Validation(dir + " is not a directory");
  std::vector<fs::path> files;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) return Status::Validation("cannot list " + dir + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return Status::Validation("cannot list " + dir + ": " + ec.message());
    if (it->is_regular_file(ec) && IsLogFile(it->path())) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  IngestReport report;
  for (const fs::path& path : files) {
    size_t skipped = 0;
    std::vector<AccessRecord> records;
    Status st = [&]() -> Status {
      ASSIGN_OR_RETURN(std::string data, ReadFile(path));
      ASSIGN_OR_RETURN(records, ParseTrailLog(data, &skipped));
      return db.Write([&](store::Tx& tx) { return RecordAccess(tx, records); });
    }();
    if (!st.ok()) {
      report.errors.push_back(path.string() + ": " + st.message());
      continue;
    }
    ++report.files;
    report.records += records.size();
    report.skipped += skipped;
  }
  return report;
}

}  // namespace rampart::audit
