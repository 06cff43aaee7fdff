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
    spdlog::info("schedule changed; reloading");
    Reload();
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

std::chrono::milliseconds Ticker::TimeToNextWork() const {
  using std::chrono::milliseconds;
  const auto now = clock_.Now();
  auto wait = std::chrono::duration_cast<milliseconds>(next_reload_ - now);
  for (const auto& [key, p] : unacked_) {
    wait = std::min(wait, std::chrono::duration_cast<milliseconds>(p.resend_at - now));
  }
  if (auto next = planner_.NextFire(ToSys(clock_.WallNow()))) {
    wait = std::min(wait, std::chrono::duration_cast<milliseconds>(*next - clock_.WallNow()));
  }
  // Re-read the wall clock at least once a second: it can jump.
  return std::clamp(wait, milliseconds(0), milliseconds(1000));
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
  if (clock_.Now() >= next_reload_ || reconnected) Reload();
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
