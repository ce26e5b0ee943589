// The kde workload on every backend: one body, run under mpiexec at 1-4 ranks and on threads
// at 1, 2, 3 and 8. Each result must equal, bit for bit, the same run on a serial team in
// this process (counts, densities, CV curves and chosen widths, for every kernel).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/data/generate.hpp"
#include "parakit/io/array_file.hpp"
#include "parakit/patterns/rows.hpp"
#include "parakit/workloads/kde.hpp"
#include "parakit_test.hpp"

namespace parakit {
namespace {

using testing::shared_temp_path;
using testing::team;
using workloads::KdeOptions;
using workloads::KdeResult;

KdeResult serial_run(const KdeOptions& options) {
  Team serial = Team::serial();
  return workloads::run_kde(serial, options);
}

/// Bitwise equality of doubles (so -0.0 != 0.0 and NaN == NaN with the same payload).
void expect_same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)), 0);
}

void expect_same(const KdeOptions& options) {
  const KdeResult got = workloads::run_kde(team(), options);
  const KdeResult want = serial_run(options);
  expect_same_bits(got.widths, want.widths);
  if (got.cv || want.cv) {
    ASSERT_TRUE(got.cv && want.cv);
    expect_same_bits(got.cv->score, want.cv->score);
    EXPECT_EQ(got.cv->best, want.cv->best);
    EXPECT_EQ(got.cv->lonely, want.cv->lonely);
  }
  if (team().rank() != 0) return;  // densities and counts are gathered on rank 0
  EXPECT_EQ(got.point_count, want.point_count);
  EXPECT_EQ(got.counts, want.counts);
  expect_same_bits(got.density, want.density);
}

TEST(KdeWorkload, SeedDefaultCountsEverywhere) {
  const KdeOptions options;  // 10000 2-D numpy(123) samples, origin, 1.0:1.2:100
  const KdeResult result = workloads::run_kde(team(), options);
  if (team().rank() == 0) {
    ASSERT_EQ(result.counts.size(), 100u);
    EXPECT_EQ(result.counts.front(), 1445u);
    EXPECT_EQ(result.counts.back(), 2022u);
  }
  expect_same(options);
}

TEST(KdeWorkload, HypercubeGridAndNaive) {
  KdeOptions options;
  options.samples = 3000;
  options.grid = workloads::parse_grid("23x17");
  options.widths = {0.1, 0.35, 0.6, 1.5};
  expect_same(options);
  options.algo = workloads::KdeAlgo::naive;
  expect_same(options);
}

TEST(KdeWorkload, SmoothKernelsAreBitwiseToo) {
  for (const auto kernel : {kde::Kernel::gaussian, kde::Kernel::epanechnikov}) {
    KdeOptions options;
    options.kernel = kernel;
    options.samples = 9000;  // several row chunks for the single point
    options.widths = {0.2, 0.7};
    expect_same(options);
    options.samples = 500;
    options.grid = workloads::parse_grid("9x11");
    expect_same(options);
  }
}

TEST(KdeWorkload, CrossValidationCurvesAndChoices) {
  KdeOptions options;
  options.samples = 1200;
  options.rng = workloads::SampleRng::philox;
  options.widths = workloads::parse_widths("0.02:1.0:15");
  for (const auto method : {kde::CvMethod::loglik, kde::CvMethod::lsq}) {
    options.cv = method;
    expect_same(options);
  }
  options.kernel = kde::Kernel::gaussian;
  options.samples = 300;
  options.dim = 3;
  for (const auto method : {kde::CvMethod::loglik, kde::CvMethod::lsq}) {
    options.cv = method;
    expect_same(options);
  }
}

// The spatial split behind range counting on several ranks: every row once, each rank's rows
// in its own range, whatever the shards before (uneven, empty, fewer rows than ranks) and
// however small the messages.
TEST(SpatialSplit, EveryRowOnceInItsRanksRange) {
  const Comm& comm = team().comm();
  for (const std::uint64_t n : {0, 2, 1001, 20000}) {
    for (const std::uint64_t message_bytes : {16, 4096, 16 << 20}) {
      std::vector<double> all(n * 2);
      data::generate(data::Dist::normal, 5, 0, all);
      for (std::size_t i = 0; i < all.size(); i += 6) all[i] = 0.25;  // ties at one value
      // Rank 0 holds nothing; the others split the rows unevenly.
      std::vector<std::uint64_t> counts(static_cast<std::size_t>(comm.size()), 0);
      for (std::uint64_t i = 0; i < n; ++i) {
        ++counts[comm.size() == 1 ? 0 : 1 + (i * i) % static_cast<std::uint64_t>(comm.size() - 1)];
      }
      const RowLayout layout = RowLayout::from_counts(counts);
      const IndexRange mine = layout.of(comm.rank());
      RowMatrix rows(static_cast<Eigen::Index>(mine.size()), 2);
      std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(mine.begin * 2), mine.size() * 2,
                  rows.data());
      const auto [lo, hi] = std::minmax_element(all.begin(), all.end());
      const double low = n > 0 ? *lo : 0.0, high = n > 0 ? *hi : 0.0;
      const std::vector<double> splitters = balanced_splitters(comm, rows, 0, low, high);
      ASSERT_EQ(splitters.size() + 1, static_cast<std::size_t>(comm.size()));
      split_rows_by_column(comm, rows, 0, splitters, message_bytes);
      const int r = comm.rank();
      for (Eigen::Index i = 0; i < rows.rows(); ++i) {
        if (r > 0) {
          EXPECT_GE(rows(i, 0), splitters[static_cast<std::size_t>(r - 1)]);
        }
        if (r + 1 < comm.size()) {
          EXPECT_LT(rows(i, 0), splitters[static_cast<std::size_t>(r)]);
        }
      }
      const std::vector<double> gathered = comm.gather_concat(
          std::span<const double>(rows.data(), static_cast<std::size_t>(rows.size())), 0);
      if (r != 0) continue;
      auto sorted_rows = [](const std::vector<double>& v) {
        std::vector<std::pair<double, double>> out;
        for (std::size_t i = 0; i < v.size(); i += 2) out.emplace_back(v[i], v[i + 1]);
        std::sort(out.begin(), out.end());
        return out;
      };
      EXPECT_EQ(sorted_rows(gathered), sorted_rows(all)) << "n " << n;
    }
  }
}

// The spatial sort puts the rows of all ranks in one order, the same at any rank count: by
// Z-order key, ties by global row index, whole chunks interleaved, laid out in whole chunks.
TEST(SpatialSort, InterleavedChunksAreABijection) {
  for (const std::uint64_t count : {1, 2, 3, 4, 10, 64, 1000, 4096, 99991}) {
    std::vector<bool> seen(count, false);
    for (std::uint64_t c = 0; c < count; ++c) {
      const std::uint64_t to = interleaved_chunk(c, count);
      ASSERT_LT(to, count);
      EXPECT_FALSE(seen[to]) << count;
      seen[to] = true;
    }
  }
}

TEST(SpatialSort, OneOrderAtAnyRankCount) {
  const Comm& comm = team().comm();
  for (const std::uint64_t n : {0, 1, 130, 5000}) {
    for (const int d : {1, 2, 3, 5}) {
      std::vector<double> all(n * static_cast<std::uint64_t>(d));
      data::generate(data::Dist::normal, 9, 0, all);
      for (std::size_t i = 0; i + 2 * static_cast<std::size_t>(d) <= all.size(); i += 7 * d) {
        std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(i), d,
                    all.begin() + static_cast<std::ptrdiff_t>(i) + d);  // duplicated rows
      }
      std::vector<double> lo(static_cast<std::size_t>(d), 0.0), hi(lo.size(), 0.0);
      for (std::size_t t = 0; n > 0 && t < lo.size(); ++t) {
        lo[t] = hi[t] = all[t];
        for (std::uint64_t i = 0; i < n; ++i) {
          lo[t] = std::min(lo[t], all[i * static_cast<std::uint64_t>(d) + t]);
          hi[t] = std::max(hi[t], all[i * static_cast<std::uint64_t>(d) + t]);
        }
      }
      RowShard shard;
      shard.rank = comm.rank();
      shard.cols = static_cast<std::uint64_t>(d);
      shard.layout = RowLayout::aligned_blocks(n, comm.size(), 64);
      const IndexRange mine = shard.mine();
      shard.values.resize(static_cast<Eigen::Index>(mine.size()), d);
      std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(mine.begin * shard.cols),
                  mine.size() * shard.cols, shard.values.data());
      sort_rows_spatially(comm, shard, lo, hi, 64);
      EXPECT_EQ(shard.layout, RowLayout::aligned_blocks(n, comm.size(), 64));
      const std::vector<double> gathered =
          comm.gather_concat(std::span<const double>(shard.values.data(),
                                                     static_cast<std::size_t>(shard.values.size())),
                             0);
      if (comm.rank() != 0) continue;
      std::vector<std::uint64_t> order(n);
      for (std::uint64_t i = 0; i < n; ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](std::uint64_t a, std::uint64_t b) {
        return morton_key(&all[a * shard.cols], lo, hi) < morton_key(&all[b * shard.cols], lo, hi);
      });
      // Whole chunks of 64 interleaved, a partial last chunk last.
      std::vector<double> want(all.size());
      const std::uint64_t full = n / 64;
      for (std::uint64_t at = 0; at < n; ++at) {
        const std::uint64_t c = at / 64;
        const std::uint64_t to = c < full ? interleaved_chunk(c, full) * 64 + at % 64 : at;
        std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(order[at] * shard.cols), shard.cols,
                    want.begin() + static_cast<std::ptrdiff_t>(to * shard.cols));
      }
      EXPECT_EQ(gathered, want) << "n " << n << " d " << d;
    }
  }
}

// The grid's range counting splits the rows over ranks by slabs; a CV after it still gives the
// bits of one process.
TEST(KdeWorkload, GridThenCrossValidationOnSlabs) {
  KdeOptions options;
  options.samples = 1501;
  options.rng = workloads::SampleRng::philox;
  options.grid = workloads::parse_grid("15x13");
  options.widths = workloads::parse_widths("0.3:1.5:6");
  options.cv = kde::CvMethod::loglik;
  expect_same(options);
  options.cv = kde::CvMethod::lsq;
  expect_same(options);
}

TEST(KdeWorkload, CrossValidationNeverChoosesMinusInfinity) {
  KdeOptions options;
  options.samples = 200;
  options.widths = {1e-6, 2.0, 4.0};  // n = 200: 2.0 and 4.0 leave no sample alone
  options.cv = kde::CvMethod::loglik;
  const KdeResult result = workloads::run_kde(team(), options);
  ASSERT_TRUE(result.cv);
  EXPECT_EQ(result.cv->score[0], -std::numeric_limits<double>::infinity());
  ASSERT_TRUE(result.cv->best);
  EXPECT_NE(*result.cv->best, 0u);
}

/// The same n x d Philox normals (seed 5) as .npy, raw .bin, CSV (a header, a comment, CRLF
/// line ends, no final newline) and HDF5 (written by h5py from the .npy: /samples contiguous,
/// /deflated/samples chunked and gzip-compressed), written by rank 0.
struct SampleFiles {
  std::string npy, bin, csv, h5;
};

/// Writes `h5` from `npy` with h5py (an independent writer of the format).
void write_hdf5_fixture(const std::string& npy, const std::string& h5) {
  const std::string script =
      "import sys, numpy, h5py\n"
      "x = numpy.load(sys.argv[1])\n"
      "with h5py.File(sys.argv[2], 'w') as f:\n"
      "    f.create_dataset('samples', data=x)\n"
      "    f.create_dataset('deflated/samples', data=x, chunks=(min(len(x), 37), x.shape[1]),\n"
      "                     compression='gzip', shuffle=True)\n";
  const std::string command =
      std::string(PARAKIT_TEST_PYTHON) + " -c \"" + script + "\" " + npy + " " + h5;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

SampleFiles write_sample_files(std::uint64_t n, int d) {
  const auto dd = static_cast<std::uint64_t>(d);
  const std::string stem = "kde-" + std::to_string(n) + "x" + std::to_string(d);
  SampleFiles files{shared_temp_path(stem + ".npy"), shared_temp_path(stem + ".bin"),
                    shared_temp_path(stem + ".csv"), shared_temp_path(stem + ".h5")};
  if (team().rank() == 0) {
    std::vector<double> values(n * dd);
    data::generate(data::Dist::normal, 5, 0, values);
    io::write_npy(files.npy, values, {n, dd});
    std::ofstream bin(files.bin, std::ios::binary);
    bin.write(reinterpret_cast<const char*>(values.data()),
              static_cast<std::streamsize>(values.size() * sizeof(double)));
    std::ofstream csv(files.csv, std::ios::binary);
    csv << "# samples\r\n";
    for (int t = 0; t < d; ++t) csv << (t ? ",x" : "x") << t;
    for (std::uint64_t i = 0; i < n; ++i) {
      csv << "\r\n";
      for (std::uint64_t t = 0; t < dd; ++t) {
        char cell[32];
        std::snprintf(cell, sizeof cell, "%.17g", values[i * dd + t]);
        csv << (t ? "," : "") << cell;
      }
    }
    write_hdf5_fixture(files.npy, files.h5);
  }
  team().comm().barrier();
  return files;
}

void expect_same_results(const KdeResult& a, const KdeResult& b) {
  EXPECT_EQ(a.n, b.n);
  if (a.cv || b.cv) {
    ASSERT_TRUE(a.cv && b.cv);
    expect_same_bits(a.cv->score, b.cv->score);
    EXPECT_EQ(a.cv->best, b.cv->best);
  }
  if (team().rank() != 0) return;
  EXPECT_EQ(a.counts, b.counts);
  expect_same_bits(a.density, b.density);
}

TEST(KdeWorkload, ShardedFilesGiveTheBitsOfGeneratedSamples) {
  // n = 3 leaves every rank but the first without rows; 1000 and 9001 split unevenly.
  for (const std::uint64_t n : {3ULL, 1000ULL, 9001ULL}) {
    const SampleFiles files = write_sample_files(n, 2);
    for (const auto kernel : {kde::Kernel::hypercube, kde::Kernel::gaussian}) {
      KdeOptions generated;
      generated.kernel = kernel;
      generated.samples = n;
      generated.seed = 5;
      generated.rng = workloads::SampleRng::philox;
      generated.grid = workloads::parse_grid("7x5:-2:2:-2:2");
      generated.widths = {0.3, 0.9};
      if (n > 3 && n < 5000) generated.cv = kde::CvMethod::loglik;
      const KdeResult want = workloads::run_kde(team(), generated);
      expect_same(generated);
      const std::pair<std::string, std::string> sources[] = {
          {files.npy, ""},
          {files.bin, ""},
          {files.csv, ""},
          {files.h5, "/samples"},
          {files.h5, "deflated/samples"}};  // chunked and compressed
      for (const auto& [path, dataset] : sources) {
        KdeOptions read = generated;
        read.input = path;
        read.dataset = dataset;
        read.cols = path == files.bin ? 2 : 0;
        expect_same_results(workloads::run_kde(team(), read), want);
        expect_same(read);
      }
    }
  }
  // Every rank's last serial_run reads the files on its own: none may be removed before all
  // are done (rank 0 finishing first once removed the .h5 under rank 1's feet).
  team().comm().barrier();
  if (team().rank() == 0) {
    for (const std::uint64_t n : {3ULL, 1000ULL, 9001ULL}) {
      const std::string stem = "kde-" + std::to_string(n) + "x2";
      for (const char* ext : {".npy", ".bin", ".csv", ".h5"}) {
        std::remove(("/tmp/parakit-test-" + std::to_string(getpid()) + "-" + stem + ext).c_str());
      }
    }
  }
}

/// Runs `options` with every block handed to on_block (checked to come in order and to tile
/// the points) and returns the concatenated points, counts and densities as a KdeResult.
KdeResult run_in_blocks(KdeOptions options) {
  KdeResult joined;
  std::uint64_t next = 0;
  options.on_block = [&](const workloads::DensityBlock& block) {
    EXPECT_EQ(block.first_point, next);
    const std::size_t m = block.widths.size();
    next += block.density.size() / m;
    EXPECT_EQ(block.points.size(), block.density.size() / m * static_cast<std::size_t>(block.dim));
    joined.points.insert(joined.points.end(), block.points.begin(), block.points.end());
    joined.counts.insert(joined.counts.end(), block.counts.begin(), block.counts.end());
    joined.density.insert(joined.density.end(), block.density.begin(), block.density.end());
  };
  const KdeResult result = workloads::run_kde(team(), options);
  EXPECT_TRUE(result.density.empty());
  if (team().rank() == 0) {
    EXPECT_EQ(next, result.point_count);
  }
  joined.n = result.n;
  joined.point_count = result.point_count;
  joined.max_density = result.max_density;
  joined.max_point = result.max_point;
  return joined;
}

TEST(KdeWorkload, QueryBlocksGiveTheBitsOfOneBlock) {
  // 1003 query points in a .npy file (read sharded, each block broadcast by its owner) and the
  // same points given as a list, in blocks of 7, 64 and the default; and a grid in blocks of 10.
  const std::uint64_t count = 1003;
  const std::string path = shared_temp_path("kde-points.npy");
  std::vector<double> points(count * 2);
  data::generate(data::Dist::uniform, 9, 0, points);
  for (double& x : points) x = 6 * x - 3;
  if (team().rank() == 0) io::write_npy(path, points, {count, 2});
  team().comm().barrier();
  for (const auto kernel : {kde::Kernel::hypercube, kde::Kernel::gaussian}) {
    KdeOptions listed;
    listed.kernel = kernel;
    listed.samples = 2000;
    listed.rng = workloads::SampleRng::philox;
    listed.widths = {0.25, 0.8};
    listed.points = points;
    const KdeResult want = serial_run(listed);
    ASSERT_EQ(want.point_count, count);
    for (const std::uint64_t block : {7ULL, 64ULL, 0ULL}) {
      KdeOptions from_file = listed;
      from_file.points.clear();
      from_file.points_file.path = path;
      from_file.point_block = block;
      const KdeResult got = run_in_blocks(from_file);
      if (team().rank() == 0) {
        expect_same_bits(got.points, points);
        EXPECT_EQ(got.counts, want.counts);
        expect_same_bits(got.density, want.density);
        EXPECT_EQ(got.max_point, want.max_point);
      }
      listed.point_block = block;
      expect_same(listed);
    }
    KdeOptions grid = listed;
    grid.points.clear();
    grid.grid = workloads::parse_grid("13x11");
    grid.point_block = 0;
    const KdeResult whole = serial_run(grid);
    grid.point_block = 10;
    const KdeResult blocked = run_in_blocks(grid);
    if (team().rank() == 0) {
      expect_same_bits(blocked.points, whole.points);
      EXPECT_EQ(blocked.counts, whole.counts);
      expect_same_bits(blocked.density, whole.density);
    }
  }
  KdeOptions wrong;
  wrong.points_file.path = path;
  wrong.dim = 3;
  EXPECT_THROW(workloads::run_kde(team(), wrong), AgreedError);  // 2 coordinates, 3-D samples
  team().comm().barrier();
  if (team().rank() == 0) std::remove(path.c_str());
}

TEST(KdeWorkload, ABinFileNeedsItsColumnCount) {
  const SampleFiles files = write_sample_files(100, 3);
  KdeOptions options;
  options.input = files.bin;
  try {
    workloads::run_kde(team(), options);
    FAIL() << "expected an error";
  } catch (const AgreedError& error) {
    EXPECT_NE(std::string(error.what()).find("TableSource::cols"), std::string::npos)
        << error.what();
  }
  options.cols = 7;  // 300 values are not a whole number of rows of 7
  EXPECT_THROW(workloads::run_kde(team(), options), AgreedError);
  options.cols = 3;
  options.widths = {0.5};
  EXPECT_EQ(workloads::run_kde(team(), options).n, 100u);
}

TEST(KdeWorkload, BadInputFailsOnEveryRankTogether) {
  KdeOptions options;
  options.points = {0.0, 0.0, 0.0};
  options.point_dim = 3;
  options.points_source = "--point";
  try {
    workloads::run_kde(team(), options);
    FAIL() << "expected an error";
  } catch (const AgreedError& error) {
    EXPECT_NE(std::string(error.what()).find("--point has 3 coordinates"), std::string::npos)
        << error.what();
    EXPECT_EQ(error.exit_code(), kExitUsage);
  }
  KdeOptions zero;
  zero.samples = 100;
  zero.input = "/nonexistent/samples.csv";
  EXPECT_THROW(workloads::run_kde(team(), zero), AgreedError);
}

}  // namespace
}  // namespace parakit
