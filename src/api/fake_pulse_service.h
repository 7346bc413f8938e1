// api/fake_pulse_service.h — test-only PulseService for the API front-end tests: a small
// in-memory catalog, canned recommendations, scripted failures, and a record of what the front
// end passed in. Thread-safe (the servers call it from their worker threads).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "serving/service.h"

namespace pulse::api::testing {

class FakePulseService final : public serving::PulseService {
 public:
  // Recommend: validates like the real service, then returns min(n, 3) items "i0", "i1", ...
  // (score 0.9, 0.8, ...; explanation "popular", source "popular"), plus debug when asked.
  Result<serving::RecommendResponse> Recommend(const serving::RecommendRequest& request) override {
    {
      // HoldRecommends: wait here (counted in held_recommends) until ReleaseRecommends.
      std::unique_lock<std::mutex> hold(hold_mu_);
      if (holding_) {
        ++held_;
        hold_cv_.notify_all();
        hold_cv_.wait(hold, [this] { return !holding_; });
        --held_;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    last_recommend_ = request;
    ++recommend_calls_;
    if (!recommend_error_.ok()) return recommend_error_;
    RETURN_IF_ERROR(serving::ValidateRecommendRequest(request));
    serving::RecommendResponse response;
    response.request_id = "req-1";
    response.model_version = "m1";
    const int n = std::min(request.n.value_or(10), 3);
    for (int i = 0; i < n; ++i) {
      response.items.push_back(serving::RecommendedItem{
          StrCat("i", i), 0.9f - 0.1f * static_cast<float>(i), "popular", "popular"});
    }
    if (request.debug) {
      serving::RecommendDebug debug;
      debug.trace_id = request.trace_id;
      debug.stages.push_back({"popular", 12, 3});
      debug.removed.push_back({"i9", "request_exclude", "excluded by the request"});
      debug.model_version = "m1";
      debug.index_version = "x1";
      response.debug = std::move(debug);
    }
    return response;
  }

  // Accepts every parsed event, except: item ids starting with "reject" (rejected, reason
  // "rejected by the fake"), event ids seen before (accepted, and
  // also counted as duplicates, as the engine does). Parse errors are rejected with
  // their parse_error. Rejects become dead letters (received_at = 1000 + their number).
  Result<serving::PublishResult> PublishEvents(std::vector<serving::EventInput> events,
                                               std::string_view source) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++publish_calls_;
    last_publish_ = events;
    last_publish_source_ = std::string(source);
    if (!publish_error_.ok()) return publish_error_;
    serving::PublishResult result;
    for (size_t i = 0; i < events.size(); ++i) {
      const serving::EventInput& input = events[i];
      std::string reason;
      std::string code;
      if (!input.event.has_value()) {
        reason = input.parse_error;
        code = "parse_error";
      } else if (input.event->item_id.starts_with("reject")) {
        reason = "rejected by the fake";
        code = "other";
      }
      if (!reason.empty()) {
        dead_letters_.push_back(
            serving::DeadLetterView{1000 + static_cast<int64_t>(dead_letters_.size()),
                                    std::string(source), code, reason, input.raw});
        result.rejected.emplace_back(static_cast<int>(i), std::move(reason));
        continue;
      }
      const std::string& id = input.event->event_id;
      if (!id.empty() && !event_ids_.insert(id).second) ++result.duplicates;
      ++result.accepted;
    }
    return result;
  }

  // Newest first, at most `limit`.
  Result<std::vector<serving::DeadLetterView>> ListDeadLetters(size_t limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_dead_letter_limit_ = limit;
    if (!dead_letter_error_.ok()) return dead_letter_error_;
    std::vector<serving::DeadLetterView> out;
    for (auto it = dead_letters_.rbegin(); it != dead_letters_.rend() && out.size() < limit; ++it) {
      out.push_back(*it);
    }
    return out;
  }

  // Stores every item except those whose id starts with "reject", which come back rejected.
  Result<serving::UpsertResult> UpsertItems(std::vector<Item> items) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_upsert_ = items;
    serving::UpsertResult result;
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].item_id.starts_with("reject")) {
        result.rejected.emplace_back(static_cast<int>(i), "rejected by the fake");
        continue;
      }
      items_[items[i].item_id] = items[i];
      ++result.upserted;
    }
    return result;
  }

  Status DeleteItem(std::string_view item_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = items_.find(std::string(item_id));
    if (it == items_.end()) return NotFoundError("item not found");
    items_.erase(it);
    return OkStatus();
  }

  Result<Item> GetItem(std::string_view item_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = items_.find(std::string(item_id));
    if (it == items_.end()) return NotFoundError("item not found");
    return it->second;
  }

  // "u1" has two events; everybody else is unknown (empty history).
  Result<serving::UserFeatures> GetUserFeatures(std::string_view user_id) override {
    serving::UserFeatures features;
    features.user_id = std::string(user_id);
    if (user_id == "u1") {
      features.history.recent.push_back({"i3", EventType::kClick, 1000});
      features.history.events_total = 2;
      features.history.updated_at_ms = 2000;
    }
    return features;
  }

  serving::Readiness GetReadiness() override {
    std::lock_guard<std::mutex> lock(mu_);
    serving::Readiness readiness;
    readiness.ready = ready_;
    if (!ready_) readiness.reason = "no model loaded";
    readiness.model_version = ready_ ? "m1" : "";
    return readiness;
  }

  // ---- test controls ----
  void HoldRecommends() {
    std::lock_guard<std::mutex> lock(hold_mu_);
    holding_ = true;
  }
  void ReleaseRecommends() {
    std::lock_guard<std::mutex> lock(hold_mu_);
    holding_ = false;
    hold_cv_.notify_all();
  }
  // Waits up to `timeout` until at least `count` calls are held; returns how many are.
  int WaitHeld(int count, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(hold_mu_);
    hold_cv_.wait_for(lock, timeout, [&] { return held_ >= count; });
    return held_;
  }
  void SetReady(bool ready) {
    std::lock_guard<std::mutex> lock(mu_);
    ready_ = ready;
  }
  void FailRecommendWith(Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    recommend_error_ = std::move(status);
  }
  std::optional<serving::RecommendRequest> last_recommend() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_recommend_;
  }
  int recommend_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return recommend_calls_;
  }
  void FailPublishWith(Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    publish_error_ = std::move(status);
  }
  void FailDeadLettersWith(Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    dead_letter_error_ = std::move(status);
  }
  std::vector<serving::EventInput> last_publish() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_publish_;
  }
  std::string last_publish_source() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_publish_source_;
  }
  int publish_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return publish_calls_;
  }
  size_t last_dead_letter_limit() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_dead_letter_limit_;
  }
  std::vector<Item> last_upsert() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_upsert_;
  }

 private:
  std::mutex hold_mu_;
  std::condition_variable hold_cv_;
  bool holding_ = false;
  int held_ = 0;
  mutable std::mutex mu_;
  std::map<std::string, Item> items_;
  std::optional<serving::RecommendRequest> last_recommend_;
  std::vector<Item> last_upsert_;
  int recommend_calls_ = 0;
  Status recommend_error_;
  bool ready_ = false;
  std::vector<serving::EventInput> last_publish_;
  std::string last_publish_source_;
  int publish_calls_ = 0;
  Status publish_error_;
  std::set<std::string> event_ids_;
  std::vector<serving::DeadLetterView> dead_letters_;
  Status dead_letter_error_;
  size_t last_dead_letter_limit_ = 0;
};

}  // namespace pulse::api::testing
