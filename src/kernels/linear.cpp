// Fully connected layer over Eigen GEMMs: y = x W^T + b and its gradients
// (dX = dY W, dW = dY^T X, db = column sums of dY), split over threads by result blocks.
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>

#include "cnnzoo/parallel.hpp"
#include "kernels/gemm_bf16.hpp"
#include "kernels/kernels.hpp"
#include "kernels/thresholds.hpp"

namespace cnnzoo::kernels {

namespace {

template <class T>
using MatR = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMap = Eigen::Map<const MatR<T>>;
template <class T>
using MutMap = Eigen::Map<MatR<T>>;

// Runs f(r0, nr, c0, nc) on one block of the [rows, cols] result per thread. Eigen is built
// single-threaded (EIGEN_DONT_PARALLELIZE), so this is where a large GEMM goes parallel.
// Blocks cut the longer side of the result: each thread then re-reads only the smaller
// operand, and no thread ever writes another's elements, so the weight gradient needs no
// per-thread copies and no reduction.
template <class F>
void gemm_blocks(int64_t rows, int64_t cols, int64_t depth, F&& f) {
  const int nt = num_threads();
  const double flops = 2.0 * static_cast<double>(rows) * static_cast<double>(cols) * depth;
  const bool by_rows = rows >= cols;
  const int64_t extent = by_rows ? rows : cols;
  // Column blocks start on SIMD-friendly boundaries; rows have no such constraint.
  const int64_t align = by_rows ? 1 : 16;
  const int64_t parts = std::min<int64_t>(nt, extent / align);
  if (parts <= 1 || flops < kMinParallelFlops || omp_in_parallel()) {
    f(int64_t(0), rows, int64_t(0), cols);
    return;
  }
#pragma omp parallel for num_threads(static_cast <int>(parts)) schedule(static)
  for (int64_t p = 0; p < parts; ++p) {
    const int64_t b = p == 0 ? 0 : extent * p / parts / align * align;
    const int64_t e = p == parts - 1 ? extent : extent * (p + 1) / parts / align * align;
    if (by_rows)
      f(b, e - b, int64_t(0), cols);
    else
      f(int64_t(0), rows, b, e - b);
  }
}

}  // namespace

template <class T>
void linear_forward(const LinearGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t batch = g.batch, in = g.in, out = g.out;
  ConstMap<T> X(x, batch, in);
  ConstMap<T> W(w, out, in);
  MutMap<T> Y(y, batch, out);
  gemm_blocks(batch, out, in, [&](int64_t r0, int64_t nr, int64_t c0, int64_t nc) {
    auto Yb = Y.block(r0, c0, nr, nc);
    matmul(Yb, X.middleRows(r0, nr), W.middleRows(c0, nc).transpose());
    if (b) Yb.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(b + c0, nc);
  });
}

template <class T>
void linear_backward(const LinearGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     T* db) {
  ConstMap<T> G(dy, g.batch, g.out);
  if (dx) {
    ConstMap<T> W(w, g.out, g.in);
    MutMap<T> DX(dx, g.batch, g.in);
    gemm_blocks(g.batch, g.in, g.out, [&](int64_t r0, int64_t nr, int64_t c0, int64_t nc) {
      matmul(DX.block(r0, c0, nr, nc), G.middleRows(r0, nr), W.middleCols(c0, nc));
    });
  }
  if (dw) {
    ConstMap<T> X(x, g.batch, g.in);
    MutMap<T> DW(dw, g.out, g.in);
    gemm_blocks(g.out, g.in, g.batch, [&](int64_t r0, int64_t nr, int64_t c0, int64_t nc) {
      matmul(DW.block(r0, c0, nr, nc), G.middleCols(r0, nr).transpose(), X.middleCols(c0, nc));
    });
  }
  if (db) Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(db, g.out) = G.colwise().sum();
}

#define CNNZOO_INSTANTIATE(T)                                                            \
  template void linear_forward(const LinearGeometry&, const T*, const T*, const T*, T*); \
  template void linear_backward(const LinearGeometry&, const T*, const T*, const T*, T*, T*, T*);
CNNZOO_INSTANTIATE(float)
CNNZOO_INSTANTIATE(double)
#undef CNNZOO_INSTANTIATE

}  // namespace cnnzoo::kernels
