#include "broker/broker.h"

#include <spdlog/spdlog.h>

#include "common/security.h"
#include "common/team.h"
#include "common/text.h"
#include "common/zmq_util.h"
#include "schemas/codec.h"
#include "schemas/topics.h"

namespace broker {
namespace {

// The ZAP User-Id (common::UserIdOf) of the connection `part` came on;
// empty without CURVE.
std::string UserIdOf(const zmq::message_t& part) {
  const char* user = zmq_msg_gets(part.handle(), "User-Id");
  return user == nullptr ? std::string() : std::string(user);
}

}  // namespace

Broker::Broker(BrokerSockets sockets, RunManager& manager, ControlHandler& control,
               const common::Clock& clock)
    : sockets_(sockets), manager_(manager), control_(control), clock_(clock) {}

common::Status Broker::Run(const std::atomic<bool>& stop) {
  loop_thread_ = std::this_thread::get_id();
  ApplyReload();
  // Take every published frame; XPUB filters per subscriber downstream,
  // by the subscriptions we apply (HandleSubscriptions).
  const char subscribe_all = 1;
  sockets_.bus_in->send(zmq::buffer(&subscribe_all, 1));
  sockets_.bus_out->set(zmq::sockopt::xpub_manual, 1);
  while (!stop.load()) {
    if (!manager_.failure().ok()) return manager_.failure();
    std::vector<zmq::pollitem_t> items = {
        {sockets_.bus_in->handle(), 0, ZMQ_POLLIN, 0},
        {sockets_.bus_out->handle(), 0, ZMQ_POLLIN, 0},
        {sockets_.control->handle(), 0, ZMQ_POLLIN, 0},
        {sockets_.work->handle(), 0, ZMQ_POLLIN, 0},
    };
    if (sockets_.zap != nullptr) items.push_back({sockets_.zap->socket().handle(), 0, ZMQ_POLLIN, 0});
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        manager_.NextDeadline() - clock_.Now());
    try {
      zmq::poll(items.data(), items.size(),
                std::clamp(wait, std::chrono::milliseconds(0), std::chrono::milliseconds(1000)));
      ApplyReload();  // before this turn's requests: they see what it changed
      // Drain in bounded bursts so no socket starves the others.
      for (int i = 0; i < 256 && (items[0].revents & ZMQ_POLLIN); ++i) HandleBusFrame();
      if (items[1].revents & ZMQ_POLLIN) HandleSubscriptions();
      for (int i = 0; i < 256 && (items[2].revents & ZMQ_POLLIN); ++i) HandleControl();
      for (int i = 0; i < 256 && (items[3].revents & ZMQ_POLLIN); ++i) HandleWork();
      if (items.size() > 4 && (items[4].revents & ZMQ_POLLIN)) sockets_.zap->HandleRequest();
      manager_.Tick();
      if (log_relay_) log_relay_->Tick();
      // One write for everything this turn changed, then the announcements.
      if (!Flush()) return manager_.failure();
      RunPeriodic();
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;  // signal: re-check `stop`
      return common::Status::Error(common::Code::kIoError, e.what());
    }
  }
  return common::Status();
}

void Broker::HandleSubscriptions() {
  for (int i = 0; i < 256; ++i) {
    zmq::message_t notice;
    if (!sockets_.bus_out->recv(notice, zmq::recv_flags::dontwait)) return;
    const std::string_view data = notice.to_string_view();
    if (data.empty() || (data[0] != 0 && data[0] != 1)) continue;  // not a (un)subscription
    const std::string_view topic = data.substr(1);
    // Each applies to the connection the notice came from (ZMQ_XPUB_MANUAL);
    // an unsubscription of a connection that closed applies to none.
    if (data[0] == 0) {
      sockets_.bus_out->set(zmq::sockopt::unsubscribe, topic);
      continue;
    }
    const std::string user = UserIdOf(notice);
    const std::optional<common::KeyGrant> grant =
        user.empty() ? std::nullopt : common::GrantOfUserId(user);
    if (grant && !KeyMaySubscribe(*grant, topic)) {
      ++counters_.refused_keys;
      spdlog::warn("bus: refused key {}'s subscription to \"{}\": it is bound to teams and the bus "
                   "carries every team's runs; it may subscribe to \"{}\" only, and read its runs "
                   "with runs.list",
                   grant->name, common::Printable(topic), schemas::topic::kDueAck);
      continue;
    }
    sockets_.bus_out->set(zmq::sockopt::subscribe, topic);
  }
}

void Broker::RequestReload(Reloaded reloaded) {
  std::unique_lock<std::mutex> lock(reload_mutex_);
  pending_reload_ = std::move(reloaded);
  const std::uint64_t mine = ++reloads_requested_;
  if (loop_thread_.load() == std::this_thread::get_id()) {
    lock.unlock();
    ApplyReload();
    return;
  }
  if (loop_thread_.load() == std::thread::id()) return;  // Run applies it as it starts
  reload_applied_.wait_for(lock, std::chrono::seconds(5), [&] { return reloads_applied_ >= mine; });
}

void Broker::ApplyReload() {
  std::optional<Reloaded> reloaded;
  std::uint64_t taken = 0;
  {
    std::lock_guard<std::mutex> lock(reload_mutex_);
    reloaded.swap(pending_reload_);
    taken = reloads_requested_;
  }
  if (!reloaded) return;
  if (reloaded->keys && sockets_.zap != nullptr) sockets_.zap->SetKeys(std::move(*reloaded->keys));
  manager_.SetTeamDefaults(std::move(reloaded->team_defaults));
  manager_.SetRetryDefaults(reloaded->retry);
  {
    std::lock_guard<std::mutex> lock(reload_mutex_);
    reloads_applied_ = taken;
  }
  reload_applied_.notify_all();
}

void Broker::RunPeriodic() {
  const auto now = clock_.Now();
  for (Periodic& p : periodic_) {
    if (p.next == common::Clock::Mono{}) p.next = now + p.every;  // the first turn
    if (now < p.next) continue;
    p.next = now + p.every;
    p.task();
  }
}

void Broker::HandleBusFrame() {
  std::vector<zmq::message_t> parts = common::ReceiveMultipart(*sockets_.bus_in);
  if (parts.empty()) return;
  if (parts.size() != 2) {
    ++counters_.bad_frames;
    spdlog::warn("dropped bus message with {} frames (want [topic, payload])", parts.size());
    return;
  }
  const std::string topic = parts[0].to_string();
  if (topic == schemas::topic::kDue) {
    auto due = schemas::DecodeDueEvent(parts[1].to_string_view());
    if (!due.ok()) {
      ++counters_.bad_frames;
      spdlog::warn("dropped due event: {}", due.status().message());
      return;
    }
    // A publisher key bound to teams publishes only their dues, and a named
    // key is the run's requested_by, whatever the frame says.
    std::optional<common::KeyGrant> sender;
    if (sockets_.zap != nullptr) sender = common::GrantOfUserId(UserIdOf(parts[1]));
    if (sender && !sender->name.empty()) due.value().requested_by = sender->name;
    if (sender && !sender->MayActFor(due.value().team)) {
      ++counters_.refused_keys;
      schemas::DueAck refused;
      refused.key = due.value().key;
      refused.error = "key " + sender->name + " may not start runs of " +
                      common::TeamLabel(due.value().team);
      spdlog::warn("due event {} refused: {}", due.value().key, refused.error);
      AuditDue(due.value(), refused.run_id, refused.error, !sender->name.empty());
      manager_.Announce(schemas::topic::kDueAck, schemas::Encode(refused));
      return;
    }
    if (!manager_.no_space().ok()) {
      // Not acknowledged: its publisher sends it again, and the run is
      // taken (or, past its grace, recorded missed) once space returns.
      ++counters_.held_dues;
      spdlog::warn("due event {} not taken now: the disk is full", due.value().key);
      return;
    }
    Admission admission = manager_.Admit(due.value());
    schemas::DueAck ack;
    // The key the publisher sent, which it waits for (a known run may be
    // named differently: a release-1 key, or a manual run without one).
    ack.key = due.value().key.empty() ? admission.run.key : due.value().key;
    ack.run_id = admission.run.run_id;
    ack.duplicate = admission.duplicate;
    if (!admission.status.ok()) {
      ack.error = admission.status.message();
      spdlog::warn("due event {} refused: {}", due.value().key, ack.error);
    }
    // A person's (or a script's) manual run is an action to keep.
    if (due.value().kind == schemas::kind::kManual && !admission.duplicate) {
      AuditDue(due.value(), ack.run_id, ack.error, sender && !sender->name.empty());
    }
    // After the run is written, like everything the broker announces.
    manager_.Announce(schemas::topic::kDueAck, schemas::Encode(ack));
  } else if (topic == schemas::kNotifierProgressTopic) {
    // Passed on like any frame; kept for /metrics (how far it lags).
    auto progress = schemas::DecodeNotifierProgress(parts[1].to_string_view());
    if (!progress.ok()) {
      ++counters_.bad_frames;
      spdlog::warn("dropped {}", progress.status().message());
      return;
    }
    notifier_report_ = NotifierReport{std::move(progress).value(), clock_.Now()};
  } else if (topic.starts_with(schemas::topic::kRunPrefix) ||
             topic.starts_with(schemas::topic::kAlertPrefix) ||
             topic == schemas::topic::kScheduleChanged || topic == schemas::topic::kDueAck) {
    // Only the broker speaks on these topics; a forged one is not passed on.
    ++counters_.bad_frames;
    spdlog::warn("dropped a published \"{}\" frame: only the broker publishes it", topic);
    return;
  }
  ++counters_.forwarded;
  sockets_.bus_out->send(parts[0], zmq::send_flags::sndmore);
  sockets_.bus_out->send(parts[1], zmq::send_flags::none);
}

void Broker::HandleControl() {
  std::vector<zmq::message_t> parts = common::ReceiveMultipart(*sockets_.control);
  if (parts.size() < 2) {
    if (!parts.empty()) ++counters_.bad_frames;
    return;
  }
  if (sockets_.zap != nullptr && !MayAsk(parts)) return;
  // Listings read the store: write the pending group first. And a reply is
  // an announcement too: it leaves only after what it reports is written.
  // While the disk is full the group waits, reads answer from what is
  // written, and changes are refused (ControlHandler).
  if (const common::Status s = manager_.Persist(); !s.ok() && s.code() != common::Code::kNoSpace) return;
  const bool had_space = manager_.no_space().ok();
  std::optional<common::KeyGrant> caller;
  if (sockets_.zap != nullptr) caller = common::GrantOfUserId(UserIdOf(parts.back()));
  const std::uint64_t ticket = ++next_ticket_;
  std::optional<std::string> answered = control_.HandleOrDefer(parts.back().to_string_view(), caller, ticket);
  if (!answered) {  // answered later, by Respond
    parts.pop_back();
    deferred_.emplace(ticket, std::move(parts));
    return;
  }
  std::string reply = std::move(*answered);
  if (!Flush()) return;
  if (had_space && !manager_.no_space().ok()) {
    // The disk filled while this request's change was being written: it is
    // kept and written when space returns, but may not be reported yet.
    schemas::ControlReply held;
    held.error = manager_.no_space().message() +
                 "; this request's change is written once space returns: ask again then";
    held.code = std::string(schemas::error_code::kNoSpace);
    reply = schemas::Encode(held);
  }
  // Envelope (identity, and the empty delimiter from REQ/our DEALER) goes
  // back unchanged; the last frame is the request.
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    sockets_.control->send(parts[i], zmq::send_flags::sndmore);
  }
  sockets_.control->send(zmq::buffer(reply), zmq::send_flags::none);
}

void Broker::ServeRunLogs(Store& store, std::chrono::milliseconds timeout) {
  log_relay_ = std::make_unique<LogRelay>(
      manager_, store, clock_,
      [this](std::uint64_t ticket, const schemas::ControlReply& reply) { Respond(ticket, reply); },
      timeout);
  control_.AddDeferredOp(schemas::op::kRunLog,
                         [relay = log_relay_.get()](const schemas::ControlRequest& request,
                                                    std::uint64_t ticket) { return relay->Ask(request, ticket); });
}

void Broker::Respond(std::uint64_t ticket, const schemas::ControlReply& reply) {
  auto it = deferred_.find(ticket);
  if (it == deferred_.end()) return;
  for (zmq::message_t& part : it->second) sockets_.control->send(part, zmq::send_flags::sndmore);
  sockets_.control->send(zmq::buffer(schemas::Encode(reply)), zmq::send_flags::none);
  deferred_.erase(it);
}

void Broker::HandleWork() {
  std::vector<zmq::message_t> parts = common::ReceiveMultipart(*sockets_.work);
  if (parts.size() != 2) {
    if (!parts.empty()) {
      ++counters_.bad_frames;
      spdlog::warn("dropped runner message with {} frames", parts.size());
    }
    return;
  }
  const std::string identity = parts[0].to_string();
  auto message = schemas::DecodeRunnerMessage(parts[1].to_string_view());
  if (!message.ok()) {
    ++counters_.bad_frames;
    spdlog::warn("dropped runner message from {}: {}", identity, message.status().message());
    // A result is answered all the same, or its runner would resend it
    // forever: its attempt ends (transient) and the runner drops it.
    auto header = schemas::PeekRunnerMessage(parts[1].to_string_view());
    if (header.ok() && !header.value().run_id.empty() &&
        (header.value().type == schemas::runner_msg::kResult ||
         header.value().type == schemas::runner_msg::kPromoted) &&
        MaySpeak(identity, header.value().runner_id, header.value().type, parts[1])) {
      manager_.OnRefusedResult(identity, header.value(), message.status().message());
    }
    return;
  }
  if (!MaySpeak(identity, message.value().runner_id, message.value().type, parts[1])) return;
  if (message.value().type == schemas::runner_msg::kLogChunk) {  // about no run's state
    if (log_relay_) log_relay_->OnChunk(identity, message.value());
    return;
  }
  manager_.OnRunnerMessage(identity, message.value());
}

bool Broker::MaySpeak(const std::string& identity, const std::string& runner_id,
                      const std::string& type, const zmq::message_t& frame) {
  if (runner_id != identity) {
    ++counters_.bad_frames;
    spdlog::warn("dropped runner message: runner_id {} sent from socket identity {}", runner_id,
                 identity);
    return false;
  }
  if (sockets_.zap != nullptr) {
    const std::string user = UserIdOf(frame);
    if (auto s = RunnerProtocol::KeyMaySpeakFor(user, identity); !s.ok()) {
      ++counters_.refused_keys;
      spdlog::warn("dropped runner message {} from {}: {}", type, identity, s.message());
      return false;
    }
  }
  return true;
}

void Broker::AddNotifierFigures(std::map<std::string, std::int64_t>& stats,
                                const std::string& incarnation) const {
  if (!notifier_report_) return;
  const schemas::NotifierProgress& p = notifier_report_->progress;
  stats["notifier_report_age_ms"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - notifier_report_->at).count();
  const std::uint64_t last = manager_.last_seq();
  if (p.incarnation == incarnation) {
    stats["notifier_lag_events"] =
        static_cast<std::int64_t>(last > p.committed_seq ? last - p.committed_seq : 0);
  }
  for (const auto& [sink, s] : p.sinks) {
    stats["notifier_sink_queued:" + sink] = static_cast<std::int64_t>(s.queued);
    stats["notifier_sink_delivered:" + sink] = static_cast<std::int64_t>(s.delivered);
    stats["notifier_sink_retries:" + sink] = static_cast<std::int64_t>(s.retries);
    stats["notifier_sink_undeliverable:" + sink] = static_cast<std::int64_t>(s.undeliverable);
  }
}

void Broker::AuditDue(const schemas::DueEvent& due, const std::string& run_id,
                      const std::string& error, bool named) {
  AuditLog* audit = control_.audit_log();
  if (audit == nullptr) return;
  AuditEntry e;
  e.at_unix_ms = manager_.NowUnixMs();
  const std::string claim = due.requested_by.empty() ? "" : " (says " + due.requested_by + ")";
  e.who = named ? due.requested_by : "unauthenticated" + claim;
  e.op = "due." + due.kind;
  e.team = due.team;
  e.run_id = run_id;
  e.detail = due.key.empty() ? "" : "key " + due.key;
  e.ok = error.empty();
  e.error = error;
  (void)audit->Record(e);
}

bool Broker::MayAsk(std::vector<zmq::message_t>& parts) {
  const auto grant = common::GrantOfUserId(UserIdOf(parts.back()));
  std::string why;
  if (!grant) {
    why = "no CURVE identity on this connection";
  } else if (grant->role == common::KeyRole::kRunner) {
    why = "a runner key may not use the control socket";  // ZAP refuses it already
  } else if (grant->role == common::KeyRole::kPublisher) {
    auto request = schemas::DecodeControlRequest(parts.back().to_string_view());
    // A request that does not decode gets the handler's own answer.
    if (!request.ok() || PublisherMayAsk(request.value().op)) return true;
    why = "a publisher key may not send \"" + request.value().op +
          "\" (it needs a client key, security.client_keys)";
  } else {
    return true;
  }
  ++counters_.refused_keys;
  spdlog::warn("refused control request: {}", why);
  schemas::ControlReply refused;
  refused.error = why;
  refused.code = std::string(schemas::error_code::kRejected);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    sockets_.control->send(parts[i], zmq::send_flags::sndmore);
  }
  sockets_.control->send(zmq::buffer(schemas::Encode(refused)), zmq::send_flags::none);
  return false;
}

bool Broker::Flush() {
  std::vector<Outgoing> outbox = manager_.TakeOutbox();  // writes the group first
  if (!manager_.failure().ok()) return false;
  for (Outgoing& out : outbox) {
    zmq::socket_t& socket = out.to == Outgoing::To::kBus ? *sockets_.bus_out : *sockets_.work;
    socket.send(zmq::buffer(out.address), zmq::send_flags::sndmore);
    socket.send(zmq::buffer(out.payload), zmq::send_flags::none);
  }
  return true;
}

}  // namespace broker
