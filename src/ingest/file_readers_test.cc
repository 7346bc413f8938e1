#include "ingest/file_readers.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::ingest {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;
using ::pulse::testing::TempDir;
using ::pulse::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct EventsRead {
  Status status;
  std::vector<Event> events;
  std::vector<LineError> errors;
};

struct ItemsRead {
  Status status;
  std::vector<Item> items;
  std::vector<LineError> errors;
};

class FileReadersTest : public ::testing::Test {
 protected:
  EventsRead ReadEvents(const std::string& name, const std::string& contents,
                        FileFormat format = FileFormat::kMovieLens) {
    std::string path = dir_.Sub(name);
    WriteFile(path, contents);
    EventsRead out;
    out.status = ReadEventsFile(
        path, format,
        [&](Event&& e) {
          out.events.push_back(std::move(e));
          return OkStatus();
        },
        [&](const LineError& e) { out.errors.push_back(e); });
    return out;
  }

  ItemsRead ReadItems(const std::string& name, const std::string& contents,
                      FileFormat format = FileFormat::kMovieLens) {
    std::string path = dir_.Sub(name);
    WriteFile(path, contents);
    ItemsRead out;
    out.status = ReadItemsFile(
        path, format,
        [&](Item&& i) {
          out.items.push_back(std::move(i));
          return OkStatus();
        },
        [&](const LineError& e) { out.errors.push_back(e); });
    return out;
  }

  static std::vector<int64_t> Lines(const std::vector<LineError>& errors) {
    std::vector<int64_t> lines;
    for (const auto& e : errors) lines.push_back(e.line);
    return lines;
  }

  TempDir dir_;
};

TEST(ParseFileFormatTest, KnownAndUnknown) {
  EXPECT_EQ(*ParseFileFormat("jsonl"), FileFormat::kJsonl);
  EXPECT_EQ(*ParseFileFormat("movielens"), FileFormat::kMovieLens);
  EXPECT_THAT(ParseFileFormat("csv"), StatusIs(StatusCode::kInvalidArgument, "jsonl or movielens"));
  EXPECT_THAT(ParseFileFormat(""), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(FileReadersTest, UDataTabSeparated) {
  auto r = ReadEvents("u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n");
  ASSERT_THAT(r.status, IsOk());
  EXPECT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].user_id, "196");
  EXPECT_EQ(r.events[0].item_id, "242");
  EXPECT_EQ(r.events[0].type, EventType::kView);
  EXPECT_EQ(r.events[0].ts_ms, 881250949000);
  EXPECT_FLOAT_EQ(r.events[0].rating, 3.0f);
  EXPECT_TRUE(r.events[0].event_id.empty());
  EXPECT_EQ(r.events[1].user_id, "186");
}

TEST_F(FileReadersTest, RatingsDatColonSeparated) {
  auto r = ReadEvents("ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n");
  ASSERT_THAT(r.status, IsOk());
  EXPECT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].item_id, "1193");
  EXPECT_FLOAT_EQ(r.events[0].rating, 5.0f);
  EXPECT_EQ(r.events[1].ts_ms, 978302109000);
}

TEST_F(FileReadersTest, RatingsCsvWithHeader) {
  auto r = ReadEvents("ratings.csv",
                      "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n");
  ASSERT_THAT(r.status, IsOk());
  EXPECT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_FLOAT_EQ(r.events[1].rating, 4.5f);
  EXPECT_EQ(r.events[1].item_id, "3");
}

TEST_F(FileReadersTest, HeaderOnlyCsvIsEmpty) {
  auto r = ReadEvents("ratings.csv", "userId,movieId,rating,timestamp\n");
  ASSERT_THAT(r.status, IsOk());
  EXPECT_THAT(r.events, IsEmpty());
  EXPECT_THAT(r.errors, IsEmpty());
  auto items = ReadItems("movies.csv", "movieId,title,genres");
  ASSERT_THAT(items.status, IsOk());
  EXPECT_THAT(items.items, IsEmpty());
  EXPECT_THAT(items.errors, IsEmpty());
}

TEST_F(FileReadersTest, WrongCsvHeaderRefusesFile) {
  auto r = ReadEvents("ratings.csv", "userId,movieId,timestamp,rating\n1,1,964982703,4\n");
  EXPECT_THAT(r.status, StatusIs(StatusCode::kInvalidArgument, "unexpected CSV header"));
  EXPECT_THAT(r.events, IsEmpty());
}

TEST_F(FileReadersTest, VariantSniffedFromContentWhenNameIsUnknown) {
  auto tab = ReadEvents("ratings.txt", "1\t2\t3\t100\n");
  ASSERT_EQ(tab.events.size(), 1u);
  auto colons = ReadEvents("export1", "1::2::3::100\n");
  ASSERT_EQ(colons.events.size(), 1u);
  auto csv = ReadEvents("export2", "userId,movieId,rating,timestamp\n1,2,3,100\n");
  ASSERT_EQ(csv.events.size(), 1u);
  EXPECT_THAT(csv.errors, IsEmpty());
}

TEST_F(FileReadersTest, MalformedMovieLensLinesReportedWithLineNumbers) {
  auto r = ReadEvents("u.data",
                      "1\t2\t3\t100\n"             // 1 ok
                      "1\t2\t3\n"                  // 2 too few fields
                      "1\t2\tx\t100\n"             // 3 bad rating
                      "1\t2\t3\t-5\n"              // 4 negative ts
                      "\t2\t3\t100\n"              // 5 empty user
                      "\n"                         // 6 blank, skipped
                      "1\t2\t3\t1.5\n"             // 7 fractional seconds
                      "1\t2\tnan\t100\n"           // 8 nan rating
                      "1\t2\t3\t99999999999999\n"  // 9 absurd ts
                      "7\t8\t4\t200\n");           // 10 ok
  ASSERT_THAT(r.status, IsOk());
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[1].user_id, "7");
  EXPECT_THAT(Lines(r.errors), ElementsAre(2, 3, 4, 5, 7, 8, 9));
  EXPECT_THAT(r.errors[0].reason, HasSubstr("expected 4 tab-separated fields"));
  EXPECT_THAT(r.errors[1].reason, HasSubstr("rating"));
  EXPECT_THAT(r.errors[2].reason, HasSubstr("timestamp"));
  EXPECT_THAT(r.errors[3].reason, HasSubstr("user id"));
}

TEST_F(FileReadersTest, CrlfAndMissingTrailingNewline) {
  auto r = ReadEvents("ratings.dat", "1::2::3::100\r\n\r\n4::5::1::200");
  ASSERT_THAT(r.status, IsOk());
  EXPECT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].ts_ms, 100000);
  EXPECT_EQ(r.events[1].user_id, "4");
  EXPECT_EQ(r.events[1].ts_ms, 200000);

  auto csv =
      ReadEvents("ratings.csv", "\xEF\xBB\xBFuserId,movieId,rating,timestamp\r\n1,2,3,4\r\n");
  ASSERT_THAT(csv.status, IsOk());
  EXPECT_THAT(csv.errors, IsEmpty());
  ASSERT_EQ(csv.events.size(), 1u);
  EXPECT_EQ(csv.events[0].ts_ms, 4000);
}

TEST_F(FileReadersTest, EmptyAndBlankFiles) {
  for (const char* contents : {"", "\n\n", "   \r\n\t\n"}) {
    auto r = ReadEvents("u.data", contents);
    EXPECT_THAT(r.status, IsOk());
    EXPECT_THAT(r.events, IsEmpty());
    EXPECT_THAT(r.errors, IsEmpty());
    auto j = ReadEvents("events.jsonl", contents, FileFormat::kJsonl);
    EXPECT_THAT(j.status, IsOk());
    EXPECT_THAT(j.events, IsEmpty());
  }
}

TEST_F(FileReadersTest, MissingFileIsNotFound) {
  Status status = ReadEventsFile(
      dir_.Sub("nope.jsonl"), FileFormat::kJsonl, [](Event&&) { return OkStatus(); },
      [](const LineError&) {});
  EXPECT_THAT(status, StatusIs(StatusCode::kNotFound, "nope.jsonl"));
  Status dir_status = ReadItemsFile(
      dir_.path(), FileFormat::kJsonl, [](Item&&) { return OkStatus(); }, [](const LineError&) {});
  EXPECT_FALSE(dir_status.ok());
}

TEST_F(FileReadersTest, BinaryGarbageIsReportedNotFatal) {
  std::string garbage;
  uint32_t x = 12345;
  for (int i = 0; i < 5000; ++i) {
    x = x * 1664525u + 1013904223u;
    garbage.push_back(static_cast<char>(x >> 24));
  }
  for (const char* name : {"u.data", "ratings.dat", "ratings.csv", "events.bin"}) {
    auto r = ReadEvents(name, garbage);
    EXPECT_TRUE(r.status.ok() || r.status.code() == StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(r.events, IsEmpty()) << name;
  }
  auto j = ReadEvents("events.jsonl", garbage, FileFormat::kJsonl);
  ASSERT_THAT(j.status, IsOk());
  EXPECT_THAT(j.events, IsEmpty());
  EXPECT_FALSE(j.errors.empty());
  for (const char* name : {"u.item", "movies.dat", "movies.csv"}) {
    auto r = ReadItems(name, garbage);
    EXPECT_TRUE(r.status.ok() || r.status.code() == StatusCode::kInvalidArgument) << name;
  }
  auto ji = ReadItems("items.jsonl", garbage, FileFormat::kJsonl);
  EXPECT_THAT(ji.status, IsOk());
  EXPECT_THAT(ji.items, IsEmpty());
}

TEST_F(FileReadersTest, OverlongLineIsReportedAndSkipped) {
  std::string contents = "1::2::3::100\n";
  contents += std::string(kMaxLineBytes + 10, 'x');
  contents += "\n5::6::1::100\n";
  auto r = ReadEvents("ratings.dat", contents);
  ASSERT_THAT(r.status, IsOk());
  ASSERT_EQ(r.events.size(), 2u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_THAT(r.errors[0].reason, HasSubstr("longer than"));
}

TEST_F(FileReadersTest, JsonlEvents) {
  auto r = ReadEvents(
      "events.jsonl",
      R"({"user_id":"u1","item_id":"i1","type":"click","ts":1700000000000})"
      "\n"
      "not json\n"
      "\n"
      R"({"user_id":"u1","item_id":"i2","type":"teleport","ts":1})"
      "\r\n"
      R"({"event_id":"e9","user_id":"u2","item_id":"i2","type":"dwell","ts":5,"dwell_ms":300})",
      FileFormat::kJsonl);
  ASSERT_THAT(r.status, IsOk());
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].type, EventType::kClick);
  EXPECT_EQ(r.events[1].event_id, "e9");
  EXPECT_EQ(r.events[1].dwell_ms, 300);
  EXPECT_THAT(Lines(r.errors), ElementsAre(2, 4));
  EXPECT_THAT(r.errors[0].reason, HasSubstr("not valid JSON"));
  EXPECT_THAT(r.errors[1].reason, HasSubstr("type must be one of"));
}

TEST_F(FileReadersTest, JsonlItems) {
  auto r = ReadItems("items.jsonl",
                     R"({"item_id":"i1","title":"A","category":"c","tags":["x"],"created_at":5})"
                     "\n"
                     R"({"title":"no id"})"
                     "\n",
                     FileFormat::kJsonl);
  ASSERT_THAT(r.status, IsOk());
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].category, "c");
  EXPECT_THAT(Lines(r.errors), ElementsAre(2));
  EXPECT_THAT(r.errors[0].reason, HasSubstr("item_id is required"));
}

TEST_F(FileReadersTest, CallbackErrorStopsReading) {
  std::string path = dir_.Sub("u.data");
  WriteFile(path, "1\t2\t3\t4\n5\t6\t7\t8\n");
  int calls = 0;
  Status status = ReadEventsFile(
      path, FileFormat::kMovieLens,
      [&](Event&&) {
        ++calls;
        return UnavailableError("disk full");
      },
      [](const LineError&) {});
  EXPECT_THAT(status, StatusIs(StatusCode::kUnavailable, "disk full"));
  EXPECT_EQ(calls, 1);
}

TEST_F(FileReadersTest, UItemLatin1AndGenres) {
  std::string flags_toy = "0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0";
  std::string flags_none = "0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0";
  std::string contents =
      "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|" +
      flags_toy + "\n" +
      "267|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
      "1000|Mis\xE9rables, Les (1995)|01-Jan-1930||http://x|" +
      flags_none + "\n" + "12|Bad flags|01-Jan-1995||u|2|" + flags_none.substr(2) + "\n" +
      "13|Too few|01-Jan-1995\n" + "14|Bad date|1995-01-01||u|" + flags_none + "\n";
  auto r = ReadItems("u.item", contents);
  ASSERT_THAT(r.status, IsOk());
  ASSERT_EQ(r.items.size(), 3u);
  const Item& toy = r.items[0];
  EXPECT_EQ(toy.item_id, "1");
  EXPECT_EQ(toy.title, "Toy Story (1995)");
  EXPECT_EQ(toy.category, "Animation");
  EXPECT_THAT(toy.tags, ElementsAre("Animation", "Children's", "Comedy"));
  EXPECT_EQ(toy.created_at_ms, 788918400000);  // 1995-01-01T00:00:00Z
  EXPECT_EQ(r.items[1].category, "unknown");
  EXPECT_EQ(r.items[1].created_at_ms, 0);
  EXPECT_EQ(r.items[2].title, "Mis\xC3\xA9rables, Les (1995)");  // é as UTF-8
  EXPECT_EQ(r.items[2].category, "");
  EXPECT_THAT(r.items[2].tags, IsEmpty());
  EXPECT_EQ(r.items[2].created_at_ms, 0);  // before 1970
  EXPECT_THAT(Lines(r.errors), ElementsAre(4, 5, 6));
  EXPECT_THAT(r.errors[0].reason, HasSubstr("genre flag 1"));
  EXPECT_THAT(r.errors[1].reason, HasSubstr("expected 24"));
  EXPECT_THAT(r.errors[2].reason, HasSubstr("release date"));
}

TEST_F(FileReadersTest, MoviesDat) {
  auto r = ReadItems("movies.dat",
                     "1::Toy Story (1995)::Animation|Children's|Comedy\n"
                     "2::Caf\xE9 (2001)::Drama\n"
                     "3::no genres\n"
                     "::Nameless (1999)::Drama\n");
  ASSERT_THAT(r.status, IsOk());
  ASSERT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.items[0].category, "Animation");
  EXPECT_THAT(r.items[0].tags, ElementsAre("Animation", "Children's", "Comedy"));
  EXPECT_EQ(r.items[0].created_at_ms, 788918400000);
  EXPECT_EQ(r.items[1].title, "Caf\xC3\xA9 (2001)");
  EXPECT_THAT(Lines(r.errors), ElementsAre(3, 4));
  EXPECT_THAT(r.errors[1].reason, HasSubstr("item_id"));
}

TEST_F(FileReadersTest, MoviesCsvWithQuoting) {
  auto r = ReadItems("movies.csv",
                     "movieId,title,genres\n"
                     "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
                     "11,\"American President, The (1995)\",Comedy|Drama|Romance\n"
                     "12,\"Say \"\"Hi\"\" (2000)\",(no genres listed)\n"
                     "13,\"Two\nLines (2001)\",Drama\n"
                     "14,\"bad\"x,Drama\n"
                     "15,too,many,fields\n"
                     "16,Tail (2002),Horror\r\n");
  ASSERT_THAT(r.status, IsOk());
  ASSERT_EQ(r.items.size(), 5u);
  EXPECT_EQ(r.items[0].category, "Adventure");
  EXPECT_EQ(r.items[0].tags.size(), 5u);
  EXPECT_EQ(r.items[1].title, "American President, The (1995)");
  EXPECT_EQ(r.items[2].title, "Say \"Hi\" (2000)");
  EXPECT_THAT(r.items[2].tags, IsEmpty());
  EXPECT_EQ(r.items[2].category, "");
  EXPECT_EQ(r.items[3].title, "Two\nLines (2001)");
  EXPECT_EQ(r.items[4].item_id, "16");
  EXPECT_EQ(r.items[4].category, "Horror");
  // The quoted record spanning lines 5-6 shifts later line numbers by one.
  EXPECT_THAT(Lines(r.errors), ElementsAre(7, 8));
  EXPECT_THAT(r.errors[0].reason, HasSubstr("after closing quote"));
  EXPECT_THAT(r.errors[1].reason, HasSubstr("expected 3"));
}

TEST_F(FileReadersTest, UnterminatedQuoteAtEndOfFile) {
  auto r = ReadItems("movies.csv", "movieId,title,genres\n1,\"open,Drama\n2,x,y\n");
  ASSERT_THAT(r.status, IsOk());
  EXPECT_THAT(r.items, IsEmpty());
  EXPECT_THAT(Lines(r.errors), ElementsAre(2));
  EXPECT_THAT(r.errors[0].reason, HasSubstr("not closed"));
}

TEST(Latin1Test, ValidUtf8KeptInvalidConverted) {
  EXPECT_EQ(Latin1ToUtf8IfNeeded("plain"), "plain");
  EXPECT_EQ(Latin1ToUtf8IfNeeded("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(Latin1ToUtf8IfNeeded("caf\xE9"), "caf\xC3\xA9");
  EXPECT_EQ(Latin1ToUtf8IfNeeded("\xC0\x80"), "\xC3\x80\xC2\x80");  // overlong: not UTF-8
  EXPECT_EQ(Latin1ToUtf8IfNeeded("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(Latin1ToUtf8IfNeeded(""), "");
}

}  // namespace
}  // namespace pulse::ingest
