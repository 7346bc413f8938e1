// rollout/commands.cc — `pulse models list|show|activate`.
#include "rollout/commands.h"

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/flags.h"
#include "core/status.h"
#include "core/strings.h"
#include "rollout/models_dir.h"

namespace pulse::rollout {
namespace {

using json = nlohmann::ordered_json;

constexpr char kUsage[] =
    "usage: pulse models list [--data-dir DIR] [--config FILE] [--json]\n"
    "       pulse models show VERSION [--data-dir DIR] [--config FILE] [--json]\n"
    "       pulse models activate VERSION|latest [--unpin] [--data-dir DIR] [--config FILE]";

struct Context {
  std::string models_dir;
  IndexConfig index;
};

// --config (bad → usage error) then --data-dir.
Result<Context> LoadContext(const Flags& flags) {
  Config config;
  if (flags.Has("config")) {
    auto loaded = LoadConfigFile(flags.GetString("config"));
    if (!loaded.ok()) return InvalidArgumentError(loaded.status().message());
    config = *std::move(loaded);
  }
  const std::string dir = flags.GetString("data-dir", config.data_dir);
  if (dir.empty()) return InvalidArgumentError("--data-dir is empty");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return NotFoundError(StrCat("data directory ", dir, " does not exist"));
  }
  return Context{StrCat(dir, "/models"), config.index};
}

std::string FormatUtc(int64_t ms) {
  if (ms <= 0) return "-";
  const time_t secs = static_cast<time_t>(ms / 1000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &t);
  return buf;
}

std::string FormatMetric(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f", *v);
  return buf;
}

std::string StateText(const ModelInfo& m) {
  std::string text(BundleStateName(m.state));
  if (m.state == BundleState::kRefused) text += " (corrupt)";
  if (m.pinned) text += " (pinned)";
  return text;
}

json ModelJson(const ModelInfo& m) {
  json j = {{"version", m.summary.version},
            {"state", std::string(BundleStateName(m.state))},
            {"pinned", m.pinned},
            {"created_at_ms", m.summary.created_at_ms},
            {"events", m.summary.event_count},
            {"items", m.summary.item_count},
            {"users", m.summary.user_count}};
  j["recall@10"] = m.summary.recall_at_10 ? json(*m.summary.recall_at_10) : json(nullptr);
  j["ndcg@10"] = m.summary.ndcg_at_10 ? json(*m.summary.ndcg_at_10) : json(nullptr);
  j["error"] = m.verification.ok() ? json(nullptr) : json(m.verification.ToString());
  return j;
}

int RunList(const Flags& flags) {
  const std::string command = "models list";
  if (flags.positional().size() > 1) {
    return ExitWithError(
        command, InvalidArgumentError(StrCat("unexpected argument '", flags.positional()[1], "'")));
  }
  auto context = LoadContext(flags);
  if (!context.ok()) return ExitWithError(command, context.status());
  std::optional<std::string> pinned;
  auto models = ListModels(context->models_dir, context->index, &pinned);
  if (!models.ok()) return ExitWithError(command, models.status());
  if (flags.GetBool("json")) {
    json out = {{"models_dir", context->models_dir},
                {"pinned", pinned ? json(*pinned) : json(nullptr)},
                {"models", json::array()}};
    for (const ModelInfo& m : *models) out["models"].push_back(ModelJson(m));
    std::printf("%s\n", out.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
    return 0;
  }
  if (models->empty()) {
    std::printf("no model bundles in %s (run `pulse train`)\n", context->models_dir.c_str());
    return 0;
  }
  std::printf("%-8s  %-19s  %10s  %8s  %8s  %9s  %8s  %s\n", "VERSION", "CREATED (UTC)", "EVENTS",
              "ITEMS", "USERS", "RECALL@10", "NDCG@10", "STATE");
  for (const ModelInfo& m : *models) {
    const std::string events =
        m.summary.event_count < 0 ? std::string("-") : StrCat(m.summary.event_count);
    std::printf("%-8s  %-19s  %10s  %8lld  %8lld  %9s  %8s  %s\n", m.summary.version.c_str(),
                FormatUtc(m.summary.created_at_ms).c_str(), events.c_str(),
                static_cast<long long>(m.summary.item_count),
                static_cast<long long>(m.summary.user_count),
                FormatMetric(m.summary.recall_at_10).c_str(),
                FormatMetric(m.summary.ndcg_at_10).c_str(), StateText(m).c_str());
  }
  for (const ModelInfo& m : *models) {
    if (!m.verification.ok()) {
      std::printf("%s refused: %s\n", m.summary.version.c_str(), m.verification.ToString().c_str());
    }
  }
  if (pinned) {
    std::printf("pinned to %s (servers serve it; `pulse models activate latest` unpins)\n",
                pinned->c_str());
  }
  return 0;
}

int RunShow(const Flags& flags) {
  const std::string command = "models show";
  if (flags.positional().size() != 2) {
    return ExitWithError(command, InvalidArgumentError(StrCat("expected one VERSION\n", kUsage)));
  }
  auto context = LoadContext(flags);
  if (!context.ok()) return ExitWithError(command, context.status());
  auto info = ShowModel(context->models_dir, flags.positional()[1], context->index);
  if (!info.ok()) return ExitWithError(command, info.status());
  const bool verified = info->verification.ok();
  if (flags.GetBool("json")) {
    json out = ModelJson(*info);
    out["verified"] = verified;
    const json manifest = json::parse(info->manifest_json, nullptr, /*allow_exceptions=*/false);
    out["manifest"] = manifest.is_discarded() ? json(nullptr) : manifest;
    std::printf("%s\n", out.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    std::printf("version:      %s\nstate:        %s\nverification: %s\n",
                info->summary.version.c_str(), StateText(*info).c_str(),
                verified ? "ok (every file matches its size and SHA-256; the index loads)"
                         : info->verification.ToString().c_str());
    const json manifest = json::parse(info->manifest_json, nullptr, /*allow_exceptions=*/false);
    if (manifest.is_discarded()) {
      std::printf("manifest:     (unreadable)\n");
    } else {
      std::printf("manifest:\n%s\n",
                  manifest.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    }
  }
  std::fflush(stdout);
  if (!verified) {
    std::fprintf(stderr, "pulse %s: %s fails verification: %s\n", command.c_str(),
                 info->summary.version.c_str(), info->verification.message().c_str());
    return 1;
  }
  return 0;
}

int RunActivate(const Flags& flags) {
  const std::string command = "models activate";
  const bool unpin = flags.GetBool("unpin");
  const size_t want = unpin ? 1 : 2;
  if (flags.positional().size() != want) {
    return ExitWithError(
        command, InvalidArgumentError(StrCat(
                     unpin ? "--unpin takes no VERSION" : "expected one VERSION", "\n", kUsage)));
  }
  auto context = LoadContext(flags);
  if (!context.ok()) return ExitWithError(command, context.status());
  const std::string version = unpin ? std::string("latest") : flags.positional()[1];
  Status activated = ActivateModelVersion(context->models_dir, version, context->index);
  if (!activated.ok()) return ExitWithError(command, activated);
  if (version == "latest") {
    std::printf("unpinned: servers serve the newest bundle that verifies\n");
  } else {
    std::printf("pinned %s: servers switch to it within server.model_poll_ms\n", version.c_str());
  }
  return 0;
}

}  // namespace

int RunModelsCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"data-dir", "config"}, {"json", "unpin"});
  if (!flags.ok()) return ExitWithError("models", flags.status());
  if (flags->positional().empty()) {
    return ExitWithError("models", InvalidArgumentError(StrCat("expected a subcommand\n", kUsage)));
  }
  const std::string& sub = flags->positional()[0];
  if (sub == "list") return RunList(*flags);
  if (sub == "show") return RunShow(*flags);
  if (sub == "activate") return RunActivate(*flags);
  return ExitWithError("models",
                       InvalidArgumentError(StrCat("unknown subcommand '", sub, "'\n", kUsage)));
}

}  // namespace pulse::rollout
