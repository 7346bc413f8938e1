// rollout/model_bundle.cc — writing (temp dir + fsync + rename) and verified loading of bundles.
#include "rollout/model_bundle.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string_view>
#include <utility>

#include "core/clock.h"

namespace pulse::rollout {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

static_assert(std::endian::native == std::endian::little,
              "bundle .f32 files are little-endian; a big-endian build must byte-swap");

constexpr int kFormatVersion = 1;
constexpr std::string_view kManifest = "manifest.json";
constexpr std::string_view kItems = "items.txt";
constexpr std::string_view kUsers = "users.txt";
constexpr std::string_view kItemFactors = "item_factors.f32";
constexpr std::string_view kUserFactors = "user_factors.f32";
constexpr std::string_view kItemPopularity = "item_popularity.f32";
constexpr std::string_view kIndex = "index.faiss";
constexpr std::string_view kRanker = "ranker.json";  // optional
constexpr std::string_view kRequiredFiles[] = {kItems,       kUsers,          kItemFactors,
                                               kUserFactors, kItemPopularity, kIndex};
constexpr size_t kMaxManifestBytes = size_t{16} << 20;
constexpr int kMaxVersion = 999'999;
constexpr int kMaxDim = 1 << 16;
constexpr int64_t kMaxCount = int64_t{1} << 31;
constexpr int kRenameAttempts = 100;

std::string JoinPath(const std::string& dir, std::string_view name) {
  return StrCat(dir, "/", name);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now so the caller sees the error (close can report a deferred write error).
  int Close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    ok_ = ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1;
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t n) {
    if (ok_ && n > 0) ok_ = EVP_DigestUpdate(ctx_, data, n) == 1;
  }
  Result<std::string> HexDigest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!ok_ || EVP_DigestFinal_ex(ctx_, md, &len) != 1) {
      return InternalError("SHA-256 computation failed (OpenSSL)");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(2 * len);
    for (unsigned int i = 0; i < len; ++i) {
      hex.push_back(kHex[md[i] >> 4]);
      hex.push_back(kHex[md[i] & 0xf]);
    }
    return hex;
  }

 private:
  EVP_MD_CTX* ctx_;
  bool ok_ = false;
};

struct FileEntry {
  std::string sha256;
  uint64_t bytes = 0;
};

// Creates (or truncates) `path`, writes `bytes`, fsyncs and closes, reporting every failure.
Status WriteFileSynced(const std::string& path, const void* data, size_t bytes) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return ErrnoToStatus(errno, StrCat("cannot create ", path));
  const char* p = static_cast<const char*>(data);
  size_t left = bytes;
  while (left > 0) {
    const ssize_t n = ::write(fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, StrCat("cannot write ", path));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return ErrnoToStatus(errno, StrCat("cannot fsync ", path));
  if (fd.Close() != 0) return ErrnoToStatus(errno, StrCat("cannot close ", path));
  return OkStatus();
}

Status FsyncPath(const std::string& path, bool directory) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0)));
  if (fd.get() < 0) return ErrnoToStatus(errno, StrCat("cannot open ", path, " to fsync it"));
  if (::fsync(fd.get()) != 0) return ErrnoToStatus(errno, StrCat("cannot fsync ", path));
  return OkStatus();
}

Result<FileEntry> EntryFor(const void* data, size_t bytes) {
  Sha256 sha;
  sha.Update(data, bytes);
  ASSIGN_OR_RETURN(std::string hex, sha.HexDigest());
  return FileEntry{std::move(hex), bytes};
}

// Reads `path` in full, hashing as it goes. With `want`, the size is checked before anything is
// allocated and the digest after reading: any difference is DataLoss naming `name`. `sink`
// receives the file size and returns where to put the bytes (nullptr: hash only).
template <typename Sink>
Result<FileEntry> ReadHashed(const std::string& path, std::string_view name,
                             const std::optional<FileEntry>& want, Sink&& sink) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return DataLossError(StrCat("bundle file ", name, " is missing"));
    return ErrnoToStatus(errno, StrCat("cannot open bundle file ", path));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoToStatus(errno, StrCat("cannot stat ", path));
  if (!S_ISREG(st.st_mode)) return DataLossError(StrCat("bundle file ", name, " is not a file"));
  const auto size = static_cast<uint64_t>(st.st_size);
  if (want.has_value() && size != want->bytes) {
    return DataLossError(
        StrCat("bundle file ", name, " has ", size, " bytes, the manifest says ", want->bytes));
  }
  char* dst = sink(static_cast<size_t>(size));
  Sha256 sha;
  std::vector<char> chunk(dst == nullptr ? size_t{1} << 20 : 0);
  uint64_t done = 0;
  while (done < size) {
    char* to = dst != nullptr ? dst + done : chunk.data();
    const size_t want_now =
        static_cast<size_t>(std::min<uint64_t>(size - done, dst != nullptr ? size : chunk.size()));
    const ssize_t n = ::read(fd.get(), to, want_now);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, StrCat("cannot read ", path));
    }
    if (n == 0) return DataLossError(StrCat("bundle file ", name, " shrank while being read"));
    sha.Update(to, static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
  ASSIGN_OR_RETURN(std::string hex, sha.HexDigest());
  if (want.has_value() && hex != want->sha256) {
    return DataLossError(StrCat("bundle file ", name, " fails its SHA-256 check (corrupt)"));
  }
  return FileEntry{std::move(hex), size};
}

Status ReadVerifiedText(const std::string& dir, std::string_view name, const FileEntry& want,
                        std::string* out) {
  return ReadHashed(JoinPath(dir, name), name, want,
                    [&](size_t size) {
                      out->resize(size);
                      return out->data();
                    })
      .status();
}

Status ReadVerifiedFloats(const std::string& dir, std::string_view name, const FileEntry& want,
                          std::vector<float>* out) {
  if (want.bytes % sizeof(float) != 0) {
    return DataLossError(StrCat("bundle file ", name, " is not a whole number of float32s"));
  }
  return ReadHashed(JoinPath(dir, name), name, want,
                    [&](size_t size) {
                      out->resize(size / sizeof(float));
                      return reinterpret_cast<char*>(out->data());
                    })
      .status();
}

std::optional<int> ParseVersionName(std::string_view name) {
  if (name.size() != 7 || name[0] != 'v') return std::nullopt;
  int value = 0;
  for (char c : name.substr(1)) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

std::string VersionName(int number) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "v%06d", number);
  return buf;
}

// Highest vNNNNNN entry of any kind, so a half-deleted or foreign directory is never reused.
int HighestVersionNumber(const std::string& models_dir) {
  int highest = 0;
  std::error_code ec;
  for (fs::directory_iterator it(models_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (auto v = ParseVersionName(it->path().filename().string())) highest = std::max(highest, *v);
  }
  return highest;
}

Result<std::string> MakeTempDir(const std::string& models_dir) {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd());
  for (int attempt = 0; attempt < 16; ++attempt) {
    char suffix[17];
    std::snprintf(suffix, sizeof(suffix), "%016llx", static_cast<unsigned long long>(rng()));
    std::string path = JoinPath(models_dir, StrCat(".tmp-", suffix));
    if (::mkdir(path.c_str(), 0755) == 0) return path;
    if (errno != EEXIST) return ErrnoToStatus(errno, StrCat("cannot create ", path));
  }
  return InternalError(StrCat("cannot create a unique temporary directory in ", models_dir));
}

// Renames `from` to `to` unless `to` exists (EEXIST then). Falls back to rename(2), which also
// refuses a non-empty target directory, where RENAME_NOREPLACE is unsupported.
int RenameNoReplace(const std::string& from, const std::string& to) {
#ifdef RENAME_NOREPLACE
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
#endif
  if (::rename(from.c_str(), to.c_str()) == 0) return 0;
  return errno == ENOTEMPTY ? EEXIST : errno;
}

// A valid id is a non-empty line: no control characters (ingest rejects them anyway).
Status CheckIds(const IdDictionary& ids, std::string_view what) {
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& id = ids.Name(static_cast<DenseId>(i));
    if (id.empty()) return InvalidArgumentError(StrCat(what, " id #", i, " is empty"));
    for (unsigned char c : id) {
      if (c < 0x20 || c == 0x7f) {
        // Ids may be personal data: name the position, never the id.
        return InvalidArgumentError(StrCat(what, " id #", i, " contains a control character"));
      }
    }
  }
  return OkStatus();
}

std::string JoinIds(const IdDictionary& ids) {
  size_t total = 0;
  for (const std::string& id : ids.names()) total += id.size() + 1;
  std::string out;
  out.reserve(total);
  for (const std::string& id : ids.names()) {
    out += id;
    out += '\n';
  }
  return out;
}

Status ParseIds(const std::string& text, int64_t expected, std::string_view name,
                IdDictionary* ids) {
  if (!text.empty() && text.back() != '\n') {
    return DataLossError(StrCat("bundle file ", name, " does not end with a newline"));
  }
  ids->Reserve(static_cast<size_t>(expected));
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const std::string_view line(text.data() + start, end - start);
    const size_t index = ids->size();
    if (line.empty()) return DataLossError(StrCat("bundle file ", name, " has an empty line"));
    if (ids->Intern(line) != index) {
      return DataLossError(StrCat("bundle file ", name, " repeats an id (line ", index + 1, ")"));
    }
    start = end + 1;
  }
  if (static_cast<int64_t>(ids->size()) != expected) {
    return DataLossError(
        StrCat("bundle file ", name, " has ", ids->size(), " ids, the manifest says ", expected));
  }
  return OkStatus();
}

bool AllFinite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

Status ValidateForWrite(const ModelBundle& b, json* extra) {
  if (b.dim < 1 || b.dim > kMaxDim) {
    return InvalidArgumentError(StrCat("bundle dim must be in [1, ", kMaxDim, "], got ", b.dim));
  }
  const size_t dim = static_cast<size_t>(b.dim);
  if (static_cast<int64_t>(b.items.size()) >= kMaxCount ||
      static_cast<int64_t>(b.users.size()) >= kMaxCount) {
    return InvalidArgumentError("bundle has too many items or users");
  }
  if (b.item_factors.size() != b.items.size() * dim) {
    return InvalidArgumentError(StrCat("item_factors has ", b.item_factors.size(),
                                       " floats, expected items x dim = ", b.items.size() * dim));
  }
  if (b.user_factors.size() != b.users.size() * dim) {
    return InvalidArgumentError(StrCat("user_factors has ", b.user_factors.size(),
                                       " floats, expected users x dim = ", b.users.size() * dim));
  }
  if (b.item_popularity.size() != b.items.size()) {
    return InvalidArgumentError(StrCat("item_popularity has ", b.item_popularity.size(),
                                       " values, expected one per item (", b.items.size(), ")"));
  }
  if (!AllFinite(b.item_factors) || !AllFinite(b.user_factors) || !AllFinite(b.item_popularity)) {
    return InvalidArgumentError("bundle has a non-finite factor or popularity value");
  }
  if (b.index == nullptr) return InvalidArgumentError("bundle has no ANN index");
  if (b.index->size() != b.items.size() || b.index->dim() != b.dim) {
    return InvalidArgumentError(StrCat("ANN index holds ", b.index->size(), " x ", b.index->dim(),
                                       " vectors, expected ", b.items.size(), " x ", b.dim));
  }
  RETURN_IF_ERROR(CheckIds(b.items, "item"));
  RETURN_IF_ERROR(CheckIds(b.users, "user"));
  const std::string_view extra_text =
      b.manifest_extra_json.empty() ? std::string_view("{}") : b.manifest_extra_json;
  *extra = json::parse(extra_text, nullptr, /*allow_exceptions=*/false);
  if (!extra->is_object()) {
    return InvalidArgumentError("manifest_extra_json must be a JSON object");
  }
  return OkStatus();
}

json ManifestFileEntry(const FileEntry& e) { return {{"sha256", e.sha256}, {"bytes", e.bytes}}; }

// --- Manifest reading: never throws; any shape problem is DataLoss. ---

struct Manifest {
  int format_version = 0;
  std::string version;
  int64_t created_at_ms = 0;
  int dim = 0;
  int64_t item_count = 0;
  int64_t user_count = 0;
  std::string index_type;
  std::map<std::string, FileEntry> files;
  json extra = json::object();
};

Status BadManifest(const std::string& dir, std::string_view why) {
  return DataLossError(StrCat("manifest of bundle ", dir, " is invalid: ", why));
}

Result<int64_t> GetInt(const json& j, const char* key, const std::string& dir) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) {
    return BadManifest(dir, StrCat("\"", key, "\" must be an integer"));
  }
  return it->get<int64_t>();
}

Result<std::string> GetString(const json& j, const char* key, const std::string& dir) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) {
    return BadManifest(dir, StrCat("\"", key, "\" must be a string"));
  }
  return it->get<std::string>();
}

bool IsHex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name != kManifest &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

Result<Manifest> ParseManifest(const std::string& text, const std::string& dir) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return BadManifest(dir, "not valid JSON");
  if (!j.is_object()) return BadManifest(dir, "not a JSON object");
  Manifest m;
  ASSIGN_OR_RETURN(int64_t format_version, GetInt(j, "format_version", dir));
  if (format_version != kFormatVersion) {
    return FailedPreconditionError(StrCat("bundle ", dir, " has format_version ", format_version,
                                          "; this build reads ", kFormatVersion));
  }
  m.format_version = static_cast<int>(format_version);
  ASSIGN_OR_RETURN(m.version, GetString(j, "version", dir));
  ASSIGN_OR_RETURN(m.created_at_ms, GetInt(j, "created_at_ms", dir));
  ASSIGN_OR_RETURN(int64_t dim, GetInt(j, "dim", dir));
  if (dim < 1 || dim > kMaxDim) return BadManifest(dir, StrCat("dim ", dim, " out of range"));
  m.dim = static_cast<int>(dim);
  ASSIGN_OR_RETURN(m.item_count, GetInt(j, "item_count", dir));
  ASSIGN_OR_RETURN(m.user_count, GetInt(j, "user_count", dir));
  if (m.item_count < 0 || m.item_count >= kMaxCount || m.user_count < 0 ||
      m.user_count >= kMaxCount) {
    return BadManifest(dir, "item_count or user_count out of range");
  }
  ASSIGN_OR_RETURN(m.index_type, GetString(j, "index_type", dir));
  auto files = j.find("files");
  if (files == j.end() || !files->is_object()) {
    return BadManifest(dir, "\"files\" must be an object");
  }
  for (const auto& [name, entry] : files->items()) {
    if (!IsPlainFileName(name)) return BadManifest(dir, "a file name is not a plain file name");
    if (!entry.is_object()) return BadManifest(dir, StrCat("files.", name, " must be an object"));
    ASSIGN_OR_RETURN(std::string sha, GetString(entry, "sha256", dir));
    if (!IsHex64(sha)) return BadManifest(dir, StrCat("files.", name, ".sha256 is not a digest"));
    auto bytes = entry.find("bytes");
    if (bytes == entry.end() || !bytes->is_number_unsigned()) {
      return BadManifest(dir, StrCat("files.", name, ".bytes must be a non-negative integer"));
    }
    m.files[name] = FileEntry{std::move(sha), bytes->get<uint64_t>()};
  }
  for (std::string_view required : kRequiredFiles) {
    if (!m.files.contains(std::string(required))) {
      return BadManifest(dir, StrCat("\"files\" does not list ", required));
    }
  }
  if (auto extra = j.find("extra"); extra != j.end()) {
    if (!extra->is_object()) return BadManifest(dir, "\"extra\" must be an object");
    m.extra = *extra;
  }
  return m;
}

Status ExpectBytes(const Manifest& m, std::string_view name, uint64_t expected,
                   const std::string& dir) {
  const uint64_t listed = m.files.at(std::string(name)).bytes;
  if (listed != expected) {
    return DataLossError(StrCat("bundle ", dir, ": ", name, " has ", listed, " bytes, expected ",
                                expected, " for the manifest's counts and dim"));
  }
  return OkStatus();
}

}  // namespace

Result<std::string> WriteModelBundle(const std::string& models_dir, ModelBundle& bundle) {
  json extra;
  RETURN_IF_ERROR(ValidateForWrite(bundle, &extra));
  std::error_code ec;
  fs::create_directories(models_dir, ec);
  if (ec) return ErrnoToStatus(ec.value(), StrCat("cannot create models directory ", models_dir));
  ASSIGN_OR_RETURN(const std::string tmp, MakeTempDir(models_dir));
  // Whatever happens below, a failed write leaves nothing behind but (at worst, after a crash)
  // a .tmp-* directory, which readers ignore.
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      if (!path.empty()) {
        std::error_code ignored;
        fs::remove_all(path, ignored);
      }
    }
  } cleanup{tmp};

  const int64_t created_at_ms =
      bundle.created_at_ms > 0 ? bundle.created_at_ms : SystemClock::Get().NowMillis();
  json files = json::object();
  auto write = [&](std::string_view name, const void* data, size_t bytes) -> Status {
    RETURN_IF_ERROR(WriteFileSynced(JoinPath(tmp, name), data, bytes));
    ASSIGN_OR_RETURN(FileEntry entry, EntryFor(data, bytes));
    files[std::string(name)] = ManifestFileEntry(entry);
    return OkStatus();
  };
  const std::string items_text = JoinIds(bundle.items);
  const std::string users_text = JoinIds(bundle.users);
  RETURN_IF_ERROR(write(kItems, items_text.data(), items_text.size()));
  RETURN_IF_ERROR(write(kUsers, users_text.data(), users_text.size()));
  RETURN_IF_ERROR(
      write(kItemFactors, bundle.item_factors.data(), bundle.item_factors.size() * sizeof(float)));
  RETURN_IF_ERROR(
      write(kUserFactors, bundle.user_factors.data(), bundle.user_factors.size() * sizeof(float)));
  RETURN_IF_ERROR(write(kItemPopularity, bundle.item_popularity.data(),
                        bundle.item_popularity.size() * sizeof(float)));
  if (!bundle.ranker_json.empty()) {
    if (auto ranker = gbdt::ParseXgboostJson(bundle.ranker_json); !ranker.ok()) {
      return InvalidArgumentError(StrCat("bundle ranker: ", ranker.status().message()));
    }
    RETURN_IF_ERROR(write(kRanker, bundle.ranker_json.data(), bundle.ranker_json.size()));
  }
  {
    const std::string index_path = JoinPath(tmp, kIndex);
    RETURN_IF_ERROR(WithContext(bundle.index->Save(index_path), "writing model bundle"));
    ASSIGN_OR_RETURN(FileEntry entry, ReadHashed(index_path, kIndex, std::nullopt,
                                                 [](size_t) -> char* { return nullptr; }));
    files[std::string(kIndex)] = ManifestFileEntry(entry);
  }

  json manifest = {
      {"format_version", kFormatVersion},   {"version", ""},
      {"created_at_ms", created_at_ms},     {"dim", bundle.dim},
      {"item_count", bundle.items.size()},  {"user_count", bundle.users.size()},
      {"index_type", bundle.index->type()}, {"files", std::move(files)},
      {"extra", std::move(extra)},
  };
  // The version is picked last and re-picked if a concurrent writer takes it first; the manifest
  // names it, so it is rewritten on every attempt.
  int number = HighestVersionNumber(models_dir) + 1;
  for (int attempt = 0; attempt < kRenameAttempts; ++attempt, ++number) {
    if (number > kMaxVersion) {
      return ResourceExhaustedError(StrCat("models directory ", models_dir, " has reached v",
                                           kMaxVersion, "; remove old versions"));
    }
    const std::string version = VersionName(number);
    manifest["version"] = version;
    const std::string text = manifest.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
    RETURN_IF_ERROR(WriteFileSynced(JoinPath(tmp, kManifest), text.data(), text.size()));
    RETURN_IF_ERROR(FsyncPath(tmp, /*directory=*/true));
    const std::string final_dir = JoinPath(models_dir, version);
    const int err = RenameNoReplace(tmp, final_dir);
    if (err == EEXIST) {
      number = std::max(number, HighestVersionNumber(models_dir));
      continue;
    }
    if (err != 0) return ErrnoToStatus(err, StrCat("cannot rename bundle into ", final_dir));
    cleanup.path.clear();
    RETURN_IF_ERROR(FsyncPath(models_dir, /*directory=*/true));
    bundle.version = version;
    bundle.dir = final_dir;
    bundle.created_at_ms = created_at_ms;
    return version;
  }
  return Status(StatusCode::kAborted,
                StrCat("could not claim a version in ", models_dir, " after ", kRenameAttempts,
                       " attempts (too many concurrent writers?)"));
}

Result<std::string> ReadManifestJson(const std::string& bundle_dir) {
  struct stat st {};
  if (::stat(bundle_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return NotFoundError(StrCat("model bundle directory ", bundle_dir, " does not exist"));
  }
  const std::string path = JoinPath(bundle_dir, kManifest);
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return NotFoundError(StrCat("model bundle ", bundle_dir, " has no ", kManifest));
    }
    return ErrnoToStatus(errno, StrCat("cannot stat ", path));
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxManifestBytes) {
    return DataLossError(StrCat("manifest of bundle ", bundle_dir, " is implausibly large (",
                                st.st_size, " bytes)"));
  }
  std::string text;
  RETURN_IF_ERROR(ReadHashed(path, kManifest, std::nullopt, [&](size_t size) {
                    text.resize(size);
                    return text.data();
                  }).status());
  if (!json::accept(text)) {
    return DataLossError(StrCat("manifest of bundle ", bundle_dir, " is not valid JSON"));
  }
  return text;
}

Result<std::shared_ptr<const ModelBundle>> LoadModelBundle(const std::string& bundle_dir,
                                                           const IndexConfig& index_config) {
  ASSIGN_OR_RETURN(const std::string text, ReadManifestJson(bundle_dir));
  ASSIGN_OR_RETURN(const Manifest m, ParseManifest(text, bundle_dir));
  const auto dim = static_cast<uint64_t>(m.dim);
  const auto items = static_cast<uint64_t>(m.item_count);
  const auto users = static_cast<uint64_t>(m.user_count);
  RETURN_IF_ERROR(ExpectBytes(m, kItemFactors, items * dim * sizeof(float), bundle_dir));
  RETURN_IF_ERROR(ExpectBytes(m, kUserFactors, users * dim * sizeof(float), bundle_dir));
  RETURN_IF_ERROR(ExpectBytes(m, kItemPopularity, items * sizeof(float), bundle_dir));

  auto bundle = std::make_shared<ModelBundle>();
  const std::string dir_name = fs::path(bundle_dir).lexically_normal().filename().string();
  bundle->version = ParseVersionName(dir_name).has_value() ? dir_name : m.version;
  bundle->dir = bundle_dir;
  bundle->created_at_ms = m.created_at_ms;
  bundle->dim = m.dim;
  bundle->manifest_extra_json = m.extra.dump(-1, ' ', false, json::error_handler_t::replace);

  auto context = [&](const Status& s) {
    return WithContext(s, StrCat("loading bundle ", bundle_dir));
  };
  std::string ids_text;
  RETURN_IF_ERROR(
      context(ReadVerifiedText(bundle_dir, kItems, m.files.at(std::string(kItems)), &ids_text)));
  RETURN_IF_ERROR(context(ParseIds(ids_text, m.item_count, kItems, &bundle->items)));
  RETURN_IF_ERROR(
      context(ReadVerifiedText(bundle_dir, kUsers, m.files.at(std::string(kUsers)), &ids_text)));
  RETURN_IF_ERROR(context(ParseIds(ids_text, m.user_count, kUsers, &bundle->users)));
  ids_text.clear();
  ids_text.shrink_to_fit();
  RETURN_IF_ERROR(context(ReadVerifiedFloats(
      bundle_dir, kItemFactors, m.files.at(std::string(kItemFactors)), &bundle->item_factors)));
  RETURN_IF_ERROR(context(ReadVerifiedFloats(
      bundle_dir, kUserFactors, m.files.at(std::string(kUserFactors)), &bundle->user_factors)));
  RETURN_IF_ERROR(context(ReadVerifiedFloats(bundle_dir, kItemPopularity,
                                             m.files.at(std::string(kItemPopularity)),
                                             &bundle->item_popularity)));
  if (auto ranker = m.files.find(std::string(kRanker)); ranker != m.files.end()) {
    RETURN_IF_ERROR(
        context(ReadVerifiedText(bundle_dir, kRanker, ranker->second, &bundle->ranker_json)));
    auto ensemble = gbdt::ParseXgboostJson(bundle->ranker_json);
    if (!ensemble.ok()) return context(DataLossError(ensemble.status().message()));
    auto compiled = gbdt::CompiledEnsemble::Compile(*ensemble);
    if (!compiled.ok()) return context(DataLossError(compiled.status().message()));
    bundle->ranker = std::make_shared<const gbdt::CompiledEnsemble>(std::move(compiled).value());
  }
  // Every other listed file (the index, and any a later writer adds) is checked by streaming.
  for (const auto& [name, entry] : m.files) {
    if (name == kItems || name == kUsers || name == kItemFactors || name == kUserFactors ||
        name == kItemPopularity || name == kRanker) {
      continue;
    }
    RETURN_IF_ERROR(
        context(ReadHashed(JoinPath(bundle_dir, name), name, entry, [](size_t) -> char* {
                  return nullptr;
                }).status()));
  }

  // The index file says which kind it holds (and must agree with the manifest); the config
  // contributes search-time knobs.
  auto index = index::AnnIndex::Load(JoinPath(bundle_dir, kIndex), index_config);
  if (!index.ok()) return context(index.status());
  if ((*index)->type() != m.index_type) {
    return DataLossError(StrCat("bundle ", bundle_dir, ": index.faiss holds a ", (*index)->type(),
                                " index, the manifest says ", m.index_type));
  }
  if ((*index)->size() != items || (*index)->dim() != m.dim) {
    return DataLossError(StrCat("bundle ", bundle_dir, ": index.faiss holds ", (*index)->size(),
                                " x ", (*index)->dim(), " vectors, the manifest says ", items,
                                " x ", m.dim));
  }
  bundle->index = std::move(index).value();
  FillDerived(*bundle);
  return std::shared_ptr<const ModelBundle>(std::move(bundle));
}

std::vector<std::string> ListModelVersions(const std::string& models_dir) {
  std::vector<std::string> versions;
  std::error_code ec;
  for (fs::directory_iterator it(models_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!ParseVersionName(name).has_value()) continue;
    std::error_code ignored;
    if (!it->is_directory(ignored)) continue;
    if (!fs::is_regular_file(it->path() / std::string(kManifest), ignored)) continue;
    versions.push_back(name);
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

void FillDerived(ModelBundle& bundle) {
  bundle.item_log_popularity.resize(bundle.item_popularity.size());
  for (size_t i = 0; i < bundle.item_popularity.size(); ++i) {
    bundle.item_log_popularity[i] = LogPopularity(bundle.item_popularity[i]);
  }
}

bool IsModelVersionName(std::string_view name) { return ParseVersionName(name).has_value(); }

}  // namespace pulse::rollout
