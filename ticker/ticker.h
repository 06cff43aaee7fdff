// Ticker: the clock of Daybreak. It loads the schedule from the broker,
// follows "schedule.changed", publishes a "due" event at each fire time, and
// republishes each one until the broker's "due.ack" for its key is seen.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "schemas/control_client.h"
#include "ticker/connect_watch.h"
#include "ticker/fire_planner.h"

namespace ticker {

struct TickerSettings {
  std::chrono::milliseconds resend_every{1000};
  std::chrono::milliseconds reload_every{60'000};  // safety net for lost notices
};

class Ticker {
 public:
  // `publisher` is a PUB connected to the bus; `subscriber` a SUB on the
  // bus subscribed to topic::kDueAck and topic::kScheduleChanged. All are
  // borrowed and must outlive the Ticker.
  Ticker(zmq::socket_t& publisher, zmq::socket_t& subscriber,
         schemas::ControlClient& control, const common::Clock& clock, TickerSettings settings);
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  // Turns until `stop`; an error only when the bus socket fails.
  common::Status Run(const std::atomic<bool>& stop);

  // One turn of the loop: reloads the schedule when due, publishes the due
  // events the clock owes and those whose ack is overdue, then waits for
  // bus messages until the nearest deadline (at most `max_wait`) and
  // handles them. A signal ends the wait early with OK.
  common::Status Turn(std::chrono::milliseconds max_wait = std::chrono::milliseconds(1000));

  // Run keys published and not yet answered by a due.ack, in key order.
  std::vector<std::string> Unacked() const;
  bool loaded() const { return loaded_; }

 private:
  bool Reload();
  // One team's change: asks for that team alone (teams.list of one team)
  // and replans only it, so a change costs the same at 100,000 teams.
  void ReloadTeam(const schemas::ScheduleChanged& changed);
  void Publish(const schemas::DueEvent& event);
  void HandleBusMessage();
  // Until the nearest of: the next fire, a resend, the reload; rounded up,
  // so a turn never wakes just before a fire's instant.
  std::chrono::milliseconds TimeToNextWork();
  // A fire is owed now or comes within `window`.
  bool FireWithin(std::chrono::milliseconds window);
  // How near a fire keeps the periodic reload waiting.
  static constexpr std::chrono::milliseconds kReloadQuiet{2000};

  zmq::socket_t& publisher_;
  zmq::socket_t& subscriber_;
  schemas::ControlClient& control_;
  const common::Clock& clock_;
  TickerSettings settings_;
  FirePlanner planner_;
  bool loaded_ = false;
  common::Clock::Mono next_reload_{};
  struct Pending {
    schemas::DueEvent event;
    common::Clock::Mono resend_at;
  };
  std::map<std::string, Pending> unacked_;  // by run key
  ConnectWatch subscriber_watch_;  // a new bus connection: reload (notices may be lost)
};

}  // namespace ticker
