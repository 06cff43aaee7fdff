// The vocabulary header and PROTOCOL.md list the same words, and the run
// state rules (terminal, holds the team lock, event) hold for every state.
#include "schemas/vocabulary.h"

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/status.h"
#include "schemas/codec.h"

namespace schemas {
namespace {

using Words = std::vector<std::string>;

// The "Vocabulary" table of PROTOCOL.md: list name -> its backticked words.
std::map<std::string, Words> DocumentedVocabulary() {
  std::ifstream in(std::string(DAYBREAK_SOURCE_DIR) + "/schemas/PROTOCOL.md");
  REQUIRE(in.good());
  std::map<std::string, Words> lists;
  std::string line;
  bool in_section = false;
  while (std::getline(in, line)) {
    if (line.starts_with("## ")) in_section = line == "## Vocabulary";
    if (!in_section || !line.starts_with("| ") || line.starts_with("| list") || line.starts_with("|---")) continue;
    const auto name_end = line.find(" |", 2);
    const std::string name = line.substr(2, name_end - 2);
    Words words;
    for (auto open = line.find('`', name_end); open != std::string::npos; open = line.find('`', open + 1)) {
      const auto close = line.find('`', open + 1);
      words.push_back(line.substr(open + 1, close - open - 1));
      open = close;
    }
    lists[name] = words;
  }
  return lists;
}

template <typename List>
Words ToWords(const List& list) {
  return Words(list.begin(), list.end());
}

TEST_CASE("PROTOCOL.md's vocabulary lists exactly the header's words") {
  const auto doc = DocumentedVocabulary();
  Words states, terminal;
  for (const auto& [state, name] : kRunStates) {
    states.emplace_back(name);
    if (IsTerminal(state)) terminal.emplace_back(name);
  }
  const std::map<std::string, Words> header = {
      {"run states", states},
      {"terminal run states", terminal},
      {"run events", ToWords(event::kAll)},
      {"alert kinds", ToWords(alert::kAll)},
      {"topics", ToWords(topic::kAll)},
      {"run kinds", ToWords(kind::kAll)},
      {"overlap policies", ToWords(overlap::kAll)},
      {"retry_on", ToWords(retry_on::kAll)},
      {"schedule changes", ToWords(schedule_change::kAll)},
      {"runner message types", ToWords(runner_msg::kAll)},
      {"broker message types", ToWords(broker_msg::kAll)},
      {"result outcomes", ToWords(outcome::kAll)},
      {"control ops", ToWords(op::kAll)},
      {"error codes", ToWords(error_code::kAll)},
      {"work protocol", {std::to_string(kWorkProtocol)}},
      {"oldest work protocol served", {std::to_string(kOldestWorkProtocol)}},
  };
  CHECK(doc.size() == header.size());
  for (const auto& [name, words] : header) {
    CAPTURE(name);
    REQUIRE(doc.count(name) == 1);
    CHECK(doc.at(name) == words);
  }
}

TEST_CASE("error codes are the words common::CodeId gives") {
  Words ids;
  for (common::Code code : {common::Code::kNotFound, common::Code::kInvalid, common::Code::kRejected,
                            common::Code::kCorrupt, common::Code::kIoError, common::Code::kNoSpace}) {
    ids.emplace_back(common::CodeId(code));
  }
  CHECK(ids == ToWords(error_code::kAll));
}

TEST_CASE("every run state has a name that parses back, and unknown names do not parse") {
  for (const auto& [state, name] : kRunStates) {
    CAPTURE(name);
    CHECK(Name(state) == name);
    REQUIRE(ParseRunState(name));
    CHECK(*ParseRunState(name) == state);
  }
  CHECK_FALSE(ParseRunState("Succeeded"));
  CHECK_FALSE(ParseRunState("done"));
}

TEST_CASE("a run holds its team's lock exactly while it is admitted and not terminal") {
  for (const auto& [state, name] : kRunStates) {
    CAPTURE(name);
    if (IsTerminal(state)) CHECK_FALSE(HoldsTeamLock(state));
    // A queued run waits for the lock; every other live state holds it.
    CHECK(HoldsTeamLock(state) == (!IsTerminal(state) && state != RunState::kQueued));
    CHECK(IsOut(state) == (state == RunState::kDispatched || state == RunState::kRunning));
    CHECK(IsOneOf(EventFor(state), event::kAll));
  }
}

TEST_CASE("each run event announces one state") {
  std::map<std::string_view, int> seen;
  for (const auto& [state, name] : kRunStates) ++seen[EventFor(state)];
  CHECK(seen.size() == event::kAll.size());
  for (const auto& [event, count] : seen) CHECK(count == 1);
}

TEST_CASE("a run record with an unknown state is refused with the state named") {
  RunRecord run;
  run.run_id = "r0000000001";
  std::string bytes = Encode(run);
  const std::string good = "\xa8" "accepted";
  const auto at = bytes.find(good);
  REQUIRE(at != std::string::npos);
  bytes.replace(at, good.size(), std::string("\xa8") + "accepTED");
  auto decoded = DecodeRunRecord(bytes);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.status().message().find("unknown run state \"accepTED\"") != std::string::npos);
}

}  // namespace
}  // namespace schemas
