#include "store/data_dir.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <filesystem>
#include <limits>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/log.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "store/codec.h"

namespace pulse::store {
namespace {

constexpr char kMetaCf[] = "meta";
constexpr char kItemsCf[] = "items";
constexpr char kEventsCf[] = "events";
constexpr char kEventIdsCf[] = "event_ids";
constexpr char kUsersCf[] = "users";
constexpr char kDeadLetterCf[] = "dead_letter";
constexpr char kLayoutVersionKey[] = "layout_version";

constexpr size_t kStripes = 64;
constexpr size_t kCacheEntriesPerStripe = DataDir::kMaxCachedHistoryEntries / kStripes;

Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return OkStatus();
  std::string message = StrCat(context, ": ", s.ToString());
  if (s.IsNotFound()) return NotFoundError(std::move(message));
  if (s.IsCorruption()) return DataLossError(std::move(message));
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return FailedPreconditionError(
        StrCat(context, ": the data dir is in use by another process (", s.ToString(), ")"));
  }
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return UnavailableError(std::move(message));
  return InternalError(std::move(message));
}

size_t StripeOf(std::string_view key, uint64_t salt) {
  return (std::hash<std::string_view>{}(key) ^ salt) * 0x9E3779B97F4A7C15ULL >> 58;
}
static_assert(kStripes == 64, "StripeOf keeps the top 6 bits");
constexpr uint64_t kUserSalt = 0;
constexpr uint64_t kEventIdSalt = 0x5bd1e9955bd1e995ULL;

// UserHistory::version: process-wide, so versions never repeat across DataDir instances either.
uint64_t NextHistoryVersion() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

// Merges the accepted events of one user (in append order) into `history`: newest first by event
// time, ties broken towards the later append, one entry per item (its latest engagement), at most
// `cap` entries. Impressions count in events_total only.
void ApplyEvents(UserHistory* history, const std::vector<const Event*>& events, int cap,
                 int64_t now_ms) {
  history->events_total += events.size();
  history->updated_at_ms = now_ms;
  std::vector<HistoryEntry> fresh;
  for (auto it = events.rbegin(); it != events.rend(); ++it) {  // later appends first
    const Event& e = **it;
    if (IsEngagement(e.type)) fresh.push_back({e.item_id, e.type, e.ts_ms});
  }
  if (fresh.empty()) return;
  std::stable_sort(fresh.begin(), fresh.end(),
                   [](const HistoryEntry& a, const HistoryEntry& b) { return a.ts_ms > b.ts_ms; });
  const size_t limit = cap > 0 ? static_cast<size_t>(cap) : 0;
  std::vector<HistoryEntry> merged;
  merged.reserve(std::min(limit, history->recent.size() + fresh.size()));
  // Existing entries are unique among themselves, so only fresh items can repeat. The sets view
  // strings in `old` and `fresh`, which stay untouched (entries are copied) until the end.
  std::unordered_set<std::string_view> fresh_items;
  for (const HistoryEntry& e : fresh) fresh_items.insert(e.item_id);
  std::unordered_set<std::string_view> emitted;
  auto emit = [&](const HistoryEntry& e) {
    if (fresh_items.count(e.item_id) && !emitted.insert(e.item_id).second) return;
    merged.push_back(e);
  };
  const auto& old = history->recent;
  size_t i = 0, j = 0;
  while (merged.size() < limit && (i < old.size() || j < fresh.size())) {
    // On equal times the fresh entry wins: it was appended later.
    if (j < fresh.size() && (i >= old.size() || fresh[j].ts_ms >= old[i].ts_ms)) {
      emit(fresh[j++]);
    } else {
      emit(old[i++]);
    }
  }
  history->recent = std::move(merged);
}

}  // namespace

struct DataDir::Impl {
  struct Stripe {
    std::mutex mu;
    // Guarded by mu. Histories of users seen since open (empty ones too, for unknown users).
    std::unordered_map<std::string, UserHistory, StringHash, std::equal_to<>> cache;
    size_t cached_entries = 0;  // guarded by mu; sum over cache of (recent.size() + 1)
  };

  std::string path;
  StoreConfig config;
  const Clock* clock = nullptr;
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  rocksdb::ColumnFamilyHandle* items = nullptr;
  rocksdb::ColumnFamilyHandle* events = nullptr;
  rocksdb::ColumnFamilyHandle* event_ids = nullptr;
  rocksdb::ColumnFamilyHandle* users = nullptr;
  rocksdb::ColumnFamilyHandle* dead_letter = nullptr;
  uint32_t layout_version = 0;

  // Dead letters occupy the dense key range [dl_first, dl_next): appends take the next keys and
  // trimming removes a prefix.
  mutable std::mutex dl_mu;
  uint64_t dl_first = 1;  // guarded by dl_mu
  uint64_t dl_next = 1;   // guarded by dl_mu

  std::mutex items_mu;  // serializes item writes so item_count stays exact
  std::atomic<uint64_t> item_count{0};
  std::mutex append_mu;   // held across sequence assignment and the WAL write
  uint64_t next_seq = 1;  // guarded by append_mu
  std::atomic<uint64_t> event_count{0};
  std::atomic<uint64_t> user_count{0};
  std::array<Stripe, kStripes> stripes;

  ~Impl() {
    if (db == nullptr) return;
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    rocksdb::Status s = db->Close();
    if (!s.ok()) LOG_WARN("store", "closing ", path, ": ", s.ToString());
    delete db;
  }

  // Reads a user's history: the cache, else RocksDB (then cached). Caller holds the stripe lock.
  Result<UserHistory*> LoadLocked(Stripe& stripe, std::string_view user_id) {
    auto it = stripe.cache.find(user_id);
    if (it != stripe.cache.end()) return &it->second;
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), users, user_id, &value);
    UserHistory history;
    if (s.ok()) {
      ASSIGN_OR_RETURN(history, codec::DecodeHistory(value));
    } else if (!s.IsNotFound()) {
      return FromRocks(s, "reading a user history");
    }
    history.version = NextHistoryVersion();
    stripe.cached_entries += history.recent.size() + 1;
    return &stripe.cache.emplace(std::string(user_id), std::move(history)).first->second;
  }

  // Drops arbitrary users from a stripe over its share of the cache budget, keeping `keep`.
  void TrimLocked(Stripe& stripe, const std::unordered_set<std::string_view>& keep) {
    if (stripe.cached_entries <= kCacheEntriesPerStripe) return;
    for (auto it = stripe.cache.begin();
         it != stripe.cache.end() && stripe.cached_entries > kCacheEntriesPerStripe * 3 / 4;) {
      if (keep.count(it->first)) {
        ++it;
        continue;
      }
      stripe.cached_entries -= it->second.recent.size() + 1;
      it = stripe.cache.erase(it);
    }
  }

  Status Init();
};

Status DataDir::Impl::Init() {
  // Layout version: written on creation, checked on every open.
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta, kLayoutVersionKey, &value);
  rocksdb::WriteOptions sync_write;
  sync_write.sync = true;
  if (s.IsNotFound()) {
    RETURN_IF_ERROR(
        FromRocks(db->Put(sync_write, meta, kLayoutVersionKey, std::to_string(kLayoutVersion)),
                  "writing the layout version"));
  } else {
    RETURN_IF_ERROR(FromRocks(s, "reading the layout version"));
    int64_t version = 0;
    if (!ParseInt64(value, &version) || version < 1) {
      return DataLossError(StrCat("data dir ", path, " has an unreadable layout version"));
    }
    if (version > static_cast<int64_t>(kLayoutVersion)) {
      return FailedPreconditionError(StrCat(
          "data dir ", path, " has layout version ", version, ", newer than layout version ",
          kLayoutVersion, " that this build of Pulse understands; open it with a newer Pulse"));
    }
    // Older layouts are migrated one version step at a time; each step is idempotent, so a
    // crash mid-upgrade just repeats it on the next open.
    if (version == 1) {
      // 1 → 2: the dead_letter family, already created by Open (create_missing_column_families).
      RETURN_IF_ERROR(FromRocks(db->Put(sync_write, meta, kLayoutVersionKey, "2"),
                                "upgrading the layout version to 2"));
      LOG_INFO("store", "upgraded data dir ", path, " from layout version 1 to 2");
      version = 2;
    }
  }
  layout_version = kLayoutVersion;

  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), dead_letter));
    it->SeekToFirst();
    if (it->Valid()) {
      ASSIGN_OR_RETURN(dl_first,
                       codec::DecodeSequence(std::string_view(it->key().data(), it->key().size())));
      it->SeekToLast();
      if (it->Valid()) {
        ASSIGN_OR_RETURN(uint64_t last, codec::DecodeSequence(
                                            std::string_view(it->key().data(), it->key().size())));
        dl_next = last + 1;
      }
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "finding the dead letters"));
    if (dl_next < dl_first) dl_next = dl_first;
  }

  // The sequence counter resumes after the last event key (events are never deleted, so the log
  // is gap-free and the last sequence is also the count).
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), events));
    it->SeekToLast();
    if (it->Valid()) {
      ASSIGN_OR_RETURN(uint64_t last,
                       codec::DecodeSequence(std::string_view(it->key().data(), it->key().size())));
      next_seq = last + 1;
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "finding the last event"));
    event_count = next_seq - 1;
  }

  auto count_keys = [&](rocksdb::ColumnFamilyHandle* cf, std::atomic<uint64_t>* out) -> Status {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
    uint64_t n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    RETURN_IF_ERROR(FromRocks(it->status(), "counting keys"));
    *out = n;
    return OkStatus();
  };
  RETURN_IF_ERROR(count_keys(items, &item_count));
  RETURN_IF_ERROR(count_keys(users, &user_count));
  return OkStatus();
}

DataDir::DataDir(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DataDir::~DataDir() = default;

Result<std::unique_ptr<DataDir>> DataDir::Open(const std::string& path, const StoreConfig& config) {
  return Open(path, config, SystemClock::Get());
}

Result<std::unique_ptr<DataDir>> DataDir::Open(const std::string& path, const StoreConfig& config,
                                               const Clock& clock) {
  if (path.empty()) return InvalidArgumentError("data dir path is empty");
  std::error_code ec;
  for (const char* sub : {"db", "models"}) {
    std::filesystem::create_directories(std::filesystem::path(path) / sub, ec);
    if (ec) {
      return FailedPreconditionError(
          StrCat("cannot create data dir ", path, "/", sub, ": ", ec.message()));
    }
  }
  const std::string db_path = path + "/db";

  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = 2;
  options.keep_log_file_num = 5;
  rocksdb::BlockBasedTableOptions table;
  // Point lookups (event ids, users, items) dominate reads; bloom filters make misses cheap.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options(options);
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Most event-id and user lookups on the write path hit the memtable and miss (new ids, new
  // users): a memtable bloom filter answers those without walking the skiplist.
  cf_options.memtable_whole_key_filtering = true;
  cf_options.memtable_prefix_bloom_size_ratio = 0.05;

  // Open every column family present (a newer layout may have more) so the version check, not a
  // RocksDB error about unopened families, is what explains a refusal.
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies(options, db_path, &names).ok()) names.clear();
  std::vector<std::string> wanted = {rocksdb::kDefaultColumnFamilyName,
                                     kMetaCf,
                                     kItemsCf,
                                     kEventsCf,
                                     kEventIdsCf,
                                     kUsersCf,
                                     kDeadLetterCf};
  for (const auto& w : wanted) {
    if (std::find(names.begin(), names.end(), w) == names.end()) names.push_back(w);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : names) descriptors.emplace_back(name, cf_options);

  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->config = config;
  impl->clock = &clock;
  RETURN_IF_ERROR(
      FromRocks(rocksdb::DB::Open(options, db_path, descriptors, &impl->handles, &impl->db),
                StrCat("opening data dir ", path)));
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == kMetaCf) impl->meta = impl->handles[i];
    if (names[i] == kItemsCf) impl->items = impl->handles[i];
    if (names[i] == kEventsCf) impl->events = impl->handles[i];
    if (names[i] == kEventIdsCf) impl->event_ids = impl->handles[i];
    if (names[i] == kUsersCf) impl->users = impl->handles[i];
    if (names[i] == kDeadLetterCf) impl->dead_letter = impl->handles[i];
  }
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<DataDir>(new DataDir(std::move(impl)));
}

const std::string& DataDir::path() const { return impl_->path; }
std::string DataDir::models_dir() const { return impl_->path + "/models"; }

// ---- items ----

Status DataDir::PutItems(const std::vector<Item>& items) {
  if (items.empty()) return OkStatus();
  std::lock_guard<std::mutex> lock(impl_->items_mu);
  rocksdb::WriteBatch batch;
  std::unordered_set<std::string_view> in_batch;
  uint64_t added = 0;
  for (const Item& item : items) {
    if (item.item_id.empty()) return InvalidArgumentError("item_id must not be empty");
    if (in_batch.insert(item.item_id).second) {
      std::string ignored;
      rocksdb::Status s =
          impl_->db->Get(rocksdb::ReadOptions(), impl_->items, item.item_id, &ignored);
      if (s.IsNotFound()) {
        ++added;
      } else {
        RETURN_IF_ERROR(FromRocks(s, "reading an item"));
      }
    }
    RETURN_IF_ERROR(FromRocks(batch.Put(impl_->items, item.item_id, codec::EncodeItem(item)),
                              "batching items"));
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  RETURN_IF_ERROR(FromRocks(impl_->db->Write(wo, &batch), "writing items"));
  impl_->item_count += added;
  return OkStatus();
}

Status DataDir::DeleteItem(std::string_view item_id) {
  std::lock_guard<std::mutex> lock(impl_->items_mu);
  std::string ignored;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->items, item_id, &ignored);
  if (s.IsNotFound()) return NotFoundError("item is not stored");
  RETURN_IF_ERROR(FromRocks(s, "reading an item"));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  RETURN_IF_ERROR(FromRocks(impl_->db->Delete(wo, impl_->items, item_id), "deleting an item"));
  impl_->item_count -= 1;
  return OkStatus();
}

Result<std::optional<Item>> DataDir::GetItem(std::string_view item_id) const {
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->items, item_id, &value);
  if (s.IsNotFound()) return std::optional<Item>();
  RETURN_IF_ERROR(FromRocks(s, "reading an item"));
  ASSIGN_OR_RETURN(Item item, codec::DecodeItem(item_id, value));
  return std::optional<Item>(std::move(item));
}

Status DataDir::ForEachItem(const std::function<Status(const Item&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->items));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ASSIGN_OR_RETURN(Item item,
                     codec::DecodeItem(std::string_view(it->key().data(), it->key().size()),
                                       std::string_view(it->value().data(), it->value().size())));
    RETURN_IF_ERROR(fn(item));
  }
  return FromRocks(it->status(), "scanning items");
}

uint64_t DataDir::ItemCount() const { return impl_->item_count.load(); }

// ---- events ----

Result<AppendResult> DataDir::AppendEvents(const std::vector<Event>& events, bool sync) {
  return AppendEvents(events, sync, nullptr);
}

Result<AppendResult> DataDir::AppendEvents(const std::vector<Event>& events, bool sync,
                                           std::vector<uint8_t>* duplicate) {
  AppendResult result;
  if (duplicate != nullptr) duplicate->assign(events.size(), 0);
  if (events.empty()) return result;
  Impl& d = *impl_;

  // Lock every stripe the batch touches (its users and its event ids) in index order, so
  // concurrent batches never deadlock and an event id is checked and written atomically.
  std::vector<size_t> stripe_ids;
  stripe_ids.reserve(events.size() * 2);
  for (const Event& e : events) {
    stripe_ids.push_back(StripeOf(e.user_id, kUserSalt));
    if (!e.event_id.empty()) stripe_ids.push_back(StripeOf(e.event_id, kEventIdSalt));
  }
  std::sort(stripe_ids.begin(), stripe_ids.end());
  stripe_ids.erase(std::unique(stripe_ids.begin(), stripe_ids.end()), stripe_ids.end());
  std::vector<std::unique_lock<std::mutex>> locks;
  locks.reserve(stripe_ids.size());
  for (size_t s : stripe_ids) locks.emplace_back(d.stripes[s].mu);

  // Idempotence: skip ids already stored or seen earlier in this batch.
  std::vector<const Event*> accepted;
  accepted.reserve(events.size());
  std::unordered_set<std::string_view> batch_ids;
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (!e.event_id.empty()) {
      if (!batch_ids.insert(e.event_id).second) {
        ++result.duplicates;
        if (duplicate != nullptr) (*duplicate)[i] = 1;
        continue;
      }
      std::string ignored;
      rocksdb::Status s = d.db->Get(rocksdb::ReadOptions(), d.event_ids, e.event_id, &ignored);
      if (s.ok()) {
        ++result.duplicates;
        if (duplicate != nullptr) (*duplicate)[i] = 1;
        continue;
      }
      if (!s.IsNotFound()) return FromRocks(s, "checking an event id");
    }
    accepted.push_back(&e);
  }
  if (accepted.empty()) return result;

  // New histories, one per user, computed from copies so a failed write leaves the cache as is.
  std::vector<std::string_view> user_order;
  std::unordered_map<std::string_view, std::vector<const Event*>> by_user;
  for (const Event* e : accepted) {
    auto [it, inserted] = by_user.try_emplace(e->user_id);
    if (inserted) user_order.push_back(e->user_id);
    it->second.push_back(e);
  }
  const int64_t now_ms = d.clock->NowMillis();
  rocksdb::WriteBatch batch;
  std::vector<UserHistory> updated(user_order.size());
  uint64_t new_users = 0;
  for (size_t u = 0; u < user_order.size(); ++u) {
    Impl::Stripe& stripe = d.stripes[StripeOf(user_order[u], kUserSalt)];
    ASSIGN_OR_RETURN(UserHistory * current, d.LoadLocked(stripe, user_order[u]));
    if (current->events_total == 0) ++new_users;
    updated[u] = *current;
    ApplyEvents(&updated[u], by_user[user_order[u]], d.config.history_per_user, now_ms);
    RETURN_IF_ERROR(FromRocks(batch.Put(d.users, user_order[u], codec::EncodeHistory(updated[u])),
                              "batching a history"));
  }
  std::vector<std::string> encoded;
  encoded.reserve(accepted.size());
  for (const Event* e : accepted) encoded.push_back(codec::EncodeEvent(*e));

  {
    std::lock_guard<std::mutex> append_lock(d.append_mu);
    uint64_t seq = d.next_seq;
    for (size_t i = 0; i < accepted.size(); ++i, ++seq) {
      std::string key = codec::EncodeSequence(seq);
      if (!accepted[i]->event_id.empty()) {
        RETURN_IF_ERROR(
            FromRocks(batch.Put(d.event_ids, accepted[i]->event_id, key), "batching an event id"));
      }
      RETURN_IF_ERROR(FromRocks(batch.Put(d.events, key, encoded[i]), "batching an event"));
    }
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    RETURN_IF_ERROR(FromRocks(d.db->Write(wo, &batch), "appending events"));
    d.next_seq = seq;
    d.event_count += accepted.size();
  }

  std::unordered_set<std::string_view> keep(user_order.begin(), user_order.end());
  for (size_t u = 0; u < user_order.size(); ++u) {
    Impl::Stripe& stripe = d.stripes[StripeOf(user_order[u], kUserSalt)];
    auto it = stripe.cache.find(user_order[u]);
    stripe.cached_entries += updated[u].recent.size();
    stripe.cached_entries -= it->second.recent.size();
    it->second = std::move(updated[u]);
    it->second.version = NextHistoryVersion();
  }
  for (size_t s : stripe_ids) d.TrimLocked(d.stripes[s], keep);
  d.user_count += new_users;
  result.appended = accepted.size();
  return result;
}

Status DataDir::ForEachEvent(const std::function<Status(const Event&)>& fn) const {
  return ForEachEventAfter(0, [&](uint64_t, const Event& event) { return fn(event); });
}

Status DataDir::ForEachEventAfter(
    uint64_t after, const std::function<Status(uint64_t seq, const Event&)>& fn) const {
  if (after == std::numeric_limits<uint64_t>::max()) return OkStatus();
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->events));
  const std::string start = codec::EncodeSequence(after + 1);
  for (it->Seek(start); it->Valid(); it->Next()) {
    auto seq = codec::DecodeSequence(std::string_view(it->key().data(), it->key().size()));
    if (!seq.ok()) return WithContext(seq.status(), "scanning events");
    auto event = codec::DecodeEvent(std::string_view(it->value().data(), it->value().size()));
    if (!event.ok()) return WithContext(event.status(), StrCat("event ", *seq));
    RETURN_IF_ERROR(fn(*seq, *event));
  }
  return FromRocks(it->status(), "scanning events");
}

Status DataDir::PutBlob(std::string_view name, std::string_view value) {
  rocksdb::WriteOptions options;
  options.sync = true;
  return FromRocks(impl_->db->Put(options, impl_->meta, StrCat("blob/", name), value),
                   "writing a blob");
}

Result<std::optional<std::string>> DataDir::GetBlob(std::string_view name) const {
  std::string value;
  rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->meta, StrCat("blob/", name), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  RETURN_IF_ERROR(FromRocks(s, "reading a blob"));
  return std::optional<std::string>(std::move(value));
}

// ---- served-feature log ----

namespace {
constexpr std::string_view kServedPrefix = "served/";
}  // namespace

Status DataDir::PutServedRecord(int64_t ts_ms, std::string_view request_id,
                                std::string_view record) {
  // Offsetting by 2^63 makes the big-endian bytes sort like the signed time.
  const std::string key =
      StrCat(kServedPrefix,
             codec::EncodeSequence(static_cast<uint64_t>(ts_ms) ^ (uint64_t{1} << 63)), request_id);
  return FromRocks(impl_->db->Put(rocksdb::WriteOptions(), impl_->meta, key,
                                  rocksdb::Slice(record.data(), record.size())),
                   "writing a served-feature record");
}

Status DataDir::ForEachServedRecord(
    const std::function<Status(std::string_view record)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->meta));
  for (it->Seek(rocksdb::Slice(kServedPrefix.data(), kServedPrefix.size()));
       it->Valid() &&
       it->key().starts_with(rocksdb::Slice(kServedPrefix.data(), kServedPrefix.size()));
       it->Next()) {
    RETURN_IF_ERROR(fn(std::string_view(it->value().data(), it->value().size())));
  }
  return FromRocks(it->status(), "scanning served-feature records");
}

uint64_t DataDir::EventCount() const { return impl_->event_count.load(); }

Status DataDir::Sync() { return FromRocks(impl_->db->FlushWAL(/*sync=*/true), "syncing the WAL"); }

// ---- dead letters ----

Status DataDir::AppendDeadLetters(const std::vector<DeadLetter>& letters, uint64_t max_records) {
  if (letters.empty()) return OkStatus();
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.dl_mu);
  rocksdb::WriteBatch batch;
  uint64_t seq = d.dl_next;
  for (const DeadLetter& letter : letters) {
    DeadLetter stored = letter;
    if (stored.raw.size() > kMaxDeadLetterRawBytes) stored.raw.resize(kMaxDeadLetterRawBytes);
    RETURN_IF_ERROR(FromRocks(
        batch.Put(d.dead_letter, codec::EncodeSequence(seq++), codec::EncodeDeadLetter(stored)),
        "batching a dead letter"));
  }
  uint64_t first = d.dl_first;
  if (seq - first > max_records) {
    first = seq - max_records;
    RETURN_IF_ERROR(FromRocks(batch.DeleteRange(d.dead_letter, codec::EncodeSequence(d.dl_first),
                                                codec::EncodeSequence(first)),
                              "batching the dead-letter trim"));
  }
  RETURN_IF_ERROR(FromRocks(d.db->Write(rocksdb::WriteOptions(), &batch), "writing dead letters"));
  d.dl_first = first;
  d.dl_next = seq;
  return OkStatus();
}

Result<std::vector<DeadLetter>> DataDir::ListDeadLetters(size_t limit, uint64_t before_seq) const {
  std::vector<DeadLetter> out;
  if (limit == 0 || before_seq <= 1) return out;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->dead_letter));
  if (before_seq == UINT64_MAX) {
    it->SeekToLast();
  } else {
    it->SeekForPrev(codec::EncodeSequence(before_seq - 1));
  }
  for (; it->Valid() && out.size() < limit; it->Prev()) {
    ASSIGN_OR_RETURN(uint64_t seq,
                     codec::DecodeSequence(std::string_view(it->key().data(), it->key().size())));
    ASSIGN_OR_RETURN(
        DeadLetter letter,
        codec::DecodeDeadLetter(seq, std::string_view(it->value().data(), it->value().size())));
    out.push_back(std::move(letter));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "listing dead letters"));
  return out;
}

uint64_t DataDir::DeadLetterCount() const {
  std::lock_guard<std::mutex> lock(impl_->dl_mu);
  return impl_->dl_next - impl_->dl_first;
}

uint32_t DataDir::layout_version() const { return impl_->layout_version; }

// ---- users ----

Result<UserHistory> DataDir::GetUserHistory(std::string_view user_id) const {
  return GetUserHistory(user_id, 0);
}

Result<UserHistory> DataDir::GetUserHistory(std::string_view user_id,
                                            uint64_t known_version) const {
  Impl::Stripe& stripe = impl_->stripes[StripeOf(user_id, kUserSalt)];
  std::lock_guard<std::mutex> lock(stripe.mu);
  ASSIGN_OR_RETURN(UserHistory * history, impl_->LoadLocked(stripe, user_id));
  if (known_version != 0 && history->version == known_version) {
    UserHistory scalars;
    scalars.events_total = history->events_total;
    scalars.updated_at_ms = history->updated_at_ms;
    scalars.version = history->version;
    return scalars;
  }
  UserHistory copy = *history;
  if (stripe.cached_entries > kCacheEntriesPerStripe) impl_->TrimLocked(stripe, {user_id});
  return copy;
}

Status DataDir::ForEachUser(
    const std::function<Status(std::string_view user_id, const UserHistory&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->users));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ASSIGN_OR_RETURN(UserHistory history, codec::DecodeHistory(std::string_view(
                                              it->value().data(), it->value().size())));
    RETURN_IF_ERROR(fn(std::string_view(it->key().data(), it->key().size()), history));
  }
  return FromRocks(it->status(), "scanning users");
}

uint64_t DataDir::UserCount() const { return impl_->user_count.load(); }

}  // namespace pulse::store
