#include "schemas/notifier_progress.h"

#include "common/text.h"

namespace schemas {

common::Result<NotifierProgress> DecodeNotifierProgress(std::string_view bytes) {
  auto bad = [](const std::string& why) {
    return common::Status::Error(common::Code::kRejected, "notifier.progress: " + why);
  };
  if (bytes.size() > 64 * 1024) return bad("larger than 64 KiB");
  NotifierProgress progress;
  try {
    std::size_t offset = 0;
    msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size(), offset);
    if (offset != bytes.size()) return bad("bytes after the message");
    if (handle.get().type != msgpack::type::MAP) return bad("not a map");
    handle.get().convert(progress);
  } catch (const std::exception& e) {
    return bad(std::string("not a valid message: ") + e.what());
  }
  if (progress.sinks.size() > 256) return bad("more than 256 sinks");
  if (!common::IsUtf8(progress.incarnation)) return bad("incarnation is not UTF-8");
  for (const auto& [name, sink] : progress.sinks) {
    if (name.empty() || name.size() > 200 || !common::IsUtf8(name)) return bad("a sink name is not 1-200 bytes of UTF-8");
  }
  return progress;
}

}  // namespace schemas
