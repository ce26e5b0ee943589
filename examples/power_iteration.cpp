// Hybrid ranks x threads with Eigen: the largest eigenvalue of a distributed matrix by power
// iteration. Each rank holds only its block of rows of A (n x n); each iteration its threads
// multiply their slices of that block by x (Eigen), rank 0 gathers y = A x and broadcasts it,
// and every rank normalises it:
//
//   power_iteration [N] [ITERATIONS]                          (threads)
//   PARAKIT_THREADS=2 mpirun -np 2 power_iteration [N]        (2 ranks x 2 threads)
//
// A_ij = 4 / n + 0.5^|i - j|: a Kac-Murdock-Szego matrix (eigenvalues within (1/3, 3)) plus a
// rank-one part that makes the largest eigenvalue stand well apart (near 7), so 100
// iterations converge to rounding. Rank 0 prints "N ESTIMATE"; the tests compare it with
// NumPy's eigvalsh.
#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/patterns/reduce.hpp"
#include "parakit/runtime/program.hpp"

int main(int argc, char** argv) {
  return parakit::run_program("power_iteration", argc, argv, [](parakit::Team& team, auto args) {
    std::uint64_t n = 2000, iterations = 100;
    parakit::collectively(team.comm(), [&] {
      if (args.size() > 0) n = parakit::parse_count(args[0], "N");
      if (args.size() > 1) iterations = parakit::parse_count(args[1], "ITERATIONS");
      if (n == 0) throw parakit::UsageError("N must be at least 1");
    });
    auto entry = [n](std::uint64_t i, std::uint64_t j) {
      return 4.0 / static_cast<double>(n) +
             std::pow(0.5, static_cast<double>(i > j ? i - j : j - i));
    };
    const parakit::IndexRange mine = team.rank_block(n);  // this rank's rows, and only them
    Eigen::MatrixXd a(static_cast<Eigen::Index>(mine.size()), static_cast<Eigen::Index>(n));
    for (std::uint64_t i = mine.begin; i < mine.end; ++i)
      for (std::uint64_t j = 0; j < n; ++j)
        a(static_cast<Eigen::Index>(i - mine.begin), j) = entry(i, j);
    Eigen::VectorXd x = Eigen::VectorXd::LinSpaced(static_cast<Eigen::Index>(n), 1.0, 2.0);
    x.normalize();
    Eigen::VectorXd y_mine(a.rows());
    double estimate = 0;
    const auto threads = static_cast<std::uint64_t>(team.threads());
    for (std::uint64_t it = 0; it < iterations; ++it) {
      parakit::for_each_item(team, threads, [&](std::uint64_t k, parakit::Worker) {
        const parakit::IndexRange rows = parakit::block_range(mine.size(), threads, k);
        const auto first = static_cast<Eigen::Index>(rows.begin),
                   count = static_cast<Eigen::Index>(rows.size());
        y_mine.segment(first, count).noalias() = a.middleRows(first, count) * x;
      });
      const std::vector<double> y = team.comm().gather_concat(
          std::span<const double>(y_mine.data(), static_cast<std::size_t>(y_mine.size())), 0);
      x.resize(static_cast<Eigen::Index>(n));
      if (team.rank() == 0)
        x = Eigen::Map<const Eigen::VectorXd>(y.data(), static_cast<Eigen::Index>(n));
      team.comm().broadcast_in_place(std::span<double>(x.data(), n), 0);
      estimate = x.norm();  // |A x| with |x| = 1: converges to the largest eigenvalue
      x /= estimate;
    }
    if (team.rank() == 0) std::printf("%llu %.17g\n", static_cast<unsigned long long>(n), estimate);
    return 0;
  });
}
