// Fully connected layer over Eigen GEMMs: y = x W^T + b and its backward
// (dX = dY W, dW = dY^T X, db = column sums of dY).
#include "cnnzoo/ops/linear.hpp"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>

#include "parallel_for.hpp"

namespace cnnzoo {

namespace {

template <class T>
using MatR = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMap = Eigen::Map<const MatR<T>>;
template <class T>
using MutMap = Eigen::Map<MatR<T>>;

// Below this a parallel region costs more than the GEMM it would split.
constexpr double kMinParallelFlops = 1 << 20;

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
VarT<T> linear(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias) {
  check(x.defined() && weight.defined(), "linear: undefined input or weight");
  check(x.dim() == 2, "linear: input must be [N, in], got " + x.value().shape_str());
  check(weight.dim() == 2, "linear: weight must be [out, in], got " + weight.value().shape_str());
  check(x.size(1) == weight.size(1), "linear: input " + x.value().shape_str() +
                                         " does not match weight " + weight.value().shape_str());
  const int64_t batch = x.size(0), in = x.size(1), out = weight.size(0);
  const bool has_bias = bias.defined();
  if (has_bias)
    check(bias.dim() == 1 && bias.size(0) == out, "linear: bias " + bias.value().shape_str() +
                                                      " does not match weight " +
                                                      weight.value().shape_str());

  TensorT<T> y = TensorT<T>::empty({batch, out});
  {
    ConstMap<T> X(x.value().data(), batch, in);
    ConstMap<T> W(weight.value().data(), out, in);
    MutMap<T> Y(y.data(), batch, out);
    const T* b = has_bias ? bias.value().data() : nullptr;
    gemm_blocks(batch, out, in, [&](int64_t r0, int64_t nr, int64_t c0, int64_t nc) {
      auto Yb = Y.block(r0, c0, nr, nc);
      Yb.noalias() = X.middleRows(r0, nr) * W.middleRows(c0, nc).transpose();
      if (b) Yb.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(b + c0, nc);
    });
  }

  // dX needs W and dW needs X: keep each only when the other side wants a gradient.
  TensorT<T> xv = weight.requires_grad() ? x.value() : TensorT<T>();
  TensorT<T> wv = x.requires_grad() ? weight.value() : TensorT<T>();
  return make_result<T>(
      std::move(y), {x, weight, bias}, "linear", [xv, wv, batch, in, out](Node<T>& n) {
        ConstMap<T> G(n.grad.data(), batch, out);
        if (n.input_needs_grad(0)) {
          TensorT<T> dx = TensorT<T>::empty({batch, in});
          ConstMap<T> W(wv.data(), out, in);
          MutMap<T> DX(dx.data(), batch, in);
          gemm_blocks(batch, in, out, [&](int64_t r0, int64_t nr, int64_t c0, int64_t nc) {
            DX.block(r0, c0, nr, nc).noalias() = G.middleRows(r0, nr) * W.middleCols(c0, nc);
          });
          n.inputs[0]->accumulate(std::move(dx));
        }
        if (n.input_needs_grad(1)) {
          TensorT<T> dw = TensorT<T>::empty({out, in});
          ConstMap<T> X(xv.data(), batch, in);
          MutMap<T> DW(dw.data(), out, in);
          gemm_blocks(out, in, batch, [&](int64_t r0, int64_t nr, int64_t c0, int64_t nc) {
            DW.block(r0, c0, nr, nc).noalias() =
                G.middleCols(r0, nr).transpose() * X.middleCols(c0, nc);
          });
          n.inputs[1]->accumulate(std::move(dw));
        }
        if (n.input_needs_grad(2)) {
          TensorT<T> db = TensorT<T>::empty({out});
          Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(db.data(), out) = G.colwise().sum();
          n.inputs[2]->accumulate(std::move(db));
        }
      });
}

template VarT<float> linear(const VarT<float>&, const VarT<float>&, const VarT<float>&);
template VarT<double> linear(const VarT<double>&, const VarT<double>&, const VarT<double>&);

}  // namespace cnnzoo
