// tools/commands.h — the `pulse gen` and `pulse import` commands (CONTRACT.md, Commands).
//
//   pulse gen --users N --items M --events E --out DIR [--seed S]
//     Writes DIR/items.jsonl and DIR/events.jsonl from GenerateSynthetic (synthetic.h) and prints
//     the counts. Every user gets at least 5 events, so E is raised to 5 * N when smaller.
//   pulse import --data-dir DIR [--items FILE] [--events FILE] [--format jsonl|movielens]
//                [--config FILE]
//     Loads items, then events, into the data dir: events in batches of 50,000 appended without
//     fsync, then one Sync() at the end. Prints items/events imported, duplicates (events whose
//     event_id was already stored) and rejected lines with their file and line number (the first
//     20, then "... and N more"): no line is dropped silently. Rejected lines do not fail the
//     import. --config supplies store settings and, without --data-dir, the data dir. A progress
//     line is drawn on stderr only when stderr is a terminal.
//
// `args` exclude the program name and the subcommand. Return value = process exit code: 0 ok,
// 2 bad usage (the message names the problem), 1 any other failure (unreadable file, data dir
// locked by a running server, disk errors). Output: results on stdout, errors on stderr.
#pragma once

#include <string>
#include <vector>

namespace pulse::tools {

int RunGenCommand(const std::vector<std::string>& args);
int RunImportCommand(const std::vector<std::string>& args);

}  // namespace pulse::tools
