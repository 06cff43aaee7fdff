// KeySet: the one way every Daybreak process reads a setting. A key names
// its place in TOML (dotted, relative to the table it is applied to) and the
// environment variables that override it, and is bound to a typed field.
// Both sources go through the same rules, so the config readers of the
// broker, runner, ticker and notifier cannot drift apart:
//   - integers are range-checked (every integer key has a range, by default
//     what its field can hold), from TOML and from the environment alike;
//   - a list is a TOML array of strings, or in the environment words
//     separated by spaces and/or commas;
//   - booleans are TOML true/false, or true/false/1/0/yes/no as text;
//   - every error names the key ("retry.max_attempts") or the variable.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace common {

// Reads a whole TOML file; a syntax error names "<path>:<line>:<column>".
Result<toml::table> ParseTomlFile(const std::string& path);

// The text forms of the environment, usable on their own.
Result<std::int64_t> ParseInteger(std::string_view text, std::int64_t min, std::int64_t max);
Result<double> ParseDouble(std::string_view text);
Result<bool> ParseBool(std::string_view text);
// Words separated by spaces and/or commas; empty items are dropped.
std::vector<std::string> SplitList(std::string_view text);

using Getenv = std::function<const char*(const char*)>;

// An inclusive range; by default everything the type holds.
template <typename T>
struct KeyRange {
  T min = std::numeric_limits<T>::lowest();
  T max = std::numeric_limits<T>::max();
};

class KeySet {
 public:
  template <typename T>
  using Range = KeyRange<T>;
  using Vars = std::vector<std::string>;

  // Each binder registers one key; `field` must outlive the KeySet and
  // keeps its value (the default) unless a source sets it.
  KeySet& String(std::string name, std::string* field, Vars env = {});
  KeySet& Int(std::string name, int* field, Range<std::int64_t> range = IntRange(), Vars env = {});
  KeySet& Int64(std::string name, std::int64_t* field, Range<std::int64_t> range = {}, Vars env = {});
  // A TOML integer or float; `range` is inclusive.
  KeySet& Double(std::string name, double* field, Range<double> range = {}, Vars env = {});
  KeySet& Bool(std::string name, bool* field, Vars env = {});
  KeySet& List(std::string name, std::vector<std::string>* field, Vars env = {});
  // A secret (a key, a password, a webhook URL with its token): the key
  // itself, or `<name>_file` naming a file that holds it (its content up to
  // a final newline; the file, not the config, can then be 0600), and each
  // variable in `env` also as `<VAR>_FILE`. An error names the file, never
  // the value. Whichever is applied last wins, as for any key.
  KeySet& Secret(std::string name, std::string* field, Vars env = {});
  // Set only when the source has the key (a per-team override).
  KeySet& OptString(std::string name, std::optional<std::string>* field, Vars env = {});
  KeySet& OptList(std::string name, std::optional<std::vector<std::string>>* field, Vars env = {});

  // Applies every entry of `table`, whose keys are named `<where>.<key>` in
  // errors (`where` may be empty for the file's root). Sub-tables are
  // followed for dotted key names; an entry no key claims is an error,
  // except the dotted names in `skip` (read elsewhere).
  Status ApplyToml(const toml::table& table, const std::string& where,
                   const std::set<std::string>& skip = {});
  // Applies every key's variables that are set, in the order keys were
  // added and, per key, in the order its variables are listed (the last one
  // set wins).
  Status ApplyEnv(const Getenv& getenv);
  // Checks every field's current value against its key's range, however
  // it was set (a Config built in code too). Errors name `<where>.<key>`.
  Status CheckRanges(const std::string& where = "") const;

  bool Has(const std::string& name) const;

  // What each key is, so tests can check every key without a copy of the
  // list (for example, that every integer key refuses an out-of-range value).
  enum class Type { kString, kInt, kDouble, kBool, kList };
  struct Info {
    std::string name;
    Type type;
    Vars env;
  };
  std::vector<Info> Describe() const;

 private:
  static Range<std::int64_t> IntRange() {
    return {std::numeric_limits<int>::min(), std::numeric_limits<int>::max()};
  }
  struct Key {
    std::string name;
    Type type;
    Vars env;
    std::function<Status(const toml::node&)> from_toml;
    std::function<Status(std::string_view)> from_text;
    std::function<Status()> check;  // the range rule on the field's value
  };
  KeySet& Add(Key key);
  Status ApplyTable(const toml::table& table, const std::string& prefix, const std::string& where,
                    const std::set<std::string>& skip);
  const Key* Find(const std::string& name) const;
  bool HasPrefix(const std::string& prefix) const;

  std::vector<Key> keys_;
};

}  // namespace common
