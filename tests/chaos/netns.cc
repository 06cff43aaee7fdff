#include "tests/chaos/netns.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace chaos {

namespace {

namespace fs = std::filesystem;

// Our names: "dbc<pid>b" (bridge), "dbc<pid>h<i>" (host end),
// "dbc<pid>n<i>" (namespace end and namespace). Interface names must stay
// within 15 characters: pids are at most 7 digits here.
constexpr const char* kPrefix = "dbc";

bool Run(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string Output(const std::string& command) {
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
  }
  return out;
}

// The pid in one of our names, or 0 if the name is not ours.
pid_t OwnerOf(const std::string& name) {
  if (!name.starts_with(kPrefix)) return 0;
  std::size_t i = 3;
  pid_t pid = 0;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) {
    pid = pid * 10 + (name[i++] - '0');
  }
  return i > 3 && i < name.size() ? pid : 0;
}

bool Alive(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

// Removes namespaces, bridges and host veth ends of chaos processes that died without
// cleaning up (kill -9): deleting a namespace deletes its veth pair.
void SweepLeftovers() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/run/netns", ec)) {
    const std::string name = e.path().filename().string();
    if (pid_t pid = OwnerOf(name); pid > 0 && !Alive(pid)) Run("ip netns delete " + name);
  }
  std::istringstream links(Output("ip -o link show"));
  std::string line;
  while (std::getline(links, line)) {
    std::istringstream f(line);
    std::string index, name;
    f >> index >> name;
    if (!name.empty() && name.back() == ':') name.pop_back();
    name = name.substr(0, name.find('@'));  // a veth end: "dbc123h0@if82"
    if (pid_t pid = OwnerOf(name); pid > 0 && !Alive(pid)) Run("ip link delete " + name);
  }
}

// A /24 under 10.213.0.0/16 that no interface of this host uses yet.
int FreeSubnet() {
  const std::string addresses = Output("ip -o -4 addr show");
  for (int k = 0; k < 256; ++k) {
    const int candidate = (getpid() + k) % 256;
    if (addresses.find(fmt::format(" 10.213.{}.", candidate)) == std::string::npos) return candidate;
  }
  return -1;
}

}  // namespace

std::unique_ptr<NetnsLab> NetnsLab::Create(int slots, std::string* why_not) {
  if (geteuid() != 0) {
    *why_not = "not running as root (network namespaces need CAP_NET_ADMIN)";
    return nullptr;
  }
  if (!Run("command -v ip") || !Run("command -v nsenter")) {
    *why_not = "`ip` (iproute2) or `nsenter` (util-linux) is not installed";
    return nullptr;
  }
  SweepLeftovers();
  const int subnet = FreeSubnet();
  if (subnet < 0) {
    *why_not = "no free /24 under 10.213.0.0/16";
    return nullptr;
  }
  std::unique_ptr<NetnsLab> lab(new NetnsLab());
  const pid_t pid = getpid();
  lab->bridge_ = fmt::format("{}{}b", kPrefix, pid);
  lab->host_address_ = fmt::format("10.213.{}.1", subnet);
  auto fail = [&](const std::string& step) {
    *why_not = "network namespace set-up failed at `" + step + "`";
    return nullptr;
  };
  for (const std::string& step :
       {fmt::format("ip link add {} type bridge", lab->bridge_),
        fmt::format("ip addr add {}/24 dev {}", lab->host_address_, lab->bridge_),
        fmt::format("ip link set {} up", lab->bridge_)}) {
    if (!Run(step)) return fail(step);
  }
  for (int i = 0; i < slots; ++i) {
    const std::string ns = fmt::format("{}{}n{}", kPrefix, pid, i);
    const std::string host_end = fmt::format("{}{}h{}", kPrefix, pid, i);
    lab->namespaces_.push_back(ns);
    lab->host_ends_.push_back(host_end);
    for (const std::string& step : {
             fmt::format("ip netns add {}", ns),
             fmt::format("ip link add {} type veth peer name {}", host_end, ns),
             fmt::format("ip link set {} netns {}", ns, ns),
             fmt::format("ip link set {} master {}", host_end, lab->bridge_),
             fmt::format("ip link set {} up", host_end),
             fmt::format("ip -n {} addr add 10.213.{}.{}/24 dev {}", ns, subnet, 10 + i, ns),
             fmt::format("ip -n {} link set {} up", ns, ns),
             fmt::format("ip -n {} link set lo up", ns),
         }) {
      if (!Run(step)) return fail(step);
    }
  }
  return lab;
}

NetnsLab::~NetnsLab() {
  for (const std::string& ns : namespaces_) Run("ip netns delete " + ns);
  for (const std::string& end : host_ends_) Run("ip link delete " + end);  // if still there
  if (!bridge_.empty()) Run("ip link delete " + bridge_);
}

std::vector<std::string> NetnsLab::Prefix(int slot) const {
  return {"/usr/bin/env", "nsenter", "--net=/run/netns/" + namespaces_.at(slot), "--"};
}

bool NetnsLab::SetLink(int slot, bool up) {
  return Run(fmt::format("ip link set {} {}", host_ends_.at(slot), up ? "up" : "down"));
}

}  // namespace chaos
