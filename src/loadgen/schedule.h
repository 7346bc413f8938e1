// loadgen/schedule.h — when an open-loop load generator sends: the offered-rate curve (shape)
// and the send times derived from it. Pure functions of (shape, rate, duration): no clocks, so
// the timing math is tested without sleeping.
//
// Shapes (multipliers of the base rate R at time t of a run lasting D seconds):
//   flat     1
//   diurnal  1 − 0.5·cos(2πt/D): a day compressed into the run — trough 0.5·R at the start and
//            end, peak 1.5·R in the middle, mean R
//   spike    3 within [0.4·D, 0.4·D + min(5 s, 0.2·D)), else 1
// The run is split into `lanes` (connections or sender threads); lane j of L sends the requests
// j, j+L, j+2L, … of the whole schedule, so L lanes together offer the shape's rate.
// Thread-safety: a Schedule is used by one thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace pulse::loadgen {

enum class Shape { kFlat, kDiurnal, kSpike };

Result<Shape> ParseShape(std::string_view name);  // InvalidArgument naming the known shapes
std::string_view ShapeName(Shape shape);

// The rate multiplier of `shape` at `t_s` seconds into a run of `duration_s` seconds.
double ShapeFactor(Shape shape, double t_s, double duration_s);
// The spike's window [start, end) in seconds.
void SpikeWindow(double duration_s, double* start_s, double* end_s);

class Schedule {
 public:
  // `rps` > 0 and `duration_s` > 0; 0 <= lane < lanes.
  Schedule(Shape shape, double rps, double duration_s, int lanes = 1, int lane = 0);
  // The next send time of this lane, in nanoseconds from the start of the run; false once the
  // run is over.
  bool Next(int64_t* offset_ns);

 private:
  // Advances the whole schedule's clock by one request.
  void Step();

  const Shape shape_;
  const double rps_;
  const double duration_s_;
  const int lanes_;
  double t_s_ = 0;  // send time of the whole schedule's next request
  int64_t index_ = 0;
};

// The number of sends a Schedule of all lanes produces (the offered load of a run).
int64_t ScheduledRequests(Shape shape, double rps, double duration_s);

}  // namespace pulse::loadgen
