#include "loadgen/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace pulse::loadgen {

Result<Shape> ParseShape(std::string_view name) {
  if (name == "flat") return Shape::kFlat;
  if (name == "diurnal") return Shape::kDiurnal;
  if (name == "spike") return Shape::kSpike;
  return InvalidArgumentError(StrCat("--shape must be flat, diurnal or spike, got '", name, "'"));
}

std::string_view ShapeName(Shape shape) {
  switch (shape) {
    case Shape::kFlat:
      return "flat";
    case Shape::kDiurnal:
      return "diurnal";
    case Shape::kSpike:
      return "spike";
  }
  return "flat";
}

void SpikeWindow(double duration_s, double* start_s, double* end_s) {
  *start_s = 0.4 * duration_s;
  *end_s = *start_s + std::min(5.0, 0.2 * duration_s);
}

double ShapeFactor(Shape shape, double t_s, double duration_s) {
  switch (shape) {
    case Shape::kFlat:
      return 1.0;
    case Shape::kDiurnal:
      return 1.0 - 0.5 * std::cos(2.0 * std::numbers::pi * t_s / duration_s);
    case Shape::kSpike: {
      double start = 0, end = 0;
      SpikeWindow(duration_s, &start, &end);
      return t_s >= start && t_s < end ? 3.0 : 1.0;
    }
  }
  return 1.0;
}

Schedule::Schedule(Shape shape, double rps, double duration_s, int lanes, int lane)
    : shape_(shape), rps_(rps), duration_s_(duration_s), lanes_(std::max(1, lanes)) {
  for (int i = 0; i < lane; ++i) Step();
}

void Schedule::Step() {
  // The next request is one interval of the current rate later: exact for flat, and for the
  // smooth or piecewise-constant shapes the error is at most one interval at a rate change.
  t_s_ += 1.0 / (rps_ * ShapeFactor(shape_, t_s_, duration_s_));
  ++index_;
}

bool Schedule::Next(int64_t* offset_ns) {
  // Flat schedules are computed from the index so long runs do not accumulate rounding.
  const double t = shape_ == Shape::kFlat ? static_cast<double>(index_) / rps_ : t_s_;
  if (t >= duration_s_) return false;
  *offset_ns = static_cast<int64_t>(std::llround(t * 1e9));
  for (int i = 0; i < lanes_; ++i) Step();
  return true;
}

int64_t ScheduledRequests(Shape shape, double rps, double duration_s) {
  Schedule schedule(shape, rps, duration_s);
  int64_t count = 0;
  int64_t offset = 0;
  while (schedule.Next(&offset)) ++count;
  return count;
}

}  // namespace pulse::loadgen
