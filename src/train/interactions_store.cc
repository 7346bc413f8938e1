// Interactions::FromDataDir lives apart from interactions.cc so that code using only the
// in-memory constructors does not pull the store into its link.
#include "store/data_dir.h"
#include "train/interactions.h"

namespace pulse::train {

Result<Interactions> Interactions::FromDataDir(const store::DataDir& data_dir) {
  InteractionsBuilder builder;
  RETURN_IF_ERROR(data_dir.ForEachEvent([&](const Event& event) {
    builder.Add(event);
    return OkStatus();
  }));
  return builder.Build();
}

}  // namespace pulse::train
