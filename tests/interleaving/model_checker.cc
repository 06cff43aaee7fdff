#include "tests/interleaving/model_checker.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <unordered_map>

namespace interleaving {

namespace {

// tmpfs when there is one: every replay makes the runners' folders again.
std::filesystem::path BaseDir() {
  const std::filesystem::path shm("/dev/shm");
  const std::filesystem::path base = std::filesystem::exists(shm)
                                         ? shm
                                         : std::filesystem::temp_directory_path();
  return base / ("daybreak-interleaving-" + std::to_string(getpid()));
}

class Search {
 public:
  Search(const CheckOptions& options, int max_depth)
      : options_(options), max_depth_(max_depth), dir_(BaseDir()) {}
  ~Search() {
    world_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void Run(CheckReport& report) {
    report_ = &report;
    Rebuild();
    visited_[world_->Hash()] = 0;
    ++report.states;
    Explore(0);
  }

 private:
  void Rebuild() {
    world_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    std::filesystem::create_directories(dir_);
    world_ = std::make_unique<World>(dir_.string(), options_.budget);
    for (const Action& a : path_) world_->Apply(a);
    report_->steps += path_.size();
  }

  void Found(const std::string& violation) {
    if (!report_->violation.empty() && report_->trace.size() <= path_.size()) return;
    report_->violation = violation;
    report_->depth = max_depth_;
    // Replay to describe each step in the world it was taken in.
    const std::vector<Action> path = path_;
    path_.clear();
    Rebuild();
    report_->trace.clear();
    for (const Action& a : path) {
      report_->trace.push_back(world_->Describe(a));
      world_->Apply(a);
    }
    path_ = path;
    if (options_.stop_at_violation) stopped_ = true;
  }

  void Explore(int depth) {
    const std::vector<Action> actions = world_->Enabled();
    bool current = true;  // world_ is at path_ only until the first child moves it
    for (const Action& a : actions) {
      if (stopped_) return;
      if (!current) Rebuild();
      current = false;
      world_->Apply(a);
      ++report_->steps;
      path_.push_back(a);
      if (std::optional<std::string> v = world_->Violation()) {
        Found(*v);
      } else {
        auto [it, fresh] = visited_.try_emplace(world_->Hash(), depth + 1);
        if (fresh || it->second > depth + 1) {
          it->second = depth + 1;
          ++report_->states;
          if (depth + 1 >= max_depth_ || world_->Quiescent()) {
            ++report_->orderings;
            if (std::optional<std::string> end = world_->CompleteAndCheck()) Found(*end);
          } else {
            Explore(depth + 1);
          }
        }
      }
      path_.pop_back();
    }
  }

  const CheckOptions& options_;
  const int max_depth_;
  const std::filesystem::path dir_;
  CheckReport* report_ = nullptr;
  std::unique_ptr<World> world_;
  std::vector<Action> path_;
  std::unordered_map<std::uint64_t, int> visited_;  // hash -> smallest depth seen
  bool stopped_ = false;
};

}  // namespace

CheckReport Check(const CheckOptions& options) {
  CheckReport report;
  const int from = options.shortest ? 1 : options.max_depth;
  for (int depth = from; depth <= options.max_depth; ++depth) {
    Search search(options, depth);
    search.Run(report);
    report.depth = depth;
    if (!report.violation.empty()) break;
  }
  return report;
}

std::string FormatTrace(const CheckReport& report) {
  std::string out;
  for (std::size_t i = 0; i < report.trace.size(); ++i) {
    out += "  " + std::to_string(i + 1) + ". " + report.trace[i] + "\n";
  }
  out += "  => " + report.violation + "\n";
  return out;
}

}  // namespace interleaving
