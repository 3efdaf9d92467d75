// One thread setting for everything: OpenMP kernels and Eigen. Default: CNNZOO_NUM_THREADS,
// else OMP_NUM_THREADS, else the number of cores.
#pragma once

namespace cnnzoo {

// More threads than this is a mistake, not a machine: refused with an Error.
constexpr int kMaxThreads = 1024;

void set_num_threads(int n);  // 1 <= n <= kMaxThreads
int num_threads();

}  // namespace cnnzoo
