// Small toml++ helpers shared by the config readers.
#pragma once

#include <toml++/toml.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace common {

// Reads a TOML array of strings into *out; anything else is an error.
inline Status ReadStringArray(const toml::node& node, std::vector<std::string>* out) {
  const toml::array* array = node.as_array();
  if (array == nullptr) return Status::Error(Code::kInvalid, "must be an array of strings");
  std::vector<std::string> values;
  for (const toml::node& item : *array) {
    if (!item.is_string()) return Status::Error(Code::kInvalid, "must be an array of strings");
    values.push_back(*item.value<std::string>());
  }
  *out = std::move(values);
  return Status();
}

}  // namespace common
