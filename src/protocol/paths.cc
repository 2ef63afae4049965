// Member paths and validation messages in AWS's wording.
#include <string>

#include "rampart/protocol/internal.h"

namespace rampart::protocol::internal {

void AppendMemberPath(std::string& path, std::string_view member) {
  if (!path.empty()) path += '.';
  if (member.empty()) return;
  char first = member[0];
  if (first >= 'A' && first <= 'Z') first = static_cast<char>(first - 'A' + 'a');
  path += first;
  path.append(member.substr(1));
}

void AppendListPath(std::string& path, size_t one_based_index) {
  path += '.';
  path += std::to_string(one_based_index);
  path += ".member";
}

void AppendMapPath(std::string& path, size_t one_based_index, bool key) {
  path += '.';
  path += std::to_string(one_based_index);
  path += key ? ".key" : ".value";
}

std::string Echo(std::string_view value) {
  std::string out = "'";
  if (value.size() > kMaxEcho) {
    size_t cut = kMaxEcho;  // never split a UTF-8 sequence
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
    out.append(value.substr(0, cut));
    out += "...";
  } else {
    out.append(value);
  }
  out += '\'';
  return out;
}

Status ValidationError(std::string_view echo, std::string_view path, std::string_view constraint) {
  std::string msg = "1 validation error detected: Value ";
  if (!echo.empty()) {
    msg.append(echo);
    msg += ' ';
  }
  msg += "at '";
  msg.append(path);
  msg += "' failed to satisfy constraint: ";
  msg.append(constraint);
  return Status::Validation(std::move(msg));
}

}  // namespace rampart::protocol::internal
