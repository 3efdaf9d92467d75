// The arithmetic of convolutions and linear layers, one process-wide setting (like the thread
// count): fp32, or bf16 products with fp32 sums on CPUs with AVX-512 BF16.
#pragma once
#include <string>

namespace cnnzoo {

// FP32: every multiply in single precision. BF16: the operands of conv and linear GEMMs are
// rounded to bfloat16 (8 bits of mantissa) and multiplied with fp32 accumulation
// (vdpbf16ps), in the forward and the backward pass. Tensors, weights, optimizer state,
// batch-norm statistics, losses and every other op stay fp32, as under PyTorch's
// torch.autocast("cpu", dtype=torch.bfloat16).
enum class Precision { FP32, BF16 };

// Whether this CPU has the AVX-512 BF16 instructions (cpuid; AMD Zen 4 and later, Intel
// Cooper Lake and Sapphire Rapids and later).
bool bf16_supported();

// Throws Error for BF16 on a CPU without AVX-512 BF16 (no silent fallback).
void set_precision(Precision p);
Precision precision();

// Sets a precision for a scope and restores the previous one.
class PrecisionGuard {
 public:
  explicit PrecisionGuard(Precision p) : previous_(precision()) { set_precision(p); }
  ~PrecisionGuard() { set_precision(previous_); }
  PrecisionGuard(const PrecisionGuard&) = delete;
  PrecisionGuard& operator=(const PrecisionGuard&) = delete;

 private:
  Precision previous_;
};

// "fp32" / "bf16"; parse_precision throws Error naming anything else.
std::string to_string(Precision p);
Precision parse_precision(const std::string& name);

}  // namespace cnnzoo
