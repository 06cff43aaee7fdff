#include "notifier/notifier.h"

#include <spdlog/spdlog.h>

#include "common/zmq_util.h"
#include "schemas/codec.h"
#include "schemas/topics.h"

namespace notifier {

using common::Status;

common::Result<Notification> DecodeNotification(const std::string& topic, std::string_view payload) {
  Notification n;
  n.topic = topic;
  if (topic.starts_with(schemas::kTopicRunPrefix)) {
    auto e = schemas::DecodeRunEvent(payload);
    if (!e.ok()) return e.status();
    n.run = e.value();
    n.seq = n.run.seq;
  } else if (topic.starts_with(schemas::kTopicAlertPrefix)) {
    auto a = schemas::DecodeAlertEvent(payload);
    if (!a.ok()) return a.status();
    n.alert = a.value();
    n.seq = n.alert.seq;
    n.is_alert = true;
  } else {
    return Status::Error(common::Code::kRejected, "not a notification topic: " + topic);
  }
  return n;
}

Notifier::Notifier(zmq::socket_t& subscriber, schemas::ControlClient& control,
                   const CursorFile& cursor, std::vector<Sink*> sinks, const common::Clock& clock)
    : subscriber_(subscriber), control_(control), cursor_(cursor), sinks_(std::move(sinks)),
      clock_(clock) {}

void Notifier::Deliver(const Notification& n) {
  for (Sink* sink : sinks_) {
    if (Status s = sink->Deliver(n); !s.ok()) {
      spdlog::error("sink {} could not deliver seq {}: {}", sink->name(), n.seq, s.message());
    }
  }
  delivered_ = n.seq;
  if (Status s = cursor_.Store(delivered_); !s.ok()) spdlog::error("{}", s.message());
}

bool Notifier::CatchUp() {
  while (true) {
    schemas::ControlRequest request;
    request.op = "events.since";
    request.since_seq = delivered_;
    request.limit = 1000;
    auto reply = control_.Call(request, std::chrono::milliseconds(3000));
    if (!reply.ok()) {
      spdlog::warn("cannot replay events after seq {}: {}", delivered_, reply.status().message());
      return false;
    }
    const auto& events = reply.value().events;
    for (const schemas::LoggedEvent& e : events) {
      auto n = DecodeNotification(e.topic, std::string_view(e.payload.data(), e.payload.size()));
      if (!n.ok()) {
        // Known garbage: log it and move past it, never loop on it.
        spdlog::error("skipping undecodable logged event seq {}: {}", e.seq, n.status().message());
        delivered_ = e.seq;
        (void)cursor_.Store(delivered_);
        continue;
      }
      n.value().seq = e.seq;
      Deliver(n.value());
    }
    if (events.empty() || delivered_ >= reply.value().last_seq) return true;
  }
}

void Notifier::Consider(const std::string& topic, std::string_view payload) {
  auto n = DecodeNotification(topic, payload);
  if (!n.ok()) {
    spdlog::warn("dropped bus event on {}: {}", topic, n.status().message());
    return;
  }
  const std::uint64_t seq = n.value().seq;
  if (seq <= delivered_) return;  // replayed already
  if (seq != delivered_ + 1 || behind_) {
    behind_ = !CatchUp();  // the log has everything up to this one and more
    if (seq <= delivered_ || behind_) return;
  }
  Deliver(n.value());
}

Status Notifier::Run(const std::atomic<bool>& stop) {
  auto loaded = cursor_.Load();
  if (!loaded.ok()) return loaded.status();
  delivered_ = loaded.value();
  spdlog::info("notifier delivering after seq {}", delivered_);
  behind_ = !CatchUp();
  auto next_check = clock_.Now();
  while (!stop.load()) {
    zmq::pollitem_t item{subscriber_.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(1000));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
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
    if (behind_ || clock_.Now() >= next_check) {
      behind_ = !CatchUp();
      next_check = clock_.Now() + std::chrono::seconds(10);
    }
  }
  return Status();
}

}  // namespace notifier
