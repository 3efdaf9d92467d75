// Thread count: one setting for OpenMP (our kernels) and Eigen (kept single-threaded inside
// our per-image GEMMs, which run in parallel over the batch).
#include "cnnzoo/parallel.hpp"

#include <omp.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "cnnzoo/error.hpp"

namespace cnnzoo {

namespace {

int env_threads(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < 1 || n > max_threads())
    throw Error(std::string(name) + ": expected a whole number from 1 to " +
                std::to_string(max_threads()) + " (4 x this machine's cores), got '" + v + "'");
  return static_cast<int>(n);
}

int initial_threads() {
  int n = env_threads("CNNZOO_NUM_THREADS");
  if (!n) n = env_threads("OMP_NUM_THREADS");
  if (!n) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return n;
}

int& thread_setting() {
  static int n = [] {
    int v = initial_threads();
    omp_set_num_threads(v);
    return v;
  }();
  return n;
}

}  // namespace

int max_threads() {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::min(kMaxThreads, std::max(4, 4 * cores));
}

void set_num_threads(int n) {
  check(n >= 1 && n <= max_threads(),
        "threads: expected 1 to " + std::to_string(max_threads()) +
            " (4 x this machine's cores; more only slow every kernel down), got " +
            std::to_string(n));
  thread_setting() = n;
  omp_set_num_threads(n);
}

int num_threads() {
  return thread_setting();
}

}  // namespace cnnzoo
