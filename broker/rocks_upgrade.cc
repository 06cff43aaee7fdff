// Store format upgrades that rewrite keys, for OpenDatabase.
#include "broker/rocks_upgrade.h"

#include <spdlog/spdlog.h>

#include <string_view>
#include <utility>
#include <vector>

#include "broker/rocks_keys.h"
#include "common/run_key.h"
#include "schemas/codec.h"

namespace broker::rocks {
namespace {

using common::Status;

// Release 1 (no format key) named scheduled runs `sched:<team>:<date>T<HH:MM>`;
// format 2 drops the time. Renames every such index entry into the batch that
// also writes the new format, so it happens once and never half. When several runs of
// one date had keys (a team moved within the day ran twice), the key is the
// earliest's; the others keep their records and their old key.
class ReleaseOneKeys {
 public:
  explicit ReleaseOneKeys(rocksdb::DB& db) : db_(db) {}

  // Adds the renames to `batch`; the caller writes it with the new format.
  Status Run(rocksdb::WriteBatch& batch) {
    constexpr std::string_view kPrefix = "k/sched:";
    std::unique_ptr<rocksdb::Iterator> it(db_.NewIterator(rocksdb::ReadOptions()));
    // Sorted, so the old keys of one date come together: "…:2026-03-09T10:00",
    // "…:2026-03-09T10:01".
    for (it->Seek(kPrefix); it->Valid() && it->key().starts_with(kPrefix); it->Next()) {
      const std::string_view key = it->key().ToStringView().substr(2);
      auto current = common::CurrentFormOfReleaseOneKey(key);
      if (!current) continue;
      if (*current != group_key_) {
        if (Status s = FlushGroup(batch); !s.ok()) return s;
        group_key_ = *current;
      }
      group_.emplace_back(std::string(key), it->value().ToString());
    }
    if (Status s = FromRocks(it->status(), "scan run keys"); !s.ok()) return s;
    if (Status s = FlushGroup(batch); !s.ok()) return s;
    if (renamed_ > 0) {
      spdlog::info("store upgrade: {} scheduled run keys now name the date only; "
                   "{} later runs of a date left out of the key index",
                   renamed_, dropped_);
    }
    return Status();
  }

 private:
  Status FlushGroup(rocksdb::WriteBatch& batch) {
    if (group_.empty()) return Status();
    std::string keep;
    std::string existing;
    rocksdb::Status got = db_.Get(rocksdb::ReadOptions(), "k/" + group_key_, &existing);
    if (got.ok()) {
      keep = existing;
    } else if (!got.IsNotFound()) {
      return FromRocks(got, "read a run key");
    }
    for (const auto& [old_key, run_id] : group_) {
      if (keep.empty() || run_id < keep) keep = run_id;  // run ids sort in acceptance order
    }
    std::string others;
    for (const auto& [old_key, run_id] : group_) {
      batch.Delete("k/" + old_key);
      ++renamed_;
      if (run_id != keep) {
        others += " " + run_id + " (" + old_key + ")";
        ++dropped_;
      } else if (Status s = Rename(run_id, batch); !s.ok()) {
        return s;
      }
    }
    if (!existing.empty() && existing != keep) others += " " + existing + " (" + group_key_ + ")";
    batch.Put("k/" + group_key_, keep);
    if (!others.empty()) {
      spdlog::warn("store upgrade: {} names run {}, the earliest of its date; also ran that date:{}",
                   group_key_, keep, others);
    }
    group_.clear();
    return Status();
  }

  // The kept run's record carries the new key, so what it announces next
  // matches what the ticker now publishes.
  Status Rename(const std::string& run_id, rocksdb::WriteBatch& batch) {
    std::string value;
    rocksdb::Status got = db_.Get(rocksdb::ReadOptions(), RunKey(run_id), &value);
    if (got.IsNotFound()) return Status();
    if (!got.ok()) return FromRocks(got, "read a run");
    auto run = schemas::DecodeRunRecord(value);
    if (!run.ok()) {
      spdlog::error("store upgrade: run {} does not decode ({}); its record keeps its old key",
                    run_id, run.status().message());
      return Status();
    }
    schemas::RunRecord renamed = run.value();
    renamed.key = group_key_;
    batch.Put(RunKey(run_id), schemas::Encode(renamed));
    return Status();
  }

  rocksdb::DB& db_;
  std::string group_key_;
  std::vector<std::pair<std::string, std::string>> group_;  // old key, run id
  std::size_t renamed_ = 0;
  std::size_t dropped_ = 0;
};

}  // namespace

Status RenameReleaseOneKeys(rocksdb::DB& db, rocksdb::WriteBatch& batch) {
  return ReleaseOneKeys(db).Run(batch);
}

}  // namespace broker::rocks
