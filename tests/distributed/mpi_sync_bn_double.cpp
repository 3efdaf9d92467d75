// Synchronised BatchNorm on two ranks, in double (CTest runs this under mpirun -np 2): the
// gradient of the loss summed over both ranks, by central differences that move one element
// of one rank's input (or a shared parameter on both), against the backward pass; and the
// running statistics against the statistics of both ranks' data together; and a whole ResNet-20
// on two ranks (synchronised BN) against one process on the whole batch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "cnnzoo/distributed.hpp"
#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/batchnorm.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/random.hpp"
#include "cnnzoo/testing/gradcheck.hpp"
#include "distributed/two_ranks.hpp"

using namespace cnnzoo;

namespace {

using two_ranks::world;

struct Case {
  TensorD x, gamma, beta, w;  // x and w differ between the ranks; gamma and beta do not
  bool relu;
};

Case make_case(const Shape& shape, bool relu) {
  const int64_t c = shape[1];
  // Each rank's own data, shifted and scaled per rank so its share's statistics differ.
  TensorD x = cnnzoo::testing::random_tensor(shape, 100 + world->rank(), -1.0, 2.0 + world->rank());
  return {x, cnnzoo::testing::random_tensor({c}, 7, 0.5, 1.5),
          cnnzoo::testing::random_tensor({c}, 8, -0.5, 0.5),
          cnnzoo::testing::random_tensor(shape, 200 + world->rank()), relu};
}

// sum over ranks of sum(w * sync_batch_norm(x)): every rank calls it together.
double global_loss(const Case& k, const TensorD& x, const TensorD& gamma, const TensorD& beta) {
  NoGradGuard no_grad;
  VarD y = sync_batch_norm<double>(VarD(x), VarD(gamma), VarD(beta), TensorD(), TensorD(), *world,
                                   0.1, 1e-5, k.relu);
  double loss = sum(mul(y, VarD(k.w))).value().item();
  world->allreduce_sum(&loss, 1);
  return loss;
}

// Worst |analytic - numeric| / (atol + rtol |numeric|) over every element of x on both ranks and
// of gamma and beta; > 1 fails.
double worst_badness(const Case& k) {
  VarD x(k.x, true), gamma(k.gamma, true), beta(k.beta, true);
  VarD y = sync_batch_norm<double>(x, gamma, beta, TensorD(), TensorD(), *world, 0.1, 1e-5, k.relu);
  backward(sum(mul(y, VarD(k.w))));
  TensorD dgamma = gamma.grad().clone(), dbeta = beta.grad().clone();
  // Each rank's parameter gradient is its share; the loss's is their sum.
  world->allreduce_sum(dgamma.data(), dgamma.numel());
  world->allreduce_sum(dbeta.data(), dbeta.numel());

  const double h = 1e-6, atol = 1e-7, rtol = 1e-6;
  double worst = 0;
  auto judge = [&](double analytic, double numeric) {
    worst = std::max(worst, std::abs(analytic - numeric) / (atol + rtol * std::abs(numeric)));
  };
  for (int owner = 0; owner < world->size(); ++owner)
    for (int64_t i = 0; i < k.x.numel(); ++i) {
      TensorD up = k.x.clone(), down = k.x.clone();
      if (world->rank() == owner) {
        up[i] += h;
        down[i] -= h;
      }
      const double numeric =
          (global_loss(k, up, k.gamma, k.beta) - global_loss(k, down, k.gamma, k.beta)) / (2 * h);
      if (world->rank() == owner) judge(x.grad()[i], numeric);
    }
  for (int which = 0; which < 2; ++which) {
    const TensorD& p = which == 0 ? k.gamma : k.beta;
    const TensorD& analytic = which == 0 ? dgamma : dbeta;
    for (int64_t i = 0; i < p.numel(); ++i) {
      TensorD up = p.clone(), down = p.clone();
      up[i] += h;
      down[i] -= h;
      const double numeric =
          which == 0
              ? (global_loss(k, k.x, up, k.beta) - global_loss(k, k.x, down, k.beta)) / (2 * h)
              : (global_loss(k, k.x, k.gamma, up) - global_loss(k, k.x, k.gamma, down)) / (2 * h);
      judge(analytic[i], numeric);
    }
  }
  world->allreduce_sum(&worst, 1);  // the same verdict on both ranks (a sum of >= 0 terms)
  return worst;
}

TEST(SyncBatchNorm, GradientOfTheLossOverBothRanks) {
  EXPECT_LT(worst_badness(make_case({3, 2, 2, 3}, false)), 1.0);
}

TEST(SyncBatchNorm, GradientWithTheFusedRelu) {
  EXPECT_LT(worst_badness(make_case({2, 3, 3, 2}, true)), 1.0);
}

TEST(SyncBatchNorm, GradientOfAFlatInput) {
  EXPECT_LT(worst_badness(make_case({4, 3}, false)), 1.0);
}

TEST(SyncBatchNorm, RunningStatisticsAreThoseOfBothRanksTogether) {
  const Shape shape = {3, 2, 2, 2};
  Case k = make_case(shape, false);
  TensorD running_mean = TensorD::zeros({2}), running_var = TensorD::ones({2});
  {
    NoGradGuard no_grad;
    sync_batch_norm<double>(VarD(k.x), VarD(k.gamma), VarD(k.beta), running_mean, running_var,
                            *world, 1.0, 1e-5, false);  // momentum 1: the batch's statistics
  }
  // The statistics of both ranks' data, from sums of x and x^2 and the count.
  double sums[5] = {0, 0, 0, 0, 0};  // sum x, sum x^2 per channel, count per channel
  for (int64_t n = 0; n < shape[0]; ++n)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t i = 0; i < 4; ++i) {
        const double v = k.x[(n * 2 + c) * 4 + i];
        sums[c] += v;
        sums[2 + c] += v * v;
      }
  sums[4] = shape[0] * 4;
  world->allreduce_sum(sums, 5);
  for (int64_t c = 0; c < 2; ++c) {
    const double mean = sums[c] / sums[4];
    const double unbiased = (sums[2 + c] - sums[4] * mean * mean) / (sums[4] - 1);
    EXPECT_NEAR(running_mean[c], mean, 1e-12);
    EXPECT_NEAR(running_var[c], unbiased, 1e-12);
  }
}

// One step's parameter gradients of the mean loss over a batch of 8: two ranks with 4 images
// each and synchronised BN (each rank's gradient weighted by its share and summed, as the trainer
// does) against one process with all 8. In double the two differ by rounding alone.
TEST(SyncBatchNorm, TwoRanksGiveAResNetTheGradientOfTheWholeBatch) {
  models::ModelSpec spec;
  spec.name = "resnet20";
  spec.num_classes = 4;
  spec.in_channels = 3;
  spec.input_size = 8;
  manual_seed(21);
  nn::ModulePtr whole = models::build_model(spec);
  manual_seed(21);
  nn::ModulePtr part = models::build_model(spec);
  nn::convert_sync_batchnorm(*part, world);
  const TensorD x = cnnzoo::testing::random_tensor({8, 3, 8, 8}, 31, -2.0, 3.0);
  const std::vector<int64_t> labels = {0, 1, 2, 3, 3, 2, 1, 0};
  backward(cross_entropy(whole->forward(VarD(x)), labels));
  const int r = world->rank();
  TensorD mine = TensorD::empty({4, 3, 8, 8});
  std::copy(x.data() + r * mine.numel(), x.data() + (r + 1) * mine.numel(), mine.data());
  backward(cross_entropy(part->forward(VarD(mine)),
                         std::vector<int64_t>(labels.begin() + 4 * r, labels.begin() + 4 * r + 4)));
  auto pw = whole->named_parameters(), pp = part->named_parameters();
  double worst = 0;
  for (size_t i = 0; i < pw.size(); ++i) {
    TensorD g = pp[i].second.grad().clone();
    for (double& v : g) v *= 0.5;
    world->allreduce_sum(g.data(), g.numel());
    const TensorD& ref = pw[i].second.grad();
    double diff = 0, scale = 0;
    for (int64_t j = 0; j < g.numel(); ++j) {
      diff = std::max(diff, std::abs(g[j] - ref[j]));
      scale = std::max(scale, std::abs(ref[j]));
    }
    worst = std::max(worst, diff / scale);
  }
  if (world->is_root()) std::printf("resnet20 gradients, 2 x 4 vs 1 x 8: %.3g relative\n", worst);
  EXPECT_LT(worst, 1e-10);
}

}  // namespace

int main(int argc, char** argv) {
  return two_ranks::run_all_tests(argc, argv);
}
