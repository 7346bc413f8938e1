// main/commands.h — the `pulse serve` and `pulse demo` commands: process wiring (data dir,
// engine, HTTP and gRPC servers, signals). Other commands live in their components.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/config.h"

namespace pulse {

namespace serving {
class Engine;
}

int RunServeCommand(const std::vector<std::string>& args);
int RunDemoCommand(const std::vector<std::string>& args);

// Starts the data dir, engine and both servers from `config`, announces
// "pulse: http=HOST:PORT grpc=HOST:PORT" on stdout, runs `on_started` (may be empty) and serves
// until SIGINT/SIGTERM, then drains: health flips to NOT_SERVING, in-flight requests finish, and
// the process exits within config.server.drain_timeout_ms. Returns the exit code.
// `on_started` runs on its own thread and must return when `stopping()` turns true.
struct ServerInfo {
  std::string http_host;
  int http_port = 0;
  std::string grpc_host;
  int grpc_port = 0;
};
using StartedHook = std::function<void(serving::Engine& engine, const ServerInfo& info,
                                       const std::function<bool()>& stopping)>;
int RunServer(const Config& config, const StartedHook& on_started);

// Loads --config (when given) and applies --data-dir/--http/--grpc/--role overrides.
Result<Config> ConfigFromFlags(const std::vector<std::string>& args);

}  // namespace pulse
