// Internal: OpenMP loop helpers used by the kernels.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "cnnzoo/parallel.hpp"

namespace cnnzoo {

// Runs f(i) for i in [0, n) over the configured thread count (serially if n is small
// or when already inside a parallel region).
template <class F>
void parallel_for(int64_t n, F&& f, int64_t min_per_thread = 1) {
  int nt = num_threads();
  if (nt <= 1 || n < 2 * min_per_thread || omp_in_parallel()) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < n; ++i) f(i);
}

// Runs f(i) for i in [0, n) in parallel only when each thread gets at least 2^14 elements of
// work (work_per_item each): waking a second thread costs more than small planes take.
template <class F>
void parallel_items(int64_t n, int64_t work_per_item, F&& f) {
  constexpr int64_t kMinWork = 1 << 14;
  parallel_for(n, std::forward<F>(f),
               std::max<int64_t>(1, kMinWork / std::max<int64_t>(work_per_item, 1)));
}

// Runs f(begin, end) on contiguous chunks of [0, n), one per thread.
template <class F>
void parallel_chunks(int64_t n, F&& f, int64_t min_per_thread = 4096) {
  int nt = num_threads();
  if (nt <= 1 || n < 2 * min_per_thread || omp_in_parallel()) {
    f(int64_t(0), n);
    return;
  }
  int64_t chunks = std::min<int64_t>(nt, n / min_per_thread);
#pragma omp parallel for num_threads(static_cast <int>(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) f(n * c / chunks, n * (c + 1) / chunks);
}

// Runs f(i) for i in [0, n), on at most `threads` threads, handing out `grain` items at a time to
// whichever thread is free. For independent work items (each writes its own output), where the
// dynamic hand-out costs nothing in reproducibility and keeps both cores busy when one of them
// is also running something else.
template <class F>
void parallel_dynamic(int64_t n, int64_t threads, int64_t grain, F&& f) {
  threads = std::min(threads, n);
  if (threads <= 1 || omp_in_parallel()) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
  grain = std::max<int64_t>(grain, 1);
#pragma omp parallel for num_threads(static_cast <int>(threads)) schedule(dynamic, grain)
  for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace cnnzoo
