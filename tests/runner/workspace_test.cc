// Workspace: an attempt's staging folder, promoted on success or discarded;
// and ReadResultFile.
#include "runner/workspace.h"

#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using common::Code;
using runner::Workspace;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Fixture {
  testing::TempDir dir;
  common::TeamDirs dirs = common::DirsFor(7, dir.Sub("in"), dir.Sub("out"));
  Workspace Make(const std::string& pdate = "2024-06-04", std::uint32_t attempt = 2) {
    auto w = Workspace::Prepare(dirs, "r1", attempt, pdate);
    REQUIRE_MESSAGE(w.ok(), w.status().message());
    return w.value();
  }
};

TEST_CASE("Prepare makes the team's folders and a fresh staging folder") {
  Fixture f;
  fs::create_directories(f.dirs.team_root + "/.staging/r1.2/output");
  std::ofstream(f.dirs.team_root + "/.staging/r1.2/output/crashed.csv") << "old";
  const Workspace w = f.Make();
  CHECK(w.staging() == f.dirs.team_root + "/.staging/r1.2");
  for (const std::string& d : {f.dirs.input, f.dirs.output, f.dirs.share, w.staging_output(),
                               w.staging_share()}) {
    CAPTURE(d);
    CHECK(fs::is_directory(d));
  }
  // What a crashed runner left under the same attempt is gone.
  CHECK_FALSE(fs::exists(w.staging_output() + "/crashed.csv"));
  CHECK(w.result_file() == w.staging_output() + "/result_20240604.json");
  CHECK(w.dirs().output == f.dirs.output);

  SUBCASE("a pdate without digits names the result file after the run") {
    CHECK(f.Make("", 3).result_file() == f.dirs.team_root + "/.staging/r1.3/output/result_r1.json");
  }
}

TEST_CASE("Prepare fails when a folder cannot be made") {
  Fixture f;
  fs::create_directories(f.dir.Sub("out"));
  std::ofstream(f.dirs.team_root) << "a file where the team's folder goes";
  auto w = Workspace::Prepare(f.dirs, "r1", 1, "2024-06-04");
  REQUIRE_FALSE(w.ok());
  CHECK(w.status().code() == Code::kIoError);
  CHECK(w.status().message().find("cannot create " + f.dirs.team_root) == 0);
}

TEST_CASE("Promote moves every staged file into place and removes the staging folder") {
  Fixture f;
  const Workspace w = f.Make();
  std::ofstream(f.dirs.output + "/purchase.csv") << "yesterday";
  std::ofstream(f.dirs.output + "/keep.csv") << "untouched";
  REQUIRE(Read(f.dirs.output + "/purchase.csv") == "yesterday");
  std::ofstream(w.staging_output() + "/purchase.csv") << "today";
  std::ofstream(w.result_file()) << "{}";
  std::ofstream(w.staging_share() + "/summary.csv") << "shared";
  REQUIRE(w.Promote().ok());
  CHECK(Read(f.dirs.output + "/purchase.csv") == "today");
  CHECK(Read(f.dirs.output + "/keep.csv") == "untouched");
  CHECK(fs::exists(f.dirs.output + "/result_20240604.json"));
  CHECK(Read(f.dirs.share + "/summary.csv") == "shared");
  CHECK_FALSE(fs::exists(w.staging()));
}

TEST_CASE("Promote fails when a file cannot be moved, and says which") {
  Fixture f;
  const Workspace w = f.Make();
  std::ofstream(w.staging_output() + "/purchase.csv") << "today";
  // A non-empty folder in the way: rename cannot replace it.
  fs::create_directories(f.dirs.output + "/purchase.csv/inside");
  const common::Status s = w.Promote();
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == Code::kIoError);
  CHECK(s.message().find("cannot move " + w.staging_output() + "/purchase.csv") == 0);
  CHECK(fs::exists(w.staging_output() + "/purchase.csv"));  // nothing lost
}

TEST_CASE("Promote fails when the staging folder is gone") {
  Fixture f;
  const Workspace w = f.Make();
  fs::remove_all(w.staging());
  const common::Status s = w.Promote();
  CHECK(s.code() == Code::kIoError);
  CHECK(s.message().find("cannot list") == 0);
}

TEST_CASE("Discard removes the staging folder and only that") {
  Fixture f;
  const Workspace w = f.Make();
  std::ofstream(w.staging_output() + "/half.csv") << "partial";
  std::ofstream(f.dirs.output + "/old.csv") << "old";
  w.Discard();
  CHECK_FALSE(fs::exists(w.staging()));
  CHECK(Read(f.dirs.output + "/old.csv") == "old");
  w.Discard();  // again: nothing to do, no error
}

TEST_CASE("ReadResultFile reads the numeric fields of a JSON object") {
  testing::TempDir dir;
  SUBCASE("metrics") {
    const auto m = runner::ReadResultFile(dir.WriteFile(
        "r.json", R"({"total_loans": 120, "exceptions_count": 4, "ratio": 0.5, "note": "x"})"));
    REQUIRE(m.ok());
    CHECK(m.value().total_loans == 120);
    CHECK(m.value().exceptions_count == 4);
    CHECK(m.value().metrics.size() == 3);
    CHECK(m.value().metrics.at("ratio") == doctest::Approx(0.5));
  }
  SUBCASE("an object without the counts") {
    const auto m = runner::ReadResultFile(dir.WriteFile("r.json", "{}"));
    REQUIRE(m.ok());
    CHECK(m.value().total_loans == -1);
    CHECK(m.value().exceptions_count == -1);
  }
  SUBCASE("missing") {
    CHECK(runner::ReadResultFile(dir.Sub("none.json")).status().code() == Code::kNotFound);
  }
  SUBCASE("not JSON") {
    CHECK(runner::ReadResultFile(dir.WriteFile("r.json", "{oops")).status().code() ==
          Code::kCorrupt);
  }
  SUBCASE("JSON but not an object") {
    CHECK(runner::ReadResultFile(dir.WriteFile("r.json", "[1, 2]")).status().code() ==
          Code::kCorrupt);
  }
}

}  // namespace
