// Scaling tables from timing samples: for each (workload, backend, scaling) the samples at
// each worker count p are summarised and compared with the median at p = 1 of the same
// workload, backend and scaling.
//   strong (fixed problem):     S = T1/Tp, E = S/p, Karp-Flatt e = (1/S - 1/p) / (1 - 1/p);
//   weak (problem grows with p): E = T1/Tp (1 is ideal), scaled speedup S = p E (Gustafson),
//                               no Karp-Flatt (it assumes a fixed problem).
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
  std::string scaling = "strong";  ///< "strong" or "weak"
};

struct ScalingRow {
  std::string workload;
  std::string backend;
  std::string scaling = "strong";
  int p = 1;
  Summary time;
  double speedup = 0;     ///< strong: T(1) / T(p); weak: p T(1) / T(p); 0 without a p = 1 row
  double efficiency = 0;  ///< speedup / p
  double karp_flatt = 0;  ///< serial fraction; 0 at p = 1 and for weak scaling
};

/// Rows in order of first appearance of (workload, backend, scaling), then increasing p.
std::vector<ScalingRow> scaling_table(std::span<const Sample> samples);

/// The worker counts a strong-scaling run visits up to `max_p`: 1..max_p when max_p <= 8,
/// else 1, 2, 4, ... and max_p.
std::vector<int> scaling_steps(int max_p);

}  // namespace parakit::measure
