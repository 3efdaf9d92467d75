// One thread setting for everything: OpenMP kernels and Eigen. Default: CNNZOO_NUM_THREADS,
// else OMP_NUM_THREADS, else the number of cores.
#pragma once

namespace cnnzoo {

void set_num_threads(int n);  // n >= 1
int num_threads();

}  // namespace cnnzoo
