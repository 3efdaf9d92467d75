// Spatial pooling (max, average, adaptive average, global average) over [N, C, H, W]:
// argument checks with PyTorch's size rules, the forward calls into the kernels
// (src/kernels/pool.cpp) and the backward lambdas side by side.
#include "cnnzoo/ops/pool.hpp"

#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "export/trace.hpp"
#include "kernels/kernels.hpp"

namespace cnnzoo {

using kernels::PoolGeometry;

namespace {

std::string pool_args_str(const Pool2dOptions& o) {
  auto pair = [](int64_t a, int64_t b) {
    return "(" + std::to_string(a) + ", " + std::to_string(b) + ")";
  };
  return "kernel " + pair(o.kernel_size.h, o.kernel_size.w) + ", stride " +
         pair(o.stride.h, o.stride.w) + ", padding (" + std::to_string(o.padding.top) + ", " +
         std::to_string(o.padding.bottom) + ", " + std::to_string(o.padding.left) + ", " +
         std::to_string(o.padding.right) + ")" + (o.ceil_mode ? ", ceil_mode" : "");
}

int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// PyTorch's pooling_output_shape: in ceil mode the last window may hang over the end, but
// must start inside the input or the leading padding.
int64_t pool_out_dim(int64_t in, int64_t k, int64_t s, int64_t pad_lo, int64_t pad_hi,
                     bool ceil_mode) {
  int64_t out = floor_div(in + pad_lo + pad_hi - k + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= in + pad_lo) --out;
  return out;
}

// The kernels' geometry of one pooling call: stride 0 means the kernel size.
PoolGeometry pool_geometry(const Shape& x, const Pool2dOptions& opt) {
  const Size2 out = pool2d_output_size(x, opt);
  PoolGeometry g;
  g.planes = x[0] * x[1];
  g.H = x[2];
  g.W = x[3];
  g.OH = out.h;
  g.OW = out.w;
  g.kh = opt.kernel_size.h;
  g.kw = opt.kernel_size.w;
  g.sh = opt.stride.h == 0 ? g.kh : opt.stride.h;
  g.sw = opt.stride.w == 0 ? g.kw : opt.stride.w;
  g.pt = opt.padding.top;
  g.pb = opt.padding.bottom;
  g.pl = opt.padding.left;
  g.pr = opt.padding.right;
  return g;
}

void check_4d(const char* op, const Shape& x) {
  check(x.size() == 4, std::string(op) + ": expected input [N, C, H, W], got " + shape_str(x));
}

// Argmax positions (within a plane) kept for the backward, in the tensor storage cache so a
// training step reuses them like any activation.
std::shared_ptr<int32_t> alloc_indices(int64_t n) {
  const size_t bytes = static_cast<size_t>(n) * sizeof(int32_t);
  return std::shared_ptr<int32_t>(static_cast<int32_t*>(storage_alloc(bytes)),
                                  [](int32_t* p) { storage_free(p); });
}

}  // namespace

Size2 pool2d_output_size(const Shape& x, const Pool2dOptions& opt) {
  check(x.size() == 4, "pool2d: expected input [N, C, H, W], got " + shape_str(x));
  const Size2 k = opt.kernel_size;
  const Size2 s(opt.stride.h == 0 ? k.h : opt.stride.h, opt.stride.w == 0 ? k.w : opt.stride.w);
  const Padding2d& p = opt.padding;
  const std::string what = "pool2d: input " + shape_str(x) + ", " + pool_args_str(opt);
  check(k.h > 0 && k.w > 0 && s.h > 0 && s.w > 0,
        what + ": kernel must be positive and stride non-negative");
  check(p.top >= 0 && p.bottom >= 0 && p.left >= 0 && p.right >= 0,
        what + ": padding must be non-negative");
  check(p.top <= k.h / 2 && p.bottom <= k.h / 2 && p.left <= k.w / 2 && p.right <= k.w / 2,
        what + ": padding must be at most half the kernel size");
  const int64_t oh = pool_out_dim(x[2], k.h, s.h, p.top, p.bottom, opt.ceil_mode);
  const int64_t ow = pool_out_dim(x[3], k.w, s.w, p.left, p.right, opt.ceil_mode);
  check(oh >= 1 && ow >= 1,
        what + ": output size " + std::to_string(oh) + "x" + std::to_string(ow) + " is too small");
  return Size2(oh, ow);
}

template <class T>
VarT<T> max_pool2d(const VarT<T>& x, const Pool2dOptions& opt) {
  check(x.defined(), "max_pool2d: undefined input");
  check_4d("max_pool2d", x.shape());
  const PoolGeometry g = pool_geometry(x.shape(), opt);
  const TensorT<T>& xv = x.value();
  TensorT<T> y = TensorT<T>::empty({x.size(0), x.size(1), g.OH, g.OW});
  check(g.H * g.W <= std::numeric_limits<int32_t>::max(),
        "max_pool2d: plane of input " + xv.shape_str() + " is too large");
  // Argmax positions are only worth recording when a backward will read them.
  const bool record = grad_enabled() && x.requires_grad();
  std::shared_ptr<int32_t> indices = record ? alloc_indices(y.numel()) : nullptr;
  kernels::max_pool_forward<T>(g, xv.data(), y.data(), indices.get());
  Shape in_shape = xv.shape();
  trace::next<T>([&] {
    return trace::Attributes{
        {{"kernel", {opt.kernel_size.h, opt.kernel_size.w}},
         {"stride", {g.sh, g.sw}},
         {"padding", {opt.padding.top, opt.padding.left, opt.padding.bottom, opt.padding.right}},
         {"ceil_mode", {opt.ceil_mode ? 1 : 0}},
         {"count_include_pad", {opt.count_include_pad ? 1 : 0}}}};
  });
  return make_result<T>(std::move(y), {x}, "max_pool2d", [indices, in_shape, g](Node<T>& n) {
    if (!n.input_needs_grad(0)) return;
    TensorT<T> gx = TensorT<T>::zeros(in_shape);
    kernels::max_pool_backward<T>(g, indices.get(), n.grad.data(), gx.data());
    n.inputs[0]->accumulate(std::move(gx));
  });
}

template <class T>
VarT<T> avg_pool2d(const VarT<T>& x, const Pool2dOptions& opt) {
  check(x.defined(), "avg_pool2d: undefined input");
  check_4d("avg_pool2d", x.shape());
  const PoolGeometry g = pool_geometry(x.shape(), opt);
  const bool include_pad = opt.count_include_pad;
  const TensorT<T>& xv = x.value();
  TensorT<T> y = TensorT<T>::empty({x.size(0), x.size(1), g.OH, g.OW});
  kernels::avg_pool_forward<T>(g, include_pad, xv.data(), y.data());
  Shape in_shape = xv.shape();
  trace::next<T>([&] {
    return trace::Attributes{
        {{"kernel", {opt.kernel_size.h, opt.kernel_size.w}},
         {"stride", {g.sh, g.sw}},
         {"padding", {opt.padding.top, opt.padding.left, opt.padding.bottom, opt.padding.right}},
         {"ceil_mode", {opt.ceil_mode ? 1 : 0}},
         {"count_include_pad", {opt.count_include_pad ? 1 : 0}}}};
  });
  return make_result<T>(std::move(y), {x}, "avg_pool2d", [in_shape, g, include_pad](Node<T>& n) {
    if (!n.input_needs_grad(0)) return;
    TensorT<T> gx = TensorT<T>::zeros(in_shape);
    kernels::avg_pool_backward<T>(g, include_pad, n.grad.data(), gx.data());
    n.inputs[0]->accumulate(std::move(gx));
  });
}

template <class T>
VarT<T> adaptive_avg_pool2d(const VarT<T>& x, Size2 output_size) {
  check(x.defined(), "adaptive_avg_pool2d: undefined input");
  check_4d("adaptive_avg_pool2d", x.shape());
  const int64_t H = x.size(2), W = x.size(3), OH = output_size.h, OW = output_size.w;
  check(OH >= 1 && OW >= 1 && H >= 1 && W >= 1, "adaptive_avg_pool2d: cannot pool input " +
                                                    x.value().shape_str() + " to " +
                                                    std::to_string(OH) + "x" + std::to_string(OW));
  const TensorT<T>& xv = x.value();
  TensorT<T> y = TensorT<T>::empty({x.size(0), x.size(1), OH, OW});
  PoolGeometry g{};
  g.planes = x.size(0) * x.size(1);
  g.H = H;
  g.W = W;
  g.OH = OH;
  g.OW = OW;
  kernels::adaptive_avg_pool_forward<T>(g, xv.data(), y.data());
  Shape in_shape = xv.shape();
  trace::next<T>([&] {
    return trace::Attributes{{{"output_size", {output_size.h, output_size.w}}}};
  });
  return make_result<T>(std::move(y), {x}, "adaptive_avg_pool2d", [in_shape, g](Node<T>& n) {
    if (!n.input_needs_grad(0)) return;
    TensorT<T> gx = TensorT<T>::zeros(in_shape);
    kernels::adaptive_avg_pool_backward<T>(g, n.grad.data(), gx.data());
    n.inputs[0]->accumulate(std::move(gx));
  });
}

template <class T>
VarT<T> global_avg_pool2d(const VarT<T>& x) {
  check(x.defined(), "global_avg_pool2d: undefined input");
  check_4d("global_avg_pool2d", x.shape());
  const int64_t plane_size = x.size(2) * x.size(3);
  check(plane_size >= 1, "global_avg_pool2d: empty spatial size in input " + x.value().shape_str());
  const TensorT<T>& xv = x.value();
  const int64_t planes = x.size(0) * x.size(1);
  TensorT<T> y = TensorT<T>::empty({x.size(0), x.size(1), 1, 1});
  kernels::global_avg_pool_forward<T>(planes, plane_size, xv.data(), y.data());
  Shape in_shape = xv.shape();
  return make_result<T>(
      std::move(y), {x}, "global_avg_pool2d", [in_shape, planes, plane_size](Node<T>& n) {
        if (!n.input_needs_grad(0)) return;
        TensorT<T> gx = TensorT<T>::empty(in_shape);
        kernels::global_avg_pool_backward<T>(planes, plane_size, n.grad.data(), gx.data());
        n.inputs[0]->accumulate(std::move(gx));
      });
}

#define CNNZOO_INSTANTIATE(T)                                           \
  template VarT<T> max_pool2d<T>(const VarT<T>&, const Pool2dOptions&); \
  template VarT<T> avg_pool2d<T>(const VarT<T>&, const Pool2dOptions&); \
  template VarT<T> adaptive_avg_pool2d<T>(const VarT<T>&, Size2);       \
  template VarT<T> global_avg_pool2d<T>(const VarT<T>&);
CNNZOO_INSTANTIATE(float)
CNNZOO_INSTANTIATE(double)
#undef CNNZOO_INSTANTIATE

}  // namespace cnnzoo
