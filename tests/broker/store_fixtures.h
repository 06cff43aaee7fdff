// Changes as RunManager writes them on admission, for tests that fill a
// store directly: a new run (key "key-<n>") with one event of seq <n>.
#pragma once

#include <cstdint>
#include <string>

#include "broker/store.h"

namespace broker::testing_support {

inline Change NewRunChange(std::uint64_t number, schemas::RunState state = schemas::RunState::kAccepted,
                           std::uint32_t team = 1, std::size_t payload_bytes = 0) {
  schemas::RunRecord run;
  run.run_id = RunIdFor(number);
  run.key = "key-" + std::to_string(number);
  run.team = team;
  run.kind = "manual";
  run.state = state;
  Change change;
  change.run = run;
  change.new_run = true;
  schemas::LoggedEvent e;
  e.seq = number;
  e.topic = "run.accepted";
  e.payload.assign(payload_bytes, 'x');
  change.events.push_back(e);
  return change;
}

}  // namespace broker::testing_support
