// ingest/file_readers.h — streams events and items out of dataset files: Pulse's own jsonl
// (items.jsonl / events.jsonl, CONTRACT.md) and the MovieLens releases.
//
// Streaming: files are read in fixed-size chunks, one record at a time, so a 25M-row ratings file
// costs a few MiB of memory whatever its size. A single line longer than kMaxLineBytes is reported
// as a malformed line and skipped (it never grows the buffer without bound).
//
// Bad input is expected: every malformed line is handed to `on_error` with its 1-based line number
// and a reason (which never quotes the line, so reasons are safe to log), and reading continues.
// Blank lines are skipped silently. Line endings may be LF or CRLF; the last line needs no newline;
// a UTF-8 byte-order mark at the start of the file is ignored.
//
// MovieLens variants are recognised by file name, else by the first non-blank line:
//   events: u.data / *.data / u1.base, ua.test ... (tab-separated `user item rating unix_seconds`),
//           ratings.dat / *.dat (`user::item::rating::unix_seconds`),
//           ratings.csv / *.csv (header `userId,movieId,rating,timestamp`, then the same fields).
//           Each row becomes Event{user_id, item_id, type = view, ts_ms = seconds * 1000, rating};
//           ids are the dataset's numbers as strings ("196", "242").
//   items:  u.item / *.item (`id|title|release date|video date|url|19 genre flags`, Latin-1),
//           movies.dat / *.dat (`id::title::Genre1|Genre2`, Latin-1),
//           movies.csv / *.csv (header `movieId,title,genres`, RFC 4180 quoting, UTF-8).
//           category = first genre, tags = all genres ("(no genres listed)" means none);
//           created_at = the release date (u.item) or 1 January of the "(YYYY)" year that ends the
//           title (movies.dat / movies.csv), 0 when unknown. Text that is not valid UTF-8 is read
//           as Latin-1 and converted to UTF-8.
//
// Thread-safety: the functions are reentrant; callbacks run on the calling thread.
// Failure: NotFound when the file does not exist, Internal when it cannot be opened or read, and
// the first non-OK status returned by `on_event`/`on_item` (reading stops there).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/types.h"

namespace pulse::ingest {

enum class FileFormat { kJsonl, kMovieLens };

// "jsonl" | "movielens"; InvalidArgument naming the accepted values otherwise.
Result<FileFormat> ParseFileFormat(std::string_view name);

// Longest accepted line (or RFC 4180 record); longer ones are reported and skipped.
inline constexpr size_t kMaxLineBytes = 8 << 20;

struct LineError {
  int64_t line = 0;  // 1-based; for a multi-line CSV record, the line it starts on
  std::string reason;
};

Status ReadEventsFile(const std::string& path, FileFormat format,
                      const std::function<Status(Event&&)>& on_event,
                      const std::function<void(const LineError&)>& on_error);

Status ReadItemsFile(const std::string& path, FileFormat format,
                     const std::function<Status(Item&&)>& on_item,
                     const std::function<void(const LineError&)>& on_error);

// Returns `text` unchanged when it is valid UTF-8, else reads it as Latin-1 and re-encodes it.
std::string Latin1ToUtf8IfNeeded(std::string_view text);

}  // namespace pulse::ingest
