// Private to src/kernels: the bf16 GEMM (gemm_bf16.cpp) and `matmul`, which the conv and
// linear kernels call for every product so that Precision::BF16 reaches all of them.
#pragma once
#include <cstdint>
#include <type_traits>

#include "cnnzoo/precision.hpp"

namespace cnnzoo::kernels {

// A float matrix in memory: element (i, j) at data[i * rs + j * cs].
struct MatrixView {
  const float* data;
  int64_t rs, cs;
};

// C (M x N, row-major, rows ldc apart) = A (M x K) * B (K x N), or += when accumulate, with
// A and B rounded to bf16 and products summed in fp32. Single-threaded (callers run one per
// thread); needs bf16_supported().
void gemm_bf16(int64_t M, int64_t N, int64_t K, const MatrixView& A, const MatrixView& B, float* C,
               int64_t ldc, bool accumulate);

// An Eigen expression with direct access (a Map, a block of one, or their transposes).
template <class E>
MatrixView matrix_view(const E& e) {
  const int64_t inner = e.innerStride(), outer = e.outerStride();
  return E::IsRowMajor ? MatrixView{e.data(), outer, inner} : MatrixView{e.data(), inner, outer};
}

// out = a * b (or += when accumulate) for Eigen expressions over row-major storage: bf16
// products under Precision::BF16 for float, Eigen's GEMM otherwise.
template <class Out, class A, class B>
void matmul(Out&& out, const A& a, const B& b, bool accumulate = false) {
  using T = typename std::decay_t<Out>::Scalar;
  if constexpr (std::is_same_v<T, float>) {
    if (precision() == Precision::BF16 && std::decay_t<Out>::IsRowMajor && out.innerStride() == 1) {
      gemm_bf16(out.rows(), out.cols(), a.cols(), matrix_view(a), matrix_view(b), out.data(),
                out.outerStride(), accumulate);
      return;
    }
  }
  if (accumulate)
    out.noalias() += a * b;
  else
    out.noalias() = a * b;
}

}  // namespace cnnzoo::kernels
