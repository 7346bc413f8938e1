#include "tools/commands.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/data_dir.h"
#include "testing/test_util.h"

namespace pulse::tools {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::ReadFile;
using ::pulse::testing::TempDir;
using ::pulse::testing::WriteFile;
using ::testing::HasSubstr;
using ::testing::Not;

int CountLines(const std::string& text) {
  int n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

struct Counts {
  uint64_t items = 0, events = 0, users = 0;
};

Counts CountsOf(const std::string& data_dir) {
  auto dir = store::DataDir::Open(data_dir, StoreConfig());
  EXPECT_THAT(dir, IsOk());
  if (!dir.ok()) return {};
  return {(*dir)->ItemCount(), (*dir)->EventCount(), (*dir)->UserCount()};
}

// Runs a command, capturing its stdout.
int RunCommand(int (*command)(const std::vector<std::string>&),
               const std::vector<std::string>& args, std::string* out) {
  ::testing::internal::CaptureStdout();
  int code = command(args);
  *out = ::testing::internal::GetCapturedStdout();
  return code;
}

class CommandsTest : public ::testing::Test {
 protected:
  std::string Data() const { return tmp_.Sub("data"); }
  TempDir tmp_;
};

TEST_F(CommandsTest, GenWritesJsonl) {
  std::string out;
  ASSERT_EQ(
      RunCommand(RunGenCommand,
                 {"--users", "30", "--items", "20", "--events", "400", "--out", tmp_.Sub("gen")},
                 &out),
      0);
  EXPECT_THAT(out, HasSubstr("items: 20"));
  EXPECT_THAT(out, HasSubstr("events: 400"));
  EXPECT_EQ(CountLines(ReadFile(tmp_.Sub("gen/items.jsonl"))), 20);
  EXPECT_EQ(CountLines(ReadFile(tmp_.Sub("gen/events.jsonl"))), 400);
  // Same seed, same bytes.
  ASSERT_EQ(
      RunCommand(RunGenCommand,
                 {"--users=30", "--items=20", "--events=400", "--out", tmp_.Sub("gen2")}, &out),
      0);
  EXPECT_EQ(ReadFile(tmp_.Sub("gen/events.jsonl")), ReadFile(tmp_.Sub("gen2/events.jsonl")));
  ASSERT_EQ(RunCommand(
                RunGenCommand,
                {"--users=30", "--items=20", "--events=400", "--seed=9", "--out", tmp_.Sub("gen3")},
                &out),
            0);
  EXPECT_NE(ReadFile(tmp_.Sub("gen/events.jsonl")), ReadFile(tmp_.Sub("gen3/events.jsonl")));
}

TEST_F(CommandsTest, GenBadUsageExitsTwo) {
  const std::string out_dir = tmp_.Sub("g");
  std::vector<std::vector<std::string>> cases = {
      {},                                     // no --out
      {"--out", out_dir, "--users", "0"},     // out of range
      {"--out", out_dir, "--users", "ten"},   // not a number
      {"--out", out_dir, "--events", "-1"},   // negative
      {"--out", out_dir, "--colour", "red"},  // unknown flag
      {"--out", out_dir, "stray"},            // positional
      {"--out"},                              // missing value
      {"--out", out_dir, "--seed", "-3"},     // negative seed
  };
  for (const auto& args : cases) {
    std::string out;
    EXPECT_EQ(RunCommand(RunGenCommand, args, &out), 2) << ::testing::PrintToString(args);
  }
}

TEST_F(CommandsTest, ImportGeneratedJsonlAndReimportIsIdempotent) {
  std::string out;
  ASSERT_EQ(
      RunCommand(RunGenCommand,
                 {"--users", "40", "--items", "25", "--events", "1000", "--out", tmp_.Sub("gen")},
                 &out),
      0);
  const std::vector<std::string> args = {"--data-dir", Data(),
                                         "--items",    tmp_.Sub("gen/items.jsonl"),
                                         "--events",   tmp_.Sub("gen/events.jsonl")};
  ASSERT_EQ(RunCommand(RunImportCommand, args, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("items imported: 25\n"));
  EXPECT_THAT(out, HasSubstr("events imported: 1000\n"));
  EXPECT_THAT(out, HasSubstr("duplicates: 0\n"));
  EXPECT_THAT(out, HasSubstr("rejected: 0\n"));
  Counts c = CountsOf(Data());
  EXPECT_EQ(c.items, 25u);
  EXPECT_EQ(c.events, 1000u);
  EXPECT_EQ(c.users, 40u);

  ASSERT_EQ(RunCommand(RunImportCommand, args, &out), 0);
  EXPECT_THAT(out, HasSubstr("events imported: 0\n"));
  EXPECT_THAT(out, HasSubstr("duplicates: 1000\n"));
  c = CountsOf(Data());
  EXPECT_EQ(c.items, 25u);
  EXPECT_EQ(c.events, 1000u);
}

TEST_F(CommandsTest, ImportReportsRejectedLinesWithNumbers) {
  std::string events;
  for (int i = 1; i <= 30; ++i) {
    if (i == 3 || i >= 8) {
      events += "{\"user_id\":\"u1\",\"type\":\"view\",\"ts\":5}\n";  // no item_id
    } else {
      events +=
          "{\"user_id\":\"u1\",\"item_id\":\"i" + StrCat(i) + "\",\"type\":\"view\",\"ts\":5}\n";
    }
  }
  WriteFile(tmp_.Sub("events.jsonl"), events);
  std::string out;
  ASSERT_EQ(RunCommand(RunImportCommand,
                       {"--data-dir", Data(), "--events", tmp_.Sub("events.jsonl")}, &out),
            0);
  EXPECT_THAT(out, HasSubstr("events imported: 6\n"));
  EXPECT_THAT(out, HasSubstr("rejected: 24\n"));
  EXPECT_THAT(out, HasSubstr("events.jsonl:3: item_id is required"));
  EXPECT_THAT(out, HasSubstr("events.jsonl:8: item_id is required"));
  EXPECT_THAT(out, HasSubstr("events.jsonl:26:"));       // the 20th reject
  EXPECT_THAT(out, Not(HasSubstr("events.jsonl:27:")));  // the 21st is only counted
  EXPECT_THAT(out, HasSubstr("... and 4 more"));
  EXPECT_EQ(CountsOf(Data()).events, 6u);
}

TEST_F(CommandsTest, ImportMovieLens100k) {
  WriteFile(tmp_.Sub("u.data"),
            "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"
            "244\t51\t2\t880606923\nbroken line\n196\t302\t4\t881250950\n");
  std::string flags0 = "0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0";
  WriteFile(tmp_.Sub("u.item"), "242|Kolya (1996)|24-Jan-1997||http://x|" + flags0 + "\n" +
                                    "302|L.A. Confidential (1997)|01-Jan-1997||http://x|" + flags0 +
                                    "\n" + "377|Heavyweights (1994)|01-Jan-1994||u|" + flags0 +
                                    "\n" + "51|Legends of the Fall (1994)|01-Jan-1994||u|" +
                                    flags0 + "\n");
  std::string out;
  ASSERT_EQ(RunCommand(RunImportCommand,
                       {"--data-dir", Data(), "--format", "movielens", "--items",
                        tmp_.Sub("u.item"), "--events", tmp_.Sub("u.data")},
                       &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("u.data:5: expected 4 tab-separated fields"));
  Counts c = CountsOf(Data());
  EXPECT_EQ(c.items, 4u);
  EXPECT_EQ(c.events, 5u);
  EXPECT_EQ(c.users, 4u);
  auto dir = store::DataDir::Open(Data(), StoreConfig());
  ASSERT_THAT(dir, IsOk());
  auto h = (*dir)->GetUserHistory("196");
  ASSERT_THAT(h, IsOk());
  ASSERT_EQ(h->recent.size(), 2u);
  EXPECT_EQ(h->recent[0].item_id, "302");
  EXPECT_EQ(h->recent[0].ts_ms, 881250950000);
}

TEST_F(CommandsTest, ImportMovieLens1m) {
  WriteFile(tmp_.Sub("ratings.dat"),
            "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n");
  WriteFile(tmp_.Sub("movies.dat"),
            "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::James and the Giant Peach "
            "(1996)::Animation|Children's|Musical\n");
  std::string out;
  ASSERT_EQ(RunCommand(RunImportCommand,
                       {"--data-dir", Data(), "--format=movielens", "--items",
                        tmp_.Sub("movies.dat"), "--events", tmp_.Sub("ratings.dat")},
                       &out),
            0)
      << out;
  Counts c = CountsOf(Data());
  EXPECT_EQ(c.items, 2u);
  EXPECT_EQ(c.events, 3u);
  EXPECT_EQ(c.users, 2u);
  auto dir = store::DataDir::Open(Data(), StoreConfig());
  ASSERT_THAT(dir, IsOk());
  auto item = (*dir)->GetItem("661");
  ASSERT_TRUE(item.ok() && item->has_value());
  EXPECT_EQ((*item)->category, "Animation");
}

TEST_F(CommandsTest, ImportMovieLensCsv) {
  WriteFile(tmp_.Sub("ratings.csv"),
            "userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n1,3,4.5,964981247\r\n"
            "2,1,x,964981247\r\n");
  WriteFile(tmp_.Sub("movies.csv"),
            "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n"
            "3,\"Grumpier Old Men, The (1995)\",Comedy|Romance\n");
  std::string out;
  ASSERT_EQ(RunCommand(RunImportCommand,
                       {"--data-dir", Data(), "--format", "movielens", "--items",
                        tmp_.Sub("movies.csv"), "--events", tmp_.Sub("ratings.csv")},
                       &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("ratings.csv:4: rating must be"));
  Counts c = CountsOf(Data());
  EXPECT_EQ(c.items, 2u);
  EXPECT_EQ(c.events, 2u);
  EXPECT_EQ(c.users, 1u);
}

TEST_F(CommandsTest, ImportBadUsageExitsTwo) {
  WriteFile(tmp_.Sub("e.jsonl"), "");
  const std::string e = tmp_.Sub("e.jsonl");
  std::vector<std::vector<std::string>> cases = {
      {"--data-dir", Data()},                                    // nothing to import
      {"--events", e},                                           // no data dir
      {"--data-dir", Data(), "--events", e, "--format", "xml"},  // unknown format
      {"--data-dir", Data(), "--events", e, "--bogus"},          // unknown flag
      {"--data-dir", Data(), "--events", e, "extra"},            // positional
      {"--data-dir", Data(), "--events"},                        // missing value
  };
  for (const auto& args : cases) {
    std::string out;
    EXPECT_EQ(RunCommand(RunImportCommand, args, &out), 2) << ::testing::PrintToString(args);
  }
}

TEST_F(CommandsTest, ImportOtherFailuresExitOne) {
  std::string out;
  EXPECT_EQ(RunCommand(RunImportCommand,
                       {"--data-dir", Data(), "--events", tmp_.Sub("missing.jsonl")}, &out),
            1);
  WriteFile(tmp_.Sub("e.jsonl"),
            "{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\",\"ts\":1}\n");
  {
    // A running server holds the data dir.
    auto held = store::DataDir::Open(Data(), StoreConfig());
    ASSERT_THAT(held, IsOk());
    EXPECT_EQ(
        RunCommand(RunImportCommand, {"--data-dir", Data(), "--events", tmp_.Sub("e.jsonl")}, &out),
        1);
  }
  EXPECT_EQ(
      RunCommand(RunImportCommand, {"--data-dir", Data(), "--events", tmp_.Sub("e.jsonl")}, &out),
      0);
}

}  // namespace
}  // namespace pulse::tools
