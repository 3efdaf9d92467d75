// Ensembles: each member's result is its evaluate(), the ensemble's prediction is the mean of
// the members' softmax outputs, and members may differ in architecture and normalisation.
#include <gtest/gtest.h>

#include <cmath>

#include "cnnzoo/models.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/random.hpp"
#include "cnnzoo/train/trainer.hpp"
#include "synthetic_data.hpp"

using namespace cnnzoo;

namespace {

nn::ModulePtr build(const std::string& name, uint64_t seed) {
  manual_seed(seed);
  models::ModelSpec spec;
  spec.name = name;
  spec.num_classes = 4;
  spec.in_channels = 1;
  spec.input_size = 32;
  return models::build_model(spec);
}

// Softmax of one model over the whole set, normalised with (mean, std), no loader.
Tensor probabilities(nn::Module& m, const data::Dataset& ds, float mean, float std) {
  Tensor x = Tensor::empty({ds.size(), 1, 32, 32});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = (ds.images[i] / 255.0f - mean) / std;
  m.eval();
  NoGradGuard ng;
  return softmax(m.forward(Var(x)).value());
}

TEST(Ensemble, TheMeanOfTheMembersSoftmaxOutputs) {
  const data::Dataset test = quadrants(70, 3);
  nn::ModulePtr a = build("lenet5", 1), b = build("resnet20", 2);
  const std::vector<train::EnsembleMember> members = {{a.get(), {0.2f}, {0.3f}},
                                                      {b.get(), {0.4f}, {0.5f}}};
  const train::EnsembleResult r = train::evaluate_ensemble(members, test, 32);
  ASSERT_EQ(r.members.size(), 2u);
  // Each member alone is what evaluate() says.
  for (size_t i = 0; i < 2; ++i) {
    const train::EvalResult e =
        train::evaluate(*members[i].model, test, members[i].mean, members[i].std, 16);
    EXPECT_DOUBLE_EQ(r.members[i].accuracy, e.accuracy);
    EXPECT_NEAR(r.members[i].loss, e.loss, 1e-5);
    EXPECT_EQ(r.members[i].confusion, e.confusion);
  }
  // The ensemble, by hand.
  const Tensor pa = probabilities(*a, test, 0.2f, 0.3f), pb = probabilities(*b, test, 0.4f, 0.5f);
  int64_t correct = 0;
  double nll = 0;
  for (int64_t n = 0; n < test.size(); ++n) {
    int64_t best = 0;
    for (int64_t k = 1; k < 4; ++k)
      if (pa[n * 4 + k] + pb[n * 4 + k] > pa[n * 4 + best] + pb[n * 4 + best]) best = k;
    correct += best == test.labels[n];
    const int64_t y = test.labels[n];
    nll -= std::log((pa[n * 4 + y] + pb[n * 4 + y]) / 2.0);
  }
  EXPECT_DOUBLE_EQ(r.ensemble.accuracy, static_cast<double>(correct) / test.size());
  EXPECT_NEAR(r.ensemble.loss, nll / test.size(), 1e-4);
  int64_t total = 0;
  for (const auto& row : r.ensemble.confusion)
    for (int64_t v : row) total += v;
  EXPECT_EQ(total, test.size());
  // One member twice is that member.
  const train::EnsembleResult same = train::evaluate_ensemble({members[0], members[0]}, test);
  EXPECT_DOUBLE_EQ(same.ensemble.accuracy, r.members[0].accuracy);
  EXPECT_NEAR(same.ensemble.loss, r.members[0].loss, 1e-5);
}

TEST(Ensemble, AMemberWithAnotherClassCountIsRefused) {
  const data::Dataset test = quadrants(20, 4);
  nn::ModulePtr a = build("lenet5", 1);
  manual_seed(2);
  nn::ModulePtr b = models::build_model("lenet5", 10);
  try {
    train::evaluate_ensemble({{a.get(), {0.2f}, {0.3f}}, {b.get(), {0.2f}, {0.3f}}}, test);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("member 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train::evaluate_ensemble({}, test), Error);
}

}  // namespace
