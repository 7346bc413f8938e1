#include "tests/integration/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <regex>

#include "httplib.h"

namespace pulse::integration {
namespace {

using Clock = std::chrono::steady_clock;

pid_t Spawn(const std::vector<std::string>& args, int out_fd, int err_fd) {
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, STDIN_FILENO);
    std::vector<char*> argv;
    std::string binary = PulseBinary();
    argv.push_back(binary.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string PulseBinary() {
  const char* path = std::getenv("PULSE_BINARY");
  return path != nullptr ? path : "./pulse";
}

CommandResult RunPulse(const std::vector<std::string>& args, int timeout_s) {
  int out_pipe[2], err_pipe[2];
  CommandResult result;
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) return result;
  pid_t pid = Spawn(args, out_pipe[1], err_pipe[1]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    int remaining_ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (remaining_ms <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, remaining_ms) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = DecodeStatus(status);
  return result;
}

std::unique_ptr<ServerProcess> ServerProcess::Start(const std::vector<std::string>& args,
                                                    std::string* error, int timeout_s) {
  std::unique_ptr<ServerProcess> server(new ServerProcess());
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return nullptr;
  std::vector<std::string> full = args;
  full.insert(full.end(), {"--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"});
  server->pid_ = Spawn(full, pipe_fds[1], pipe_fds[1]);
  close(pipe_fds[1]);
  server->reader_ = std::thread([s = server.get(), fd = pipe_fds[0]] { s->Drain(fd); });
  static const std::regex kAnnounce(R"(pulse: http=[^:\s]+:(\d+) grpc=[^:\s]+:(\d+))");
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  while (Clock::now() < deadline) {
    std::smatch match;
    std::string output = server->Output();
    if (std::regex_search(output, match, kAnnounce)) {
      server->http_port_ = std::stoi(match[1]);
      server->grpc_port_ = std::stoi(match[2]);
      return server;
    }
    if (!server->Running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (error != nullptr) *error = "server did not start:\n" + server->Output();
  return nullptr;
}

void ServerProcess::Drain(int fd) {
  char buf[8192];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    std::lock_guard<std::mutex> lock(mu_);
    output_.append(buf, static_cast<size_t>(n));
  }
  close(fd);
}

std::string ServerProcess::Output() {
  std::lock_guard<std::mutex> lock(mu_);
  return output_;
}

bool ServerProcess::Running() {
  if (exit_status_ >= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = DecodeStatus(status);
    return false;
  }
  return r == 0;
}

int ServerProcess::Stop(int signal, int timeout_s) {
  if (Running()) {
    kill(pid_, signal);
    auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
    while (Running() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (Running()) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      exit_status_ = DecodeStatus(status);
    }
  }
  if (reader_.joinable()) reader_.join();
  return exit_status_;
}

ServerProcess::~ServerProcess() { Stop(SIGKILL); }

std::string PrepareTrainedDataDir(const std::string& work_dir, const std::string& data_dir,
                                  int users, int items, int events, int seed) {
  const std::string input = work_dir + "/input";
  const std::vector<std::vector<std::string>> steps = {
      {"gen", "--users", std::to_string(users), "--items", std::to_string(items), "--events",
       std::to_string(events), "--seed", std::to_string(seed), "--out", input},
      {"import", "--data-dir", data_dir, "--items", input + "/items.jsonl", "--events",
       input + "/events.jsonl"},
      {"train", "--data-dir", data_dir}};
  for (const auto& step : steps) {
    CommandResult result = RunPulse(step);
    if (result.exit_code != 0) return "pulse " + step[0] + " failed:\n" + result.out + result.err;
  }
  return "";
}

bool WaitReady(int http_port, int timeout_s) {
  httplib::Client client("127.0.0.1", http_port);
  client.set_connection_timeout(1);
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  while (Clock::now() < deadline) {
    auto res = client.Get("/readyz");
    if (res && res->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace pulse::integration
