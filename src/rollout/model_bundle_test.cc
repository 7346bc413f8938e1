#include "rollout/model_bundle.h"

#include <openssl/evp.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::rollout {
namespace {

namespace fs = std::filesystem;
using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;
using ::pulse::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int kDim = 8;

std::vector<float> RandomFloats(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

ModelBundle MakeBundle(size_t items, size_t users, const std::string& index_type = "hnsw",
                       uint64_t seed = 1) {
  ModelBundle b;
  b.dim = kDim;
  b.created_at_ms = 1'732'450'000'000;
  for (size_t i = 0; i < items; ++i) b.items.Intern(StrCat("item-", i));
  for (size_t u = 0; u < users; ++u) b.users.Intern(StrCat("user:", u, " é"));
  b.item_factors = RandomFloats(items * kDim, seed);
  b.user_factors = RandomFloats(users * kDim, seed + 1);
  b.item_popularity = RandomFloats(items, seed + 2);
  IndexConfig config;
  config.type = index_type;
  auto index = index::AnnIndex::Build(b.item_factors.data(), items, kDim, config);
  EXPECT_THAT(index, IsOk());
  if (index.ok()) b.index = std::move(index).value();
  b.manifest_extra_json = R"({"params":{"factors":8,"alpha":10.0},"metrics":{"recall@10":0.31}})";
  return b;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    static constexpr char kHex[] = "0123456789abcdef";
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 0xf];
  }
  return hex;
}

// Replaces a bundle file and updates its manifest entry, so checks beyond the checksum are hit.
void RewriteWithValidChecksum(const std::string& dir, const std::string& name,
                              const std::string& contents) {
  WriteBytes(dir + "/" + name, contents);
  auto manifest = nlohmann::json::parse(ReadBytes(dir + "/manifest.json"));
  manifest["files"][name] = {{"sha256", Sha256Hex(contents)}, {"bytes", contents.size()}};
  WriteBytes(dir + "/manifest.json", manifest.dump());
}

std::string WriteOrDie(const std::string& models_dir, ModelBundle& b) {
  auto v = WriteModelBundle(models_dir, b);
  EXPECT_THAT(v, IsOk());
  return v.ok() ? *v : "";
}

TEST(ModelBundleTest, WriteLoadRoundTrip) {
  TempDir tmp;
  const std::string models = tmp.Sub("models");  // created by Write
  ModelBundle b = MakeBundle(300, 40);
  auto version = WriteModelBundle(models, b);
  ASSERT_THAT(version, IsOk());
  EXPECT_EQ(*version, "v000001");
  EXPECT_EQ(b.version, "v000001");
  EXPECT_EQ(b.dir, models + "/v000001");

  auto loaded = LoadModelBundle(b.dir, IndexConfig{});
  ASSERT_THAT(loaded, IsOk());
  const ModelBundle& l = **loaded;
  EXPECT_EQ(l.version, "v000001");
  EXPECT_EQ(l.dir, b.dir);
  EXPECT_EQ(l.created_at_ms, b.created_at_ms);
  EXPECT_EQ(l.dim, kDim);
  EXPECT_EQ(l.items.names(), b.items.names());
  EXPECT_EQ(l.users.names(), b.users.names());
  EXPECT_EQ(l.items.Find("item-17"), 17u);
  EXPECT_EQ(l.item_factors, b.item_factors);
  EXPECT_EQ(l.user_factors, b.user_factors);
  EXPECT_EQ(l.item_popularity, b.item_popularity);
  // The derived log table is filled at load, one log1p per item (the hydrator reads it).
  ASSERT_EQ(l.item_log_popularity.size(), l.item_popularity.size());
  for (size_t i = 0; i < l.item_popularity.size(); ++i) {
    const float p = l.item_popularity[i];
    EXPECT_EQ(l.item_log_popularity[i], p > 0 ? std::log1p(p) : 0.0f) << "item " << i;
  }
  EXPECT_EQ(nlohmann::json::parse(l.manifest_extra_json),
            nlohmann::json::parse(b.manifest_extra_json));
  ASSERT_NE(l.index, nullptr);
  EXPECT_EQ(l.index->type(), "hnsw");
  for (DenseId u = 0; u < 40; ++u) {
    std::vector<index::Neighbor> want, got;
    ASSERT_THAT(b.index->Search(b.UserVector(u), 10, &want), IsOk());
    ASSERT_THAT(l.index->Search(l.UserVector(u), 10, &got), IsOk());
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].id, want[i].id);
      EXPECT_EQ(got[i].score, want[i].score);
    }
  }
  // Nothing but the version directory is left behind.
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(models)) entries.push_back(e.path().filename());
  EXPECT_THAT(entries, ElementsAre("v000001"));
}

TEST(ModelBundleTest, ManifestDescribesEveryFile) {
  TempDir tmp;
  ModelBundle b = MakeBundle(20, 3, "flat");
  WriteOrDie(tmp.path(), b);
  auto text = ReadManifestJson(b.dir);
  ASSERT_THAT(text, IsOk());
  const auto m = nlohmann::json::parse(*text);
  EXPECT_EQ(m["format_version"], 1);
  EXPECT_EQ(m["version"], "v000001");
  EXPECT_EQ(m["created_at_ms"], b.created_at_ms);
  EXPECT_EQ(m["dim"], kDim);
  EXPECT_EQ(m["item_count"], 20);
  EXPECT_EQ(m["user_count"], 3);
  EXPECT_EQ(m["index_type"], "flat");
  EXPECT_EQ(m["extra"]["params"]["factors"], 8);
  for (const std::string name : {"items.txt", "users.txt", "item_factors.f32", "user_factors.f32",
                                 "item_popularity.f32", "index.faiss"}) {
    SCOPED_TRACE(name);
    const std::string contents = ReadBytes(b.dir + "/" + name);
    EXPECT_EQ(m["files"][name]["bytes"], contents.size());
    EXPECT_EQ(m["files"][name]["sha256"], Sha256Hex(contents));
  }
  EXPECT_EQ(ReadBytes(b.dir + "/items.txt").substr(0, 14), "item-0\nitem-1\n");
  EXPECT_EQ(m["files"]["item_factors.f32"]["bytes"], 20 * kDim * 4);
}

TEST(ModelBundleTest, VersionsIncrease) {
  TempDir tmp;
  ModelBundle a = MakeBundle(10, 2);
  ModelBundle b = MakeBundle(10, 2);
  EXPECT_EQ(WriteOrDie(tmp.path(), a), "v000001");
  EXPECT_EQ(WriteOrDie(tmp.path(), b), "v000002");
  EXPECT_THAT(ListModelVersions(tmp.path()), ElementsAre("v000001", "v000002"));
  // The next number follows the highest one present, gaps included.
  fs::create_directory(tmp.Sub("v000041"));
  ModelBundle c = MakeBundle(10, 2);
  EXPECT_EQ(WriteOrDie(tmp.path(), c), "v000042");
}

TEST(ModelBundleTest, ConcurrentWritersGetDistinctVersions) {
  TempDir tmp;
  std::vector<ModelBundle> bundles;
  for (int i = 0; i < 4; ++i) bundles.push_back(MakeBundle(30, 5, "flat", 10 + i));
  std::vector<std::string> versions(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto v = WriteModelBundle(tmp.path(), bundles[i]);
      versions[i] = v.ok() ? *v : v.status().ToString();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::set<std::string>(versions.begin(), versions.end()),
            (std::set<std::string>{"v000001", "v000002", "v000003", "v000004"}));
  for (size_t i = 0; i < 4; ++i) {
    auto loaded = LoadModelBundle(bundles[i].dir, IndexConfig{});
    ASSERT_THAT(loaded, IsOk());
    EXPECT_EQ((*loaded)->item_factors, bundles[i].item_factors);
  }
}

TEST(ModelBundleTest, FlippedByteInItemFactorsIsDataLoss) {
  TempDir tmp;
  ModelBundle b = MakeBundle(50, 5);
  WriteOrDie(tmp.path(), b);
  std::string bytes = ReadBytes(b.dir + "/item_factors.f32");
  bytes[123] = static_cast<char>(bytes[123] ^ 0x10);
  WriteBytes(b.dir + "/item_factors.f32", bytes);
  EXPECT_THAT(LoadModelBundle(b.dir, IndexConfig{}),
              StatusIs(StatusCode::kDataLoss, "item_factors.f32"));
}

TEST(ModelBundleTest, TruncatedIndexIsDataLoss) {
  TempDir tmp;
  ModelBundle b = MakeBundle(50, 5);
  WriteOrDie(tmp.path(), b);
  const std::string bytes = ReadBytes(b.dir + "/index.faiss");
  WriteBytes(b.dir + "/index.faiss", bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(LoadModelBundle(b.dir, IndexConfig{}),
              StatusIs(StatusCode::kDataLoss, "index.faiss"));
  // Even with a matching checksum, a truncated index is refused by the index loader.
  RewriteWithValidChecksum(b.dir, "index.faiss", bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(LoadModelBundle(b.dir, IndexConfig{}), StatusIs(StatusCode::kDataLoss));
}

TEST(ModelBundleTest, MissingDirectoryOrManifestIsNotFound) {
  TempDir tmp;
  EXPECT_THAT(LoadModelBundle(tmp.Sub("v000001"), IndexConfig{}), StatusIs(StatusCode::kNotFound));
  ModelBundle b = MakeBundle(10, 2);
  WriteOrDie(tmp.path(), b);
  fs::remove(b.dir + "/manifest.json");
  EXPECT_THAT(LoadModelBundle(b.dir, IndexConfig{}), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(ReadManifestJson(b.dir), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(ListModelVersions(tmp.path()), IsEmpty());
}

TEST(ModelBundleTest, GarbageManifestIsDataLoss) {
  TempDir tmp;
  ModelBundle b = MakeBundle(10, 2);
  WriteOrDie(tmp.path(), b);
  const std::string manifest = b.dir + "/manifest.json";
  const std::string good = ReadBytes(manifest);

  WriteBytes(manifest, "{\"format_version\": 1, \"files\": {");
  EXPECT_THAT(LoadModelBundle(b.dir, IndexConfig{}), StatusIs(StatusCode::kDataLoss, "JSON"));
  EXPECT_THAT(ReadManifestJson(b.dir), StatusIs(StatusCode::kDataLoss));
  WriteBytes(manifest, std::string("\x00\xff garbage", 10));
  EXPECT_THAT(LoadModelBundle(b.dir, IndexConfig{}), StatusIs(StatusCode::kDataLoss));
  WriteBytes(manifest, "[1, 2, 3]");
  EXPECT_THAT(LoadModelBundle(b.dir, IndexConfig{}), StatusIs(StatusCode::kDataLoss));

  // Valid JSON of the wrong shape.
  const auto parsed = nlohmann::json::parse(good);
  auto mutate = [&](auto&& f) {
    nlohmann::json m = parsed;
    f(m);
    WriteBytes(manifest, m.dump());
    return LoadModelBundle(b.dir, IndexConfig{});
  };
  EXPECT_THAT(mutate([](auto& m) { m["dim"] = "eight"; }), StatusIs(StatusCode::kDataLoss, "dim"));
  EXPECT_THAT(mutate([](auto& m) { m["dim"] = 0; }), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(mutate([](auto& m) { m.erase("item_count"); }), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(mutate([](auto& m) { m["files"].erase("users.txt"); }),
              StatusIs(StatusCode::kDataLoss, "users.txt"));
  EXPECT_THAT(mutate([](auto& m) { m["files"]["items.txt"]["sha256"] = "abc"; }),
              StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(mutate([](auto& m) { m["files"]["items.txt"]["bytes"] = -1; }),
              StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(mutate([](auto& m) { m["files"]["../../etc/passwd"] = m["files"]["items.txt"]; }),
              StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(mutate([](auto& m) { m["item_count"] = 11; }), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(mutate([](auto& m) { m["index_type"] = "flat"; }), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(mutate([](auto& m) { m["format_version"] = 2; }),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(mutate([](auto&) {}), IsOk());
}

TEST(ModelBundleTest, IdFileProblemsAreDataLoss) {
  TempDir tmp;
  ModelBundle b = MakeBundle(5, 2);
  WriteOrDie(tmp.path(), b);
  RewriteWithValidChecksum(b.dir, "items.txt", "a\nb\nc\nd\na\n");
  EXPECT_THAT(LoadModelBundle(b.dir, IndexConfig{}), StatusIs(StatusCode::kDataLoss, "repeats"));
  RewriteWithValidChecksum(b.dir, "items.txt", "a\nb\nc\nd\n");
  EXPECT_THAT(LoadModelBundle(b.dir, IndexConfig{}), StatusIs(StatusCode::kDataLoss, "4 ids"));
  RewriteWithValidChecksum(b.dir, "items.txt", "a\nb\n\nd\ne\n");
  EXPECT_THAT(LoadModelBundle(b.dir, IndexConfig{}), StatusIs(StatusCode::kDataLoss, "empty"));
  RewriteWithValidChecksum(b.dir, "items.txt", "a\nb\nc\nd\ne");
  EXPECT_THAT(LoadModelBundle(b.dir, IndexConfig{}), StatusIs(StatusCode::kDataLoss, "newline"));
  fs::remove(b.dir + "/users.txt");
  RewriteWithValidChecksum(b.dir, "items.txt", "a\nb\nc\nd\ne\n");
  EXPECT_THAT(LoadModelBundle(b.dir, IndexConfig{}),
              StatusIs(StatusCode::kDataLoss, "users.txt is missing"));
}

TEST(ModelBundleTest, LeftoverTempDirIsIgnored) {
  TempDir tmp;
  ModelBundle a = MakeBundle(10, 2);
  WriteOrDie(tmp.path(), a);
  // What a crashed writer leaves: a temp dir, possibly complete with its manifest.
  fs::create_directory(tmp.Sub(".tmp-deadbeef"));
  fs::copy(a.dir, tmp.Sub(".tmp-deadbeef"),
           fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  fs::create_directory(tmp.Sub("v000007"));  // no manifest: not a version
  WriteBytes(tmp.Sub("v000008"), "a file, not a directory");
  EXPECT_THAT(ListModelVersions(tmp.path()), ElementsAre("v000001"));
  ModelBundle b = MakeBundle(10, 2);
  EXPECT_EQ(WriteOrDie(tmp.path(), b), "v000009");
  EXPECT_THAT(ListModelVersions(tmp.path()), ElementsAre("v000001", "v000009"));
  EXPECT_THAT(ListModelVersions(tmp.Sub("nope")), IsEmpty());
}

TEST(ModelBundleTest, EmptyUsersAllowed) {
  TempDir tmp;
  ModelBundle b = MakeBundle(25, 0);
  WriteOrDie(tmp.path(), b);
  auto loaded = LoadModelBundle(b.dir, IndexConfig{});
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ((*loaded)->users.size(), 0u);
  EXPECT_TRUE((*loaded)->user_factors.empty());
  EXPECT_EQ((*loaded)->items.size(), 25u);
  const auto m = nlohmann::json::parse(*ReadManifestJson(b.dir));
  EXPECT_EQ(m["files"]["users.txt"]["bytes"], 0);
  // SHA-256 of the empty string.
  EXPECT_EQ(m["files"]["users.txt"]["sha256"],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ModelBundleTest, InconsistentBundleIsRefusedAndLeavesNothing) {
  TempDir tmp;
  auto expect_invalid = [&](ModelBundle& b, const char* what) {
    EXPECT_THAT(WriteModelBundle(tmp.path(), b), StatusIs(StatusCode::kInvalidArgument, what));
  };
  {
    ModelBundle b = MakeBundle(10, 2);
    b.item_factors.pop_back();
    expect_invalid(b, "item_factors");
  }
  {
    ModelBundle b = MakeBundle(10, 2);
    b.user_factors.push_back(1);
    expect_invalid(b, "user_factors");
  }
  {
    ModelBundle b = MakeBundle(10, 2);
    b.item_popularity.clear();
    expect_invalid(b, "item_popularity");
  }
  {
    ModelBundle b = MakeBundle(10, 2);
    b.users.Intern("evil\nid");
    b.user_factors.resize(3 * kDim);
    expect_invalid(b, "control character");
  }
  {
    ModelBundle b = MakeBundle(10, 2);
    b.manifest_extra_json = "[1]";
    expect_invalid(b, "manifest_extra_json");
  }
  {
    ModelBundle b = MakeBundle(10, 2);
    b.index.reset();
    expect_invalid(b, "index");
  }
  {
    ModelBundle b = MakeBundle(10, 2);
    ModelBundle other = MakeBundle(11, 2);
    b.index = std::move(other.index);
    expect_invalid(b, "index");
  }
  EXPECT_TRUE(fs::is_empty(tmp.path()));
}

TEST(ModelBundleTest, UnwritableModelsDirIsAnError) {
  TempDir tmp;
  WriteBytes(tmp.Sub("file"), "x");
  ModelBundle b = MakeBundle(10, 2);
  auto v = WriteModelBundle(tmp.Sub("file/models"), b);
  EXPECT_FALSE(v.ok());
  EXPECT_TRUE(b.version.empty());
}

}  // namespace
}  // namespace pulse::rollout
