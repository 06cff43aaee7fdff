// Workspace never follows a link in the team's tree: a symlinked output/,
// output_share/, .staging or team folder is refused, and a staged symlink is
// never promoted, so a pipeline cannot move files outside its team's folders
// or publish a link to a file it should not expose.
#include <filesystem>
#include <fstream>
#include <string>

#include <doctest/doctest.h>

#include "runner/workspace.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using common::Code;
using runner::Workspace;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool IsEmptyDir(const std::string& path) {
  return fs::is_directory(path) && fs::is_empty(path);
}

struct Fixture {
  testing::TempDir dir;
  common::TeamDirs dirs = common::DirsFor(7, dir.Sub("in"), dir.Sub("out"));
  std::string outside = dir.Sub("outside");
  Fixture() { fs::create_directories(outside); }
  Workspace Make(std::uint32_t attempt = 2) {
    auto w = Workspace::Prepare(dirs, "r1", attempt, "2024-06-04");
    REQUIRE_MESSAGE(w.ok(), w.status().message());
    return w.value();
  }
  // Replaces `folder` by a symlink to the outside folder.
  void LinkOutside(const std::string& folder) {
    fs::remove_all(folder);
    fs::create_symlink(outside, folder);
  }
};

void CheckRefusedForLink(const common::Status& s, const std::string& folder) {
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == Code::kInvalid);
  CAPTURE(s.message());
  CHECK(s.message().find(folder) != std::string::npos);
  CHECK(s.message().find("symlink") != std::string::npos);
}

TEST_CASE("output/ symlinked to an outside folder: Promote refuses, the outside folder untouched") {
  Fixture f;
  const Workspace w = f.Make();
  std::ofstream(w.staging_output() + "/purchase.csv") << "today";
  std::ofstream(w.staging_share() + "/summary.csv") << "shared";
  f.LinkOutside(f.dirs.output);
  CheckRefusedForLink(w.Promote(), f.dirs.output);
  CHECK(IsEmptyDir(f.outside));
  // Nothing was promoted anywhere, not even the share, and nothing was lost.
  CHECK_FALSE(fs::exists(f.dirs.share + "/summary.csv"));
  CHECK(Read(w.staging_output() + "/purchase.csv") == "today");
}

TEST_CASE("output_share/ symlinked: Promote refuses and the outside folder is untouched") {
  Fixture f;
  const Workspace w = f.Make();
  std::ofstream(w.staging_output() + "/purchase.csv") << "today";
  std::ofstream(w.staging_share() + "/summary.csv") << "shared";
  f.LinkOutside(f.dirs.share);
  CheckRefusedForLink(w.Promote(), f.dirs.share);
  CHECK(IsEmptyDir(f.outside));
  CHECK_FALSE(fs::exists(f.dirs.output + "/purchase.csv"));
}

TEST_CASE(".staging symlinked: Prepare refuses and stages nothing outside") {
  Fixture f;
  fs::create_directories(f.dirs.team_root);
  fs::create_directories(f.outside + "/r1.2/output");
  std::ofstream(f.outside + "/r1.2/output/theirs.csv") << "not ours";
  fs::create_symlink(f.outside, f.dirs.team_root + "/.staging");
  const auto w = Workspace::Prepare(f.dirs, "r1", 2, "2024-06-04");
  REQUIRE_FALSE(w.ok());
  CheckRefusedForLink(w.status(), f.dirs.team_root + "/.staging");
  // Prepare's sweep of a leftover staging folder did not reach through it.
  CHECK(Read(f.outside + "/r1.2/output/theirs.csv") == "not ours");
  CHECK_FALSE(fs::exists(f.outside + "/r1.2/output_share"));
}

TEST_CASE(".staging symlinked after Prepare: Promote refuses and Discard removes nothing outside") {
  Fixture f;
  const Workspace w = f.Make();
  // The pipeline moves the staging tree out and links it back in.
  fs::rename(f.dirs.team_root + "/.staging", f.outside + "/moved");
  fs::create_symlink(f.outside + "/moved", f.dirs.team_root + "/.staging");
  std::ofstream(f.outside + "/moved/r1.2/output/purchase.csv") << "today";
  CheckRefusedForLink(w.Promote(), f.dirs.team_root + "/.staging");
  CHECK_FALSE(fs::exists(f.dirs.output + "/purchase.csv"));
  w.Discard();
  CHECK(Read(f.outside + "/moved/r1.2/output/purchase.csv") == "today");
}

TEST_CASE("the attempt's own staging folder symlinked: Promote refuses") {
  Fixture f;
  const Workspace w = f.Make();
  fs::create_directories(f.outside + "/output");
  std::ofstream(f.outside + "/output/purchase.csv") << "planted";
  f.LinkOutside(w.staging());
  CheckRefusedForLink(w.Promote(), w.staging());
  CHECK_FALSE(fs::exists(f.dirs.output + "/purchase.csv"));
  CHECK(Read(f.outside + "/output/purchase.csv") == "planted");
}

TEST_CASE("the team's folder symlinked to another team's: Prepare and Promote refuse") {
  Fixture f;
  const auto other = common::DirsFor(8, f.dir.Sub("in"), f.dir.Sub("out"));
  SUBCASE("before Prepare") {
    fs::create_directories(other.output);
    fs::create_symlink(other.team_root, f.dirs.team_root);
    const auto w = Workspace::Prepare(f.dirs, "r1", 2, "2024-06-04");
    REQUIRE_FALSE(w.ok());
    CheckRefusedForLink(w.status(), f.dirs.team_root);
    CHECK_FALSE(fs::exists(other.team_root + "/.staging"));
  }
  SUBCASE("after Prepare") {
    const Workspace w = f.Make();
    std::ofstream(w.staging_output() + "/purchase.csv") << "team 7's";
    fs::rename(f.dirs.team_root, other.team_root);
    fs::create_symlink(other.team_root, f.dirs.team_root);
    CheckRefusedForLink(w.Promote(), f.dirs.team_root);
    CHECK_FALSE(fs::exists(other.output + "/purchase.csv"));
  }
}

TEST_CASE("a staged symlink to a file outside is not promoted") {
  Fixture f;
  const Workspace w = f.Make();
  const std::string secret = f.outside + "/shadow";
  std::ofstream(secret) << "secret";
  std::ofstream(w.staging_output() + "/purchase.csv") << "today";
  fs::create_symlink(secret, w.staging_share() + "/shadow");
  const common::Status s = w.Promote();
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == Code::kInvalid);
  CHECK(s.message().find(w.staging_share() + "/shadow") != std::string::npos);
  CHECK(s.message().find("symlink") != std::string::npos);
  // Refused before anything moved: no link, and no partial promotion either.
  CHECK_FALSE(fs::exists(fs::symlink_status(f.dirs.share + "/shadow")));
  CHECK_FALSE(fs::exists(f.dirs.output + "/purchase.csv"));
  CHECK(Read(secret) == "secret");
  w.Discard();
  CHECK_FALSE(fs::exists(w.staging()));
  CHECK(Read(secret) == "secret");  // Discard removed the link, not its target
}

TEST_CASE("a staged folder, FIFO or other non-file is not promoted") {
  Fixture f;
  const Workspace w = f.Make();
  fs::create_directories(w.staging_output() + "/sub");
  const common::Status s = w.Promote();
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == Code::kInvalid);
  CHECK(s.message().find(w.staging_output() + "/sub") != std::string::npos);
  CHECK_FALSE(fs::exists(f.dirs.output + "/sub"));
}

TEST_CASE("Promote interrupted and repeated ends with the same outputs") {
  Fixture f;
  const Workspace w = f.Make();
  std::ofstream(f.dirs.output + "/purchase.csv") << "yesterday";
  std::ofstream(w.staging_output() + "/purchase.csv") << "today";
  std::ofstream(w.staging_output() + "/exceptions.csv") << "exceptions";
  std::ofstream(w.result_file()) << "{}";
  std::ofstream(w.staging_share() + "/summary.csv") << "shared";
  // As if a first Promote moved one file and the runner died.
  fs::rename(w.staging_output() + "/exceptions.csv", f.dirs.output + "/exceptions.csv");
  REQUIRE(w.Promote().ok());
  CHECK(Read(f.dirs.output + "/purchase.csv") == "today");
  CHECK(Read(f.dirs.output + "/exceptions.csv") == "exceptions");
  CHECK(Read(f.dirs.output + "/result_20240604.json") == "{}");
  CHECK(Read(f.dirs.share + "/summary.csv") == "shared");
  CHECK_FALSE(fs::exists(w.staging()));
}

}  // namespace
