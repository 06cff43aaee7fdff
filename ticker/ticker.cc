#include "ticker/ticker.h"

#include <spdlog/spdlog.h>

#include "common/team.h"
#include "common/zmq_util.h"
#include "schemas/codec.h"
#include "schemas/topics.h"

namespace ticker {

namespace {
std::chrono::sys_seconds ToSys(common::Clock::Wall t) {
  return std::chrono::floor<std::chrono::seconds>(t);
}
}  // namespace

Ticker::Ticker(zmq::socket_t& publisher, zmq::socket_t& subscriber,
               schemas::ControlClient& control, const common::Clock& clock,
               TickerSettings settings)
    : publisher_(publisher), subscriber_(subscriber), control_(control), clock_(clock),
      settings_(settings),
      subscriber_watch_(subscriber, "inproc://ticker-subscriber-watch-" +
                                        std::to_string(reinterpret_cast<std::uintptr_t>(this))) {}

bool Ticker::Reload() {
  schemas::ControlRequest request;
  request.op = std::string(schemas::op::kTeamsList);
  auto reply = control_.Call(request, std::chrono::milliseconds(2000));
  next_reload_ = clock_.Now() + (reply.ok() ? settings_.reload_every : std::chrono::milliseconds(1000));
  if (!reply.ok()) {
    spdlog::warn("cannot load the schedule: {}", reply.status().message());
    return false;
  }
  planner_.SetTeams(reply.value().teams);
  if (!loaded_) spdlog::info("schedule loaded: {} active entries", planner_.team_count());
  loaded_ = true;
  return true;
}

void Ticker::ReloadTeam(const schemas::ScheduleChanged& changed) {
  if (!loaded_) return;  // the first load reads it anyway
  if (changed.change == schemas::schedule_change::kRemove) {
    spdlog::info("{} removed from the schedule", common::TeamLabel(changed.team));
    planner_.RemoveTeam(changed.team);
    return;
  }
  schemas::ControlRequest request;
  request.op = std::string(schemas::op::kTeamsList);
  request.all_teams = false;
  request.team = changed.team;
  auto reply = control_.Call(request, std::chrono::milliseconds(2000));
  if (!reply.ok()) {
    spdlog::warn("cannot load {}'s schedule: {}; reloading it all soon", common::TeamLabel(changed.team),
                 reply.status().message());
    next_reload_ = clock_.Now() + std::chrono::milliseconds(1000);
    return;
  }
  const std::vector<schemas::TeamRecord>& teams = reply.value().teams;
  if (teams.empty()) {
    planner_.RemoveTeam(changed.team);  // gone again by the time we asked
  } else if (teams.size() == 1 && teams.front().id == changed.team) {
    planner_.PutTeam(teams.front());
  } else {
    planner_.SetTeams(teams);  // a broker that answers every team: take them all
  }
  spdlog::info("{}'s schedule reloaded", common::TeamLabel(changed.team));
}

void Ticker::Publish(const schemas::DueEvent& event) {
  publisher_.send(zmq::buffer(std::string(schemas::topic::kDue)), zmq::send_flags::sndmore);
  publisher_.send(zmq::buffer(schemas::Encode(event)), zmq::send_flags::none);
}

void Ticker::HandleBusMessage() {
  std::vector<zmq::message_t> parts = common::ReceiveMultipart(subscriber_);
  if (parts.size() != 2) return;
  const zmq::message_t& topic = parts[0];
  const zmq::message_t& payload = parts[1];
  if (topic.to_string_view() == schemas::topic::kScheduleChanged) {
    auto changed = schemas::DecodeScheduleChanged(payload.to_string_view());
    if (!changed.ok()) {
      spdlog::info("schedule changed ({}); reloading it all", changed.status().message());
      Reload();
    } else {
      ReloadTeam(changed.value());
    }
  } else if (topic.to_string_view() == schemas::topic::kDueAck) {
    auto ack = schemas::DecodeDueAck(payload.to_string_view());
    if (!ack.ok()) {
      spdlog::warn("dropped due.ack: {}", ack.status().message());
      return;
    }
    if (unacked_.erase(ack.value().key) == 0) return;
    if (!ack.value().error.empty()) {
      spdlog::warn("broker refused {}: {}", ack.value().key, ack.value().error);
    } else {
      spdlog::info("fire {} -> run {}{}", ack.value().key, ack.value().run_id,
                   ack.value().duplicate ? " (already known)" : "");
    }
  }
}

std::chrono::milliseconds Ticker::TimeToNextWork() {
  using std::chrono::milliseconds;
  const auto now = clock_.Now();
  auto wait = std::chrono::ceil<milliseconds>(next_reload_ - now);
  for (const auto& [key, p] : unacked_) {
    wait = std::min(wait, std::chrono::ceil<milliseconds>(p.resend_at - now));
  }
  if (!loaded_) return std::clamp(wait, milliseconds(0), milliseconds(1000));
  const auto wall = clock_.WallNow();
  if (auto next = planner_.NextFire(ToSys(wall))) {
    wait = std::min(wait, std::chrono::ceil<milliseconds>(*next - wall));
  }
  // Re-read the wall clock at least once a second: it can jump.
  return std::clamp(wait, milliseconds(0), milliseconds(1000));
}

bool Ticker::FireWithin(std::chrono::milliseconds window) {
  if (!loaded_) return false;
  const auto wall = clock_.WallNow();
  const auto next = planner_.NextFire(ToSys(wall));
  return next && *next - wall < window;  // a fire owed already counts too
}

std::vector<std::string> Ticker::Unacked() const {
  std::vector<std::string> keys;
  for (const auto& [key, pending] : unacked_) keys.push_back(key);
  return keys;
}

common::Status Ticker::Turn(std::chrono::milliseconds max_wait) {
  // A new connection to the bus (the first, or after the broker restarted):
  // a schedule.changed sent before our subscriptions reached it is lost.
  const bool reconnected = subscriber_watch_.Opened();
  if (reconnected && loaded_) spdlog::info("connected to the bus; reloading the schedule");
  // The periodic reload (a safety net for lost notices) is the one slow
  // step: at 100,000 teams decoding the list takes most of a second. It
  // waits while a fire is close, so no fire waits for it.
  if (reconnected || (clock_.Now() >= next_reload_ && !FireWithin(kReloadQuiet))) Reload();
  if (loaded_) {
    for (schemas::DueEvent& event : planner_.Collect(ToSys(clock_.WallNow()))) {
      spdlog::info("fire {} for {} (local date {})", event.key, common::TeamLabel(event.team),
                   event.local_date);
      Publish(event);
      unacked_[event.key] = {event, clock_.Now() + settings_.resend_every};
    }
  }
  const auto now = clock_.Now();
  for (auto& [key, pending] : unacked_) {
    if (pending.resend_at > now) continue;
    Publish(pending.event);  // until the broker answers for this key
    pending.resend_at = now + settings_.resend_every;
  }
  zmq::pollitem_t item{subscriber_.handle(), 0, ZMQ_POLLIN, 0};
  try {
    zmq::poll(&item, 1, std::min(TimeToNextWork(), max_wait));
    for (int i = 0; i < 1024 && (item.revents & ZMQ_POLLIN); ++i) {
      HandleBusMessage();
      if (zmq::poll(&item, 1, std::chrono::milliseconds(0)) == 0) break;
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return common::Status();  // the caller re-checks its stop flag
    return common::Status::Error(common::Code::kIoError, e.what());
  }
  return common::Status();
}

common::Status Ticker::Run(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    if (common::Status s = Turn(); !s.ok()) return s;
  }
  return common::Status();
}

}  // namespace ticker
