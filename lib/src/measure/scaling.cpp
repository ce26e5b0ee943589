#include "parakit/measure/scaling.hpp"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

namespace parakit::measure {

std::vector<ScalingRow> scaling_table(std::span<const Sample> samples) {
  using Key = std::tuple<std::string, std::string, std::string>;
  std::vector<Key> order;
  std::map<Key, std::map<int, std::vector<double>>> grouped;
  for (const Sample& s : samples) {
    const Key key{s.workload, s.backend, s.scaling};
    if (!grouped.count(key)) order.push_back(key);
    grouped[key][s.p].push_back(s.seconds);
  }
  std::vector<ScalingRow> rows;
  for (const auto& key : order) {
    const auto& by_p = grouped[key];
    const auto base = by_p.find(1);
    const double t1 = base == by_p.end() ? 0.0 : median(base->second);
    for (const auto& [p, seconds] : by_p) {
      ScalingRow row;
      std::tie(row.workload, row.backend, row.scaling) = key;
      row.p = p;
      row.time = summarize(seconds);
      if (t1 > 0 && row.scaling == "weak") {
        row.efficiency = speedup(t1, row.time.median);
        row.speedup = p * row.efficiency;
      } else if (t1 > 0) {
        row.speedup = speedup(t1, row.time.median);
        row.efficiency = efficiency(t1, row.time.median, p);
        row.karp_flatt = karp_flatt(row.speedup, p);
      }
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

std::vector<int> scaling_steps(int max_p) {
  std::vector<int> steps;
  if (max_p <= 8) {
    for (int p = 1; p <= max_p; ++p) steps.push_back(p);
    return steps;
  }
  for (int p = 1; p < max_p; p *= 2) steps.push_back(p);
  steps.push_back(max_p);
  return steps;
}

}  // namespace parakit::measure
