// Micro-benchmarks of the summation kernels: fast_sum, exact add(span) and a naive loop, on
// 2^26 doubles (well out of cache) of three kinds of data. Compare bytes_per_second.
// BM_ExactOverFast times fast_sum and add(span) back to back in every iteration, so its ratio
// (fast time / exact time) is not skewed by the bandwidth drifting between benchmarks.
//   PARAKIT_BENCH_N=<n>      array length (default 2^26)
//   PARAKIT_BENCH_HUGEPAGES=1  madvise(MADV_HUGEPAGE) the arrays
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <span>

#include "parakit/numeric/exact_sum.hpp"
#include "parakit/numeric/fast_sum.hpp"

namespace {

using parakit::numeric::ExactAccumulator;

enum Kind { kUniform, kNormal, kCancel };

struct FreeDeleter {
  void operator()(double* p) const { std::free(p); }
};

std::size_t bench_n() {
  const char* s = std::getenv("PARAKIT_BENCH_N");
  return s ? std::strtoull(s, nullptr, 10) : std::size_t{1} << 26;
}

// The data of each kind, made once.
std::span<const double> data(Kind kind) {
  static std::map<Kind, std::unique_ptr<double[], FreeDeleter>> arrays;
  const std::size_t n = bench_n();
  auto& a = arrays[kind];
  if (!a) {
    const std::size_t bytes = (n * sizeof(double) + (2 << 20) - 1) / (2 << 20) * (2 << 20);
    a.reset(static_cast<double*>(std::aligned_alloc(2 << 20, bytes)));
    if (const char* h = std::getenv("PARAKIT_BENCH_HUGEPAGES"); h && *h == '1') {
      madvise(a.get(), bytes, MADV_HUGEPAGE);
    }
    std::mt19937_64 rng(42 + kind);
    std::normal_distribution<double> normal;
    auto unit = [&] { return static_cast<double>(rng() >> 11) * 0x1p-53; };
    for (std::size_t i = 0; i < n; ++i) {
      switch (kind) {
        case kUniform:
          a[i] = unit();
          break;
        case kNormal:
          a[i] = normal(rng);
          break;
        case kCancel:  // even i: +-2^e(1+u), e in [0,59]; odd i: -x[i-1] + v, v in [-1,1)
          a[i] = i % 2 == 0 ? ((rng() & 1) ? -1.0 : 1.0) * std::ldexp(1.0 + unit(), int(rng() % 60))
                            : -a[i - 1] + (2.0 * unit() - 1.0);
          break;
      }
    }
  }
  return {a.get(), n};
}

void set_bytes(benchmark::State& state, std::size_t n) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(double)));
}

void BM_Naive(benchmark::State& state) {
  const auto x = data(static_cast<Kind>(state.range(0)));
  for (auto _ : state) {
    double s = 0;
    for (double v : x) s += v;
    benchmark::DoNotOptimize(s);
  }
  set_bytes(state, x.size());
}

void BM_FastSum(benchmark::State& state) {
  const auto x = data(static_cast<Kind>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(parakit::numeric::fast_sum(x));
  set_bytes(state, x.size());
}

void BM_ExactAdd(benchmark::State& state) {
  const auto x = data(static_cast<Kind>(state.range(0)));
  for (auto _ : state) {
    ExactAccumulator a;
    a.add(x);
    benchmark::DoNotOptimize(a.round());
  }
  set_bytes(state, x.size());
}

void BM_ExactOverFast(benchmark::State& state) {
  const auto x = data(static_cast<Kind>(state.range(0)));
  using Clock = std::chrono::steady_clock;
  double fast_s = 0, exact_s = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    benchmark::DoNotOptimize(parakit::numeric::fast_sum(x));
    const auto t1 = Clock::now();
    ExactAccumulator a;
    a.add(x);
    benchmark::DoNotOptimize(a.round());
    const auto t2 = Clock::now();
    fast_s += std::chrono::duration<double>(t1 - t0).count();
    exact_s += std::chrono::duration<double>(t2 - t1).count();
  }
  const double gb = static_cast<double>(state.iterations() * x.size() * sizeof(double)) / 1e9;
  state.counters["fast_GBps"] = gb / fast_s;
  state.counters["exact_GBps"] = gb / exact_s;
  state.counters["ratio"] = fast_s / exact_s;
}

void kinds(benchmark::internal::Benchmark* b) {
  b->ArgName("data")->Arg(kUniform)->Arg(kNormal)->Arg(kCancel)->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_Naive)->Apply(kinds);
BENCHMARK(BM_FastSum)->Apply(kinds);
BENCHMARK(BM_ExactAdd)->Apply(kinds);
BENCHMARK(BM_ExactOverFast)->Apply(kinds);

}  // namespace

BENCHMARK_MAIN();
