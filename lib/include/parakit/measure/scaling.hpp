// Strong-scaling tables from timing samples: for each (workload, backend) the samples at each
// worker count p are summarised, and speedup, efficiency and the Karp-Flatt serial fraction
// are taken against the median at p = 1 of the same workload and backend.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "parakit/measure/stats.hpp"

namespace parakit::measure {

/// One timed repetition.
struct Sample {
  std::string workload;
  std::string backend;
  int p = 1;
  int rep = 0;
  double seconds = 0;
};

struct ScalingRow {
  std::string workload;
  std::string backend;
  int p = 1;
  Summary time;
  double speedup = 0;     ///< median T(1) / median T(p); 0 without a p = 1 row
  double efficiency = 0;  ///< speedup / p
  double karp_flatt = 0;  ///< serial fraction; 0 at p = 1
};

/// Rows in order of first appearance of (workload, backend), then increasing p.
std::vector<ScalingRow> scaling_table(std::span<const Sample> samples);

/// The worker counts a strong-scaling run visits up to `max_p`: 1..max_p when max_p <= 8,
/// else 1, 2, 4, ... and max_p.
std::vector<int> scaling_steps(int max_p);

}  // namespace parakit::measure
