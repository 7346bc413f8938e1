#include "store/redis_feature_store.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/time.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/strings.h"

namespace pulse::store {
namespace {

// KEYS[1] = history blob. Returns the flattened MessagePack array, or {} for a user never seen.
constexpr std::string_view kReadScript = R"lua(
local blob = redis.call('GET', KEYS[1])
if not blob then return {} end
return cmsgpack.unpack(blob)
)lua";

// KEYS[1] = history blob, KEYS[2] = applied event ids.
// ARGV = cap, now_ms, max_ids, then per event (in log order): event_id, item_id, type, ts_ms.
// Mirrors DataDir's merge (store/data_dir.cc ApplyEvents): fresh engagements newest first (ties:
// later event first), merged with the old list (ties: fresh first), one entry per item, capped.
// Returns the number of events applied (duplicates left out).
constexpr std::string_view kApplyScript = R"lua(
local cap = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local max_ids = tonumber(ARGV[3])
local n = (#ARGV - 3) / 4
local seen = {}
local fresh = {}
local accepted = 0
for i = 0, n - 1 do
  local b = 4 + i * 4
  local id = ARGV[b]
  local dup = false
  if id ~= '' then
    if seen[id] or redis.call('ZSCORE', KEYS[2], id) then
      dup = true
    else
      seen[id] = true
      redis.call('ZADD', KEYS[2], now, id)
    end
  end
  if not dup then
    accepted = accepted + 1
    local t = tonumber(ARGV[b + 2])
    if t ~= 4 then
      fresh[#fresh + 1] = {ARGV[b + 1], t, tonumber(ARGV[b + 3]), i}
    end
  end
end
if accepted == 0 then return 0 end
if max_ids > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(max_ids + 1)) end
local h = {0, 0}
local blob = redis.call('GET', KEYS[1])
if blob then h = cmsgpack.unpack(blob) end
table.sort(fresh, function(x, y)
  if x[3] ~= y[3] then return x[3] > y[3] end
  return x[4] > y[4]
end)
local out = {h[1] + accepted, now}
local fresh_items = {}
for _, e in ipairs(fresh) do fresh_items[e[1]] = true end
local emitted = {}
local count = 0
local function emit(item, t, ts)
  if fresh_items[item] then
    if emitted[item] then return end
    emitted[item] = true
  end
  out[#out + 1] = item
  out[#out + 1] = t
  out[#out + 1] = ts
  count = count + 1
end
local i, j, old_end = 3, 1, #h
while count < cap and (i <= old_end or j <= #fresh) do
  if j <= #fresh and (i > old_end or fresh[j][3] >= h[i + 2]) then
    emit(fresh[j][1], fresh[j][2], fresh[j][3])
    j = j + 1
  else
    emit(h[i], h[i + 1], h[i + 2])
    i = i + 3
  end
end
redis.call('SET', KEYS[1], cmsgpack.pack(out))
return accepted
)lua";

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

timeval ToTimeval(int64_t ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

// Error replies are Redis's own words; keep them short (they never echo our arguments).
std::string ErrorText(const redisReply* r) {
  std::string text(r->str, r->len);
  if (text.size() > 200) text.resize(200);
  return text;
}

bool IsNoScript(const redisReply* r) {
  return r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).starts_with("NOSCRIPT");
}

std::once_flag g_ignore_sigpipe;

}  // namespace

struct RedisFeatureStore::Impl {
  RedisConfig redis;
  StoreConfig store;
  const Clock* clock = nullptr;
  std::string host;
  int port = 0;
  std::string read_sha;  // SHA1 of the scripts (as SCRIPT LOAD answers; same on every server)
  std::string apply_sha;

  std::mutex mu;
  std::condition_variable cv;
  std::vector<ContextPtr> pool;  // guarded by mu: null slots are connected lazily
  std::vector<size_t> free_slots;

  Status Unavailable(std::string_view what, std::string_view why) const {
    return UnavailableError(StrCat("redis ", redis.address, ": ", what, ": ", why));
  }

  // Borrows a pooled slot; waits at most command_timeout_ms for one.
  Result<size_t> Acquire() {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::milliseconds(redis.command_timeout_ms),
                     [&] { return !free_slots.empty(); })) {
      return UnavailableError(
          StrCat("redis ", redis.address, ": all ", redis.pool_size, " connections busy"));
    }
    size_t slot = free_slots.back();
    free_slots.pop_back();
    return slot;
  }
  void Release(size_t slot) {
    {
      std::lock_guard<std::mutex> lock(mu);
      free_slots.push_back(slot);
    }
    cv.notify_one();
  }

  // The slot's context, connecting (and loading the scripts) when it has none. Only the borrower
  // touches pool[slot], so no lock is needed.
  Result<redisContext*> Connected(size_t slot) {
    if (pool[slot]) return pool[slot].get();
    timeval connect_tv = ToTimeval(redis.connect_timeout_ms);
    ContextPtr ctx(redisConnectWithTimeout(host.c_str(), port, connect_tv));
    if (!ctx) return Unavailable("connecting", "out of memory");
    if (ctx->err) return Unavailable("connecting", ctx->errstr);
    timeval command_tv = ToTimeval(redis.command_timeout_ms);
    if (redisSetTimeout(ctx.get(), command_tv) != REDIS_OK) {
      return Unavailable("setting the command timeout", ctx->errstr);
    }
    redisAppendCommand(ctx.get(), "SCRIPT LOAD %b", kReadScript.data(), kReadScript.size());
    redisAppendCommand(ctx.get(), "SCRIPT LOAD %b", kApplyScript.data(), kApplyScript.size());
    std::string shas[2];
    for (std::string& sha : shas) {
      void* raw = nullptr;
      if (redisGetReply(ctx.get(), &raw) != REDIS_OK) {
        return Unavailable("loading scripts", ctx->errstr);
      }
      ReplyPtr reply(static_cast<redisReply*>(raw));
      if (reply->type != REDIS_REPLY_STRING) {
        return Unavailable("loading scripts", reply->type == REDIS_REPLY_ERROR
                                                  ? ErrorText(reply.get())
                                                  : "unexpected reply");
      }
      sha.assign(reply->str, reply->len);
    }
    SetShas(shas[0], shas[1]);
    pool[slot] = std::move(ctx);
    return pool[slot].get();
  }

  void SetShas(const std::string& read, const std::string& apply) {
    std::lock_guard<std::mutex> lock(mu);
    read_sha = read;
    apply_sha = apply;
  }

  // After an I/O error the context is unusable (hiredis sets err for good): drop it so the next
  // borrower reconnects.
  void Drop(size_t slot) { pool[slot].reset(); }

  std::string HistoryKey(std::string_view user_id) const {
    return StrCat(redis.key_prefix, "h:{", user_id, "}");
  }
  std::string IdsKey(std::string_view user_id) const {
    return StrCat(redis.key_prefix, "e:{", user_id, "}");
  }
};

// RAII lease of one pooled connection.
class RedisFeatureStore::Lease {
 public:
  explicit Lease(Impl* impl) : impl_(impl) {}
  ~Lease() {
    if (slot_ >= 0) impl_->Release(static_cast<size_t>(slot_));
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Status Acquire() {
    ASSIGN_OR_RETURN(size_t slot, impl_->Acquire());
    slot_ = static_cast<int64_t>(slot);
    return OkStatus();
  }
  size_t slot() const { return static_cast<size_t>(slot_); }

 private:
  Impl* impl_;
  int64_t slot_ = -1;
};

Result<std::unique_ptr<RedisFeatureStore>> RedisFeatureStore::Create(const RedisConfig& redis,
                                                                     const StoreConfig& store) {
  return Create(redis, store, SystemClock::Get());
}

Result<std::unique_ptr<RedisFeatureStore>> RedisFeatureStore::Create(const RedisConfig& redis,
                                                                     const StoreConfig& store,
                                                                     const Clock& clock) {
  const size_t colon = redis.address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return InvalidArgumentError("redis.address: expected host:port");
  }
  int64_t port = 0;
  if (!ParseInt64(std::string_view(redis.address).substr(colon + 1), &port) || port < 1 ||
      port > 65535) {
    return InvalidArgumentError("redis.address: port must be in 1..65535");
  }
  if (redis.pool_size < 1) return InvalidArgumentError("redis.pool_size: must be >= 1");
  if (redis.connect_timeout_ms < 1 || redis.command_timeout_ms < 1) {
    return InvalidArgumentError("redis timeouts: must be >= 1 ms");
  }
  if (store.history_per_user < 1) {
    return InvalidArgumentError("store.history_per_user: must be >= 1");
  }
  std::call_once(g_ignore_sigpipe, [] { signal(SIGPIPE, SIG_IGN); });
  auto impl = std::make_unique<Impl>();
  impl->redis = redis;
  impl->store = store;
  impl->clock = &clock;
  impl->host = redis.address.substr(0, colon);
  impl->port = static_cast<int>(port);
  impl->pool.resize(static_cast<size_t>(redis.pool_size));
  for (size_t i = impl->pool.size(); i > 0; --i) impl->free_slots.push_back(i - 1);
  return std::unique_ptr<RedisFeatureStore>(new RedisFeatureStore(std::move(impl)));
}

RedisFeatureStore::RedisFeatureStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RedisFeatureStore::~RedisFeatureStore() = default;

Status RedisFeatureStore::Ping() {
  Lease lease(impl_.get());
  RETURN_IF_ERROR(lease.Acquire());
  ASSIGN_OR_RETURN(redisContext * ctx, impl_->Connected(lease.slot()));
  ReplyPtr reply(static_cast<redisReply*>(redisCommand(ctx, "PING")));
  if (!reply) {
    Status s = impl_->Unavailable("ping", ctx->errstr);
    impl_->Drop(lease.slot());
    return s;
  }
  if (reply->type == REDIS_REPLY_ERROR) return impl_->Unavailable("ping", ErrorText(reply.get()));
  return OkStatus();
}

Result<bool> RedisFeatureStore::HoldsMarker(std::string_view name) {
  constexpr std::string_view kWhat = "checking the marker";
  Lease lease(impl_.get());
  RETURN_IF_ERROR(lease.Acquire());
  ASSIGN_OR_RETURN(redisContext * ctx, impl_->Connected(lease.slot()));
  const std::string key = StrCat(impl_->redis.key_prefix, "m:", name);
  ReplyPtr reply(static_cast<redisReply*>(redisCommand(ctx, "EXISTS %b", key.data(), key.size())));
  if (!reply) {
    Status s = impl_->Unavailable(kWhat, ctx->errstr);
    impl_->Drop(lease.slot());
    return s;
  }
  if (reply->type == REDIS_REPLY_ERROR) return impl_->Unavailable(kWhat, ErrorText(reply.get()));
  if (reply->type != REDIS_REPLY_INTEGER) return impl_->Unavailable(kWhat, "unexpected reply");
  return reply->integer > 0;
}

Status RedisFeatureStore::PutMarker(std::string_view name) {
  constexpr std::string_view kWhat = "writing the marker";
  Lease lease(impl_.get());
  RETURN_IF_ERROR(lease.Acquire());
  ASSIGN_OR_RETURN(redisContext * ctx, impl_->Connected(lease.slot()));
  const std::string key = StrCat(impl_->redis.key_prefix, "m:", name);
  const std::string now = std::to_string(impl_->clock->NowMillis());
  ReplyPtr reply(static_cast<redisReply*>(
      redisCommand(ctx, "SET %b %b", key.data(), key.size(), now.data(), now.size())));
  if (!reply) {
    Status s = impl_->Unavailable(kWhat, ctx->errstr);
    impl_->Drop(lease.slot());
    return s;
  }
  if (reply->type == REDIS_REPLY_ERROR) return impl_->Unavailable(kWhat, ErrorText(reply.get()));
  return OkStatus();
}

Result<UserHistory> RedisFeatureStore::GetUserHistory(std::string_view user_id) {
  constexpr std::string_view kWhat = "reading a user history";
  Lease lease(impl_.get());
  RETURN_IF_ERROR(lease.Acquire());
  ASSIGN_OR_RETURN(redisContext * ctx, impl_->Connected(lease.slot()));
  const std::string key = impl_->HistoryKey(user_id);
  std::string sha;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    sha = impl_->read_sha;
  }
  ReplyPtr reply(static_cast<redisReply*>(
      redisCommand(ctx, "EVALSHA %b 1 %b", sha.data(), sha.size(), key.data(), key.size())));
  if (reply && IsNoScript(reply.get())) {  // SCRIPT FLUSH since we connected
    reply.reset(static_cast<redisReply*>(redisCommand(ctx, "EVAL %b 1 %b", kReadScript.data(),
                                                      kReadScript.size(), key.data(), key.size())));
  }
  if (!reply) {
    Status s = impl_->Unavailable(kWhat, ctx->errstr);
    impl_->Drop(lease.slot());
    return s;
  }
  if (reply->type == REDIS_REPLY_ERROR) return impl_->Unavailable(kWhat, ErrorText(reply.get()));
  if (reply->type != REDIS_REPLY_ARRAY) return impl_->Unavailable(kWhat, "unexpected reply");
  UserHistory history;
  const size_t n = reply->elements;
  if (n == 0) return history;
  if (n < 2 || (n - 2) % 3 != 0) return DataLossError("redis: malformed user history");
  auto integer = [&](size_t i, int64_t* out) {
    const redisReply* e = reply->element[i];
    if (e->type != REDIS_REPLY_INTEGER) return false;
    *out = e->integer;
    return true;
  };
  int64_t total = 0;
  if (!integer(0, &total) || total < 0 || !integer(1, &history.updated_at_ms)) {
    return DataLossError("redis: malformed user history header");
  }
  history.events_total = static_cast<uint64_t>(total);
  history.recent.reserve((n - 2) / 3);
  for (size_t i = 2; i < n; i += 3) {
    const redisReply* item = reply->element[i];
    int64_t type = 0;
    HistoryEntry entry;
    if (item->type != REDIS_REPLY_STRING || !integer(i + 1, &type) || type < 0 ||
        type >= kNumEventTypes || !integer(i + 2, &entry.ts_ms)) {
      return DataLossError("redis: malformed user history entry");
    }
    entry.item_id.assign(item->str, item->len);
    entry.type = static_cast<EventType>(type);
    history.recent.push_back(std::move(entry));
  }
  return history;
}

Status RedisFeatureStore::ApplyEvents(std::span<const Event> events) {
  constexpr std::string_view kWhat = "applying events";
  if (events.empty()) return OkStatus();
  // One script call per user, its events in log order.
  std::vector<std::string_view> user_order;
  std::unordered_map<std::string_view, std::vector<const Event*>> by_user;
  for (const Event& e : events) {
    auto [it, inserted] = by_user.try_emplace(e.user_id);
    if (inserted) user_order.push_back(e.user_id);
    it->second.push_back(&e);
  }
  const std::string cap = std::to_string(impl_->store.history_per_user);
  const std::string now = std::to_string(impl_->clock->NowMillis());
  const std::string max_ids = std::to_string(kMaxEventIdsPerUser);
  static const std::string kTypes[kNumEventTypes] = {"0", "1", "2", "3", "4"};

  Lease lease(impl_.get());
  RETURN_IF_ERROR(lease.Acquire());
  ASSIGN_OR_RETURN(redisContext * ctx, impl_->Connected(lease.slot()));
  std::string sha;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    sha = impl_->apply_sha;
  }

  // argv storage per user: owned strings for keys and timestamps, views for the rest.
  struct Command {
    std::vector<std::string> owned;
    std::vector<const char*> argv;
    std::vector<size_t> argvlen;
  };
  std::vector<Command> commands(user_order.size());
  for (size_t u = 0; u < user_order.size(); ++u) {
    const auto& user_events = by_user[user_order[u]];
    Command& c = commands[u];
    c.owned.reserve(2 + user_events.size());
    c.owned.push_back(impl_->HistoryKey(user_order[u]));
    c.owned.push_back(impl_->IdsKey(user_order[u]));
    for (const Event* e : user_events) c.owned.push_back(std::to_string(e->ts_ms));
    auto add = [&](std::string_view s) {
      c.argv.push_back(s.data());
      c.argvlen.push_back(s.size());
    };
    add("EVALSHA");
    add(sha);
    add("2");
    add(c.owned[0]);
    add(c.owned[1]);
    add(cap);
    add(now);
    add(max_ids);
    for (size_t k = 0; k < user_events.size(); ++k) {
      const Event& e = *user_events[k];
      add(e.event_id);
      add(e.item_id);
      add(kTypes[static_cast<int>(e.type) % kNumEventTypes]);
      add(c.owned[2 + k]);
    }
  }

  // Sends the commands in `pending` as one pipeline; those answered NOSCRIPT (scripts flushed
  // since we connected) go again as EVAL of the script text, which also caches it server-side.
  std::vector<size_t> pending(commands.size());
  for (size_t u = 0; u < pending.size(); ++u) pending[u] = u;
  for (int attempt = 0; attempt < 2 && !pending.empty(); ++attempt) {
    for (size_t u : pending) {
      Command& c = commands[u];
      if (attempt > 0) {
        c.argv[0] = "EVAL";
        c.argvlen[0] = 4;
        c.argv[1] = kApplyScript.data();
        c.argvlen[1] = kApplyScript.size();
      }
      redisAppendCommandArgv(ctx, static_cast<int>(c.argv.size()), c.argv.data(), c.argvlen.data());
    }
    std::vector<size_t> retry;
    Status first_error;
    for (size_t u : pending) {
      void* raw = nullptr;
      if (redisGetReply(ctx, &raw) != REDIS_OK) {
        Status s = impl_->Unavailable(kWhat, ctx->errstr);
        impl_->Drop(lease.slot());
        return s;
      }
      ReplyPtr reply(static_cast<redisReply*>(raw));
      if (IsNoScript(reply.get())) {
        retry.push_back(u);
      } else if (reply->type == REDIS_REPLY_ERROR && first_error.ok()) {
        first_error = impl_->Unavailable(kWhat, ErrorText(reply.get()));
      }
    }
    RETURN_IF_ERROR(first_error);
    pending = std::move(retry);
  }
  if (!pending.empty()) return impl_->Unavailable(kWhat, "script cache keeps being flushed");
  return OkStatus();
}

}  // namespace pulse::store
