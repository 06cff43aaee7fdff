// The shared config key layer: one range rule, one list rule, one bool
// rule, from TOML and the environment alike, and errors that name the key.
// The every-key cases walk LoadConfig's own table (ConfigKeys), so a new
// key is covered without this file knowing it.
#include "common/config_keys.h"

#include <doctest/doctest.h>

#include <map>

#include "common/config.h"
#include "tests/support/temp_dir.h"

namespace common {
namespace {

Getenv EnvOf(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}
const char* NoEnv(const char*) { return nullptr; }

toml::table Toml(std::string_view text) { return toml::parse(text); }

bool Mentions(const Status& s, const std::string& part) {
  return s.message().find(part) != std::string::npos;
}

// "[retry]\nmax_attempts = 3\n" for "retry.max_attempts".
std::string TomlFor(const std::string& dotted, const std::string& value) {
  const auto dot = dotted.rfind('.');
  return "[" + dotted.substr(0, dot) + "]\n" + dotted.substr(dot + 1) + " = " + value + "\n";
}

TEST_CASE("every integer key of the configuration refuses a value its field cannot hold") {
  testing::TempDir dir;
  Config scratch;
  for (const KeySet::Info& key : ConfigKeys(scratch).Describe()) {
    if (key.type != KeySet::Type::kInt) continue;
    CAPTURE(key.name);
    // Past int64 for the 64-bit keys, past int (and any range) for the rest.
    const std::string huge = key.name == "testing.wall_clock_offset_ms" ? "" : "4294967299";
    if (!huge.empty()) {
      auto loaded = LoadConfig(dir.WriteFile("c.toml", TomlFor(key.name, huge)), NoEnv);
      REQUIRE_FALSE(loaded.ok());
      CHECK(Mentions(loaded.status(), key.name));
    }
    for (const std::string& var : key.env) {
      CAPTURE(var);
      auto env = LoadConfig("", EnvOf({{var, "99999999999999999999"}}));
      REQUIRE_FALSE(env.ok());
      CHECK(Mentions(env.status(), var));
      CHECK(Mentions(LoadConfig("", EnvOf({{var, "12x"}})).status(), var));
    }
  }
}

TEST_CASE("every key of the configuration names itself when given the wrong TOML type") {
  testing::TempDir dir;
  Config scratch;
  for (const KeySet::Info& key : ConfigKeys(scratch).Describe()) {
    CAPTURE(key.name);
    // A table is the wrong type for every kind of key.
    auto loaded = LoadConfig(dir.WriteFile("c.toml", TomlFor(key.name, "{ x = 1 }")), NoEnv);
    REQUIRE_FALSE(loaded.ok());
    CHECK(Mentions(loaded.status(), key.name));
    CHECK(loaded.status().code() == Code::kInvalid);
  }
}

TEST_CASE("an integer key's range applies to TOML, the environment and values set in code") {
  int slots = 1;
  KeySet keys;
  keys.Int("runner.slots", &slots, {1, 1024}, {"SLOTS"});

  SUBCASE("TOML") {
    const Status s = keys.ApplyToml(Toml("[runner]\nslots = 0\n"), "");
    CHECK(Mentions(s, "runner.slots"));
    CHECK(Mentions(s, "between 1 and 1024"));
    CHECK(slots == 1);  // unchanged
  }
  SUBCASE("the environment") {
    const Status s = keys.ApplyEnv(EnvOf({{"SLOTS", "2000"}}));
    CHECK(Mentions(s, "environment SLOTS"));
    CHECK(Mentions(s, "2000"));
  }
  SUBCASE("in code") {
    slots = -5;
    CHECK(Mentions(keys.CheckRanges("x"), "x.runner.slots"));
  }
  SUBCASE("in range") {
    CHECK(keys.ApplyToml(Toml("[runner]\nslots = 1024\n"), "").ok());
    CHECK(keys.ApplyEnv(EnvOf({{"SLOTS", "7"}})).ok());
    CHECK(slots == 7);
    CHECK(keys.CheckRanges().ok());
  }
}

TEST_CASE("a list is a TOML array of strings, or words split on spaces and commas") {
  CHECK(SplitList("a b") == std::vector<std::string>{"a", "b"});
  CHECK(SplitList(" a,b ,  c,, ") == std::vector<std::string>{"a", "b", "c"});
  CHECK(SplitList("").empty());

  std::vector<std::string> list = {"default"};
  KeySet keys;
  keys.List("l", &list, {"L"});
  CHECK(keys.ApplyEnv(EnvOf({{"L", "run.failed, alert.*"}})).ok());
  CHECK(list == std::vector<std::string>{"run.failed", "alert.*"});
  CHECK(keys.ApplyToml(Toml("l = [\"x\", \"y z\"]\n"), "").ok());
  CHECK(list == std::vector<std::string>{"x", "y z"});  // TOML items are taken whole
  CHECK(Mentions(keys.ApplyToml(Toml("l = \"x y\"\n"), "t"), "t.l: must be an array of strings"));
  CHECK(Mentions(keys.ApplyToml(Toml("l = [\"x\", 1]\n"), "t"), "t.l"));
}

TEST_CASE("booleans, numbers and optional keys follow one rule each") {
  bool flag = false;
  double seconds = 1;
  std::optional<std::string> url;
  std::optional<std::vector<std::string>> events;
  KeySet keys;
  keys.Bool("flag", &flag, {"FLAG"})
      .Double("seconds", &seconds, {0}, {"SECONDS"})
      .OptString("url", &url)
      .OptList("events", &events);

  for (const char* yes : {"true", "1", "yes"}) CHECK(ParseBool(yes).value());
  for (const char* no : {"false", "0", "no"}) CHECK_FALSE(ParseBool(no).value());
  CHECK(Mentions(keys.ApplyEnv(EnvOf({{"FLAG", "maybe"}})), "maybe"));
  CHECK(Mentions(keys.ApplyToml(Toml("flag = \"true\"\n"), "s"), "s.flag: must be true or false"));

  CHECK(keys.ApplyToml(Toml("seconds = 2\n"), "").ok());  // an integer is a number
  CHECK(seconds == 2);
  CHECK(Mentions(keys.ApplyEnv(EnvOf({{"SECONDS", "-1"}})), "must be >= 0"));
  CHECK(Mentions(keys.ApplyEnv(EnvOf({{"SECONDS", "soon"}})), "\"soon\" is not a number"));

  CHECK_FALSE(url.has_value());
  CHECK_FALSE(events.has_value());
  CHECK(keys.ApplyToml(Toml("url = \"http://x\"\nevents = []\n"), "").ok());
  CHECK(url == "http://x");
  REQUIRE(events.has_value());
  CHECK(events->empty());  // set, and empty: a team muting a sink
}

TEST_CASE("unknown keys, misplaced tables and syntax errors are named") {
  std::string value;
  KeySet keys;
  keys.String("a.b", &value);
  CHECK(Mentions(keys.ApplyToml(Toml("[a]\nc = 1\n"), "root"), "unknown key root.a.c"));
  CHECK(Mentions(keys.ApplyToml(Toml("[z]\nq = 1\n"), ""), "unknown key z.q"));
  CHECK(Mentions(keys.ApplyToml(Toml("a = 1\n"), ""), "a: must be a [table]"));
  CHECK(keys.ApplyToml(Toml("[a]\nb = \"v\"\n[skipped]\nx = 1\n"), "", {"skipped"}).ok());
  CHECK(value == "v");
  CHECK(keys.Has("a.b"));
  CHECK_FALSE(keys.Has("a"));

  testing::TempDir dir;
  const std::string path = dir.WriteFile("bad.toml", "x = \n");
  auto parsed = ParseTomlFile(path);
  REQUIRE_FALSE(parsed.ok());
  CHECK(Mentions(parsed.status(), path + ":1:"));
}

TEST_CASE("ParseInteger checks the text and the range") {
  CHECK(ParseInteger("42", 0, 100).value() == 42);
  CHECK(Mentions(ParseInteger("101", 0, 100).status(), "between 0 and 100"));
  CHECK(Mentions(ParseInteger("4x", 0, 100).status(), "\"4x\" is not a number"));
  CHECK(Mentions(ParseInteger("99999999999999999999", 0, 100).status(), "out of range"));
}

}  // namespace
}  // namespace common

namespace common {
namespace {

TEST_CASE("a secret comes from the config, its _file key or its _FILE variable, and errors never show it") {
  testing::TempDir dir;
  std::string password = "default";
  KeySet keys;
  keys.Secret("email.password", &password, {"SMTP_PASSWORD"});
  const std::string file = dir.WriteFile("smtp.secret", "s3cret-from-file\n");

  SUBCASE("inline, as any string") {
    REQUIRE(keys.ApplyToml(Toml("[email]\npassword = \"inline\"\n"), "notifier").ok());
    CHECK(password == "inline");
  }
  SUBCASE("from a file, without its final newline") {
    REQUIRE(keys.ApplyToml(Toml("[email]\npassword_file = \"" + file + "\"\n"), "notifier").ok());
    CHECK(password == "s3cret-from-file");
  }
  SUBCASE("from the environment's _FILE variable") {
    REQUIRE(keys.ApplyEnv(EnvOf({{"SMTP_PASSWORD_FILE", file}})).ok());
    CHECK(password == "s3cret-from-file");
  }
  SUBCASE("a file that is not there names the file and the key") {
    const Status s = keys.ApplyToml(Toml("[email]\npassword_file = \"/nonexistent/pw\"\n"), "notifier");
    CHECK(Mentions(s, "notifier.email.password_file"));
    CHECK(Mentions(s, "/nonexistent/pw"));
    CHECK(password == "default");
  }
  SUBCASE("an empty file is refused") {
    const std::string empty = dir.WriteFile("empty.secret", "\n");
    CHECK(Mentions(keys.ApplyEnv(EnvOf({{"SMTP_PASSWORD_FILE", empty}})), "is empty"));
  }
  SUBCASE("a wrong type names the key, not a value") {
    const Status s = keys.ApplyToml(Toml("[email]\npassword = 42\n"), "notifier");
    CHECK(Mentions(s, "notifier.email.password"));
  }
}

TEST_CASE("the broker's and clients' secret keys can be read from files") {
  testing::TempDir dir;
  const std::string key(40, 'x');
  const std::string file = dir.WriteFile("broker.key", key + "\n");
  auto loaded = LoadConfig(dir.WriteFile("c.toml", "[security]\nbroker_secret_key_file = \"" + file + "\"\n"), NoEnv);
  REQUIRE(loaded.ok());
  CHECK(loaded.value().broker_secret_key == key);
  auto env = LoadConfig("", EnvOf({{"DAYBREAK_CLIENT_SECRET_KEY_FILE", file}}));
  REQUIRE(env.ok());
  CHECK(env.value().client_secret_key == key);
}

}  // namespace
}  // namespace common
