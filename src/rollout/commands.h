// rollout/commands.h — the `pulse models` subcommands (list, show, activate).
//
//   pulse models list [--data-dir DIR] [--config FILE] [--json]
//       Every bundle under DIR/models, oldest first, each verified in full: version, created
//       (UTC), events the training read, held-out Recall/NDCG@10, state: active (what servers on
//       DIR serve: the pinned version, else the newest that verifies), available, or refused
//       (fails verification: corrupt or truncated). --json: one object
//       {"models_dir":…,"pinned":"v…"|null,"models":[{"version":…,"state":…,"pinned":…,
//        "created_at_ms":…,"events":…,"items":…,"users":…,"recall@10":…,"ndcg@10":…,
//        "error":…}]}.
//   pulse models show VERSION [--data-dir DIR] [--config FILE] [--json]
//       The manifest and the verification result. --json: {"version":…,"state":…,
//       "pinned":…,"verified":bool,"error":…,"manifest":{…}}. Exit 1 when the bundle fails
//       verification (everything is still printed).
//   pulse models activate VERSION|latest [--unpin] [--data-dir DIR] [--config FILE]
//       Verifies VERSION and pins it (DIR/models/active, written atomically): running servers
//       switch to it within server.model_poll_ms, even when it is older (rollback, no restart).
//       `latest` or --unpin removes the pin (newest wins again). A missing or corrupt version
//       fails and changes nothing.
//
// Reads the models directory only (never opens the event store), so it runs beside a server.
// `args` exclude the program name and "models". Exit codes: 0 success, 2 bad usage (unknown
// subcommand or flag, malformed version name), 1 anything else (unknown version, corrupt
// bundle, I/O).
#pragma once

#include <string>
#include <vector>

namespace pulse::rollout {

int RunModelsCommand(const std::vector<std::string>& args);

}  // namespace pulse::rollout
