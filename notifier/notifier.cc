#include "notifier/notifier.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "common/zmq_util.h"
#include "schemas/codec.h"
#include "schemas/notifier_progress.h"
#include "schemas/topics.h"
#include "schemas/vocabulary.h"

namespace notifier {

using common::Status;

namespace {
// How long a quiet bus may go before we ask the log whether we missed its
// last event (PUB/SUB drops silently, and nothing after it reveals the gap).
constexpr std::chrono::seconds kQuietCheck{10};
}  // namespace

common::Result<Notification> DecodeNotification(const std::string& topic, std::string_view payload) {
  Notification n;
  n.topic = topic;
  if (topic.starts_with(schemas::topic::kRunPrefix)) {
    auto e = schemas::DecodeRunEvent(payload);
    if (!e.ok()) return e.status();
    n.run = e.value();
    n.seq = n.run.seq;
    n.incarnation = n.run.incarnation;
  } else if (topic.starts_with(schemas::topic::kAlertPrefix)) {
    auto a = schemas::DecodeAlertEvent(payload);
    if (!a.ok()) return a.status();
    n.alert = a.value();
    n.seq = n.alert.seq;
    n.incarnation = n.alert.incarnation;
    n.is_alert = true;
  } else {
    return Status::Error(common::Code::kRejected, "not a notification topic: " + topic);
  }
  return n;
}

Notifier::Notifier(zmq::socket_t& subscriber, schemas::ControlClient& control,
                   const CursorFile& cursor, SinkRouter& router, const common::Clock& clock)
    : subscriber_(subscriber),
      control_(control),
      cursor_(cursor),
      router_(&router),
      clock_(clock),
      dead_letters_(control, clock) {
  router_->SetDeadLetters(dead_letters_.shared_outbox());
}

bool Notifier::Offer(const Notification& n) {
  if (n.incarnation.empty() && !incarnation_.empty()) {
    Notification named = n;  // written before events named their store
    named.incarnation = incarnation_;
    return Offer(named);
  }
  if (!router_->Offer(n)) return false;
  offered_ = n.seq;
  offered_any_ = true;
  return true;
}

bool Notifier::SameStore(const std::string& incarnation, std::uint64_t from) {
  if (incarnation.empty() || incarnation == incarnation_) return true;
  const StoreIdentity store{incarnation, from};
  if (incarnation_.empty()) {  // the first answer, or a cursor from before incarnations
    incarnation_ = incarnation;
    Adopt(store);
    return true;
  }
  if (offered_any_) {
    fatal_ = Status::Error(common::Code::kRejected,
                           fmt::format("the broker's store is now incarnation {} (its own events begin "
                                       "after seq {}), not {}: restart the notifier to resume there",
                                       incarnation, from, incarnation_));
    return false;
  }
  const std::uint64_t rebased = Rebase({incarnation_, offered_}, store);
  spdlog::critical(
      "the broker's store was restored or rebuilt: it is incarnation {} (its own events begin after "
      "seq {}), the cursor names {} at seq {}; resuming after seq {} of the new store",
      incarnation, from, incarnation_, offered_, rebased);
  incarnation_ = incarnation;
  offered_ = committed_ = rebased;
  if (Status s = cursor_.Store({incarnation_, committed_}); !s.ok()) spdlog::error("{}", s.message());
  Adopt(store);
  return true;
}

void Notifier::Adopt(const StoreIdentity& store) {
  adopted_ = store;
  router_->Adopt(store);
}

void Notifier::ReplaceRouter(std::unique_ptr<SinkRouter> next, std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lock(next_mutex_);
  next_router_ = std::move(next);
  next_grace_ = grace;
}

void Notifier::SwapRouter() {
  std::unique_ptr<SinkRouter> next;
  std::chrono::milliseconds grace{0};
  {
    std::lock_guard<std::mutex> lock(next_mutex_);
    next.swap(next_router_);
    grace = next_grace_;
  }
  if (!next) return;
  router_->Stop(grace);
  dead_letters_.outbox().ForgetRedeliveries();  // the old queues' are lost with them
  Commit();
  if (offered_ > committed_) {
    spdlog::info("new sinks: events {}..{} were not finished by every old sink; the new ones get them",
                 committed_ + 1, offered_);
  }
  offered_ = committed_;  // the rest comes again, from the broker's log
  if (!adopted_.incarnation.empty()) next->Adopt(adopted_);
  next->SetDeadLetters(dead_letters_.shared_outbox());
  std::unique_ptr<SinkRouter> old = std::move(owned_router_);
  owned_router_ = std::move(next);
  router_ = owned_router_.get();
  old.reset();
  behind_ = true;  // replay at once
  spdlog::info("notifier delivering after seq {} to {}", offered_, fmt::join(router_->Destinations(), ", "));
}

void Notifier::Commit() {
  const std::uint64_t through = router_->FinishedThrough(offered_);
  if (through <= committed_) return;
  if (Status s = cursor_.Store({incarnation_, through}); !s.ok()) {
    spdlog::error("{}", s.message());
    return;
  }
  committed_ = through;
}

bool Notifier::CatchUp() {
  while (true) {
    schemas::ControlRequest request;
    request.op = std::string(schemas::op::kEventsSince);
    request.since_seq = offered_;
    request.limit = 1000;
    auto reply = control_.Call(request, std::chrono::milliseconds(3000));
    if (!reply.ok()) {
      spdlog::warn("cannot replay events after seq {}: {}", offered_, reply.status().message());
      return false;
    }
    const std::uint64_t asked = offered_;
    if (!SameStore(reply.value().incarnation, reply.value().incarnation_from)) return false;
    if (offered_ != asked) continue;  // rebased: ask again from there
    const auto& events = reply.value().events;
    for (const schemas::LoggedEvent& e : events) {
      if (e.seq <= offered_) continue;
      auto n = DecodeNotification(e.topic, std::string_view(e.payload.data(), e.payload.size()));
      if (!n.ok()) {
        // Known garbage: log it and move past it, never loop on it.
        spdlog::error("skipping undecodable logged event seq {}: {}", e.seq, n.status().message());
        offered_ = e.seq;
        continue;
      }
      n.value().seq = e.seq;
      if (!Offer(n.value())) return false;  // a sink queue is full: later
    }
    if (events.empty() || offered_ >= reply.value().last_seq) return true;
  }
}

void Notifier::Consider(const std::string& topic, std::string_view payload) {
  auto n = DecodeNotification(topic, payload);
  if (!n.ok()) {
    spdlog::warn("dropped bus event on {}: {}", topic, n.status().message());
    return;
  }
  if (!n.value().incarnation.empty() && n.value().incarnation != incarnation_) {
    behind_ = !CatchUp();  // its store is not ours: the log's answer says which it is
    return;
  }
  const std::uint64_t seq = n.value().seq;
  if (seq <= offered_) return;  // replayed already
  if (behind_) return;          // the loop replays it from the log soon
  if (seq != offered_ + 1) {
    behind_ = !CatchUp();  // the log has everything up to this one and more
    return;
  }
  behind_ = !Offer(n.value());
}

Status Notifier::Start(const std::atomic<bool>& stop) {
  auto loaded = cursor_.Load();
  if (!loaded.ok()) return loaded.status();
  offered_ = committed_ = loaded.value().seq;
  incarnation_ = loaded.value().incarnation;
  if (!cursor_.Exists() && from_newest_) {
    // First start: begin at the newest event (asking until the broker answers).
    schemas::ControlRequest ping;
    ping.op = std::string(schemas::op::kPing);
    while (!stop.load()) {
      auto reply = control_.Call(ping, std::chrono::milliseconds(2000));
      if (reply.ok()) {
        offered_ = committed_ = reply.value().last_seq;
        SameStore(reply.value().incarnation, reply.value().incarnation_from);
        if (Status s = cursor_.Store({incarnation_, committed_}); !s.ok()) return s;
        spdlog::info("no cursor yet: starting after the newest event, seq {}", committed_);
        break;
      }
      spdlog::warn("waiting for the broker to learn where to start: {}", reply.status().message());
    }
  }
  spdlog::info("notifier delivering after seq {} to {}", offered_, fmt::join(router_->Destinations(), ", "));
  behind_ = !CatchUp();
  next_check_ = clock_.Now() + kQuietCheck;
  return Status();
}

void Notifier::ReportProgress() {
  if (progress_publisher_ == nullptr || clock_.Now() < next_report_) return;
  next_report_ = clock_.Now() + std::chrono::milliseconds(schemas::kNotifierProgressEveryMs);
  schemas::NotifierProgress progress;
  progress.incarnation = incarnation_;
  progress.committed_seq = committed_;
  for (const auto& [name, stats] : router_->Stats()) {
    progress.sinks[name] = {stats.queued, stats.delivered, stats.retries, stats.undeliverable};
  }
  try {
    // A report that cannot go now is simply the next one's to make.
    (void)progress_publisher_->send(zmq::buffer(std::string(schemas::kNotifierProgressTopic)),
                                    zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    (void)progress_publisher_->send(zmq::buffer(schemas::Encode(progress)), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    spdlog::warn("cannot report progress on the bus: {}", e.what());
  }
}

Status Notifier::Turn(std::chrono::milliseconds max_wait) {
  SwapRouter();
  // Short naps while sinks work or we owe a replay, so the cursor follows
  // them closely; a long one when all is quiet.
  const auto nap = behind_ ? std::chrono::milliseconds(100)
                   : router_->Idle() && committed_ == offered_ ? std::chrono::milliseconds(1000)
                                                               : std::chrono::milliseconds(20);
  zmq::pollitem_t item{subscriber_.handle(), 0, ZMQ_POLLIN, 0};
  try {
    zmq::poll(&item, 1, std::min(nap, max_wait));
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return Status();  // the caller re-checks its stop flag
    return Status::Error(common::Code::kIoError, e.what());
  }
  for (int i = 0; i < 1024; ++i) {
    std::vector<zmq::message_t> parts = common::ReceiveMultipart(subscriber_);
    if (parts.empty()) break;
    if (parts.size() != 2) {
      spdlog::warn("dropped bus message with {} frames", parts.size());
      continue;
    }
    Consider(parts[0].to_string(), parts[1].to_string_view());
  }
  // A quiet bus can hide a lost last event: check the log now and then.
  if (behind_ || clock_.Now() >= next_check_) {
    behind_ = !CatchUp();
    next_check_ = clock_.Now() + kQuietCheck;
  }
  Commit();
  dead_letters_.Turn(*router_);
  ReportProgress();
  return fatal_;
}

void Notifier::Finish(std::chrono::milliseconds drain_grace) {
  router_->Stop(drain_grace);
  Commit();
  spdlog::info("notifier stopped; every sink finished through seq {}", committed_);
}

Status Notifier::Run(const std::atomic<bool>& stop, std::chrono::milliseconds drain_grace) {
  if (Status s = Start(stop); !s.ok()) return s;
  Status status;
  while (!stop.load() && status.ok()) status = Turn();
  Finish(drain_grace);
  return status;
}

}  // namespace notifier
