// Text from the wire, checked and made safe to print.
#pragma once

#include <string>
#include <string_view>

namespace common {

// Whether `text` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF).
bool IsUtf8(std::string_view text);

// `text` fit for one log line: control characters (C0, DEL, C1) and bytes
// that are not UTF-8 are written as escapes (\n, \t, \r, \xNN, \u0085), so
// a value from a peer can never start a line of its own.
std::string Printable(std::string_view text);

}  // namespace common
