#include "broker/dead_letter_ops.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "schemas/dead_letter.h"
#include "schemas/vocabulary.h"

namespace broker {

using common::Code;
using common::Result;
using common::Status;
using schemas::ControlReply;
using schemas::ControlRequest;
using schemas::DeadLetter;

namespace {

constexpr std::size_t kDefaultLimit = 50;
constexpr std::size_t kMaxLimit = 10'000;

// Newest failure first, then by sink and seq, for cutting a long list.
bool Newer(const DeadLetter& a, const DeadLetter& b) {
  if (a.failed_unix_ms != b.failed_unix_ms) return a.failed_unix_ms > b.failed_unix_ms;
  return std::tie(a.sink, a.seq) < std::tie(b.sink, b.seq);
}

bool BySinkThenSeq(const DeadLetter& a, const DeadLetter& b) {
  return std::tie(a.sink, a.seq) < std::tie(b.sink, b.seq);
}

Status CheckSinkFilter(const std::string& sink) {
  return sink.empty() ? Status() : schemas::ValidateSinkName(sink);
}

}  // namespace

bool DeadLetterOps::Handles(std::string_view op) {
  namespace o = schemas::op;
  return op == o::kNotificationsFailed || op == o::kNotificationsRedeliver || op == o::kNotificationsSync;
}

Status DeadLetterOps::Load() {
  if (loaded_) return Status();
  // Once per broker start; after it every change goes through this class.
  auto all = store_.DeadLetters("", 0);
  if (!all.ok()) return all.status();
  count_ = all.value().size();
  for (const DeadLetter& d : all.value()) {
    if (d.redeliver) redeliver_.insert({d.sink, d.seq});
  }
  loaded_ = true;
  return Status();
}

Result<std::size_t> DeadLetterOps::Count() {
  if (Status s = Load(); !s.ok()) return s;
  return count_;
}

Result<std::size_t> DeadLetterOps::Pending() {
  if (Status s = Load(); !s.ok()) return s;
  return redeliver_.size();
}

Result<ControlReply> DeadLetterOps::Answer(const ControlRequest& request, const Status& no_space) {
  if (Status s = Load(); !s.ok()) return s;
  if (request.op == schemas::op::kNotificationsFailed) return Failed(request);
  if (!no_space.ok()) return no_space;
  if (request.op == schemas::op::kNotificationsRedeliver) return Redeliver(request);
  return Sync(request);
}

Result<ControlReply> DeadLetterOps::Failed(const ControlRequest& request) {
  if (Status s = CheckSinkFilter(request.sink); !s.ok()) return s;
  const std::size_t limit =
      request.limit == 0 ? kDefaultLimit : std::min<std::size_t>(request.limit, kMaxLimit);
  auto letters = store_.DeadLetters(request.sink, 0);
  if (!letters.ok()) return letters.status();
  ControlReply reply;
  std::vector<DeadLetter>& out = reply.dead_letters = std::move(letters).value();
  reply.stats["total"] = static_cast<std::int64_t>(out.size());
  if (out.size() > limit) {
    // The newest failures are the ones worth seeing first.
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(limit), out.end(), Newer);
    out.resize(limit);
    std::sort(out.begin(), out.end(), BySinkThenSeq);
  }
  return reply;
}

Result<ControlReply> DeadLetterOps::Redeliver(const ControlRequest& request) {
  if (Status s = CheckSinkFilter(request.sink); !s.ok()) return s;
  if (request.seqs.size() > kMaxLimit) {
    return Status::Error(Code::kInvalid, fmt::format("at most {} seqs at once", kMaxLimit));
  }
  auto letters = store_.DeadLetters(request.sink, 0);
  if (!letters.ok()) return letters.status();
  const std::set<std::uint64_t> seqs(request.seqs.begin(), request.seqs.end());
  ControlReply reply;
  Change change;
  for (DeadLetter& d : letters.value()) {
    if (!seqs.empty() && seqs.count(d.seq) == 0) continue;
    if (!d.redeliver) {
      d.redeliver = true;
      change.dead_letters.push_back(d);
      redeliver_.insert({d.sink, d.seq});
    }
    reply.dead_letters.push_back(std::move(d));
  }
  if (reply.dead_letters.empty()) {
    std::string what = request.sink.empty() ? "" : " of sink " + request.sink;
    if (!seqs.empty()) what += fmt::format(" with seq {}", fmt::join(seqs, ", "));
    return Status::Error(Code::kNotFound, "no failed notification" + what);
  }
  if (!change.dead_letters.empty()) store_.Stage(change);
  const std::size_t n = reply.dead_letters.size();
  reply.message = fmt::format("{} notification{} queued for redelivery", n, n == 1 ? "" : "s");
  return reply;
}

Result<ControlReply> DeadLetterOps::Sync(const ControlRequest& request) {
  // The frame limit already bounds both lists; each letter is checked
  // before anything is staged, so a bad one changes nothing.
  for (const auto* list : {&request.dead_letters, &request.delivered}) {
    for (const DeadLetter& d : *list) {
      if (Status s = schemas::ValidateDeadLetter(d); !s.ok()) return s;
    }
  }
  std::map<Key, DeadLetter> given_up;  // the last of a repeated key wins
  for (DeadLetter d : request.dead_letters) {
    d.redeliver = false;
    const Key key{d.sink, d.seq};
    given_up[key] = std::move(d);
  }
  Change change;
  std::size_t added = 0;
  for (auto& [key, d] : given_up) {
    auto stored = store_.GetDeadLetter(key.first, key.second);
    if (!stored.ok() && stored.status().code() != Code::kNotFound) return stored.status();
    if (!stored.ok()) ++added;
    change.dead_letters.push_back(d);
  }
  std::size_t removed = 0;
  std::set<Key> delivered;
  for (const DeadLetter& d : request.delivered) {
    const Key key{d.sink, d.seq};
    // Only a letter still waiting for its redelivery goes: one that failed
    // again since (given_up, or an earlier sync) stays.
    if (given_up.count(key) != 0 || redeliver_.count(key) == 0 || !delivered.insert(key).second) continue;
    change.dead_letters_removed.push_back(key);
    ++removed;
  }
  if (!change.dead_letters.empty() || !change.dead_letters_removed.empty()) store_.Stage(change);
  count_ = count_ + added - removed;
  for (const auto& [key, d] : given_up) redeliver_.erase(key);
  for (const Key& key : delivered) redeliver_.erase(key);
  if (added > 0 || removed > 0) {
    spdlog::info("notifications: {} given up on, {} redelivered; {} failed now", added, removed, count_);
  }
  ControlReply reply;
  for (const Key& key : redeliver_) {
    if (reply.dead_letters.size() == schemas::kMaxDeadLettersPerSync) break;
    auto letter = store_.GetDeadLetter(key.first, key.second);
    if (!letter.ok()) return letter.status();
    reply.dead_letters.push_back(std::move(letter).value());
  }
  return reply;
}

}  // namespace broker
