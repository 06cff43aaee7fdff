// Text from the wire, checked and made safe to print.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace common {

// Whether `text` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF).
bool IsUtf8(std::string_view text);

// `text` fit for one log line: control characters (C0, DEL, C1) and bytes
// that are not UTF-8 are written as escapes (\n, \t, \r, \xNN, \u0085), so
// a value from a peer can never start a line of its own.
std::string Printable(std::string_view text);

// The last `max_bytes` of `text` at most, starting on a UTF-8 character
// (never inside one): the end of a log is what explains a failure.
std::string Tail(std::string_view text, std::size_t max_bytes);
// The first `max_bytes` of `text` at most, ending on a whole UTF-8 character.
std::string Head(std::string_view text, std::size_t max_bytes);

// Splits a command line into words the way a POSIX shell does, without
// running anything: blanks separate words; '...' is literal; "..." keeps
// blanks and lets \ escape \, ", $ and `; a \ outside quotes escapes the
// next character. No expansion ($VAR, globs, ~) and no operators: those
// characters are just text. An unclosed quote or a trailing \ is an error
// (returned as false with `error` set).
bool SplitShellWords(std::string_view text, std::vector<std::string>* words, std::string* error);

// The reverse, for showing an argv: words quoted only where a shell needs it.
std::string JoinShellWords(const std::vector<std::string>& words);

}  // namespace common
