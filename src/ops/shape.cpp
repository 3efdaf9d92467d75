// Shape ops: concat, slice, zero channel padding, spatial zero padding, flatten, reshape.
// Each views its tensor as [outer, extent along dim, inner] so one strided copy serves any dim.
#include "cnnzoo/ops/shape.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "export/trace.hpp"
#include "parallel_for.hpp"

namespace cnnzoo {

namespace {

// Elements per thread below which splitting a copy is not worth a parallel region.
constexpr int64_t kCopyGrain = 1 << 15;

int64_t normalize_dim(const char* op, int64_t dim, const Shape& shape) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  check(dim >= -rank && dim < rank, std::string(op) + ": dim " + std::to_string(dim) +
                                        " out of range for shape " + shape_str(shape));
  return dim < 0 ? dim + rank : dim;
}

int64_t prod(const Shape& shape, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= shape[i];
  return p;
}

// For r in [0, rows): dst row r (stride dst_stride) gets src row r (stride src_stride),
// `len` elements each.
template <class T>
void copy_rows(T* dst, int64_t dst_stride, const T* src, int64_t src_stride, int64_t rows,
               int64_t len) {
  if (len == 0) return;
  parallel_chunks(
      rows,
      [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r)
          std::memcpy(dst + r * dst_stride, src + r * src_stride, sizeof(T) * len);
      },
      std::max<int64_t>(1, kCopyGrain / len));
}

// Each of `rows` output rows is `before` zeros, `len` elements of the source row, `after`
// zeros: the forward of channel padding and the backward of slice.
template <class T>
void pad_rows(T* dst, const T* src, int64_t rows, int64_t before, int64_t len, int64_t after) {
  const int64_t stride = before + len + after;
  parallel_chunks(
      rows,
      [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          T* d = dst + r * stride;
          std::fill(d, d + before, T(0));
          std::memcpy(d + before, src + r * len, sizeof(T) * len);
          std::fill(d + before + len, d + stride, T(0));
        }
      },
      std::max<int64_t>(1, kCopyGrain / std::max<int64_t>(stride, 1)));
}

}  // namespace

template <class T>
VarT<T> concat(const std::vector<VarT<T>>& xs, int64_t dim) {
  check(!xs.empty(), "concat: no inputs");
  for (const auto& x : xs) check(x.defined(), "concat: undefined input");
  const Shape& first = xs[0].shape();
  const int64_t d = normalize_dim("concat", dim, first);
  Shape out_shape = first;
  out_shape[d] = 0;
  for (const auto& x : xs) {
    const Shape& s = x.shape();
    bool match = s.size() == first.size();
    for (size_t i = 0; match && i < s.size(); ++i)
      if (static_cast<int64_t>(i) != d && s[i] != first[i]) match = false;
    check(match, "concat: shapes " + shape_str(first) + " and " + shape_str(s) +
                     " differ outside dim " + std::to_string(d));
    out_shape[d] += s[d];
  }
  const int64_t outer = prod(first, 0, d);
  const int64_t inner = prod(first, d + 1, first.size());
  const int64_t out_row = out_shape[d] * inner;

  TensorT<T> y = TensorT<T>::empty(out_shape);
  std::vector<int64_t> offsets, lens;  // per input, in elements within one outer row
  int64_t offset = 0;
  for (const auto& x : xs) {
    const int64_t len = x.shape()[d] * inner;
    copy_rows(y.data() + offset, out_row, x.value().data(), len, outer, len);
    offsets.push_back(offset);
    lens.push_back(len);
    offset += len;
  }

  std::vector<Shape> shapes;
  for (const auto& x : xs) shapes.push_back(x.shape());
  trace::next<T>([&] { return trace::Attributes{{{"dim", {d}}}}; });
  return make_result<T>(
      std::move(y), xs, "concat", [shapes, offsets, lens, outer, out_row](Node<T>& n) {
        for (size_t i = 0; i < shapes.size(); ++i) {
          if (!n.input_needs_grad(i)) continue;
          TensorT<T> g = TensorT<T>::empty(shapes[i]);
          copy_rows(g.data(), lens[i], n.grad.data() + offsets[i], out_row, outer, lens[i]);
          n.inputs[i]->accumulate(std::move(g));
        }
      });
}

template <class T>
VarT<T> slice(const VarT<T>& x, int64_t dim, int64_t start, int64_t end) {
  check(x.defined(), "slice: undefined input");
  const Shape& shape = x.shape();
  const int64_t d = normalize_dim("slice", dim, shape);
  const int64_t size = shape[d];
  check(0 <= start && start <= end && end <= size,
        "slice: range [" + std::to_string(start) + ", " + std::to_string(end) +
            ") out of bounds for dim " + std::to_string(d) + " of shape " + shape_str(shape));
  const int64_t outer = prod(shape, 0, d);
  const int64_t inner = prod(shape, d + 1, shape.size());
  const int64_t before = start * inner, len = (end - start) * inner, after = (size - end) * inner;
  Shape out_shape = shape;
  out_shape[d] = end - start;

  TensorT<T> y = TensorT<T>::empty(out_shape);
  copy_rows(y.data(), len, x.value().data() + before, before + len + after, outer, len);
  trace::next<T>([&] { return trace::Attributes{{{"slice", {d, start, end}}}}; });
  return make_result<T>(std::move(y), {x}, "slice", [shape, outer, before, len, after](Node<T>& n) {
    TensorT<T> g = TensorT<T>::empty(shape);
    pad_rows(g.data(), n.grad.data(), outer, before, len, after);
    n.inputs[0]->accumulate(std::move(g));
  });
}

template <class T>
VarT<T> pad_channels(const VarT<T>& x, int64_t before, int64_t after) {
  check(x.defined(), "pad_channels: undefined input");
  const Shape& shape = x.shape();
  check(shape.size() >= 2, "pad_channels: input must be [N, C, ...], got " + shape_str(shape));
  check(before >= 0 && after >= 0, "pad_channels: negative padding (" + std::to_string(before) +
                                       ", " + std::to_string(after) + ") for " + shape_str(shape));
  const int64_t outer = shape[0];
  const int64_t inner = prod(shape, 2, shape.size());
  const int64_t b = before * inner, len = shape[1] * inner, a = after * inner;
  Shape out_shape = shape;
  out_shape[1] += before + after;

  TensorT<T> y = TensorT<T>::empty(out_shape);
  pad_rows(y.data(), x.value().data(), outer, b, len, a);
  trace::next<T>([&] { return trace::Attributes{{{"channels", {before, after}}}}; });
  return make_result<T>(std::move(y), {x}, "pad_channels", [shape, outer, b, len, a](Node<T>& n) {
    TensorT<T> g = TensorT<T>::empty(shape);
    copy_rows(g.data(), len, n.grad.data() + b, b + len + a, outer, len);
    n.inputs[0]->accumulate(std::move(g));
  });
}

template <class T>
VarT<T> pad2d(const VarT<T>& x, const Padding2d& padding) {
  check(x.defined(), "pad2d: undefined input");
  const Shape& shape = x.shape();
  check(shape.size() == 4, "pad2d: input must be [N, C, H, W], got " + shape_str(shape));
  const Padding2d& p = padding;
  check(p.top >= 0 && p.bottom >= 0 && p.left >= 0 && p.right >= 0,
        "pad2d: negative padding (" + std::to_string(p.top) + ", " + std::to_string(p.bottom) +
            ", " + std::to_string(p.left) + ", " + std::to_string(p.right) + ") for " +
            shape_str(shape));
  const int64_t planes = shape[0] * shape[1], h = shape[2], w = shape[3];
  const int64_t oh = h + p.top + p.bottom, ow = w + p.left + p.right;
  const int64_t grain = std::max<int64_t>(1, kCopyGrain / std::max<int64_t>(oh * ow, 1));

  TensorT<T> y = TensorT<T>::empty({shape[0], shape[1], oh, ow});
  {
    const T* src = x.value().data();
    T* dst = y.data();
    parallel_for(
        planes,
        [&](int64_t pl) {
          const T* s = src + pl * h * w;
          T* d = dst + pl * oh * ow;
          std::fill(d, d + p.top * ow, T(0));
          for (int64_t r = 0; r < h; ++r) {
            T* row = d + (p.top + r) * ow;
            std::fill(row, row + p.left, T(0));
            std::memcpy(row + p.left, s + r * w, sizeof(T) * w);
            std::fill(row + p.left + w, row + ow, T(0));
          }
          std::fill(d + (p.top + h) * ow, d + oh * ow, T(0));
        },
        grain);
  }
  trace::next<T>([&] {
    return trace::Attributes{
        {{"padding", {padding.top, padding.left, padding.bottom, padding.right}}}};
  });
  return make_result<T>(std::move(y), {x}, "pad2d",
                        [shape, p, planes, h, w, oh, ow, grain](Node<T>& n) {
                          TensorT<T> g = TensorT<T>::empty(shape);
                          const T* src = n.grad.data();
                          T* dst = g.data();
                          parallel_for(
                              planes,
                              [&](int64_t pl) {
                                const T* s = src + pl * oh * ow + p.top * ow + p.left;
                                T* d = dst + pl * h * w;
                                for (int64_t r = 0; r < h; ++r)
                                  std::memcpy(d + r * w, s + r * ow, sizeof(T) * w);
                              },
                              grain);
                          n.inputs[0]->accumulate(std::move(g));
                        });
}

template <class T>
VarT<T> flatten(const VarT<T>& x, int64_t start_dim) {
  check(x.defined(), "flatten: undefined input");
  const Shape& shape = x.shape();
  const int64_t d = normalize_dim("flatten", start_dim, shape);
  Shape out_shape(shape.begin(), shape.begin() + d);
  out_shape.push_back(prod(shape, d, shape.size()));
  return reshape(x, out_shape);
}

template <class T>
VarT<T> reshape(const VarT<T>& x, const Shape& shape) {
  check(x.defined(), "reshape: undefined input");
  // The result shares x's storage; the gradient is the output gradient seen in x's shape
  // (accumulate reshapes it), handed on without a copy since this node is done with it.
  trace::next<T>([&] { return trace::Attributes{{{"shape", shape}}}; });
  return make_result<T>(x.value().reshape(shape), {x}, "reshape",
                        [](Node<T>& n) { n.inputs[0]->accumulate(std::move(n.grad)); });
}

#define CNNZOO_INSTANTIATE_SHAPE(T)                                  \
  template VarT<T> concat(const std::vector<VarT<T>>&, int64_t);     \
  template VarT<T> slice(const VarT<T>&, int64_t, int64_t, int64_t); \
  template VarT<T> pad_channels(const VarT<T>&, int64_t, int64_t);   \
  template VarT<T> pad2d(const VarT<T>&, const Padding2d&);          \
  template VarT<T> flatten(const VarT<T>&, int64_t);                 \
  template VarT<T> reshape(const VarT<T>&, const Shape&);
CNNZOO_INSTANTIATE_SHAPE(float)
CNNZOO_INSTANTIATE_SHAPE(double)
#undef CNNZOO_INSTANTIATE_SHAPE

}  // namespace cnnzoo
