// tests/integration/harness.h — runs the real `pulse` binary (path in $PULSE_BINARY) as a child
// process: one-shot commands, and `pulse serve` servers on loopback ports it picks itself
// (port 0; the server announces them on stdout). Everything is cleaned up on destruction.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pulse::integration {

std::string PulseBinary();

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `pulse <args...>` to completion (killed after timeout_s).
CommandResult RunPulse(const std::vector<std::string>& args, int timeout_s = 120);

class ServerProcess {
 public:
  // Starts `pulse <args...> --http 127.0.0.1:0 --grpc 127.0.0.1:0` and waits until it announces
  // its ports (or fails: nullptr, with the output in *error).
  static std::unique_ptr<ServerProcess> Start(const std::vector<std::string>& args,
                                              std::string* error, int timeout_s = 60);
  ~ServerProcess();

  int http_port() const { return http_port_; }
  int grpc_port() const { return grpc_port_; }
  std::string grpc_target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  pid_t pid() const { return pid_; }

  // Sends `signal` and waits for exit; returns the exit status (or 128+signal).
  int Stop(int signal, int timeout_s = 30);
  bool Running();
  std::string Output();  // stdout + stderr so far

 private:
  ServerProcess() = default;
  void Drain(int fd);

  pid_t pid_ = -1;
  int http_port_ = 0;
  int grpc_port_ = 0;
  int exit_status_ = -1;
  std::mutex mu_;
  std::string output_;
  std::thread reader_;
};

// Generates a synthetic catalog and history (`pulse gen` with these sizes and seed) under
// `work_dir`/input, imports it into `data_dir` and trains a model there. Returns "" on success,
// else the failing command's output.
std::string PrepareTrainedDataDir(const std::string& work_dir, const std::string& data_dir,
                                  int users, int items, int events, int seed);

// Blocks until GET /readyz answers 200 (true) or the timeout passes (false).
bool WaitReady(int http_port, int timeout_s = 60);

}  // namespace pulse::integration
