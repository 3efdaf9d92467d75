// The process-wide conv / linear precision, checked against the CPU's features.
#include "cnnzoo/precision.hpp"

#include <atomic>

#include "cnnzoo/error.hpp"

namespace cnnzoo {

namespace {
std::atomic<Precision> current{Precision::FP32};
}

bool bf16_supported() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
  }();
  return has;
#else
  return false;
#endif
}

void set_precision(Precision p) {
  check(p != Precision::BF16 || bf16_supported(),
        "precision bf16: this CPU has no AVX-512 BF16 instructions (vdpbf16ps: AMD Zen 4 or "
        "later, Intel Cooper Lake or Sapphire Rapids or later); use fp32");
  current.store(p, std::memory_order_relaxed);
}

Precision precision() {
  return current.load(std::memory_order_relaxed);
}

std::string to_string(Precision p) {
  return p == Precision::BF16 ? "bf16" : "fp32";
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::FP32;
  if (name == "bf16") return Precision::BF16;
  throw Error("precision: expected fp32 or bf16, got '" + name + "'");
}

}  // namespace cnnzoo
