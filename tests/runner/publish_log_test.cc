// Attempts of one run never publish side by side: a retry takes back what
// an earlier attempt published, and an earlier attempt's late promotion is
// refused (runner/publish_log.h). The chaos test found the fault: a runner
// promoted, its `promoted` was lost in a cut link, and the broker's retry
// published a second attempt's files beside the first's.
#include "runner/publish_log.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include "runner/workspace.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using common::Code;
using runner::Workspace;

struct Fixture {
  testing::TempDir dir;
  common::TeamDirs dirs = common::DirsFor(7, dir.Sub("in"), dir.Sub("out"));

  Workspace Prepare(std::uint32_t attempt, const std::string& run_id = "r1") {
    auto w = Workspace::Prepare(dirs, run_id, attempt, "2024-06-04");
    REQUIRE_MESSAGE(w.ok(), w.status().message());
    return w.value();
  }
  // An attempt that writes `<tag>.csv` to output/ and output_share/.
  Workspace Staged(std::uint32_t attempt, const std::string& tag, const std::string& run_id = "r1") {
    Workspace w = Prepare(attempt, run_id);
    std::ofstream(w.staging_output() + "/" + tag + ".csv") << tag;
    std::ofstream(w.staging_share() + "/" + tag + ".csv") << tag;
    std::ofstream(w.result_file()) << "{}";
    return w;
  }
  std::vector<std::string> Outputs() const {
    std::vector<std::string> names;
    for (const std::string& folder : {dirs.output, dirs.share}) {
      for (const auto& entry : fs::directory_iterator(folder)) {
        names.push_back(fs::path(folder).filename().string() + "/" +
                        entry.path().filename().string());
      }
    }
    std::sort(names.begin(), names.end());
    return names;
  }
};

TEST_CASE("a retry takes back what an earlier attempt of its run published") {
  Fixture f;
  fs::create_directories(f.dir.Sub("out"));
  std::ofstream(f.dir.Sub("out") + "/keep-me") << "not the team's";
  REQUIRE(f.Staged(1, "a1").Promote().ok());
  REQUIRE(f.Outputs() == std::vector<std::string>{"output/a1.csv", "output/result_20240604.json",
                                                  "output_share/a1.csv"});
  const Workspace second = f.Staged(2, "a2");
  // Prepared, not yet promoted: the run's outputs are nobody's for now.
  CHECK(f.Outputs().empty());
  REQUIRE(second.Promote().ok());
  CHECK(f.Outputs() == std::vector<std::string>{"output/a2.csv", "output/result_20240604.json",
                                                "output_share/a2.csv"});
  CHECK(fs::exists(f.dir.Sub("out") + "/keep-me"));

  SUBCASE("and a third takes back the second's") {
    REQUIRE(f.Staged(3, "a3").Promote().ok());
    CHECK(f.Outputs() == std::vector<std::string>{"output/a3.csv", "output/result_20240604.json",
                                                  "output_share/a3.csv"});
  }
}

TEST_CASE("an earlier attempt that promotes after a retry was prepared publishes nothing") {
  Fixture f;
  const Workspace first = f.Staged(1, "a1");
  const Workspace second = f.Staged(2, "a2");
  const common::Status late = first.Promote();
  REQUIRE_FALSE(late.ok());
  CHECK(late.code() == Code::kRejected);
  CHECK(late.message() == "attempt 2 of run r1 has started since, so attempt 1 publishes nothing");
  CHECK(f.Outputs().empty());
  REQUIRE(second.Promote().ok());
  CHECK(f.Outputs() == std::vector<std::string>{"output/a2.csv", "output/result_20240604.json",
                                                "output_share/a2.csv"});
  // Refused after the retry published, too.
  CHECK(first.Promote().code() == Code::kRejected);
  CHECK(fs::exists(f.dirs.output + "/a2.csv"));
}

TEST_CASE("taking back leaves a file that has since been replaced, and other runs' files") {
  Fixture f;
  REQUIRE(f.Staged(1, "daily").Promote().ok());
  // Another run of the team publishes the same names afterwards.
  REQUIRE(f.Staged(1, "daily", "r2").Promote().ok());
  REQUIRE(f.Staged(1, "other", "r3").Promote().ok());
  f.Prepare(2);  // r1's retry
  CHECK(f.Outputs() == std::vector<std::string>{"output/daily.csv", "output/other.csv",
                                                "output/result_20240604.json",
                                                "output_share/daily.csv", "output_share/other.csv"});
}

TEST_CASE("a promotion resumed after an interruption still owns what it moved first") {
  Fixture f;
  REQUIRE(f.Staged(1, "first").Promote().ok());
  // The same attempt's staging folder again, with what was left to move.
  const Workspace rest = f.Prepare(1);
  std::ofstream(rest.staging_output() + "/second.csv") << "second";
  REQUIRE(rest.Promote().ok());
  f.Prepare(2);
  CHECK(f.Outputs().empty());
}

TEST_CASE("a damaged publish record stops the retry with an error naming it") {
  Fixture f;
  REQUIRE(f.Staged(1, "a1").Promote().ok());
  const std::string record = f.dirs.team_root + "/.published/r1";
  REQUIRE(fs::exists(record));
  for (const std::string& damage :
       {std::string("garbage"), std::string("daybreak-published-1\0" "0\0", 23),
        std::string("daybreak-published-1\0" "1\0o\0../../etc\0" "5\0" "6\0", 39),
        std::string("daybreak-published-1\0" "1\0o\0a1.csv\0", 32)}) {
    CAPTURE(damage);
    std::ofstream(record, std::ios::binary | std::ios::trunc) << damage;
    auto w = Workspace::Prepare(f.dirs, "r1", 2, "2024-06-04");
    REQUIRE_FALSE(w.ok());
    CHECK(w.status().code() == Code::kCorrupt);
    CHECK(w.status().message() == record + " is not a publish record");
  }
  CHECK(fs::exists(f.dirs.output + "/a1.csv"));  // nothing taken back on a guess
}

}  // namespace
