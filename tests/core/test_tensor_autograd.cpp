// Tensor storage/shape behaviour and the autograd graph walk.
#include <gtest/gtest.h>

#include <malloc.h>
#include <sys/resource.h>
#include <algorithm>
#include <thread>

#include <algorithm>
#include <cmath>

#include "cnnzoo/autograd.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/parallel.hpp"
#include "cnnzoo/random.hpp"
#include "cnnzoo/tensor.hpp"

using namespace cnnzoo;

TEST(Tensor, ShapeNumelAndFill) {
  Tensor t = Tensor::full({2, 3, 4}, 1.5f);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.shape_str(), "[2, 3, 4]");
  for (float v : t) EXPECT_EQ(v, 1.5f);
  EXPECT_THROW(t.size(3), Error);
}

TEST(Tensor, ReshapeSharesStorageCloneDoesNot) {
  Tensor t = Tensor::zeros({2, 6});
  Tensor r = t.reshape({3, -1});
  EXPECT_EQ(r.shape(), (Shape{3, 4}));
  r[5] = 7.f;
  EXPECT_EQ(t[5], 7.f);
  Tensor c = t.clone();
  c[5] = 1.f;
  EXPECT_EQ(t[5], 7.f);
  EXPECT_THROW(t.reshape({5, -1}), Error);
  EXPECT_THROW(t.reshape({13}), Error);
}

// A training step frees and re-allocates the same large activations every iteration: after
// the first round they must come from memory the process already has, not from fresh pages
// (64 MB = 16384 pages would fault in again on every round if malloc handed them back).
TEST(Tensor, LargeStorageIsReusedWithoutPageFaults) {
  keep_freed_memory();  // what the CLI asks for; the library alone leaves malloc as it is
  auto minor_faults = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<long>(u.ru_minflt);
  };
  auto touch = [] {
    Tensor a = Tensor::empty({16 << 20});  // 64 MB
    std::fill(a.data(), a.data() + a.numel(), 1.0f);
    Tensor b = Tensor::empty({8 << 20});  // 32 MB
    std::fill(b.data(), b.data() + b.numel(), 2.0f);
  };
  touch();
  const long before = minor_faults();
  for (int i = 0; i < 5; ++i) touch();
  EXPECT_LT(minor_faults() - before, 2000);
}

// Networks with a multi-GB step (preact-resnet164 at batch 128: 3.2 GB) free more than 2 GB
// at once: the heap must keep it too (a 2 GB trim threshold cost 35% of their speed). The
// blocks are never touched, so this costs address space, not memory.
TEST(Tensor, FreedHeapAboveTwoGigabytesIsKept) {
  keep_freed_memory();
  {
    Tensor a = Tensor::empty({int64_t(320) << 20});  // 1.25 GB each
    Tensor b = Tensor::empty({int64_t(320) << 20});
  }
  EXPECT_GE(mallinfo2().arena, size_t(5) << 29);  // >= 2.5 GB still in the heap
}

TEST(Tensor, FromVectorChecksCount) {
  EXPECT_THROW(Tensor::from_vector({2, 2}, {1, 2, 3}), Error);
  Tensor t = Tensor::from_vector({2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(t[3], 4.f);
}

namespace {
// y = a * b (element-wise), written inline to test the graph machinery without ops.
VarD mul_inline(const VarD& a, const VarD& b) {
  TensorD v = TensorD::empty(a.shape());
  for (int64_t i = 0; i < v.numel(); ++i) v[i] = a.value()[i] * b.value()[i];
  TensorD av = a.value(), bv = b.value();
  return make_result<double>(v, {a, b}, "mul_inline", [av, bv](Node<double>& n) {
    if (n.input_needs_grad(0)) {
      TensorD g = TensorD::empty(av.shape());
      for (int64_t i = 0; i < g.numel(); ++i) g[i] = n.grad[i] * bv[i];
      n.inputs[0]->accumulate(std::move(g));
    }
    if (n.input_needs_grad(1)) {
      TensorD g = TensorD::empty(bv.shape());
      for (int64_t i = 0; i < g.numel(); ++i) g[i] = n.grad[i] * av[i];
      n.inputs[1]->accumulate(std::move(g));
    }
  });
}
}  // namespace

TEST(Autograd, DiamondGraphAccumulates) {
  VarD x(TensorD::full({1}, 3.0), true);
  VarD y = mul_inline(x, x);  // x^2
  VarD z = mul_inline(y, x);  // x^3, x used twice along different paths
  backward(z);
  EXPECT_DOUBLE_EQ(x.grad()[0], 27.0);  // 3 x^2
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  VarD x(TensorD::full({1}, 2.0), true);
  backward(mul_inline(x, x));
  backward(mul_inline(x, x));
  EXPECT_DOUBLE_EQ(x.grad()[0], 8.0);
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

// Backward functions may consume their node's grad in place (relu masks dy where it lies);
// the root keeps the grad it was seeded with, and the result is unchanged.
TEST(Autograd, RootKeepsItsSeedWhenBackwardConsumesGrads) {
  VarD x(TensorD::from_vector({4}, {-1.0, 2.0, -3.0, 4.0}), true);
  const TensorD seed = TensorD::from_vector({4}, {1.0, 2.0, 3.0, 4.0});
  VarD y = relu(x);  // the root: its backward masks its grad where x < 0, in place
  backward(y, seed);
  EXPECT_EQ(y.grad().to_vector(), seed.to_vector());
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0.0, 2.0, 0.0, 4.0}));
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  VarD x(TensorD::full({1}, 2.0), true);
  {
    NoGradGuard g;
    VarD y = mul_inline(x, x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.node()->inputs.empty());
  }
  EXPECT_TRUE(mul_inline(x, x).requires_grad());
}

// Recording turned back on inside a no-grad scope, as class activation maps need under an
// inference caller; each scope restores the mode it found.
TEST(Autograd, GradModeGuardNestsAndRestores) {
  VarD x(TensorD::full({1}, 2.0), true);
  {
    NoGradGuard off;
    {
      GradModeGuard on(true);
      EXPECT_TRUE(grad_enabled());
      EXPECT_TRUE(mul_inline(x, x).requires_grad());
    }
    EXPECT_FALSE(grad_enabled());
    EXPECT_FALSE(mul_inline(x, x).requires_grad());
  }
  EXPECT_TRUE(grad_enabled());
}

TEST(Autograd, SavedStateFreedAfterBackward) {
  VarD x(TensorD::full({4}, 2.0), true);
  VarD y = mul_inline(x, x);
  VarD z = mul_inline(y, y);
  backward(z, TensorD::ones({4}));
  EXPECT_FALSE(static_cast<bool>(y.node()->backward_fn));
  EXPECT_TRUE(y.node()->inputs.empty());
  EXPECT_FALSE(y.grad().defined());  // non-leaf grads are released
  EXPECT_TRUE(x.grad().defined());
}

// An activation nobody holds any more is freed during the forward pass: its consumers'
// backward closures keep what they need (here mul_inline's copies), and the node keeps
// only its shape for the gradient. Leaves, and ops whose backward reads their own output
// (relu), keep their values.
TEST(Autograd, IntermediateValuesAreDroppedWithTheirLastVar) {
  VarD x(TensorD::from_vector({3}, {1, -2, 3}), true);
  VarD y, z;
  {
    VarD a = mul_inline(x, x);  // x^2
    EXPECT_TRUE(a.node()->value.defined());
    VarD copy = a;
    y = mul_inline(copy, a);  // x^4
    VarD r = relu(mul_inline(x, x));
    z = mul_inline(r, r);
  }
  EXPECT_FALSE(y.node()->inputs[0]->value.defined());
  EXPECT_EQ(y.node()->inputs[0]->shape, (Shape{3}));
  EXPECT_TRUE(z.node()->inputs[0]->value.defined());  // relu's output
  EXPECT_TRUE(x.value().defined());
  backward(y, TensorD::ones({3}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{4, -32, 108}));
}

TEST(Autograd, BackwardNeedsScalarRoot) {
  VarD x(TensorD::full({3}, 2.0), true);
  EXPECT_THROW(backward(mul_inline(x, x)), Error);
  VarD c(TensorD::full({1}, 2.0), false);
  EXPECT_THROW(backward(c), Error);
}

TEST(Autograd, LongChainDoesNotOverflowStack) {
  VarD x(TensorD::full({1}, 1.0), true);
  VarD one(TensorD::full({1}, 1.0), false);
  VarD y = x;
  for (int i = 0; i < 200000; ++i) y = mul_inline(y, one);
  backward(y);
  EXPECT_DOUBLE_EQ(x.grad()[0], 1.0);
}

TEST(Random, StateRoundTrip) {
  Generator g(42);
  g.next_u64();
  std::string s = g.state();
  uint64_t a = g.next_u64();
  Generator h;
  h.set_state(s);
  EXPECT_EQ(h.next_u64(), a);
  EXPECT_THROW(h.set_state("not a state"), Error);
}

TEST(Random, StateRoundTripMidNormalPair) {
  Generator g(7);
  g.normal();  // leaves the second value of a Box-Muller pair pending
  Generator h;
  h.set_state(g.state());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(h.normal(), g.normal());
  double s = 0, s2 = 0;
  for (int i = 0; i < 100000; ++i) {
    double v = g.normal(1.0, 2.0);
    s += v, s2 += v * v;
  }
  EXPECT_NEAR(s / 1e5, 1.0, 0.03);
  EXPECT_NEAR(std::sqrt(s2 / 1e5 - (s / 1e5) * (s / 1e5)), 2.0, 0.03);
}

TEST(Parallel, ThreadSetting) {
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(2);
  EXPECT_EQ(num_threads(), 2);
  EXPECT_THROW(set_num_threads(0), Error);
  // A thread count far above the cores is refused, not obeyed (10000 threads once drove a
  // 2-core machine's load to 100).
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(max_threads(), std::max(4, 4 * cores));
  EXPECT_THROW(set_num_threads(max_threads() + 1), Error);
  EXPECT_THROW(set_num_threads(10000), Error);
  EXPECT_EQ(num_threads(), 2);
}
