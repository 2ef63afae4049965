// A small streaming XML writer for the query protocol's responses. Escapes
// text and attribute values; the caller supplies well-formed element names
// (they come from the service model, never from a request).
//
// Thread-safety: one writer per response.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rampart::protocol {

class XmlWriter {
 public:
  explicit XmlWriter(std::string& out) : out_(out) { open_.reserve(8); }

  // <name> or <name xmlns="ns"> when ns is not empty.
  void Open(std::string_view name, std::string_view xmlns = {});
  // Closes the innermost open element. REQUIRES: an element is open.
  void Close();
  // <name>escaped text</name>
  void Element(std::string_view name, std::string_view text);
  void Text(std::string_view text);

  // Appends s with &, <, >, " and ' escaped; CR as &#xD; (survives XML
  // end-of-line normalisation); other C0 controls but tab and newline, which
  // XML 1.0 cannot carry at all, as U+FFFD.
  static void Escape(std::string_view s, std::string& out);

 private:
  std::string& out_;
  std::vector<std::string_view> open_;
};

}  // namespace rampart::protocol
