// Ledger: what the chaos driver asked for and the broker acknowledged, and
// so how each run must end. Manual triggers and backfills are entered
// from the broker's replies; ticker fires and chained runs from what the
// driver scheduled, before the broker says anything about them. The
// checks hold the notifier's deliveries against it.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "schemas/vocabulary.h"

namespace chaos {

struct Expectation {
  std::string key;
  std::string run_id;  // empty until known (ticker fires, chained runs)
  std::uint32_t team = 0;
  std::string source;  // "manual", "skip-team", "backfill", "ticker", "chained"
  // The terminal states it may end in; anything else, or none, is lost.
  std::set<schemas::RunState> allowed = {schemas::RunState::kSucceeded};
  std::string note;  // why `allowed` is what it is, when it is not {succeeded}
};

class Ledger {
 public:
  // Enters (or returns) the expectation for `key`.
  Expectation& Expect(const std::string& key, std::uint32_t team, const std::string& source) {
    Expectation& e = by_key_[key];
    e.key = key;
    e.team = team;
    e.source = source;
    return e;
  }
  Expectation* Find(const std::string& key) {
    auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : &it->second;
  }
  const std::map<std::string, Expectation>& all() const { return by_key_; }
  std::size_t size() const { return by_key_.size(); }

 private:
  std::map<std::string, Expectation> by_key_;
};

}  // namespace chaos
