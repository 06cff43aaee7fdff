// NetnsLab: runners in network namespaces of their own, so a link can be
// cut under them. One namespace per runner slot, each joined to the host
// by a veth pair whose host end sits on a bridge that holds the broker's
// address; a link-down sets one slot's host end down, which leaves the
// runner and its pipelines alive but unable to reach the broker.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace chaos {

class NetnsLab {
 public:
  // Builds `slots` namespaces, or returns null with `why_not` saying why
  // it cannot (not root, no `ip`/`nsenter`, a command failed). Removes
  // what dead chaos processes left behind first.
  static std::unique_ptr<NetnsLab> Create(int slots, std::string* why_not);
  ~NetnsLab();  // deletes the namespaces, veth pairs and bridge
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;

  // The broker's address, on the bridge: reachable from the host and
  // from every namespace whose link is up.
  const std::string& host_address() const { return host_address_; }
  int slots() const { return static_cast<int>(namespaces_.size()); }
  // The argv prefix that execs a program inside slot `slot`'s namespace.
  std::vector<std::string> Prefix(int slot) const;
  // Takes a slot's link down or up again; returns false if `ip` failed.
  bool SetLink(int slot, bool up);

 private:
  NetnsLab() = default;
  std::string bridge_;
  std::string host_address_;
  std::vector<std::string> namespaces_;
  std::vector<std::string> host_ends_;
};

}  // namespace chaos
