// daybreak-shim: runs one pipeline for the runner and kills it when the
// runner stops renewing its lease (runner/lease_shim.h). Started by the
// runner only: daybreak-shim --lease-ms N --grace-ms N [--cgroup DIR] -- CMD...
#include <cstdio>
#include <string>
#include <vector>

#include "runner/lease_shim.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  auto options = runner::ParseShimArgs(args);
  if (!options.ok()) {
    std::fprintf(stderr, "daybreak-shim: %s\n", options.status().message().c_str());
    return 127;
  }
  runner::LeaseShim shim(std::move(options).value());
  runner::ExitAs(shim.Run());
}
