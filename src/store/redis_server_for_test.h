// store/redis_server_for_test.h — test-only: runs a throwaway `redis-server` (Debian package) on a
// loopback port, for the Redis feature store's unit, integration and benchmark code. Header-only
// so it never enters the pulse_store library.
//
// The server keeps nothing on disk (--save '' --appendonly no, --dir a temp dir). Kill() sends
// SIGKILL and reaps the process; the destructor kills it too.
#pragma once

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

namespace pulse::store {

class RedisServerForTest {
 public:
  RedisServerForTest() = default;
  ~RedisServerForTest() { Kill(); }
  RedisServerForTest(const RedisServerForTest&) = delete;
  RedisServerForTest& operator=(const RedisServerForTest&) = delete;

  // True when a `redis-server` binary is on PATH.
  static bool Available() {
    return access("/usr/bin/redis-server", X_OK) == 0 ||
           system("command -v redis-server >/dev/null 2>&1") == 0;
  }

  // Starts the server and waits (up to ~5 s) until it answers PING. False when it did not start.
  bool Start(int port, const std::string& dir) {
    Kill();
    port_ = port;
    const std::string port_text = std::to_string(port);
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      const int devnull = open("/dev/null", O_WRONLY);
      if (devnull >= 0) {
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
      }
      execlp("redis-server", "redis-server", "--port", port_text.c_str(), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", dir.c_str(), "--loglevel", "warning",
             static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int attempt = 0; attempt < 500; ++attempt) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (Ping()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Kill();
    return false;
  }

  // SIGKILL, then reap. Safe to call when not running.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  bool Ping() const {
    timeval tv{0, 200'000};
    redisContext* ctx = redisConnectWithTimeout("127.0.0.1", port_, tv);
    bool ok = false;
    if (ctx != nullptr && ctx->err == 0) {
      auto* reply = static_cast<redisReply*>(redisCommand(ctx, "PING"));
      ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
      if (reply != nullptr) freeReplyObject(reply);
    }
    if (ctx != nullptr) redisFree(ctx);
    return ok;
  }

  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace pulse::store
