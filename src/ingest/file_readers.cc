#include "ingest/file_readers.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "ingest/json_codec.h"

namespace pulse::ingest {
namespace {

// ---------------------------------------------------------------------------------------------
// Line reading

// Reads LF- or CRLF-terminated lines in fixed-size chunks. Lines over kMaxLineBytes are flagged
// `too_long` and their content dropped, so memory stays bounded whatever the input.
class LineReader {
 public:
  enum class Outcome { kLine, kEof, kError };

  explicit LineReader(std::FILE* file) : file_(file), buffer_(kChunkBytes) {}

  Outcome Next(std::string* line, bool* too_long) {
    line->clear();
    *too_long = false;
    bool got_any = false;
    while (true) {
      if (pos_ == end_) {
        if (eof_) {
          if (!got_any) return Outcome::kEof;
          return Finish(line, *too_long);
        }
        size_t n = std::fread(buffer_.data(), 1, buffer_.size(), file_);
        if (n == 0) {
          if (std::ferror(file_)) return Outcome::kError;
          eof_ = true;
          continue;
        }
        pos_ = 0;
        end_ = n;
      }
      const char* start = buffer_.data() + pos_;
      const void* newline = std::memchr(start, '\n', end_ - pos_);
      size_t len = newline ? static_cast<const char*>(newline) - start : end_ - pos_;
      got_any = true;
      if (!*too_long) {
        if (line->size() + len > kMaxLineBytes) {
          *too_long = true;
          line->clear();
          line->shrink_to_fit();
        } else {
          line->append(start, len);
        }
      }
      if (newline) {
        pos_ += len + 1;
        return Finish(line, *too_long);
      }
      pos_ = end_;
    }
  }

  int64_t line_number() const { return line_number_; }

 private:
  static constexpr size_t kChunkBytes = 1 << 20;

  Outcome Finish(std::string* line, bool too_long) {
    ++line_number_;
    if (!too_long) {
      if (!line->empty() && line->back() == '\r') line->pop_back();
      if (line_number_ == 1 && line->rfind("\xEF\xBB\xBF", 0) == 0) line->erase(0, 3);
    }
    return Outcome::kLine;
  }

  std::FILE* file_;
  std::vector<char> buffer_;
  size_t pos_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
  int64_t line_number_ = 0;
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

Result<std::unique_ptr<std::FILE, FileCloser>> OpenForReading(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    int err = errno;
    if (err == ENOENT) return NotFoundError(StrCat("cannot read ", path, ": no such file"));
    return InternalError(StrCat("cannot open ", path, ": ", std::strerror(err)));
  }
  return std::unique_ptr<std::FILE, FileCloser>(f);
}

bool IsBlank(std::string_view line) { return Trim(line).empty(); }

// ---------------------------------------------------------------------------------------------
// RFC 4180 CSV

enum class CsvParse { kOk, kUnterminated, kBad };

// Splits one record. A quote opening a field starts a quoted field ("" inside is a literal quote);
// a quote elsewhere in an unquoted field is kept literally (lenient, as most CSV writers are).
// kUnterminated means a quoted field is still open at the end: the record continues on the next
// line.
CsvParse ParseCsvRecord(std::string_view record, std::vector<std::string>* fields,
                        std::string* reason) {
  fields->clear();
  size_t i = 0;
  const size_t n = record.size();
  while (true) {
    std::string field;
    if (i < n && record[i] == '"') {
      ++i;
      bool closed = false;
      while (i < n) {
        if (record[i] == '"') {
          if (i + 1 < n && record[i + 1] == '"') {
            field.push_back('"');
            i += 2;
          } else {
            ++i;
            closed = true;
            break;
          }
        } else {
          field.push_back(record[i++]);
        }
      }
      if (!closed) return CsvParse::kUnterminated;
      if (i < n && record[i] != ',') {
        *reason = StrCat("unexpected character after closing quote in field ", fields->size() + 1);
        return CsvParse::kBad;
      }
    } else {
      size_t comma = record.find(',', i);
      size_t stop = comma == std::string_view::npos ? n : comma;
      field.assign(record.substr(i, stop - i));
      i = stop;
    }
    fields->push_back(std::move(field));
    if (i >= n) return CsvParse::kOk;
    ++i;  // the comma
    if (i == n) {
      fields->emplace_back();  // trailing comma: one more empty field
      return CsvParse::kOk;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Record iteration shared by every format

enum class Variant { kUnknown, kJsonl, kTab, kColons, kCsv, kPipe };

struct Record {
  int64_t line = 0;
  std::string_view text;                          // the raw line (non-CSV variants)
  const std::vector<std::string>* csv = nullptr;  // parsed fields (CSV variant)
};

// Drives the line reader, skips blanks, detects the variant on the first non-blank line when the
// file name did not, assembles multi-line CSV records and hands each record to `on_record`, which
// returns the error reason for a bad record (empty = good) or a non-OK status to stop.
Status ForEachRecord(const std::string& path, Variant variant,
                     const std::function<Variant(std::string_view first_line)>& sniff,
                     const std::function<Status(Variant, const Record&, std::string* reason)>& fn,
                     const std::function<void(const LineError&)>& on_error) {
  ASSIGN_OR_RETURN(auto file, OpenForReading(path));
  LineReader reader(file.get());
  std::string line;
  std::string record_text;
  std::vector<std::string> fields;
  bool too_long = false;
  while (true) {
    LineReader::Outcome outcome = reader.Next(&line, &too_long);
    if (outcome == LineReader::Outcome::kEof) return OkStatus();
    if (outcome == LineReader::Outcome::kError) {
      return InternalError(StrCat("error reading ", path, " after line ", reader.line_number()));
    }
    const int64_t line_no = reader.line_number();
    if (too_long) {
      on_error({line_no, StrCat("line is longer than ", kMaxLineBytes, " bytes")});
      continue;
    }
    if (IsBlank(line)) continue;
    if (variant == Variant::kUnknown) variant = sniff(line);

    Record record;
    record.line = line_no;
    std::string reason;
    if (variant == Variant::kCsv) {
      record_text = line;
      std::string csv_reason;
      CsvParse parsed = ParseCsvRecord(record_text, &fields, &csv_reason);
      bool stop_after_error = false;
      while (parsed == CsvParse::kUnterminated) {
        outcome = reader.Next(&line, &too_long);
        if (outcome == LineReader::Outcome::kError) {
          return InternalError(
              StrCat("error reading ", path, " after line ", reader.line_number()));
        }
        if (outcome == LineReader::Outcome::kEof) {
          stop_after_error = true;
          break;
        }
        if (too_long || record_text.size() + 1 + line.size() > kMaxLineBytes) {
          on_error({line_no, StrCat("quoted field left open; the record runs past line ",
                                    reader.line_number(), " and ", kMaxLineBytes, " bytes")});
          parsed = CsvParse::kBad;
          csv_reason.clear();
          break;
        }
        record_text.push_back('\n');
        record_text += line;
        parsed = ParseCsvRecord(record_text, &fields, &csv_reason);
      }
      if (stop_after_error) {
        on_error({line_no, "quoted field is not closed before the end of the file"});
        return OkStatus();
      }
      if (parsed == CsvParse::kBad) {
        if (!csv_reason.empty()) on_error({line_no, csv_reason});
        continue;
      }
      record.text = record_text;
      record.csv = &fields;
    } else {
      record.text = line;
    }
    RETURN_IF_ERROR(fn(variant, record, &reason));
    if (!reason.empty()) on_error({line_no, std::move(reason)});
  }
}

std::string Basename(const std::string& path) {
  size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return name;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// ---------------------------------------------------------------------------------------------
// Field helpers

std::string_view Field(std::string_view f) { return Trim(f); }

bool ParseSeconds(std::string_view text, int64_t* ts_ms, std::string* reason) {
  int64_t seconds = 0;
  // 1e11 s is the year 5138: far past any real dataset, and ms fit int64 with room to spare.
  if (!ParseInt64(Field(text), &seconds) || seconds <= 0 || seconds > 100'000'000'000) {
    *reason = "timestamp must be positive whole unix seconds";
    return false;
  }
  *ts_ms = seconds * 1000;
  return true;
}

bool ParseRating(std::string_view text, float* rating, std::string* reason) {
  double value = 0;
  if (!ParseDouble(Field(text), &value) || !std::isfinite(value) || value < 0 || value > 10) {
    *reason = "rating must be a number between 0 and 10";
    return false;
  }
  *rating = static_cast<float>(value);
  return true;
}

bool CheckId(std::string_view id, std::string_view field, std::string* reason) {
  Status status = ValidateId(id, field);
  if (!status.ok()) *reason = status.message();
  return status.ok();
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// Dates before 1970 map to 0: created_at is a non-negative epoch time (see json_codec.h).
int64_t EpochMsOf(int64_t y, int64_t m, int64_t d) {
  int64_t days = DaysFromCivil(y, m, d);
  return days < 0 ? 0 : days * 86'400'000;
}

// "01-Jan-1995" -> epoch ms; "" -> 0.
bool ParseReleaseDate(std::string_view text, int64_t* out, std::string* reason) {
  text = Trim(text);
  *out = 0;
  if (text.empty()) return true;
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto parts = Split(text, '-');
  int64_t day = 0, year = 0, month = 0;
  if (parts.size() == 3 && ParseInt64(parts[0], &day) && ParseInt64(parts[2], &year)) {
    for (int i = 0; i < 12; ++i) {
      if (parts[1] == kMonths[i]) month = i + 1;
    }
  }
  if (month == 0 || day < 1 || day > 31 || year < 1800 || year > 9999) {
    *reason = "release date must look like 01-Jan-1995";
    return false;
  }
  *out = EpochMsOf(year, month, day);
  return true;
}

// "Toy Story (1995)" -> 1995-01-01 in epoch ms; 0 when the title does not end with a year.
int64_t CreatedAtFromTitle(std::string_view title) {
  title = Trim(title);
  if (title.size() < 6 || title.back() != ')' || title[title.size() - 6] != '(') return 0;
  int64_t year = 0;
  if (!ParseInt64(title.substr(title.size() - 5, 4), &year) || year < 1800) return 0;
  return EpochMsOf(year, 1, 1);
}

bool FinishItem(Item* item, std::string* reason) {
  if (!item->tags.empty()) item->category = item->tags.front();
  Status status = ValidateItem(*item);
  if (!status.ok()) *reason = status.message();
  return status.ok();
}

void AddGenres(std::string_view genres, Item* item) {
  genres = Trim(genres);
  if (genres.empty() || genres == "(no genres listed)") return;
  for (std::string_view g : Split(genres, '|')) {
    g = Trim(g);
    if (!g.empty()) item->tags.push_back(Latin1ToUtf8IfNeeded(g));
  }
}

// ml-100k u.genre, in flag order.
constexpr std::string_view kUItemGenres[19] = {
    "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance",     "Sci-Fi", "Thriller",  "War",       "Western"};

// ---------------------------------------------------------------------------------------------
// Per-variant record parsers: return false with `reason` for a bad record.

bool ParseMovieLensEvent(Variant variant, const Record& record, Event* event, std::string* reason) {
  std::vector<std::string_view> f;
  std::vector<std::string_view> from_csv;
  switch (variant) {
    case Variant::kTab:
      f = Split(record.text, '\t');
      if (f.size() != 4) {
        *reason =
            StrCat("expected 4 tab-separated fields (user item rating timestamp), got ", f.size());
        return false;
      }
      break;
    case Variant::kColons:
      f = Split(record.text, std::string_view("::"));
      if (f.size() != 4) {
        *reason = StrCat("expected 4 '::'-separated fields (user::item::rating::timestamp), got ",
                         f.size());
        return false;
      }
      break;
    case Variant::kCsv:
      for (const std::string& s : *record.csv) from_csv.push_back(s);
      f = std::move(from_csv);
      if (f.size() != 4) {
        *reason = StrCat(
            "expected 4 comma-separated fields (userId,movieId,rating,timestamp), got ", f.size());
        return false;
      }
      break;
    default:
      *reason = "unrecognised MovieLens ratings line";
      return false;
  }
  event->user_id = std::string(Field(f[0]));
  event->item_id = std::string(Field(f[1]));
  event->type = EventType::kView;
  return CheckId(event->user_id, "user id", reason) && CheckId(event->item_id, "item id", reason) &&
         ParseRating(f[2], &event->rating, reason) && ParseSeconds(f[3], &event->ts_ms, reason);
}

bool ParseMovieLensItem(Variant variant, const Record& record, Item* item, std::string* reason) {
  switch (variant) {
    case Variant::kPipe: {
      auto f = Split(record.text, '|');
      if (f.size() != 24) {
        *reason = StrCat(
            "expected 24 '|'-separated fields (id|title|release date|video date|url|"
            "19 genre flags), got ",
            f.size());
        return false;
      }
      item->item_id = std::string(Field(f[0]));
      item->title = Latin1ToUtf8IfNeeded(Field(f[1]));
      if (!ParseReleaseDate(f[2], &item->created_at_ms, reason)) return false;
      for (int g = 0; g < 19; ++g) {
        std::string_view flag = Field(f[5 + g]);
        if (flag != "0" && flag != "1") {
          *reason = StrCat("genre flag ", g + 1, " must be 0 or 1");
          return false;
        }
        if (flag == "1") item->tags.emplace_back(kUItemGenres[g]);
      }
      return FinishItem(item, reason);
    }
    case Variant::kColons: {
      auto f = Split(record.text, std::string_view("::"));
      if (f.size() < 3) {
        *reason = StrCat("expected 3 '::'-separated fields (id::title::genres), got ", f.size());
        return false;
      }
      item->item_id = std::string(Field(f[0]));
      // A title holding "::" would split; what lies between the first and last field is the title.
      std::string_view whole = record.text;
      size_t title_begin = whole.find("::") + 2;
      size_t title_end = whole.rfind("::");
      item->title = Latin1ToUtf8IfNeeded(Trim(whole.substr(title_begin, title_end - title_begin)));
      item->created_at_ms = CreatedAtFromTitle(item->title);
      AddGenres(f.back(), item);
      return FinishItem(item, reason);
    }
    case Variant::kCsv: {
      const auto& f = *record.csv;
      if (f.size() != 3) {
        *reason =
            StrCat("expected 3 comma-separated fields (movieId,title,genres), got ", f.size());
        return false;
      }
      item->item_id = std::string(Field(f[0]));
      item->title = Latin1ToUtf8IfNeeded(Trim(f[1]));
      item->created_at_ms = CreatedAtFromTitle(item->title);
      AddGenres(f[2], item);
      return FinishItem(item, reason);
    }
    default:
      *reason = "unrecognised MovieLens movies line";
      return false;
  }
}

// A header is recognised by its first column name; any other first record is data.
bool IsCsvHeader(const Record& record, Variant variant, std::string_view first_column) {
  return variant == Variant::kCsv && !record.csv->empty() &&
         Field((*record.csv)[0]) == first_column;
}

Status CheckCsvHeader(const std::string& path, const Record& record,
                      const std::vector<std::string_view>& expected) {
  bool match = record.csv->size() == expected.size();
  for (size_t i = 0; match && i < expected.size(); ++i) {
    match = Field((*record.csv)[i]) == expected[i];
  }
  if (match) return OkStatus();
  std::string want;
  for (size_t i = 0; i < expected.size(); ++i) StrAppend(want, i ? "," : "", expected[i]);
  // A different header means the columns may mean something else: refuse the file rather than
  // misread every row.
  return InvalidArgumentError(
      StrCat(path, " line ", record.line, ": unexpected CSV header (expected ", want, ")"));
}

}  // namespace

Result<FileFormat> ParseFileFormat(std::string_view name) {
  if (name == "jsonl") return FileFormat::kJsonl;
  if (name == "movielens") return FileFormat::kMovieLens;
  return InvalidArgumentError(StrCat("unknown format '", name, "' (expected jsonl or movielens)"));
}

std::string Latin1ToUtf8IfNeeded(std::string_view text) {
  // Validate UTF-8 first: well-formed sequences, no overlongs, no surrogates, <= U+10FFFF.
  bool valid = true;
  for (size_t i = 0; i < text.size() && valid;) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    if (len == 0 || i + len > text.size() || (len == 2 && c < 0xC2)) {
      valid = false;
      break;
    }
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) valid = false;
    }
    if (valid && len >= 3) {
      unsigned char c1 = static_cast<unsigned char>(text[i + 1]);
      if (len == 3 && ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0))) valid = false;
      if (len == 4 && ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90) || c > 0xF4)) {
        valid = false;
      }
    }
    i += len;
  }
  if (valid) return std::string(text);
  std::string out;
  out.reserve(text.size() * 2);
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

Status ReadEventsFile(const std::string& path, FileFormat format,
                      const std::function<Status(Event&&)>& on_event,
                      const std::function<void(const LineError&)>& on_error) {
  Variant variant = Variant::kJsonl;
  if (format == FileFormat::kMovieLens) {
    const std::string name = Basename(path);
    if (EndsWith(name, ".csv")) {
      variant = Variant::kCsv;
    } else if (EndsWith(name, ".dat")) {
      variant = Variant::kColons;
    } else if (EndsWith(name, ".data") || EndsWith(name, ".base") || EndsWith(name, ".test")) {
      variant = Variant::kTab;
    } else {
      variant = Variant::kUnknown;
    }
  }
  auto sniff = [](std::string_view first) {
    if (first.find("::") != std::string_view::npos) return Variant::kColons;
    if (first.find('\t') != std::string_view::npos) return Variant::kTab;
    return Variant::kCsv;
  };
  bool first_record = true;
  auto fn = [&](Variant v, const Record& record, std::string* reason) -> Status {
    bool is_first = first_record;
    first_record = false;
    if (v == Variant::kJsonl) {
      Result<Event> event = ParseEventLine(record.text);
      if (!event.ok()) {
        *reason = event.status().message();
        return OkStatus();
      }
      return on_event(std::move(event).value());
    }
    if (is_first && IsCsvHeader(record, v, "userId")) {
      return CheckCsvHeader(path, record, {"userId", "movieId", "rating", "timestamp"});
    }
    Event event;
    if (!ParseMovieLensEvent(v, record, &event, reason)) return OkStatus();
    return on_event(std::move(event));
  };
  return ForEachRecord(path, variant, sniff, fn, on_error);
}

Status ReadItemsFile(const std::string& path, FileFormat format,
                     const std::function<Status(Item&&)>& on_item,
                     const std::function<void(const LineError&)>& on_error) {
  Variant variant = Variant::kJsonl;
  if (format == FileFormat::kMovieLens) {
    const std::string name = Basename(path);
    if (EndsWith(name, ".csv")) {
      variant = Variant::kCsv;
    } else if (EndsWith(name, ".dat")) {
      variant = Variant::kColons;
    } else if (EndsWith(name, ".item")) {
      variant = Variant::kPipe;
    } else {
      variant = Variant::kUnknown;
    }
  }
  auto sniff = [](std::string_view first) {
    if (first.find("::") != std::string_view::npos) return Variant::kColons;
    if (first.rfind("movieId,", 0) == 0) return Variant::kCsv;
    if (Split(first, '|').size() == 24) return Variant::kPipe;
    return Variant::kCsv;
  };
  bool first_record = true;
  auto fn = [&](Variant v, const Record& record, std::string* reason) -> Status {
    bool is_first = first_record;
    first_record = false;
    if (v == Variant::kJsonl) {
      Result<Item> item = ParseItemLine(record.text);
      if (!item.ok()) {
        *reason = item.status().message();
        return OkStatus();
      }
      return on_item(std::move(item).value());
    }
    if (is_first && IsCsvHeader(record, v, "movieId")) {
      return CheckCsvHeader(path, record, {"movieId", "title", "genres"});
    }
    Item item;
    if (!ParseMovieLensItem(v, record, &item, reason)) return OkStatus();
    return on_item(std::move(item));
  };
  return ForEachRecord(path, variant, sniff, fn, on_error);
}

}  // namespace pulse::ingest
