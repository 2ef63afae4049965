#include "rampart/protocol/xml_writer.h"

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

void XmlWriter::Escape(std::string_view s, std::string& out) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&':
        out += "&amp;";
        continue;
      case '<':
        out += "&lt;";
        continue;
      case '>':
        out += "&gt;";
        continue;
      case '"':
        out += "&quot;";
        continue;
      default:
        break;
    }
    if (c < 0x20 && ch != '\t' && ch != '\n') {
      // XML 1.0 forbids other C0 controls even as references.
      out += ch == '\r' ? "&#xD;" : "&#xFFFD;";
      continue;
    }
    out += ch;
  }
}

}  // namespace rampart::protocol
