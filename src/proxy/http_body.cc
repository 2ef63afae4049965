#include "rampart/proxy/http_body.h"

#include <algorithm>
#include <charconv>

namespace rampart::proxy {
namespace {

constexpr unsigned kMaxSizeDigits = 15;          // < 2^60: no overflow
constexpr size_t kMaxFramingLineBytes = 16 * 1024;  // a chunk extension or the trailer section

Status Bad(std::string why) { return Status::Error(ErrorCode::kSerialization, std::move(why)); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// True when a comma-separated field value lists `token` (case-insensitive).
bool ListsToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (EqualsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

template <typename Head>
bool AnyFieldListsToken(const Head& head, std::string_view name, std::string_view token) {
  for (const auto& f : head.fields) {
    if (EqualsIgnoreCase(f.first, name) && ListsToken(f.second, token)) return true;
  }
  return false;
}

}  // namespace

Result<ResponseFraming> GetResponseFraming(const ResponseHead& head, std::string_view request_method) {
  using Kind = ResponseFraming::Kind;
  ResponseFraming f;
  if (request_method == "HEAD" || head.status < 200 || head.status == 204 || head.status == 304) return f;
  size_t te = head.CountField("Transfer-Encoding");
  size_t cl = head.CountField("Content-Length");
  if (te > 0 && cl > 0) return Bad("response with both Transfer-Encoding and Content-Length");
  if (te > 1 || cl > 1) return Bad("response with repeated Transfer-Encoding or Content-Length");
  if (te == 1) {
    if (!EqualsIgnoreCase(*head.Field("Transfer-Encoding"), "chunked")) {
      return Bad("response with an unsupported Transfer-Encoding");
    }
    f.kind = Kind::kChunked;
    return f;
  }
  if (cl == 1) {
    std::string_view v = *head.Field("Content-Length");
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), f.length);
    if (v.empty() || v.size() > 18 || ec != std::errc() || end != v.data() + v.size() || v.front() == '+' ||
        v.front() == '-') {
      return Bad("response with a bad Content-Length");
    }
    f.kind = Kind::kLength;
    return f;
  }
  f.kind = Kind::kUntilClose;
  return f;
}

bool ClientWantsKeepAlive(const RequestHead& head) {
  for (std::string_view name : {"Connection", "Proxy-Connection"}) {
    if (AnyFieldListsToken(head, name, "close")) return false;
  }
  if (head.version_minor >= 1) return true;
  return AnyFieldListsToken(head, "Connection", "keep-alive") ||
         AnyFieldListsToken(head, "Proxy-Connection", "keep-alive");
}

bool OriginKeepsConnection(const ResponseHead& head) {
  return head.version_minor >= 1 && !AnyFieldListsToken(head, "Connection", "close");
}

size_t ChunkedScanner::Feed(std::string_view data) {
  size_t i = 0;
  while (i < data.size() && state_ != State::kDone && state_ != State::kFailed) {
    if (state_ == State::kData) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size() - i));
      i += take;
      remaining_ -= take;
      if (remaining_ == 0) state_ = State::kDataCr;
      continue;
    }
    Step(data[i]);
    if (state_ != State::kFailed) ++i;
  }
  return i;
}

void ChunkedScanner::Step(char c) {
  auto fail = [this] { state_ = State::kFailed; };
  auto bounded = [this, &fail] {
    if (++line_bytes_ > kMaxFramingLineBytes) fail();
  };
  switch (state_) {
    case State::kSize: {
      int v = HexValue(c);
      if (v >= 0 && digits_ < kMaxSizeDigits) {
        size_ = size_ * 16 + static_cast<uint64_t>(v);
        ++digits_;
      } else if (digits_ > 0 && c == ';') {
        state_ = State::kExtension;
      } else if (digits_ > 0 && c == '\r') {
        state_ = State::kSizeLf;
      } else {
        fail();
      }
      return;
    }
    case State::kExtension:
      if (c == '\r') {
        state_ = State::kSizeLf;
      } else if (c == '\n' || (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
        fail();
      } else {
        bounded();
      }
      return;
    case State::kSizeLf:
      if (c != '\n') return fail();
      line_bytes_ = 0;
      remaining_ = size_;
      state_ = size_ == 0 ? State::kTrailerStart : State::kData;
      size_ = 0;
      digits_ = 0;
      return;
    case State::kDataCr:
      state_ = c == '\r' ? State::kDataLf : State::kFailed;
      return;
    case State::kDataLf:
      state_ = c == '\n' ? State::kSize : State::kFailed;
      return;
    case State::kTrailerStart:
      state_ = c == '\r' ? State::kFinalLf : State::kTrailerLine;
      if (c == '\n') fail();
      if (state_ == State::kTrailerLine) bounded();
      return;
    case State::kTrailerLine:
      if (c == '\r') {
        state_ = State::kTrailerLf;
      } else if (c == '\n') {
        fail();
      } else {
        bounded();
      }
      return;
    case State::kTrailerLf:
      state_ = c == '\n' ? State::kTrailerStart : State::kFailed;
      return;
    case State::kFinalLf:
      state_ = c == '\n' ? State::kDone : State::kFailed;
      return;
    case State::kData:
    case State::kDone:
    case State::kFailed:
      return;
  }
}

}  // namespace rampart::proxy
