// The table a chaos run ends with: what was asked, what was done to the
// cluster, and each invariant with the count that must be 0.
#pragma once

#include <string>

#include "tests/chaos/checks.h"
#include "tests/chaos/faults.h"
#include "tests/chaos/workload.h"

namespace chaos {

struct Delivery {
  std::uint64_t deliveries = 0, repeats = 0, conflicts = 0, malformed = 0;
  std::int64_t stale_results = -1;  // the broker's counter since its last start
};

void PrintSummary(const Verdict& v, const WorkloadCounts& w, const FaultCounts& f,
                  const Delivery& d, const std::string& link_note, double seconds);

}  // namespace chaos
