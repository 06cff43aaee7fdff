// common/text: the UTF-8 check the codec uses, and the escaping that keeps a
// peer's value on one log line.
#include "common/text.h"

#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "common/logging.h"

namespace common {
namespace {

TEST_CASE("IsUtf8 accepts well-formed text and refuses broken sequences") {
  CHECK(IsUtf8(""));
  CHECK(IsUtf8("plain ascii\n"));
  CHECK(IsUtf8("Jos\xc3\xa9 \xe6\x9d\xb1 \xf0\x9f\x8e\x89 \xf4\x8f\xbf\xbf"));
  for (const std::string bad : {"\xff", "\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf",
                                "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80",
                                "ab\xc3", "\xe6\x9d"}) {
    CAPTURE(bad);
    CHECK_FALSE(IsUtf8(bad));
  }
}

TEST_CASE("Printable escapes control characters and bytes that are not UTF-8, and keeps the rest") {
  CHECK(Printable("scheduled") == "scheduled");
  CHECK(Printable("a\nb\rc\td") == "a\\nb\\rc\\td");
  CHECK(Printable(std::string("\x00\x1b[31m\x7f", 7)) == "\\x00\\x1b[31m\\x7f");
  CHECK(Printable("bad \xff byte") == "bad \\xff byte");
  CHECK(Printable("nel \xc2\x85 ls \xe2\x80\xa8") == "nel \\u0085 ls \\u2028");
  CHECK(Printable("Jos\xc3\xa9 \xf0\x9f\x8e\x89") == "Jos\xc3\xa9 \xf0\x9f\x8e\x89");
}

TEST_CASE("a logged value with a newline in it cannot write a fake log line") {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("text-test", sink);
  logger.set_formatter(LogFormatter());
  logger.info("due refused: kind \"{}\"", "x\n2026-01-01T00:00:00.000+0000 broker info run ok");
  const std::string text = out.str();
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  CHECK(text.find("kind \"x\\n2026-01-01") != std::string::npos);
}

}  // namespace
}  // namespace common

TEST_CASE("Tail keeps the end and never starts inside a character") {
  CHECK(common::Tail("short", 10) == "short");
  CHECK(common::Tail("line one\nline two\n", 9) == "line two\n");
  // "é" is two bytes; a cut that would land in its middle starts after it.
  CHECK(common::Tail("ab\xc3\xa9xy", 3) == "xy");
  CHECK(common::Tail("ab\xc3\xa9xy", 4) == "\xc3\xa9xy");
  CHECK(common::IsUtf8(common::Tail("\xe2\x82\xac\xe2\x82\xac", 5)));
}

TEST_CASE("Head keeps the start and never ends inside a character") {
  CHECK(common::Head("short", 10) == "short");
  CHECK(common::Head("line one\nline two\n", 8) == "line one");
  // "é" is two bytes; a cut that would land in its middle ends before it.
  CHECK(common::Head("ab\xc3\xa9xy", 3) == "ab");
  CHECK(common::Head("ab\xc3\xa9xy", 4) == "ab\xc3\xa9");
  CHECK(common::IsUtf8(common::Head("\xe2\x82\xac\xe2\x82\xac", 5)));
  CHECK(common::Head("\xe2\x82\xac", 2).empty());
}

TEST_CASE("SplitShellWords splits as a shell would, expanding nothing") {
  using Words = std::vector<std::string>;
  struct Case {
    const char* text;
    Words words;
  };
  for (const Case& c : {
           Case{"/bin/sh -c 'sleep 4; exit 0'", {"/bin/sh", "-c", "sleep 4; exit 0"}},
           Case{"a  b\tc", {"a", "b", "c"}},
           Case{R"(say "it's \"fine\"" \$HOME)", {"say", R"(it's "fine")", "$HOME"}},
           Case{R"(one\ word '' "")", {"one word", "", ""}},
           Case{"x'y'\"z\"", {"xyz"}},
           Case{R"("a\b")", {R"(a\b)"}},  // inside "...", \ escapes only \ " $ `
           Case{"$PATH *.csv ~ a|b", {"$PATH", "*.csv", "~", "a|b"}},
           Case{"", {}},
           Case{"   ", {}},
       }) {
    CAPTURE(c.text);
    Words words;
    std::string error;
    REQUIRE(common::SplitShellWords(c.text, &words, &error));
    CHECK(words == c.words);
    // And back: what JoinShellWords prints splits to the same words.
    Words again;
    REQUIRE(common::SplitShellWords(common::JoinShellWords(words), &again, &error));
    CHECK(again == words);
  }
  for (const char* bad : {"'open", "\"open", "trailing\\"}) {
    CAPTURE(bad);
    std::vector<std::string> words;
    std::string error;
    CHECK_FALSE(common::SplitShellWords(bad, &words, &error));
    CHECK_FALSE(error.empty());
  }
  CHECK(common::JoinShellWords({"/bin/sh", "-c", "sleep 4; exit 0"}) == "/bin/sh -c 'sleep 4; exit 0'");
}
