#include "common/config_keys.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace common {
namespace {

Status Invalid(std::string message) { return Status::Error(Code::kInvalid, std::move(message)); }

std::string Join(const std::string& where, const std::string& name) {
  return where.empty() ? name : where + "." + name;
}

// "must be between 1 and 100", "must be >= 10": the bounds people set,
// leaving out the ones that are only the field's own limits.
template <typename T>
std::string RangeText(const KeyRange<T>& r, T type_min, T type_max) {
  std::ostringstream out;
  if (r.min != type_min && r.max != type_max) {
    out << "must be between " << r.min << " and " << r.max;
  } else if (r.min != type_min) {
    out << "must be >= " << r.min;
  } else {
    out << "must be <= " << r.max;
  }
  return out.str();
}

template <typename T, typename V>
Status InRange(V value, const KeyRange<T>& r, T type_min, T type_max) {
  if (value >= r.min && value <= r.max) return Status();
  std::ostringstream v;
  v << value;
  return Invalid(RangeText(r, type_min, type_max) + ", not " + v.str());
}

Status IntInRange(std::int64_t v, const KeyRange<std::int64_t>& r) {
  return InRange(v, r, std::numeric_limits<std::int64_t>::lowest(),
                 std::numeric_limits<std::int64_t>::max());
}
Status DoubleInRange(double v, const KeyRange<double>& r) {
  return InRange(v, r, std::numeric_limits<double>::lowest(), std::numeric_limits<double>::max());
}

Status StringArray(const toml::node& node, std::vector<std::string>* out) {
  const toml::array* array = node.as_array();
  if (array == nullptr) return Invalid("must be an array of strings");
  std::vector<std::string> values;
  for (const toml::node& item : *array) {
    if (!item.is_string()) return Invalid("must be an array of strings");
    values.push_back(*item.value<std::string>());
  }
  *out = std::move(values);
  return Status();
}

}  // namespace

Result<toml::table> ParseTomlFile(const std::string& path) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
          << e.description();
    return Invalid(where.str());
  }
}

Result<std::int64_t> ParseInteger(std::string_view text, std::int64_t min, std::int64_t max) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return Invalid("\"" + std::string(text) + "\" is out of range");
  }
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return Invalid("\"" + std::string(text) + "\" is not a number");
  }
  if (Status s = IntInRange(value, {min, max}); !s.ok()) return s;
  return value;
}

Result<double> ParseDouble(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return Invalid("\"" + std::string(text) + "\" is not a number");
  }
  return value;
}

Result<bool> ParseBool(std::string_view t) {
  if (t == "true" || t == "1" || t == "yes") return true;
  if (t == "false" || t == "0" || t == "no") return false;
  return Invalid("\"" + std::string(t) + "\" is not true or false");
}

std::vector<std::string> SplitList(std::string_view text) {
  std::string t(text);
  std::replace(t.begin(), t.end(), ',', ' ');
  std::istringstream in(t);
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

KeySet& KeySet::Add(Key key) {
  keys_.push_back(std::move(key));
  return *this;
}

std::vector<KeySet::Info> KeySet::Describe() const {
  std::vector<Info> out;
  for (const Key& k : keys_) out.push_back({k.name, k.type, k.env});
  return out;
}

KeySet& KeySet::String(std::string name, std::string* field, Vars env) {
  return Add({std::move(name), Type::kString, std::move(env),
              [field](const toml::node& n) {
                if (!n.is_string()) return Invalid("must be a string");
                *field = *n.value<std::string>();
                return Status();
              },
              [field](std::string_view t) {
                *field = std::string(t);
                return Status();
              },
              [] { return Status(); }});
}

namespace {

Status ReadSecretFile(std::string_view path, std::string* field) {
  std::ifstream in{std::string(path), std::ios::binary};
  if (path.empty() || !in) {
    return Invalid("cannot read the secret file \"" + std::string(path) + "\": " +
                   std::strerror(errno));
  }
  std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Invalid("cannot read the secret file \"" + std::string(path) + "\"");
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) return Invalid("the secret file \"" + std::string(path) + "\" is empty");
  *field = std::move(value);
  return Status();
}

}  // namespace

KeySet& KeySet::Secret(std::string name, std::string* field, Vars env) {
  Vars file_env;
  for (const std::string& var : env) file_env.push_back(var + "_FILE");
  String(name, field, std::move(env));
  return Add({name + "_file", Type::kString, std::move(file_env),
              [field](const toml::node& n) {
                if (!n.is_string()) return Invalid("must be a string (a file's path)");
                return ReadSecretFile(*n.value<std::string>(), field);
              },
              [field](std::string_view t) { return ReadSecretFile(t, field); },
              [] { return Status(); }});
}

KeySet& KeySet::OptString(std::string name, std::optional<std::string>* field, Vars env) {
  return Add({std::move(name), Type::kString, std::move(env),
              [field](const toml::node& n) {
                if (!n.is_string()) return Invalid("must be a string");
                *field = *n.value<std::string>();
                return Status();
              },
              [field](std::string_view t) {
                *field = std::string(t);
                return Status();
              },
              [] { return Status(); }});
}

KeySet& KeySet::Int(std::string name, int* field, Range<std::int64_t> range, Vars env) {
  // The field's own limits always apply: a value that would wrap is an
  // error, never a different number.
  range.min = std::max<std::int64_t>(range.min, std::numeric_limits<int>::min());
  range.max = std::min<std::int64_t>(range.max, std::numeric_limits<int>::max());
  auto set = [field, range](std::int64_t v) {
    if (Status s = IntInRange(v, range); !s.ok()) return s;
    *field = static_cast<int>(v);
    return Status();
  };
  return Add({std::move(name), Type::kInt, std::move(env),
              [set](const toml::node& n) {
                if (!n.is_integer()) return Invalid("must be an integer");
                return set(*n.value<std::int64_t>());
              },
              [set](std::string_view t) {
                auto v = ParseInteger(t, std::numeric_limits<std::int64_t>::lowest(),
                                      std::numeric_limits<std::int64_t>::max());
                return v.ok() ? set(v.value()) : v.status();
              },
              [field, range] { return IntInRange(*field, range); }});
}

KeySet& KeySet::Int64(std::string name, std::int64_t* field, Range<std::int64_t> range, Vars env) {
  auto set = [field, range](std::int64_t v) {
    if (Status s = IntInRange(v, range); !s.ok()) return s;
    *field = v;
    return Status();
  };
  return Add({std::move(name), Type::kInt, std::move(env),
              [set](const toml::node& n) {
                if (!n.is_integer()) return Invalid("must be an integer");
                return set(*n.value<std::int64_t>());
              },
              [set](std::string_view t) {
                auto v = ParseInteger(t, std::numeric_limits<std::int64_t>::lowest(),
                                      std::numeric_limits<std::int64_t>::max());
                return v.ok() ? set(v.value()) : v.status();
              },
              [field, range] { return IntInRange(*field, range); }});
}

KeySet& KeySet::Double(std::string name, double* field, Range<double> range, Vars env) {
  auto set = [field, range](double v) {
    if (Status s = DoubleInRange(v, range); !s.ok()) return s;
    *field = v;
    return Status();
  };
  return Add({std::move(name), Type::kDouble, std::move(env),
              [set](const toml::node& n) {
                if (!n.is_number()) return Invalid("must be a number");
                return set(*n.value<double>());
              },
              [set](std::string_view t) {
                auto v = ParseDouble(t);
                return v.ok() ? set(v.value()) : v.status();
              },
              [field, range] { return DoubleInRange(*field, range); }});
}

KeySet& KeySet::Bool(std::string name, bool* field, Vars env) {
  return Add({std::move(name), Type::kBool, std::move(env),
              [field](const toml::node& n) {
                if (!n.is_boolean()) return Invalid("must be true or false");
                *field = *n.value<bool>();
                return Status();
              },
              [field](std::string_view t) {
                auto v = ParseBool(t);
                if (!v.ok()) return v.status();
                *field = v.value();
                return Status();
              },
              [] { return Status(); }});
}

KeySet& KeySet::List(std::string name, std::vector<std::string>* field, Vars env) {
  return Add({std::move(name), Type::kList, std::move(env),
              [field](const toml::node& n) { return StringArray(n, field); },
              [field](std::string_view t) {
                *field = SplitList(t);
                return Status();
              },
              [] { return Status(); }});
}

KeySet& KeySet::OptList(std::string name, std::optional<std::vector<std::string>>* field,
                        Vars env) {
  return Add({std::move(name), Type::kList, std::move(env),
              [field](const toml::node& n) {
                std::vector<std::string> v;
                if (Status s = StringArray(n, &v); !s.ok()) return s;
                *field = std::move(v);
                return Status();
              },
              [field](std::string_view t) {
                *field = SplitList(t);
                return Status();
              },
              [] { return Status(); }});
}

const KeySet::Key* KeySet::Find(const std::string& name) const {
  for (const Key& k : keys_) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

bool KeySet::Has(const std::string& name) const { return Find(name) != nullptr; }

bool KeySet::HasPrefix(const std::string& prefix) const {
  return std::any_of(keys_.begin(), keys_.end(),
                     [&](const Key& k) { return k.name.starts_with(prefix); });
}

Status KeySet::ApplyTable(const toml::table& table, const std::string& prefix,
                          const std::string& where, const std::set<std::string>& skip) {
  for (const auto& [key, node] : table) {
    const std::string name = prefix + std::string(key.str());
    if (skip.count(name) != 0) continue;
    const std::string full = Join(where, name);
    if (const Key* k = Find(name)) {
      if (Status s = k->from_toml(node); !s.ok()) return Invalid(full + ": " + s.message());
      continue;
    }
    const toml::table* sub = node.as_table();
    if (sub == nullptr) {
      return Invalid(HasPrefix(name + ".") ? full + ": must be a [table]" : "unknown key " + full);
    }
    // Into unknown tables too, so the error names the first unknown key.
    if (Status s = ApplyTable(*sub, name + ".", where, skip); !s.ok()) return s;
  }
  return Status();
}

Status KeySet::ApplyToml(const toml::table& table, const std::string& where,
                         const std::set<std::string>& skip) {
  return ApplyTable(table, "", where, skip);
}

Status KeySet::ApplyEnv(const Getenv& getenv) {
  for (const Key& k : keys_) {
    for (const std::string& var : k.env) {
      const char* value = getenv(var.c_str());
      if (value == nullptr) continue;
      if (Status s = k.from_text(value); !s.ok()) {
        return Invalid("environment " + var + ": " + s.message());
      }
    }
  }
  return Status();
}

Status KeySet::CheckRanges(const std::string& where) const {
  for (const Key& k : keys_) {
    if (Status s = k.check(); !s.ok()) return Invalid(Join(where, k.name) + ": " + s.message());
  }
  return Status();
}

}  // namespace common
