// Dead letters in the data dir, the layout 1 → 2 upgrade, and per-event duplicate flags.
#include <string>
#include <vector>

#include "core/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "store/codec.h"
#include "store/data_dir.h"
#include "testing/test_util.h"

namespace pulse::store {
namespace {

using ::pulse::testing::FakeClock;
using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;
using ::pulse::testing::TempDir;
using ::testing::ElementsAre;

DeadLetter Letter(int i, std::string raw = "") {
  DeadLetter d;
  d.received_at_ms = 1000 + i;
  d.source = i % 2 ? "grpc" : "http";
  d.reason = "ts_in_future";
  d.reason_text = StrCat("bad event ", i);
  d.raw = raw.empty() ? StrCat("{\"n\":", i, "}") : std::move(raw);
  return d;
}

std::vector<uint64_t> Seqs(const std::vector<DeadLetter>& letters) {
  std::vector<uint64_t> out;
  for (const auto& l : letters) out.push_back(l.seq);
  return out;
}

class DeadLetterTest : public ::testing::Test {
 protected:
  std::unique_ptr<DataDir> OpenDir() {
    auto dir = DataDir::Open(tmp_.Sub("data"), StoreConfig(), clock_);
    EXPECT_THAT(dir, IsOk());
    return dir.ok() ? std::move(dir).value() : nullptr;
  }
  TempDir tmp_;
  FakeClock clock_;
};

TEST_F(DeadLetterTest, NewestFirstWithPagingAndFields) {
  auto dir = OpenDir();
  ASSERT_NE(dir, nullptr);
  EXPECT_EQ(dir->DeadLetterCount(), 0u);
  EXPECT_THAT(dir->ListDeadLetters(10), IsOk());
  EXPECT_TRUE(dir->ListDeadLetters(10)->empty());
  ASSERT_THAT(dir->AppendDeadLetters({Letter(1), Letter(2), Letter(3)}, 100), IsOk());
  ASSERT_THAT(dir->AppendDeadLetters({Letter(4), Letter(5)}, 100), IsOk());
  EXPECT_EQ(dir->DeadLetterCount(), 5u);

  auto all = dir->ListDeadLetters(100);
  ASSERT_THAT(all, IsOk());
  EXPECT_THAT(Seqs(*all), ElementsAre(5, 4, 3, 2, 1));
  const DeadLetter& newest = all->front();
  EXPECT_EQ(newest.received_at_ms, 1005);
  EXPECT_EQ(newest.source, "grpc");
  EXPECT_EQ(newest.reason, "ts_in_future");
  EXPECT_EQ(newest.reason_text, "bad event 5");
  EXPECT_EQ(newest.raw, "{\"n\":5}");

  EXPECT_THAT(Seqs(*dir->ListDeadLetters(2)), ElementsAre(5, 4));
  EXPECT_THAT(Seqs(*dir->ListDeadLetters(2, 4)), ElementsAre(3, 2));
  EXPECT_THAT(Seqs(*dir->ListDeadLetters(10, 2)), ElementsAre(1));
  EXPECT_TRUE(dir->ListDeadLetters(10, 1)->empty());
  EXPECT_TRUE(dir->ListDeadLetters(0)->empty());
  EXPECT_THAT(Seqs(*dir->ListDeadLetters(1, 1000)), ElementsAre(5));
}

TEST_F(DeadLetterTest, TrimsOldestAndSurvivesReopen) {
  {
    auto dir = OpenDir();
    ASSERT_NE(dir, nullptr);
    for (int batch = 0; batch < 5; ++batch) {
      std::vector<DeadLetter> letters;
      for (int i = 0; i < 4; ++i) letters.push_back(Letter(batch * 4 + i + 1));
      ASSERT_THAT(dir->AppendDeadLetters(letters, 7), IsOk());
      EXPECT_LE(dir->DeadLetterCount(), 7u);
    }
    EXPECT_EQ(dir->DeadLetterCount(), 7u);
    EXPECT_THAT(Seqs(*dir->ListDeadLetters(100)), ElementsAre(20, 19, 18, 17, 16, 15, 14));
  }
  auto dir = OpenDir();
  ASSERT_NE(dir, nullptr);
  EXPECT_EQ(dir->DeadLetterCount(), 7u);
  ASSERT_THAT(dir->AppendDeadLetters({Letter(21)}, 7), IsOk());
  EXPECT_THAT(Seqs(*dir->ListDeadLetters(100)), ElementsAre(21, 20, 19, 18, 17, 16, 15));
  // A bound of zero keeps nothing.
  ASSERT_THAT(dir->AppendDeadLetters({Letter(22)}, 0), IsOk());
  EXPECT_EQ(dir->DeadLetterCount(), 0u);
  EXPECT_TRUE(dir->ListDeadLetters(100)->empty());
}

TEST_F(DeadLetterTest, RawTextIsTruncated) {
  auto dir = OpenDir();
  ASSERT_NE(dir, nullptr);
  ASSERT_THAT(dir->AppendDeadLetters({Letter(1, std::string(200 * 1024, 'x'))}, 10), IsOk());
  auto list = dir->ListDeadLetters(1);
  ASSERT_THAT(list, IsOk());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().raw.size(), kMaxDeadLetterRawBytes);
}

TEST(DeadLetterCodecTest, RoundTripAndHostileBytes) {
  DeadLetter letter = Letter(3, std::string("a\0b", 3));
  std::string bytes = codec::EncodeDeadLetter(letter);
  auto decoded = codec::DecodeDeadLetter(9, bytes);
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(decoded->seq, 9u);
  EXPECT_EQ(decoded->raw, letter.raw);
  EXPECT_EQ(decoded->reason_text, letter.reason_text);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_THAT(codec::DecodeDeadLetter(1, bytes.substr(0, cut)), StatusIs(StatusCode::kDataLoss));
  }
  EXPECT_THAT(codec::DecodeDeadLetter(1, bytes + "x"), StatusIs(StatusCode::kDataLoss));
  std::string wrong_version = bytes;
  wrong_version[0] = 9;
  EXPECT_THAT(codec::DecodeDeadLetter(1, wrong_version), StatusIs(StatusCode::kDataLoss));
}

// Rewrites a dir as layout version 1 wrote it: no dead_letter family, version "1".
void DowngradeToLayout1(const std::string& db_path) {
  rocksdb::DBOptions options;
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(options, db_path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, db_path, cfs, &handles, &db).ok());
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "meta") {
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[i], "layout_version", "1").ok());
    }
    if (names[i] == "dead_letter") {
      ASSERT_TRUE(db->DropColumnFamily(handles[i]).ok());
    }
  }
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  ASSERT_TRUE(db->Close().ok());
  delete db;
  names.clear();
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(options, db_path, &names).ok());
  ASSERT_THAT(names, ::testing::Not(::testing::Contains("dead_letter")));
}

TEST_F(DeadLetterTest, UpgradesLayout1InPlaceKeepingData) {
  {
    auto dir = OpenDir();
    ASSERT_NE(dir, nullptr);
    EXPECT_EQ(dir->layout_version(), 2u);
    Event e;
    e.event_id = "e1";
    e.user_id = "u1";
    e.item_id = "i1";
    e.ts_ms = 5;
    ASSERT_THAT(dir->AppendEvents({e}, true), IsOk());
  }
  DowngradeToLayout1(tmp_.Sub("data") + "/db");
  {
    auto dir = OpenDir();
    ASSERT_NE(dir, nullptr);
    EXPECT_EQ(dir->layout_version(), DataDir::kLayoutVersion);
    EXPECT_EQ(dir->EventCount(), 1u);
    EXPECT_EQ(dir->GetUserHistory("u1")->events_total, 1u);
    EXPECT_EQ(dir->DeadLetterCount(), 0u);
    ASSERT_THAT(dir->AppendDeadLetters({Letter(1)}, 10), IsOk());
  }
  // The upgrade is written: the dir now reads as layout 2, dead letters included.
  rocksdb::DBOptions options;
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(options, tmp_.Sub("data") + "/db", &names).ok());
  EXPECT_THAT(names, ::testing::Contains("dead_letter"));
  auto dir = OpenDir();
  ASSERT_NE(dir, nullptr);
  EXPECT_EQ(dir->DeadLetterCount(), 1u);
}

TEST_F(DeadLetterTest, AppendReportsDuplicatesPerEvent) {
  auto dir = OpenDir();
  ASSERT_NE(dir, nullptr);
  auto event = [](std::string id) {
    Event e;
    e.event_id = std::move(id);
    e.user_id = "u";
    e.item_id = "i";
    e.ts_ms = 5;
    return e;
  };
  std::vector<uint8_t> dup;
  ASSERT_THAT(dir->AppendEvents({event("a"), event("b")}, false, &dup), IsOk());
  EXPECT_THAT(dup, ElementsAre(0, 0));
  auto result = dir->AppendEvents({event("c"), event("a"), event(""), event("c")}, false, &dup);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->appended, 2u);
  EXPECT_EQ(result->duplicates, 2u);
  EXPECT_THAT(dup, ElementsAre(0, 1, 0, 1));
}

}  // namespace
}  // namespace pulse::store
