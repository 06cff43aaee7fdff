#include "notifier/dead_letters.h"

#include <chrono>

namespace notifier {

std::uint64_t DeadLetterOutbox::Add(Item item) {
  const std::uint64_t id = next_id_++;
  waiting_.emplace(id, std::move(item));
  return id;
}

bool DeadLetterOutbox::Record(schemas::DeadLetter letter, const std::atomic<bool>& abort) {
  std::unique_lock lock(mu_);
  const Key key{letter.sink, letter.seq};
  const std::uint64_t id = Add(Item{std::move(letter), false});
  // Short waits: `abort` is a plain flag, nobody notifies us when it is set.
  while (waiting_.count(id) != 0) {
    if (abort.load()) {
      waiting_.erase(id);
      in_flight_.erase(key);  // a redelivery cut short is asked for again later
      return false;
    }
    cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
  return true;
}

void DeadLetterOutbox::Post(schemas::DeadLetter letter) {
  std::lock_guard lock(mu_);
  Add(Item{std::move(letter), false});
}

void DeadLetterOutbox::Delivered(const std::string& sink, std::uint64_t seq) {
  schemas::DeadLetter letter;
  letter.sink = sink;
  letter.seq = seq;
  std::lock_guard lock(mu_);
  Add(Item{std::move(letter), true});
}

bool DeadLetterOutbox::BeginRedelivery(const std::string& sink, std::uint64_t seq) {
  std::lock_guard lock(mu_);
  return in_flight_.insert({sink, seq}).second;
}

bool DeadLetterOutbox::InFlight(const std::string& sink, std::uint64_t seq) const {
  std::lock_guard lock(mu_);
  return in_flight_.count({sink, seq}) != 0;
}

void DeadLetterOutbox::EndRedelivery(const std::string& sink, std::uint64_t seq) {
  std::lock_guard lock(mu_);
  in_flight_.erase({sink, seq});
}

void DeadLetterOutbox::ForgetRedeliveries() {
  std::lock_guard lock(mu_);
  in_flight_.clear();
}

DeadLetterOutbox::Batch DeadLetterOutbox::Waiting(std::size_t max) const {
  std::lock_guard lock(mu_);
  Batch batch;
  for (const auto& [id, item] : waiting_) {
    auto& list = item.delivered ? batch.delivered : batch.dead_letters;
    if (list.size() >= max) continue;
    list.push_back(item.letter);
    batch.ids.push_back(id);
  }
  return batch;
}

void DeadLetterOutbox::Recorded(const Batch& batch) {
  {
    std::lock_guard lock(mu_);
    for (std::uint64_t id : batch.ids) waiting_.erase(id);
    for (const auto* list : {&batch.dead_letters, &batch.delivered}) {
      for (const schemas::DeadLetter& d : *list) in_flight_.erase({d.sink, d.seq});
    }
  }
  cv_.notify_all();
}

bool DeadLetterOutbox::HasWaiting() const {
  std::lock_guard lock(mu_);
  return !waiting_.empty();
}

}  // namespace notifier
