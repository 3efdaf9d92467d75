// Small value types for kernel geometry: (h, w) pairs and per-side padding, NCHW order.
#pragma once
#include <cstdint>

namespace cnnzoo {

// An (h, w) pair; an integer converts to a square pair, as in PyTorch (`stride = 2`).
struct Size2 {
  int64_t h = 0, w = 0;
  Size2() = default;
  Size2(int64_t v) : h(v), w(v) {}  // NOLINT: implicit on purpose
  Size2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
  bool operator==(const Size2& o) const { return h == o.h && w == o.w; }
};

// Zero padding per side. An integer pads all sides; (ph, pw) pads top/bottom by ph and
// left/right by pw, like PyTorch's padding=(ph, pw).
struct Padding2d {
  int64_t top = 0, bottom = 0, left = 0, right = 0;
  Padding2d() = default;
  Padding2d(int64_t p) : top(p), bottom(p), left(p), right(p) {}  // NOLINT
  Padding2d(int64_t ph, int64_t pw) : top(ph), bottom(ph), left(pw), right(pw) {}
  Padding2d(int64_t t, int64_t b, int64_t l, int64_t r) : top(t), bottom(b), left(l), right(r) {}
  bool operator==(const Padding2d& o) const {
    return top == o.top && bottom == o.bottom && left == o.left && right == o.right;
  }
};

}  // namespace cnnzoo
