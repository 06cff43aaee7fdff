// The runner's side of log.read: a piece of the attempt's own log file,
// found from the run id alone, and nothing else on the host.
#include "runner/log_reader.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "tests/support/temp_dir.h"

namespace runner {
namespace {

schemas::BrokerMessage Read(const std::string& run_id, std::uint32_t attempt, std::uint64_t offset,
                            std::uint32_t limit = 0) {
  schemas::BrokerMessage m;
  m.type = "log.read";
  m.run_id = run_id;
  m.attempt = attempt;
  m.token = "t0k3n";
  m.log_offset = offset;
  m.log_limit = limit;
  return m;
}

std::string Bytes(const schemas::RunnerMessage& m) { return std::string(m.payload.begin(), m.payload.end()); }

TEST_CASE("a log.read gets the bytes from its offset, and the log's size") {
  testing::TempDir dir;
  const std::string body = "first line\nsecond line\n";
  dir.WriteFile("r0000000042.2.log", body);
  CHECK(LogPathFor(dir.path().string(), "r0000000042", 2) == dir.Sub("r0000000042.2.log"));

  const schemas::RunnerMessage whole = ReadLogChunk(dir.path().string(), Read("r0000000042", 2, 0));
  CHECK(whole.type == "log.chunk");
  CHECK(whole.token == "t0k3n");
  CHECK(whole.run_id == "r0000000042");
  CHECK(whole.attempt == 2);
  CHECK(whole.error.empty());
  CHECK(Bytes(whole) == body);
  CHECK(whole.log_size == body.size());
  CHECK(whole.log_path == dir.Sub("r0000000042.2.log"));

  const schemas::RunnerMessage part = ReadLogChunk(dir.path().string(), Read("r0000000042", 2, 11, 6));
  CHECK(Bytes(part) == "second");
  CHECK(part.log_offset == 11);

  const schemas::RunnerMessage end = ReadLogChunk(dir.path().string(), Read("r0000000042", 2, body.size()));
  CHECK(end.error.empty());
  CHECK(end.payload.empty());
  CHECK(end.log_size == body.size());
  const schemas::RunnerMessage past = ReadLogChunk(dir.path().string(), Read("r0000000042", 2, 1 << 20));
  CHECK(past.error.empty());
  CHECK(past.payload.empty());
}

TEST_CASE("a log.read never gets more than a chunk, however much it asks for") {
  testing::TempDir dir;
  const std::string body(3 * kMaxLogChunkBytes + 5, 'x');
  dir.WriteFile("r1.1.log", body);
  for (std::uint32_t limit : {0u, kMaxLogChunkBytes + 1, 1u << 30}) {
    CAPTURE(limit);
    CHECK(ReadLogChunk(dir.path().string(), Read("r1", 1, 0, limit)).payload.size() == kMaxLogChunkBytes);
  }
  CHECK(ReadLogChunk(dir.path().string(), Read("r1", 1, 3 * kMaxLogChunkBytes)).payload.size() == 5);
}

TEST_CASE("a log.read names only an attempt's log: no other file on the host") {
  testing::TempDir dir;
  std::filesystem::create_directory(dir.Sub("logs"));
  dir.WriteFile("secret", "not a log\n");
  const std::string logs = dir.Sub("logs");
  SUBCASE("a run id with a path in it") {
    for (const char* id : {"../secret", "..", "r1/../../secret", "", "r1.1.log\n"}) {
      CAPTURE(id);
      const auto m = ReadLogChunk(logs, Read(id, 1, 0));
      CHECK(m.error.find("not a run id") == 0);
      CHECK(m.payload.empty());
    }
  }
  SUBCASE("attempt 0") { CHECK(ReadLogChunk(logs, Read("r1", 0, 0)).error.find("not a run id") == 0); }
  SUBCASE("a log that is a symlink to elsewhere") {
    REQUIRE(symlink(dir.Sub("secret").c_str(), (logs + "/r1.1.log").c_str()) == 0);
    const auto m = ReadLogChunk(logs, Read("r1", 1, 0));
    CHECK_FALSE(m.error.empty());
    CHECK(m.payload.empty());
  }
  SUBCASE("no log of that attempt here") {
    const auto m = ReadLogChunk(logs, Read("r1", 3, 0));
    CHECK(m.error == "this runner has no log of r1 attempt 3");
  }
}

}  // namespace
}  // namespace runner
