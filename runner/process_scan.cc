#include "runner/process_scan.h"

#include <dirent.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace runner {

void ForEachProcess(const std::function<void(const ProcessInfo&)>& visit) {
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return;
  while (dirent* entry = readdir(proc)) {
    ProcessInfo info;
    info.pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (info.pid <= 0) continue;
    const std::string dir = std::string("/proc/") + entry->d_name;
    std::ifstream stat(dir + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto open = line.find('(');
    const auto close = line.rfind(')');  // the name may contain spaces
    if (open == std::string::npos || close == std::string::npos || close < open ||
        close + 2 >= line.size()) {
      continue;
    }
    info.name = line.substr(open + 1, close - open - 1);
    std::istringstream rest(line.substr(close + 2));
    rest >> info.state >> info.ppid;
    std::ifstream environ_file(dir + "/environ");
    for (std::string var; std::getline(environ_file, var, '\0');) {
      if (var.starts_with("DAYBREAK_RUN_ID=")) info.run_id = var.substr(16);
      if (var.starts_with("DAYBREAK_DEPLOYMENT=")) info.deployment = var.substr(20);
      if (var.starts_with("DAYBREAK_RUNNER_ID=")) info.runner_id = var.substr(19);
    }
    visit(info);
  }
  closedir(proc);
}

}  // namespace runner
