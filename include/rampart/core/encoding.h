// Byte encodings shared by every room: hex, base64, RFC 3986 percent
// encoding and application/x-www-form-urlencoded parsing. Decoders are
// strict and report malformed input instead of guessing.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rampart {

std::string HexEncode(std::string_view bytes);  // lowercase
std::optional<std::string> HexDecode(std::string_view hex);

std::string Base64Encode(std::string_view bytes);  // standard alphabet, padded
// Accepts the standard alphabet with correct padding; rejects whitespace,
// stray characters and non-canonical trailing bits.
std::optional<std::string> Base64Decode(std::string_view text);
// The same, appending to out / decoding into out (replaced; false when
// text is not valid), for callers that reuse their buffers.
void Base64EncodeAppend(std::string_view bytes, std::string& out);
bool Base64DecodeInto(std::string_view text, std::string& out);

// Percent-encodes every byte outside RFC 3986's unreserved set
// (A-Z a-z 0-9 - _ . ~), uppercase hex; '/' is kept when keep_slash.
std::string UriEncode(std::string_view s, bool keep_slash = false);
// Decodes %XX escapes (and '+' as space when plus_is_space). nullopt on a
// malformed escape.
std::optional<std::string> UriDecode(std::string_view s, bool plus_is_space = false);

using Params = std::vector<std::pair<std::string, std::string>>;
// Parses "a=1&b=2" (query string or form body) into decoded pairs, in
// order. A key without '=' has an empty value. nullopt on a bad escape.
std::optional<Params> ParseParams(std::string_view s, bool plus_is_space);

}  // namespace rampart
