// GEMM peak probe: N threads each multiply their own matrices (a large square product and
// shapes typical of conv im2col GEMMs) with Eigen's float GEMM and, on CPUs with AVX-512
// BF16, with cnnzoo's bf16 GEMM (bf16 products, fp32 sums); prints GFLOP/s, N threads and 1.
// Also the FMA peak: independent register-only fused multiply-adds at the widest vector the
// CPU has, the ceiling no kernel can pass.
#define EIGEN_DONT_PARALLELIZE  // one GEMM per thread; Eigen must not add its own threads
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "cnnzoo/precision.hpp"
#include "kernels/gemm_bf16.hpp"

namespace {

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// y (m x n) = w (m x k) * col (k x n), row-major like cnnzoo's conv kernels.
struct Shape {
  const char* what;
  int m, k, n;
};

const Shape kShapes[] = {
    {"square 1024", 1024, 1024, 1024},
    {"3x3 16->16 at 32x32 (resnet stage 1)", 16, 144, 1024},
    {"3x3 64->64 at 8x8 (resnet stage 3)", 64, 576, 64},
    {"3x3 64->64 at 32x32 (wrn-16-4 stage 1)", 64, 576, 1024},
    {"3x3 256->256 at 8x8 (vgg16)", 256, 2304, 64},
    {"1x1 256->64 at 8x8 (bottleneck)", 64, 256, 64},
};

struct Args {
  int threads = 2, reps = 5;
  double gflop_per_rep = 2.0;  // work per thread per timed repetition
  bool json = false;
};

// Median GFLOP/s over `reps` repetitions; in each, every thread does `inner` products.
double measure(const Shape& s, int threads, const Args& a, bool bf16) {
  const double flop = 2.0 * s.m * s.n * s.k;
  const int inner = std::max(1, static_cast<int>(a.gflop_per_rep * 1e9 / flop));
  struct Work {
    Mat w, col, y;
  };
  std::vector<Work> work(threads);
  for (auto& t : work) {
    t.w = Mat::Random(s.m, s.k);
    t.col = Mat::Random(s.k, s.n);
    t.y = Mat::Zero(s.m, s.n);
  }
  auto run = [&](Work& t) {
    for (int i = 0; i < inner; ++i) {
      if (bf16)
        cnnzoo::kernels::gemm_bf16(s.m, s.n, s.k, {t.w.data(), s.k, 1}, {t.col.data(), s.n, 1},
                                   t.y.data(), s.n, false);
      else
        t.y.noalias() = t.w * t.col;
    }
  };
  for (auto& t : work) run(t);  // warm-up: page in the matrices and Eigen's blocking buffers
  std::vector<double> rates;
  for (int r = 0; r < a.reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back(run, std::ref(work[i]));
    run(work[0]);
    for (auto& th : pool) th.join();
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(threads * inner * flop / sec / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

#if defined(__x86_64__)
// kChains independent accumulators hide the FMA latency (4 cycles) behind two FMA units.
constexpr int kChains = 12;

__attribute__((target("avx512f"))) double fma_loop_avx512(int64_t iters) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(0.001f * c);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  __m512 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx2,fma"))) double fma_loop_avx2(int64_t iters) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(0.001f * c);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  float out[8];
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  _mm256_storeu_ps(out, sum);
  return out[0];
}

// GFLOP/s of `threads` threads each running the FMA loop (median of reps); 0 without FMA.
double fma_peak(int threads, const Args& a) {
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
  const int lanes = avx512 ? 16 : 8;
  const double flop_per_iter = 2.0 * lanes * kChains;
  const int64_t iters =
      std::max<int64_t>(1000, static_cast<int64_t>(a.gflop_per_rep * 1e9 / flop_per_iter));
  // The sums go to a volatile so the loops cannot be optimised away.
  std::unique_ptr<volatile double[]> sink(new volatile double[threads]);
  auto run = [&](int t) { sink[t] = avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters); };
  run(0);
  std::vector<double> rates;
  for (int r = 0; r < a.reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back(run, i);
    run(0);
    for (auto& th : pool) th.join();
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(threads * iters * flop_per_iter / sec / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}
#else
double fma_peak(int, const Args&) {
  return 0;
}
#endif

[[noreturn]] void usage(int status) {
  std::fprintf(status ? stderr : stdout,
               "usage: bench_gemm_peak [--threads N] [--reps R] [--gflop-per-rep G] [--json]\n"
               "  float GEMM GFLOP/s (2*M*N*K per product, summed over threads, median of R),\n"
               "  with N threads (default 2) and with 1 thread\n");
  std::exit(status);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(2);
      return argv[++i];
    };
    if (key == "--help" || key == "-h") usage(0);
    if (key == "--threads") {
      a.threads = std::atoi(value());
    } else if (key == "--reps") {
      a.reps = std::atoi(value());
    } else if (key == "--gflop-per-rep") {
      a.gflop_per_rep = std::atof(value());
    } else if (key == "--json") {
      a.json = true;
    } else {
      usage(2);
    }
  }
  if (a.threads < 1 || a.reps < 1 || a.gflop_per_rep < 0) usage(2);
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  const bool bf16 = cnnzoo::bf16_supported();
  double peak_n = 0, peak_1 = 0, bf16_peak_n = 0;
  const double fma_n = fma_peak(a.threads, a);
  std::string rows;
  if (!a.json)
    std::printf("%-40s %16s %12s %12s %14s\n", "shape", "m x k x n", "1 thread",
                (std::to_string(a.threads) + " threads").c_str(), "bf16, threads");
  for (const Shape& s : kShapes) {
    const double g1 = measure(s, 1, a, false);
    const double gn = a.threads == 1 ? g1 : measure(s, a.threads, a, false);
    const double gb = bf16 ? measure(s, a.threads, a, true) : 0.0;
    peak_1 = std::max(peak_1, g1);
    peak_n = std::max(peak_n, gn);
    bf16_peak_n = std::max(bf16_peak_n, gb);
    if (a.json) {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "%s    {\"shape\": \"%s\", \"m\": %d, \"k\": %d, \"n\": %d, "
                    "\"gflops_1\": %.2f, \"gflops\": %.2f, \"bf16_gflops\": %.2f}",
                    rows.empty() ? "" : ",\n", s.what, s.m, s.k, s.n, g1, gn, gb);
      rows += buf;
    } else {
      std::printf(
          "%-40s %16s %7.1f GF/s %7.1f GF/s %9.1f GF/s\n", s.what,
          (std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n)).c_str(), g1,
          gn, gb);
    }
  }
  if (a.json) {
    std::printf(
        "{\n  \"threads\": %d,\n  \"peak_gflops\": %.2f,\n  \"peak_gflops_1\": %.2f,\n"
        "  \"bf16_peak_gflops\": %.2f,\n  \"fma_peak_gflops\": %.2f,\n  \"shapes\": "
        "[\n%s\n  ]\n}\n",
        a.threads, peak_n, peak_1, bf16_peak_n, fma_n, rows.c_str());
  } else {
    std::printf(
        "peak: %.1f GFLOP/s with %d threads, %.1f GFLOP/s with 1 thread; bf16 %.1f with %d; "
        "FMA loop %.1f with %d\n",
        peak_n, a.threads, peak_1, bf16_peak_n, a.threads, fma_n, a.threads);
  }
  return 0;
}
