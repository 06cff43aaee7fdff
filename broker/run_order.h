// The order listings of runs come in: newest first. Run ids grow with time
// (run_admission), so newest first is run id descending, which is the
// order the stores list in.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "schemas/messages.h"

namespace broker {

// Sorts `runs`, gathered from several listings, newest first and keeps the
// first `limit`.
inline void KeepNewest(std::vector<schemas::RunRecord>& runs, std::size_t limit) {
  std::sort(runs.begin(), runs.end(),
            [](const schemas::RunRecord& a, const schemas::RunRecord& b) { return a.run_id > b.run_id; });
  if (runs.size() > limit) runs.resize(limit);
}

}  // namespace broker
