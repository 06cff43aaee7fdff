#include "schemas/dead_letter.h"

#include "common/text.h"

namespace schemas {

using common::Code;
using common::Status;

Status ValidateSinkName(std::string_view sink) {
  if (sink.empty() || sink.size() > kMaxSinkNameBytes) {
    return Status::Error(Code::kInvalid, "a sink name must be 1-64 characters");
  }
  for (char c : sink) {
    if (c < 0x21 || c > 0x7e || c == '/') {
      return Status::Error(Code::kInvalid, "sink \"" + common::Printable(sink) +
                                               "\": a sink name is printable ASCII without '/' or spaces");
    }
  }
  return Status();
}

Status ValidateDeadLetter(const DeadLetter& letter) {
  if (Status s = ValidateSinkName(letter.sink); !s.ok()) return s;
  if (letter.seq == 0) return Status::Error(Code::kInvalid, "a dead letter needs the event's seq (> 0)");
  // The codec has checked UTF-8; these keep a stored letter small.
  if (letter.topic.size() > 200 || letter.run_id.size() > 200) {
    return Status::Error(Code::kInvalid, "a dead letter's topic and run_id are at most 200 bytes");
  }
  if (letter.reason.size() > 4 * kMaxDeadLetterReasonBytes) {
    return Status::Error(Code::kInvalid, "a dead letter's reason is at most 4000 bytes");
  }
  return Status();
}

common::Result<DeadLetter> DecodeDeadLetter(std::string_view bytes) {
  auto bad = [](const std::string& why) { return Status::Error(Code::kCorrupt, "dead letter: " + why); };
  if (bytes.size() > 64 * 1024) return bad("larger than 64 KiB");
  DeadLetter letter;
  try {
    std::size_t offset = 0;
    msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size(), offset);
    if (offset != bytes.size()) return bad("bytes after the record");
    if (handle.get().type != msgpack::type::MAP) return bad("not a map");
    handle.get().convert(letter);
  } catch (const std::exception& e) {  // msgpack throws on bad input
    return bad(std::string("undecodable: ") + e.what());
  }
  return letter;
}

}  // namespace schemas
