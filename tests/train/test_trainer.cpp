// The shared trainer from C++: a stop requested mid-epoch saves a checkpoint that a resumed
// Trainer continues bit for bit.
#include <gtest/gtest.h>

#include <filesystem>

#include "cnnzoo/models.hpp"
#include "cnnzoo/random.hpp"
#include "cnnzoo/train/trainer.hpp"
#include "data_paths.hpp"

using namespace cnnzoo;
namespace fs = std::filesystem;

namespace {

// Four classes of 1x32x32 images: a bright square in one of the four quadrants, on noise.
data::Dataset quadrants(int64_t n, uint64_t seed) {
  data::Dataset d;
  d.channels = 1;
  d.height = d.width = 32;
  d.classes = {"nw", "ne", "sw", "se"};
  Generator g(seed);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = g.randint(4);
    d.labels.push_back(label);
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 32; ++x) {
        const bool inside = (y / 16 == label / 2) && (x / 16 == label % 2);
        d.images.push_back(static_cast<uint8_t>((inside ? 160 : 0) + g.randint(64)));
      }
  }
  return d;
}

nn::ModulePtr lenet() {
  models::ModelSpec spec;
  spec.name = "lenet5";
  spec.num_classes = 4;
  spec.in_channels = 1;
  manual_seed(21);
  return models::build_model(spec);
}

}  // namespace

TEST(Trainer, RequestedStopMidEpochResumesBitForBit) {
  TempDir tmp;
  data::DatasetSplit ds{quadrants(200, 1), quadrants(64, 2)};
  train::TrainConfig c;
  c.epochs = 2;
  c.batch = 16;  // 13 steps per epoch
  c.lr = 0.05;
  c.momentum = 0.9;
  c.warmup = 0.5;
  c.seed = 4;
  c.threads = 1;
  c.progress = false;

  c.out = tmp / "straight";
  train::Trainer straight(lenet(), ds, c);
  straight.fit();
  ASSERT_EQ(straight.stopped(), train::Trainer::Stop::none);
  ASSERT_EQ(straight.history().size(), 2u);

  // Stop requested before fit(): honoured after the first step, with a checkpoint.
  c.out = tmp / "stopped";
  {
    train::Trainer t(lenet(), ds, c);
    train::request_stop();
    t.fit();
    EXPECT_EQ(t.stopped(), train::Trainer::Stop::requested);
    EXPECT_EQ(t.epochs_done(), 0);
    EXPECT_EQ(t.epoch_step(), 1);
    EXPECT_EQ(t.steps_per_epoch(), 13);
    EXPECT_TRUE(t.history().empty());
    EXPECT_TRUE(fs::exists(train::checkpoint_path(c.out)));
  }
  // The request was consumed; a stop in epoch 2 comes from stop_after's epoch boundary.
  c.resume = true;
  c.stop_after = 1;
  {
    train::Trainer t(lenet(), ds, c);
    EXPECT_EQ(t.epoch_step(), 1);
    t.fit();
    EXPECT_EQ(t.stopped(), train::Trainer::Stop::stop_after);
    EXPECT_EQ(t.epochs_done(), 1);
    EXPECT_EQ(t.epoch_step(), 0);
  }
  // Once more mid-epoch, now in epoch 2, then to the end.
  c.stop_after = 0;
  {
    train::Trainer t(lenet(), ds, c);
    train::request_stop();
    t.fit();
    EXPECT_EQ(t.stopped(), train::Trainer::Stop::requested);
    EXPECT_EQ(t.epochs_done(), 1);
    EXPECT_EQ(t.epoch_step(), 1);
  }
  train::Trainer last(lenet(), ds, c);
  last.fit();
  EXPECT_EQ(last.stopped(), train::Trainer::Stop::none);
  ASSERT_EQ(last.history().size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(last.history()[e].train_loss, straight.history()[e].train_loss) << e;
    EXPECT_EQ(last.history()[e].train_acc, straight.history()[e].train_acc) << e;
    EXPECT_EQ(last.history()[e].test_loss, straight.history()[e].test_loss) << e;
    EXPECT_EQ(last.history()[e].step, straight.history()[e].step) << e;
  }
  auto a = straight.model().state_dict(), b = last.model().state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    for (int64_t k = 0; k < a[i].second.numel(); ++k)
      ASSERT_EQ(a[i].second[k], b[i].second[k]) << a[i].first << " element " << k;
}

TEST(Trainer, ResumeRejectsACheckpointFromAnotherEpochLength) {
  TempDir tmp;
  data::DatasetSplit ds{quadrants(200, 1), quadrants(64, 2)};
  train::TrainConfig c;
  c.batch = 16;
  c.threads = 1;
  c.progress = false;
  c.out = tmp / "run";
  {
    train::Trainer t(lenet(), ds, c);
    train::request_stop();
    t.fit();
  }
  // Stopped at step 1 of 13; with 10 images there is only one step per epoch.
  data::DatasetSplit small{quadrants(10, 1), quadrants(8, 2)};
  c.resume = true;
  try {
    train::Trainer t(lenet(), small, c);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("step 1 of an epoch that has 1"), std::string::npos)
        << e.what();
  }
}
