// MissedDates: the local dates a clock-scheduled team was owed before a fire
// and that nothing recorded. The ticker owes each team only its most recent
// fire (after its own restart, or a wall clock that jumped ahead), so several
// missed days reach the broker as one due; the broker gives each date between
// its own record, as if its due had arrived late.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "schemas/messages.h"

namespace broker {

// At most this many earlier dates are recorded for one fire; more is logged.
inline constexpr int kMaxMissedDates = 31;

// For a scheduled `due` named by its date (`sched:<team>:<date>`) of a team
// the clock runs (`team` resolved, not paused, no `after`): the due events
// of the dates before it, walking back from the day before until a date
// whose key `recorded` knows, a date whose fire under the team's current
// schedule is before its `schedule_since_unix_ms` (not owed), or
// `max_dates`. Oldest first; empty for any other due.
common::Result<std::vector<schemas::DueEvent>> UnrecordedDatesBefore(
    const schemas::DueEvent& due, const schemas::TeamRecord& team,
    const std::function<common::Result<bool>(const std::string& key)>& recorded,
    int max_dates = kMaxMissedDates);

}  // namespace broker
