// One thread setting for everything: OpenMP kernels and Eigen. Default: CNNZOO_NUM_THREADS,
// else OMP_NUM_THREADS, else the number of cores.
#pragma once

namespace cnnzoo {

// The hard ceiling; the limit on a machine is max_threads().
constexpr int kMaxThreads = 1024;

// 4 x the machine's cores (at least 4, at most kMaxThreads): more threads than that is a
// mistake, not a setting, and set_num_threads and CNNZOO_NUM_THREADS refuse it with an Error.
int max_threads();
void set_num_threads(int n);  // 1 <= n <= max_threads()
int num_threads();

}  // namespace cnnzoo
