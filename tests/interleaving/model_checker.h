// The interleaving checker: a depth-first search over every ordering of the
// World's actions up to a depth bound, pruning states already seen (by
// World::Hash) at the same or a smaller depth. Worlds are rebuilt by
// replaying the path to them. At every step the safety invariants are
// checked; at every leaf (quiescent, or at the bound) the world is run on
// without faults and must end the run exactly once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/interleaving/model_world.h"

namespace interleaving {

struct CheckOptions {
  int max_depth = 12;
  Budget budget;
  // Stop at the first violation; with `shortest`, deepen the bound one step
  // at a time from 1, so the first one found has the shortest trace.
  bool stop_at_violation = false;
  bool shortest = false;
};

struct CheckReport {
  std::uint64_t states = 0;     // distinct states reached
  std::uint64_t orderings = 0;  // complete paths checked to their end
  std::uint64_t steps = 0;      // actions applied, replays included
  std::string violation;        // empty: none found
  std::vector<std::string> trace;  // the steps to it
  int depth = 0;                // the bound it was found at (or searched to)
};

CheckReport Check(const CheckOptions& options);

// The trace as numbered lines, for a test's output.
std::string FormatTrace(const CheckReport& report);

}  // namespace interleaving
