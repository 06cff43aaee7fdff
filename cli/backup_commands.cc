// daybreak backup create|list|verify|restore
//
// create, list and verify ask the running broker (its store is open there);
// restore replaces the broker's state folder, so the broker must be stopped,
// and it runs `daybreak-broker --backup-restore` on this host (the CLI holds
// no RocksDB of its own).
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "cli/cli_context.h"
#include "schemas/vocabulary.h"

namespace cli {
namespace {

nlohmann::json ToJson(const schemas::BackupInfo& b) {
  return {{"id", b.id},
          {"created_unix_ms", b.created_unix_ms},
          {"size_bytes", b.size_bytes},
          {"files", b.files},
          {"last_seq", b.last_seq},
          {"incarnation", b.incarnation}};
}

std::string Line(const schemas::BackupInfo& b) {
  return fmt::format("backup {:<4} {}  {:>8.1f} MiB  {:>4} files  through {}:{}", b.id,
                     FormatTime(b.created_unix_ms), static_cast<double>(b.size_bytes) / (1 << 20),
                     b.files, b.incarnation.empty() ? "?" : b.incarnation, b.last_seq);
}

int Ask(Context& ctx, std::string_view op, std::uint32_t id, const char* done) {
  schemas::ControlRequest request;
  request.op = std::string(op);
  request.backup_id = id;
  int result = kExitOk;
  auto reply = ctx.Call(request, &result);
  if (!reply) return result;
  if (ctx.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& b : reply->backups) list.push_back(ToJson(b));
    PrintJson(list);
    return kExitOk;
  }
  if (reply->backups.empty()) fmt::print("no backups yet\n");
  for (const auto& b : reply->backups) fmt::print("{}{}\n", Line(b), done);
  return kExitOk;
}

// daybreak-broker beside this program (as installed and as built).
std::string BrokerProgram() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto beside = self.parent_path() / "daybreak-broker";
    if (std::filesystem::exists(beside, ec)) return beside.string();
  }
  return "daybreak-broker";  // from PATH
}

int Restore(const Context& ctx, std::uint32_t id) {
  std::vector<std::string> args = {BrokerProgram(), "--backup-restore", std::to_string(id)};
  if (!ctx.config_path.empty()) {
    args.push_back("--config");
    args.push_back(ctx.config_path);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  fmt::print(stderr, "daybreak backup restore: cannot run {}: {}\n", args[0], std::strerror(errno));
  return kExitFailed;
}

}  // namespace

void AddBackupCommands(CLI::App& app, Context& ctx, int* result) {
  CLI::App* backup = app.add_subcommand(
      "backup", "back up the broker's run store, and list, verify or restore its backups");
  backup->require_subcommand(1);
  backup->add_subcommand("create", "take a backup of the running broker's store now")
      ->callback([&ctx, result] {
        if (!ctx.Init()) return void(*result = kExitUsage);
        *result = Ask(ctx, schemas::op::kBackupCreate, 0, ": taken");
      });
  backup->add_subcommand("list", "list the backups, oldest first")->callback([&ctx, result] {
    if (!ctx.Init()) return void(*result = kExitUsage);
    *result = Ask(ctx, schemas::op::kBackupList, 0, "");
  });
  auto verify_id = std::make_shared<std::uint32_t>(0);
  CLI::App* verify = backup->add_subcommand(
      "verify", "re-read a backup and check every file's size and checksum (exit 1 when damaged)");
  verify->add_option("ID", *verify_id, "backup id (default: the newest)");
  verify->callback([&ctx, result, verify_id] {
    if (!ctx.Init()) return void(*result = kExitUsage);
    *result = Ask(ctx, schemas::op::kBackupVerify, *verify_id, ": every file is whole");
  });
  auto restore_id = std::make_shared<std::uint32_t>(0);
  CLI::App* restore = backup->add_subcommand(
      "restore",
      "replace the broker's state folder with a backup (stop the broker first; run on its host). "
      "The old folder is kept aside, and the restored store starts a new incarnation");
  restore->add_option("ID", *restore_id, "backup id (default: the newest)");
  restore->callback([&ctx, result, restore_id] { *result = Restore(ctx, *restore_id); });
}

}  // namespace cli
