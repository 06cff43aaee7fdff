#include "schemas/codec.h"

#include <array>
#include <initializer_list>
#include <limits>

#include "common/schedule.h"
#include "common/team.h"
#include "common/text.h"
#include "schemas/topics.h"

namespace schemas {
namespace {

using common::Code;
using common::Result;
using common::Status;

// Peers are untrusted: cap every container so a small frame cannot ask for
// a huge allocation. Replies carry lists of runs and events, so they get more.
const msgpack::unpack_limit kFrameLimits(/*array=*/4096, /*map=*/256,
                                         /*str=*/64 * 1024, /*bin=*/64 * 1024,
                                         /*ext=*/0, /*depth=*/6);
const msgpack::unpack_limit kReplyLimits(/*array=*/1'000'000, /*map=*/1'000'000,
                                         /*str=*/1024 * 1024, /*bin=*/1024 * 1024,
                                         /*ext=*/0, /*depth=*/8);

Status Invalid(const char* what, const std::string& why) {
  return Status::Error(Code::kRejected, std::string(what) + ": " + why);
}

bool HasKey(const msgpack::object& map, std::string_view key) {
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    const msgpack::object& k = map.via.map.ptr[i].key;
    if (k.type == msgpack::type::STR &&
        std::string_view(k.via.str.ptr, k.via.str.size) == key) {
      return true;
    }
  }
  return false;
}

// What a decoder does with a str that is not UTF-8. Peers' frames are
// refused; the broker's own records and answers keep it, because stores
// written before release 2 may hold such text (JSON output replaces it).
enum class Text { kRefuse, kKeep };

// The only field that holds bytes, not text (LoggedEvent: bin or str).
constexpr std::string_view kBytesField = "payload";

std::string FieldPath(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

// One pass over the decoded tree before it is converted: every str is
// UTF-8 (under Text::kRefuse) and no bin stands where PROTOCOL.md says str.
// msgpack-c would turn a bin into a std::string without a word.
Status CheckText(const msgpack::object& o, const std::string& path, Text text) {
  switch (o.type) {
    case msgpack::type::STR:
      if (text == Text::kRefuse &&
          !common::IsUtf8(std::string_view(o.via.str.ptr, o.via.str.size))) {
        return Status::Error(Code::kRejected, path + " is not valid UTF-8");
      }
      return Status();
    case msgpack::type::BIN:
      return Status::Error(Code::kRejected, path + " is a msgpack bin, not a str");
    case msgpack::type::ARRAY:
      for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
        if (Status s = CheckText(o.via.array.ptr[i], path + "[" + std::to_string(i) + "]", text);
            !s.ok()) {
          return s;
        }
      }
      return Status();
    case msgpack::type::MAP:
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        const msgpack::object& key = o.via.map.ptr[i].key;
        const msgpack::object& value = o.via.map.ptr[i].val;
        if (key.type == msgpack::type::BIN) {
          return Status::Error(Code::kRejected, "a key in " + (path.empty() ? "the message" : path) +
                                                    " is a msgpack bin, not a str");
        }
        if (key.type != msgpack::type::STR) {
          if (Status s = CheckText(key, path, text); !s.ok()) return s;
          if (Status s = CheckText(value, path, text); !s.ok()) return s;
          continue;
        }
        const std::string_view name(key.via.str.ptr, key.via.str.size);
        if (!common::IsUtf8(name)) {
          if (text == Text::kRefuse) {
            return Status::Error(Code::kRejected, "a key in " + (path.empty() ? "the message" : path) +
                                                      " is not valid UTF-8");
          }
          if (Status s = CheckText(value, FieldPath(path, "?"), text); !s.ok()) return s;
          continue;
        }
        if (name == kBytesField &&
            (value.type == msgpack::type::BIN || value.type == msgpack::type::STR)) {
          continue;  // raw bytes, whichever way they came
        }
        if (Status s = CheckText(value, FieldPath(path, name), text); !s.ok()) return s;
      }
      return Status();
    default:
      return Status();
  }
}

template <typename T>
Result<T> DecodeAs(std::string_view bytes, const char* what,
                   std::initializer_list<const char*> required,
                   const msgpack::unpack_limit& limits = kFrameLimits,
                   Text text = Text::kRefuse) {
  const std::size_t max_bytes =
      &limits == &kFrameLimits ? kMaxFrameBytes : kMaxControlFrameBytes;
  if (bytes.size() > max_bytes) {
    return Invalid(what, "frame of " + std::to_string(bytes.size()) +
                             " bytes exceeds the limit");
  }
  try {
    std::size_t offset = 0;
    msgpack::object_handle handle = msgpack::unpack(
        bytes.data(), bytes.size(), offset, nullptr, nullptr, limits);
    if (offset != bytes.size()) return Invalid(what, "trailing bytes after the message");
    const msgpack::object& object = handle.get();
    if (object.type != msgpack::type::MAP) return Invalid(what, "not a msgpack map");
    if (!HasKey(object, "v")) return Invalid(what, "missing required key \"v\"");
    for (const char* key : required) {
      if (!HasKey(object, key)) {
        return Invalid(what, std::string("missing required key \"") + key + "\"");
      }
    }
    if (Status s = CheckText(object, "", text); !s.ok()) return Invalid(what, s.message());
    T message = object.as<T>();
    if constexpr (requires { message.v; }) {
      if (message.v == 0 || message.v > kVersion) {
        return Invalid(what, "unsupported schema version " + std::to_string(message.v));
      }
    }
    return message;
  } catch (const std::exception& e) {  // msgpack throws on bad input
    return Invalid(what, std::string("undecodable: ") + e.what());
  }
}

// "a, b or c", for error messages that list what is allowed.
template <typename List>
std::string Alternatives(const List& list) {
  std::string out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i > 0) out += i + 1 == list.size() ? " or " : ", ";
    out += list[i];
  }
  return out;
}

Status CheckPdate(const char* what, const std::string& pdate) {
  if (pdate.empty()) return Status();
  auto parsed = common::ParseDate(pdate);
  if (!parsed.ok()) return Invalid(what, parsed.status().message());
  return Status();
}

}  // namespace

Status ValidateRunKey(std::string_view key) {
  if (key.empty() || key.size() > 200) {
    return Status::Error(Code::kRejected, "run key must be 1-200 characters");
  }
  for (char c : key) {
    if (c < 0x21 || c > 0x7e) {
      return Status::Error(Code::kRejected,
                           "run key must be printable ASCII without spaces");
    }
  }
  return Status();
}

Status ValidateTeamRecord(const TeamRecord& team) {
  if (Status s = common::ValidateTeamId(team.id, /*allow_general=*/true); !s.ok()) return s;
  if (!team.run_time.empty()) {
    if (auto t = common::ParseTimeOfDay(team.run_time); !t.ok()) return t.status();
  }
  if (!team.timezone.empty()) {
    if (auto z = common::FindZone(team.timezone); !z.ok()) return z.status();
  }
  if (!team.overlap.empty() && !IsOneOf(team.overlap, overlap::kAll)) {
    return Status::Error(Code::kInvalid, "overlap \"" + team.overlap + "\" is not " + Alternatives(overlap::kAll));
  }
  if (team.name.size() > 200) return Status::Error(Code::kInvalid, "team name longer than 200 characters");
  if (team.max_attempts > 100) return Status::Error(Code::kInvalid, "max_attempts must be 0-100");
  if (!team.retry_on.empty() && !IsOneOf(team.retry_on, retry_on::kAll)) {
    return Status::Error(Code::kInvalid, "retry_on \"" + team.retry_on + "\" is not " + Alternatives(retry_on::kAll));
  }
  if (team.backoff_max_s != 0 && team.backoff_max_s < team.backoff_initial_s) {
    return Status::Error(Code::kInvalid, "backoff_max_s must be >= backoff_initial_s");
  }
  if (team.after.size() > 64) return Status::Error(Code::kInvalid, "a team may wait for at most 64 teams");
  if (team.memory_mb > (1U << 24)) return Status::Error(Code::kInvalid, "memory_mb must be 0-16777216");
  if (team.env.size() > 64) return Status::Error(Code::kInvalid, "a team may set at most 64 variables");
  for (const auto& [name, value] : team.env) {
    if (!common::IsPipelineVariableName(name)) {
      return Status::Error(Code::kInvalid,
                           "env: \"" + common::Printable(name) +
                               "\" is not a variable a team may set ([A-Za-z_][A-Za-z0-9_]*, "
                               "not DAYBREAK_*, TMPDIR or HOME)");
    }
    if (value.size() > 4096 || value.find('\0') != std::string::npos) {
      return Status::Error(Code::kInvalid, "env: " + name + " must be at most 4096 bytes, without NUL");
    }
  }
  for (std::uint32_t upstream : team.after) {
    if (Status s = common::ValidateTeamId(upstream, true); !s.ok()) return s;
    if (upstream == team.id) {
      return Status::Error(Code::kInvalid, common::TeamLabel(team.id) + " cannot wait for itself");
    }
  }
  return Status();
}

Result<DueEvent> DecodeDueEvent(std::string_view bytes) {
  auto r = DecodeAs<DueEvent>(bytes, "due", {"team", "kind"});
  if (!r.ok()) return r;
  const DueEvent& e = r.value();
  if (Status s = common::ValidateTeamId(e.team, true); !s.ok()) return Invalid("due", s.message());
  // Chained runs are made by the broker itself, never published.
  constexpr std::array kPublishable = {kind::kScheduled, kind::kManual, kind::kBackfill};
  if (!IsOneOf(e.kind, kPublishable)) {
    return Invalid("due", "kind \"" + e.kind + "\" is not " + Alternatives(kPublishable));
  }
  if (e.kind != kind::kManual || !e.key.empty()) {
    if (Status s = ValidateRunKey(e.key); !s.ok()) return Invalid("due", s.message());
  }
  if (e.kind != kind::kManual) {
    if (e.fire_unix_ms <= 0) return Invalid("due", "fire_unix_ms must be set for " + e.kind + " runs");
    if (auto d = common::ParseDate(e.local_date); !d.ok()) return Invalid("due", d.status().message());
  }
  if (Status s = CheckPdate("due", e.pdate); !s.ok()) return s;
  // A manual run may name its local date; Admit parses it to default pdate.
  if (Status s = CheckPdate("due", e.local_date); !s.ok()) return s;
  return r;
}

Result<DueAck> DecodeDueAck(std::string_view bytes) {
  return DecodeAs<DueAck>(bytes, "due.ack", {"key"});
}

Result<RunEvent> DecodeRunEvent(std::string_view bytes) {
  // The broker's own, carrying stored runs: text is kept as it was stored.
  return DecodeAs<RunEvent>(bytes, "run event", {"seq", "event", "run"}, kFrameLimits,
                            Text::kKeep);
}

Result<AlertEvent> DecodeAlertEvent(std::string_view bytes) {
  return DecodeAs<AlertEvent>(bytes, "alert", {"seq", "kind"}, kFrameLimits, Text::kKeep);
}

Result<ScheduleChanged> DecodeScheduleChanged(std::string_view bytes) {
  return DecodeAs<ScheduleChanged>(bytes, "schedule.changed", {"team"});
}

Result<RunnerMessage> DecodeRunnerMessage(std::string_view bytes) {
  auto r = DecodeAs<RunnerMessage>(bytes, "runner message", {"type", "runner_id"});
  if (!r.ok()) return r;
  const RunnerMessage& m = r.value();
  if (!IsOneOf(m.type, runner_msg::kAll)) {
    return Invalid("runner message", "unknown type \"" + m.type + "\"");
  }
  if (m.runner_id.empty() || m.runner_id.size() > 128) {
    return Invalid("runner message", "runner_id must be 1-128 characters");
  }
  if ((m.type == runner_msg::kStarted || m.type == runner_msg::kResult) && m.run_id.empty()) {
    return Invalid("runner message", m.type + " without run_id");
  }
  if (m.type == runner_msg::kResult && !IsOneOf(m.outcome, outcome::kAll)) {
    return Invalid("runner message", "outcome \"" + m.outcome + "\" is not " + Alternatives(outcome::kAll));
  }
  if (m.type == runner_msg::kLogChunk && m.token.empty()) {
    return Invalid("runner message", "log.chunk without the token of its log.read");
  }
  if (m.type == runner_msg::kHello && (m.slots == 0 || m.slots > 1024)) {
    return Invalid("runner message", "hello needs slots 1-1024");
  }
  return r;
}

Result<RunnerMessageHeader> PeekRunnerMessage(std::string_view bytes) {
  // Wide enough for what the strict decoder refuses, still bounded by the frame.
  static const msgpack::unpack_limit kPeekLimits(/*array=*/1'000'000, /*map=*/1'000'000,
                                                 /*str=*/kMaxFrameBytes, /*bin=*/kMaxFrameBytes,
                                                 /*ext=*/kMaxFrameBytes, /*depth=*/64);
  if (bytes.size() > kMaxFrameBytes) return Invalid("runner message", "frame exceeds the limit");
  RunnerMessageHeader header;
  try {
    std::size_t offset = 0;
    msgpack::object_handle handle =
        msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, kPeekLimits);
    const msgpack::object& map = handle.get();
    if (map.type != msgpack::type::MAP) return Invalid("runner message", "not a msgpack map");
    for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
      const msgpack::object& k = map.via.map.ptr[i].key;
      const msgpack::object& v = map.via.map.ptr[i].val;
      if (k.type != msgpack::type::STR) continue;
      const std::string_view key(k.via.str.ptr, k.via.str.size);
      if (v.type == msgpack::type::POSITIVE_INTEGER && key == "attempt" &&
          v.via.u64 <= std::numeric_limits<std::uint32_t>::max()) {
        header.attempt = static_cast<std::uint32_t>(v.via.u64);
      }
      if (v.type != msgpack::type::STR || v.via.str.size > 256) continue;
      const std::string value(v.via.str.ptr, v.via.str.size);
      if (!common::IsUtf8(value)) continue;
      if (key == "type") header.type = value;
      if (key == "runner_id") header.runner_id = value;
      if (key == "run_id") header.run_id = value;
      if (key == "token") header.token = value;
    }
  } catch (const std::exception& e) {
    return Invalid("runner message", e.what());
  }
  return header;
}

Result<BrokerMessage> DecodeBrokerMessage(std::string_view bytes) {
  auto r = DecodeAs<BrokerMessage>(bytes, "broker message", {"type"});
  if (!r.ok()) return r;
  if (!IsOneOf(r.value().type, broker_msg::kAll)) {
    return Invalid("broker message", "unknown type \"" + r.value().type + "\"");
  }
  return r;
}

Result<ControlRequest> DecodeControlRequest(std::string_view bytes) {
  auto r = DecodeAs<ControlRequest>(bytes, "control request", {"op"});
  if (!r.ok()) return r;
  if (Status s = CheckPdate("control request", r.value().pdate); !s.ok()) return s;
  return r;
}

Result<ControlReply> DecodeControlReply(std::string_view bytes) {
  return DecodeAs<ControlReply>(bytes, "control reply", {"ok"}, kReplyLimits,
                      Text::kKeep);
}

Result<RunRecord> DecodeRunRecord(std::string_view bytes) {
  return DecodeAs<RunRecord>(bytes, "run record", {"run_id"}, kReplyLimits,
                      Text::kKeep);
}

Result<TeamRecord> DecodeTeamRecord(std::string_view bytes) {
  return DecodeAs<TeamRecord>(bytes, "team record", {"id"}, kReplyLimits,
                      Text::kKeep);
}

Result<TeamStatus> DecodeTeamStatus(std::string_view bytes) {
  return DecodeAs<TeamStatus>(bytes, "team status", {}, kReplyLimits,
                      Text::kKeep);
}

Result<LoggedEvent> DecodeLoggedEvent(std::string_view bytes) {
  // Stored log entries have no `v`: they wrap a payload that has its own.
  try {
    std::size_t offset = 0;
    msgpack::object_handle handle = msgpack::unpack(
        bytes.data(), bytes.size(), offset, nullptr, nullptr, kReplyLimits);
    if (offset != bytes.size()) return Invalid("logged event", "trailing bytes");
    if (Status s = CheckText(handle.get(), "", Text::kKeep); !s.ok()) {
      return Invalid("logged event", s.message());
    }
    return handle.get().as<LoggedEvent>();
  } catch (const std::exception& e) {
    return Invalid("logged event", std::string("undecodable: ") + e.what());
  }
}

}  // namespace schemas
