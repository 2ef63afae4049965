#include "rampart/protocol/xml_writer.h"

#include <array>

#include "rampart/core/check.h"

namespace rampart::protocol {

void XmlWriter::Open(std::string_view name, std::string_view xmlns) {
  out_ += '<';
  out_.append(name);
  if (!xmlns.empty()) {
    out_ += " xmlns=\"";
    Escape(xmlns, out_);
    out_ += '"';
  }
  out_ += '>';
  open_.push_back(name);
}

void XmlWriter::Close() {
  RAMPART_CHECK(!open_.empty());
  out_ += "</";
  out_.append(open_.back());
  out_ += '>';
  open_.pop_back();
}

void XmlWriter::Element(std::string_view name, std::string_view text) {
  Open(name);
  Text(text);
  Close();
}

void XmlWriter::Text(std::string_view text) { Escape(text, out_); }

namespace {

// The replacement for a byte that cannot stand as itself in XML text or a
// double-quoted attribute, or an empty view when it can.
constexpr std::string_view EscapeOf(char ch) {
  switch (ch) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\t':
    case '\n': return {};
    case '\r': return "&#xD;";
    default:
      // XML 1.0 forbids the other C0 controls, even as references.
      return static_cast<unsigned char>(ch) < 0x20 ? "&#xFFFD;" : std::string_view();
  }
}

// Whether EscapeOf(ch) is not empty, as a table: the scan runs over every
// byte of every value written.
constexpr std::array<bool, 256> kNeedsEscape = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) table[c] = !EscapeOf(static_cast<char>(c)).empty();
  return table;
}();

}  // namespace

void XmlWriter::Escape(std::string_view s, std::string& out) {
  // Copy runs of plain bytes at once; most values need no escaping at all.
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!kNeedsEscape[static_cast<unsigned char>(s[i])]) continue;
    std::string_view esc = EscapeOf(s[i]);
    out.append(s.data() + run, i - run);
    out.append(esc);
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
}

}  // namespace rampart::protocol
