// conv2d: shape checks, the forward call into the conv kernels (src/kernels) and the backward
// lambda that calls them for the gradients.
#include "cnnzoo/ops/conv.hpp"

#include <string>
#include <utility>

#include "export/trace.hpp"
#include "kernels/kernels.hpp"

namespace cnnzoo {

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& opt) {
  const std::string shapes = "input " + shape_str(x) + ", weight " + shape_str(w);
  check(x.size() == 4, "conv2d: expected input [N, C, H, W], got " + shapes);
  check(w.size() == 4, "conv2d: expected weight [C_out, C_in / groups, kh, kw], got " + shapes);
  check(opt.groups >= 1,
        "conv2d: groups must be >= 1, got " + std::to_string(opt.groups) + " (" + shapes + ")");
  check(opt.stride.h >= 1 && opt.stride.w >= 1,
        "conv2d: stride must be >= 1, got (" + std::to_string(opt.stride.h) + ", " +
            std::to_string(opt.stride.w) + ") (" + shapes + ")");
  check(opt.dilation.h >= 1 && opt.dilation.w >= 1,
        "conv2d: dilation must be >= 1, got (" + std::to_string(opt.dilation.h) + ", " +
            std::to_string(opt.dilation.w) + ") (" + shapes + ")");
  const Padding2d& p = opt.padding;
  check(p.top >= 0 && p.bottom >= 0 && p.left >= 0 && p.right >= 0,
        "conv2d: padding must be >= 0 (" + shapes + ")");
  check(w[1] >= 1 && w[2] >= 1 && w[3] >= 1, "conv2d: empty kernel (" + shapes + ")");
  const std::string g = std::to_string(opt.groups);
  check(x[1] % opt.groups == 0, "conv2d: input channels " + std::to_string(x[1]) +
                                    " not divisible by groups " + g + " (" + shapes + ")");
  check(w[0] % opt.groups == 0, "conv2d: output channels " + std::to_string(w[0]) +
                                    " not divisible by groups " + g + " (" + shapes + ")");
  check(x[1] == w[1] * opt.groups, "conv2d: input has " + std::to_string(x[1]) +
                                       " channels but weight expects " + std::to_string(w[1]) +
                                       " x groups " + g + " (" + shapes + ")");
  const int64_t oh = (x[2] + p.top + p.bottom - opt.dilation.h * (w[2] - 1) - 1) / opt.stride.h + 1;
  const int64_t ow = (x[3] + p.left + p.right - opt.dilation.w * (w[3] - 1) - 1) / opt.stride.w + 1;
  // Plain division truncates toward zero, so check the padded extent itself.
  const bool fits = x[2] + p.top + p.bottom >= opt.dilation.h * (w[2] - 1) + 1 &&
                    x[3] + p.left + p.right >= opt.dilation.w * (w[3] - 1) + 1;
  check(fits && oh >= 1 && ow >= 1,
        "conv2d: kernel (dilated) larger than padded input, no output (" + shapes + ")");
  return {x[0], w[0], oh, ow};
}

namespace {

// The kernels' geometry of conv2d(x, w) with these options (shapes checked first).
kernels::ConvGeometry conv_geometry(const Shape& x, const Shape& w, const Conv2dParams& opt) {
  const Shape y = conv2d_output_shape(x, w, opt);
  return kernels::ConvGeometry{x[0],
                               x[1],
                               x[2],
                               x[3],
                               w[0],
                               w[2],
                               w[3],
                               opt.stride.h,
                               opt.stride.w,
                               opt.padding.top,
                               opt.padding.left,
                               opt.dilation.h,
                               opt.dilation.w,
                               opt.groups,
                               y[2],
                               y[3]};
}

}  // namespace

template <class T>
VarT<T> conv2d(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias,
               const Conv2dParams& opt) {
  check(x.defined() && weight.defined(), "conv2d: input and weight must be defined");
  const kernels::ConvGeometry g = conv_geometry(x.shape(), weight.shape(), opt);
  if (bias.defined())
    check(bias.dim() == 1 && bias.size(0) == g.Cout,
          "conv2d: bias " + bias.value().shape_str() + " does not match weight " +
              weight.value().shape_str() + " (expected [" + std::to_string(g.Cout) + "])");

  TensorT<T> y = TensorT<T>::empty({g.N, g.Cout, g.OH, g.OW});
  kernels::conv2d_forward<T>(g, x.value().data(), weight.value().data(),
                             bias.defined() ? bias.value().data() : nullptr, y.data());

  // d(input) needs the weight, d(weight) needs the input: save only what will be used.
  const TensorT<T> saved_x = weight.requires_grad() ? x.value() : TensorT<T>();
  const TensorT<T> saved_w = x.requires_grad() ? weight.value() : TensorT<T>();
  trace::next<T>([&] {
    return trace::Attributes{
        {{"stride", {opt.stride.h, opt.stride.w}},
         {"padding", {opt.padding.top, opt.padding.left, opt.padding.bottom, opt.padding.right}},
         {"dilation", {opt.dilation.h, opt.dilation.w}},
         {"groups", {opt.groups}}}};
  });
  return make_result<T>(
      std::move(y), {x, weight, bias}, "conv2d", [g, saved_x, saved_w](Node<T>& n) {
        const bool want_dx = n.input_needs_grad(0) && saved_w.defined();
        const bool want_dw = n.input_needs_grad(1) && saved_x.defined();
        const bool want_db = n.input_needs_grad(2);
        TensorT<T> dx, dw, db;
        if (want_dx) dx = TensorT<T>::empty({g.N, g.C, g.H, g.W});
        if (want_dw) dw = TensorT<T>::empty({g.Cout, g.Cg(), g.kh, g.kw});
        if (want_db) db = TensorT<T>::empty({g.Cout});
        kernels::conv2d_backward<T>(g, want_dw ? saved_x.data() : nullptr,
                                    want_dx ? saved_w.data() : nullptr, n.grad.data(),
                                    want_dx ? dx.data() : nullptr, want_dw ? dw.data() : nullptr,
                                    want_db ? db.data() : nullptr);
        if (want_dx) n.inputs[0]->accumulate(std::move(dx));
        if (want_dw) n.inputs[1]->accumulate(std::move(dw));
        if (want_db) n.inputs[2]->accumulate(std::move(db));
      });
}

template VarT<float> conv2d(const VarT<float>&, const VarT<float>&, const VarT<float>&,
                            const Conv2dParams&);
template VarT<double> conv2d(const VarT<double>&, const VarT<double>&, const VarT<double>&,
                             const Conv2dParams&);

}  // namespace cnnzoo