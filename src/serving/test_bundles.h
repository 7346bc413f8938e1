// serving/test_bundles.h — small model bundles the engine tests serve (test-only, header-only).
#pragma once

#include "core/config.h"
#include "core/strings.h"
#include "index/ann_index.h"
#include "rollout/model_bundle.h"

namespace pulse::serving::test_bundles {

// Items i0..i9 in cluster A (first axis), i10..i19 in cluster B (second axis); popularity
// favours cluster B so "popular" and "personal" disagree for a cluster-A user. With
// `trained_user`, user "trained-only" has a training vector on the cluster-B axis.
inline rollout::ModelBundle TwoClusterBundle(int dim = 4, bool trained_user = false) {
  rollout::ModelBundle bundle;
  bundle.dim = dim;
  for (int i = 0; i < 20; ++i) {
    bundle.items.Intern(StrCat("i", i));
    for (int d = 0; d < dim; ++d) {
      float value = (d == (i < 10 ? 0 : 1)) ? 1.0f : 0.0f;
      value += 0.01f * static_cast<float>((i * 7 + d) % 5);
      bundle.item_factors.push_back(value);
    }
    bundle.item_popularity.push_back(i < 10 ? 1.0f + i : 100.0f + i);
  }
  if (trained_user) {
    bundle.users.Intern("trained-only");
    for (int d = 0; d < dim; ++d) bundle.user_factors.push_back(d == 1 ? 1.0f : 0.0f);
  }
  IndexConfig index_config;
  index_config.type = "flat";
  bundle.index = index::AnnIndex::Build(bundle.item_factors.data(), 20, dim, index_config).value();
  return bundle;
}

}  // namespace pulse::serving::test_bundles
