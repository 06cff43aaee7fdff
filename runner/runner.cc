#include "runner/runner.h"

#include <signal.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <random>

#include "common/text.h"
#include "runner/log_reader.h"
#include "schemas/codec.h"
#include "schemas/vocabulary.h"

namespace runner {

using common::Code;
using common::Result;
using common::Status;
using Mono = common::Clock::Mono;
namespace broker_msg = schemas::broker_msg;
namespace outcome = schemas::outcome;
namespace runner_msg = schemas::runner_msg;

namespace {

// A stopped run gets the kill grace to exit on TERM; after KILL, this much
// longer for its result to be acknowledged before a drain gives up.
constexpr std::chrono::seconds kDrainAckGrace{5};
// Broker frames handled per turn, so a flood cannot starve deadlines.
constexpr int kMaxFramesPerTurn = 256;

}  // namespace

std::string Runner::Key(const std::string& run_id, std::uint32_t attempt) {
  return run_id + "#" + std::to_string(attempt);
}

schemas::RunnerMessage Runner::ResultFor(const schemas::BrokerMessage& dispatch) {
  schemas::RunnerMessage result;
  result.type = runner_msg::kResult;
  result.run_id = dispatch.run_id;
  result.attempt = dispatch.attempt;
  result.token = dispatch.token;
  return result;
}

Runner::Runner(SocketFactory connect, ProcessHost& host, const common::Clock& clock,
               RunnerSettings settings)
    : connect_(std::move(connect)), host_(host), clock_(clock), settings_(std::move(settings)) {
  std::random_device entropy;
  incarnation_ = fmt::format("{:08x}{:08x}", entropy(), entropy());
  if (settings_.landlock_abi > 0) system_rules_ = sandbox::SystemRules();
}

Runner::~Runner() {
  for (const auto& [id, job] : jobs_) host_.Release(job.pid);
}

Status Runner::Connect() {
  // The old socket goes first: the broker's ROUTER refuses a second peer
  // with the same routing id while the first is still connected.
  socket_.reset();
  if (sink_) {  // the test's transport: no socket to make
    last_from_broker_ = clock_.Now();
    return Status();
  }
  try {
    socket_ = connect_();
  } catch (const zmq::error_t& e) {
    return Status::Error(Code::kIoError, std::string("cannot connect to the broker: ") + e.what());
  }
  if (socket_ == nullptr) return Status::Error(Code::kIoError, "no socket to the broker");
  last_from_broker_ = clock_.Now();
  return Status();
}

void Runner::Send(const schemas::RunnerMessage& message) {
  schemas::RunnerMessage m = message;
  m.runner_id = settings_.runner_id;
  m.incarnation = incarnation_;
  m.seq = ++sent_;
  sent_times_.emplace_back(m.seq, clock_.Now());
  if (sent_times_.size() > kSentTimes) sent_times_.pop_front();
  // The broker refuses a str that is not UTF-8, and a refused result would
  // be resent forever: text from the system (errors, paths) goes escaped.
  for (std::string* text : {&m.error, &m.log_path}) {
    if (!common::IsUtf8(*text)) *text = common::Printable(*text);
  }
  if (sink_) {
    sink_(m);
    return;
  }
  // A full pipe to a vanished broker must not block us; heartbeats and
  // result resends repeat what matters.
  try {
    (void)socket_->send(zmq::buffer(schemas::Encode(m)), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    spdlog::warn("cannot send {} to the broker: {}", m.type, e.what());
  }
}

void Runner::SendHello() {
  schemas::RunnerMessage hello;
  hello.type = runner_msg::kHello;
  hello.protocol = schemas::kWorkProtocol;
  // Draining, we look full to the broker so it sends nothing new.
  hello.slots = draining_ ? static_cast<std::uint32_t>(std::max<std::size_t>(1, jobs_.size()))
                          : settings_.slots;
  AddLeases(hello);
  Send(hello);
}

void Runner::AddLeases(schemas::RunnerMessage& message) const {
  for (const auto& [run_id, job] : jobs_) {
    message.holding.push_back({run_id, job.dispatch.attempt, job.dispatch.token});
  }
  for (const auto& [run_id, dispatch] : superseding_) {
    message.holding.push_back({run_id, dispatch.attempt, dispatch.token});
  }
  for (const auto& [key, pending] : unacked_) {
    message.finished.push_back({pending.result.run_id, pending.result.attempt, pending.result.token});
  }
}

Status Runner::Start() {
  if (Status s = Connect(); !s.ok()) return s;
  SweepLeftovers();
  SendHello();
  spdlog::info("runner {} says hello with {} slots", settings_.runner_id, settings_.slots);
  return Status();
}

Status Runner::Run(const std::atomic<bool>& stop) {
  if (Status s = Start(); !s.ok()) return s;
  while (true) {
    auto more = Turn(stop.load(), settings_.heartbeat);
    if (!more.ok()) return more.status();
    if (!more.value()) break;
  }
  spdlog::info("runner {} stopped", settings_.runner_id);
  return Status();
}

Result<bool> Runner::Turn(bool stop, std::chrono::milliseconds max_wait) {
  assert(socket_ != nullptr && "Turn before a successful Start");
  if (stop && !draining_) {
    draining_ = true;
    drain_deadline_ = clock_.Now() + settings_.drain_timeout;
    spdlog::info("draining: {} runs still going, waiting up to {} s", jobs_.size(),
                 settings_.drain_timeout.count());
    SendHello();
  }
  if (draining_ && !StepDrain()) {
    schemas::RunnerMessage bye;
    bye.type = runner_msg::kBye;
    Send(bye);
    return false;
  }
  std::vector<zmq::pollitem_t> items = {{socket_->handle(), 0, ZMQ_POLLIN, 0}};
  if (host_.exit_fd() >= 0) items.push_back({nullptr, host_.exit_fd(), ZMQ_POLLIN, 0});
  try {
    zmq::poll(items.data(), items.size(),
              std::max(std::chrono::milliseconds(0), std::min(TimeUntilNextDeadline(), max_wait)));
    for (int i = 0; i < kMaxFramesPerTurn && (items[0].revents & ZMQ_POLLIN); ++i) {
      if (Status s = HandleBrokerMessage(); !s.ok()) return s;
      zmq::pollitem_t again{socket_->handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&again, 1, std::chrono::milliseconds(0)) == 0) break;
    }
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) return Status::Error(Code::kIoError, e.what());
  }
  if (Status s = Step(); !s.ok()) return s;
  return true;
}

Status Runner::Step() {
  // Exits are looked for every turn, not only when the descriptor fired: a
  // child may end between a reap and the next poll.
  ReapChildren();
  EnforceDeadlines();
  MakeTeamFolders();
  const Status s = Housekeeping();
  if (metrics_ != nullptr) metrics_->Holding(jobs_.size(), unacked_.size());
  return s;
}

bool Runner::StepDrain() {
  if (jobs_.empty() && unacked_.empty()) return false;
  const Mono now = clock_.Now();
  if (now < drain_deadline_) return true;
  for (auto& [id, job] : jobs_) StopJob(job, "runner shutting down");
  if (now >= drain_deadline_ + settings_.kill_grace + kDrainAckGrace) {
    spdlog::warn("leaving with {} unacknowledged results", unacked_.size());
    return false;
  }
  return true;
}

std::chrono::milliseconds Runner::TimeUntilNextDeadline() const {
  const Mono now = clock_.Now();
  Mono next = std::min(next_heartbeat_,
                       last_from_broker_ + settings_.heartbeat * settings_.heartbeat_liveness);
  for (const auto& [id, job] : jobs_) {
    if (!job.kill_at) {
      next = std::min(next, job.deadline);
    } else if (!job.killed) {
      next = std::min(next, *job.kill_at);
    }
  }
  for (const auto& [key, pending] : unacked_) {
    next = std::min(next, pending.sent_at + settings_.heartbeat);
  }
  if (draining_) {
    // Once past the drain deadline only the final give-up step is ahead.
    const Mono give_up = drain_deadline_ + settings_.kill_grace + kDrainAckGrace;
    next = std::min(next, now < drain_deadline_ ? drain_deadline_ : give_up);
  }
  // Rounded up: waking a hair early would find nothing due and spin.
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now);
  wait = std::clamp(wait, std::chrono::milliseconds(0), settings_.heartbeat);
  if (host_.exit_fd() < 0 && !jobs_.empty()) wait = std::min(wait, kExitPollInterval);
  if (!folders_to_make_.empty()) wait = std::chrono::milliseconds(0);  // more to make
  return wait;
}

Status Runner::Housekeeping() {
  const Mono now = clock_.Now();
  if (now - last_from_broker_ >= settings_.heartbeat * settings_.heartbeat_liveness) {
    spdlog::warn("broker silent for {} heartbeats; reconnecting", settings_.heartbeat_liveness);
    if (Status s = Connect(); !s.ok()) return s;
    SendHello();
  }
  if (now >= next_heartbeat_) {
    next_heartbeat_ = now + settings_.heartbeat;
    schemas::RunnerMessage beat;
    beat.type = runner_msg::kHeartbeat;
    AddLeases(beat);
    Send(beat);
    KillOrphans();
  }
  // Results are resent until acknowledged, so a broker restart loses none.
  for (auto& [key, pending] : unacked_) {
    if (now - pending.sent_at < settings_.heartbeat) continue;
    Send(pending.result);
    pending.sent_at = now;
  }
  return Status();
}

Status Runner::HandleBrokerMessage() {
  zmq::message_t frame;
  if (!socket_->recv(frame, zmq::recv_flags::dontwait)) return Status();
  if (frame.more()) {  // we only ever expect single frames
    while (frame.more() && socket_->recv(frame, zmq::recv_flags::dontwait)) {
    }
    spdlog::warn("dropped a multi-frame message from the broker");
    return Status();
  }
  auto message = schemas::DecodeBrokerMessage(frame.to_string_view());
  if (!message.ok()) {
    last_from_broker_ = clock_.Now();  // the broker is alive, if garbled
    spdlog::warn("dropped broker message: {}", message.status().message());
    return Status();
  }
  return Handle(message.value());
}

Status Runner::Handle(const schemas::BrokerMessage& m) {
  last_from_broker_ = clock_.Now();
  RenewLeases(m);  // a lease measures "the broker still has us"
  if (m.type == broker_msg::kDispatch) {
    if (FirstSight(m)) StartJob(m);
  } else if (m.type == broker_msg::kAck) {
    auto it = unacked_.find(Key(m.run_id, m.attempt));
    if (it != unacked_.end()) {
      if (!m.error.empty()) {
        spdlog::warn("broker did not count the result of {} attempt {}: {}", m.run_id,
                     m.attempt, m.error);
      }
      // Not promoted by now means not to be: the broker ended it otherwise.
      if (it->second.staged) it->second.staged->Discard();
      unacked_.erase(it);
    }
  } else if (m.type == broker_msg::kPromote) {
    PromoteConfirmed(m);
  } else if (m.type == broker_msg::kCancel) {
    auto it = jobs_.find(m.run_id);
    if (it != jobs_.end() && it->second.dispatch.attempt == m.attempt) {
      it->second.disowned = true;
      StopJob(it->second, "cancelled");
    }
    auto waiting = superseding_.find(m.run_id);
    if (waiting != superseding_.end() && waiting->second.attempt == m.attempt) {
      superseding_.erase(waiting);
    }
  } else if (m.type == broker_msg::kLogRead) {
    Send(ReadLogChunk(settings_.log_dir, m));
  } else if (m.type == broker_msg::kPrepare) {
    QueueTeamFolders(m);
  } else if (m.type == broker_msg::kWelcome && m.key == broker_msg::kHelloRequired) {
    SendHello();
  } else if (m.type == broker_msg::kRefused) {
    // Retrying cannot help: this broker will never speak our protocol. Say
    // so loudly and stop, rather than reconnect forever.
    spdlog::critical("broker refused runner {}: {}", settings_.runner_id, m.error);
    return Status::Error(Code::kRejected, "broker refused us: " + m.error);
  }
  return Status();
}

}  // namespace runner
