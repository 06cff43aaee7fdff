// Dependencies: a team with `after = [a, b]` is not run by the clock but
// once per local date, when every team it lists has a succeeded run for
// that date. Reads go through the Journal, so two upstream successes in
// one broker turn see each other.
#pragma once

#include <string>
#include <vector>

#include "broker/journal.h"
#include "broker/team_registry.h"
#include "schemas/messages.h"

namespace broker {

class Dependencies {
 public:
  // `teams` and `journal` must outlive this.
  Dependencies(const TeamRegistry& teams, Journal& journal) : teams_(teams), journal_(journal) {}

  // The chained runs that `upstream`'s success makes due: one per unpaused
  // dependent team whose every listed team has now succeeded for the local
  // date of `upstream`, keyed after:<team>:<date> so once per date.
  std::vector<schemas::DueEvent> DueAfter(const schemas::RunRecord& upstream);

 private:
  bool SucceededOn(std::uint32_t team, const std::string& local_date);

  const TeamRegistry& teams_;
  Journal& journal_;
};

}  // namespace broker
