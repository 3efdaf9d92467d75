// The shared trainer from C++: a stop requested mid-epoch saves a checkpoint that a resumed
// Trainer continues bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/models.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/random.hpp"
#include "cnnzoo/train/trainer.hpp"
#include "data_paths.hpp"
#include "synthetic_data.hpp"

using namespace cnnzoo;
namespace fs = std::filesystem;

namespace {

nn::ModulePtr lenet() {
  models::ModelSpec spec;
  spec.name = "lenet5";
  spec.num_classes = 4;
  spec.in_channels = 1;
  manual_seed(21);
  return models::build_model(spec);
}

// A quiet one-thread run of batch 16 writing to `out`.
train::TrainConfig quiet_config(const std::string& out) {
  train::TrainConfig c;
  c.batch = 16;
  c.threads = 1;
  c.progress = false;
  c.out = out;
  return c;
}

// A run stopped at its first step: a mid-epoch checkpoint in c.out.
void stopped_run(const data::DatasetSplit& ds, const train::TrainConfig& c) {
  train::Trainer t(lenet(), ds, c);
  train::request_stop();
  t.fit();
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
  train::TrainConfig c = quiet_config(tmp / "run");
  stopped_run(ds, c);
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

namespace {

// lenet5 with an auxiliary head (its own logits, scaled by a parameter constrained to
// [0, 0.5]) that the trainer must weigh and keep in range.
class WithAuxiliary : public nn::Module {
 public:
  WithAuxiliary() {
    net = register_module("net", lenet());
    gain = register_parameter("gain", Tensor::full({1}, 0.4f));
    constrain_parameter("gain", 0.0, 0.5);
  }
  Var forward(const Var& x) override {
    Var y = net->forward(x);
    if (is_training()) aux_.push_back(scale(y, gain));
    return y;
  }
  std::vector<Var> take_auxiliary_logits() override {
    std::vector<Var> out;
    out.swap(aux_);
    return out;
  }
  nn::ModulePtr net;
  Var gain;
  std::vector<Var> aux_;
};

}  // namespace

TEST(Trainer, AuxiliaryLossNeedsAWeightFromTheRecipeAndConstraintsHoldAfterEveryStep) {
  TempDir tmp;
  data::DatasetSplit ds{quadrants(64, 1), quadrants(16, 2)};
  train::TrainConfig c;
  c.epochs = 1;
  c.batch = 16;
  c.lr = 5.0;  // large steps push the gain out of [0, 0.5] unless it is projected back
  c.threads = 1;
  c.progress = false;
  c.model = "custom";
  c.out = tmp / "no-weight";
  {
    train::Trainer t(std::make_shared<WithAuxiliary>(), ds, c);
    try {
      t.fit();
      FAIL() << "a model with auxiliary heads and no loss weight must be refused";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("auxiliary"), std::string::npos) << e.what();
    }
  }
  c.aux_loss_weight = 1.0;
  c.out = tmp / "weighted";
  auto model = std::make_shared<WithAuxiliary>();
  train::Trainer t(model, ds, c);
  t.fit();
  const float g = model->gain.value()[0];
  EXPECT_GE(g, 0.0f);
  EXPECT_LE(g, 0.5f);
  EXPECT_NE(g, 0.4f) << "the gain must have been trained";
  EXPECT_DOUBLE_EQ(train::auxiliary_loss_weight("googlenet"), 0.3);
  EXPECT_DOUBLE_EQ(train::auxiliary_loss_weight("inception_v3"), 0.4);
  EXPECT_DOUBLE_EQ(train::auxiliary_loss_weight("resnet20"), -1.0);
}

// A checkpoint that lost an optimizer buffer, or whose trainer state is not what the trainer
// wrote, is refused with one line naming it: resuming would silently not be bit-exact.
TEST(Trainer, ResumeRefusesAMissingMomentumBufferOrAMalformedTrainerState) {
  TempDir tmp;
  data::DatasetSplit ds{quadrants(200, 1), quadrants(64, 2)};
  const train::TrainConfig c = quiet_config(tmp / "run");
  stopped_run(ds, c);
  const std::string ck = train::checkpoint_path(c.out);
  const io::SafetensorsFile original = io::load_safetensors(ck);
  auto rewrite = [&](const std::string& drop, const std::string& trainer_state) {
    nn::NamedTensors kept;
    for (const auto& e : original.tensors)
      if (e.name != drop) kept.emplace_back(e.name, e.value);
    auto meta = original.metadata;
    if (!trainer_state.empty()) meta["trainer"] = trainer_state;
    io::save_safetensors(ck, kept, meta);
  };
  auto resume_error = [&]() -> std::string {
    train::TrainConfig r = c;
    r.resume = true;
    try {
      train::Trainer t(lenet(), ds, r);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  rewrite("optim.features.0.weight.momentum_buffer", "");
  EXPECT_NE(
      resume_error().find("optimizer state 'optim.features.0.weight.momentum_buffer' is missing"),
      std::string::npos)
      << resume_error();
  rewrite("", R"({"epoch": 0, "step": "one"})");
  EXPECT_NE(resume_error().find("trainer state is malformed"), std::string::npos) << resume_error();
  // Counts that are floats: 2.5 was read as 2, and 1e300 cast to an integer is undefined.
  for (const char* count : {"2.5", "1e300"}) {
    auto state = nlohmann::json::parse(original.metadata.at("trainer"));
    state["step"] = nlohmann::json::parse(count);
    rewrite("", state.dump());
    EXPECT_NE(resume_error().find("trainer state is malformed"), std::string::npos)
        << count << ": " << resume_error();
  }
  auto state = nlohmann::json::parse(original.metadata.at("trainer"));
  state["config"]["epochs"] = 1e300;
  try {
    rewrite("", state.dump());
    train::TrainConfig r = c;
    r.resume = true;
    train::resumed_config(r);
    ADD_FAILURE() << "epochs 1e300 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("training config: malformed"), std::string::npos)
        << e.what();
  }
  rewrite("", "");
  EXPECT_EQ(resume_error(), "");
}

// A stop between the checkpoint and the files written after it (a kill, or a second SIGTERM
// during the epoch-end save) leaves model.safetensors, metrics.csv and curves.svg a save
// behind; resuming rewrites them from the checkpoint before anything else.
TEST(Trainer, ResumeBringsTheRunsFilesUpToTheCheckpoint) {
  TempDir tmp;
  data::DatasetSplit ds{quadrants(64, 1), quadrants(32, 2)};
  train::TrainConfig c = quiet_config(tmp / "run");
  c.epochs = 3;
  c.stop_after = 2;
  {
    train::Trainer t(lenet(), ds, c);
    t.fit();
  }
  const fs::path out = c.out;
  const std::string metrics = (out / "metrics.csv").string();
  std::ifstream in(metrics);
  std::string header, epoch1;
  std::getline(in, header);
  std::getline(in, epoch1);
  in.close();
  // As if the last save had stopped after the checkpoint: files one epoch behind or gone.
  { std::ofstream(metrics) << header << "\n" << epoch1 << "\n"; }
  fs::remove(out / "model.safetensors");
  fs::remove(out / "curves.svg");
  train::TrainConfig r = c;
  r.resume = true;
  train::Trainer t(lenet(), ds, r);
  std::ifstream again(metrics);
  int lines = 0;
  for (std::string line; std::getline(again, line);) ++lines;
  EXPECT_EQ(lines, 3) << "header and both epochs";
  EXPECT_TRUE(fs::exists(out / "model.safetensors"));
  EXPECT_TRUE(fs::exists(out / "curves.svg"));
}

// A disk too small for the run's files is found before the first epoch, not at its end.
TEST(Trainer, AnOutputDirectoryWithoutRoomIsRefusedBeforeTraining) {
  TempDir tmp;
  const std::string small = tmp / "small";
  fs::create_directories(small);
  // A 1 MiB filesystem: lenet5's checkpoint, weights and their temporaries need about 2 MiB.
  if (std::system(("mount -t tmpfs -o size=1m tmpfs " + small + " 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "mounting a tmpfs needs root";
  data::DatasetSplit ds{quadrants(64, 1), quadrants(32, 2)};
  const train::TrainConfig c = quiet_config(small + "/run");
  std::string message;
  try {
    train::Trainer t(lenet(), ds, c);
  } catch (const Error& e) {
    message = e.what();
  }
  std::system(("umount " + small).c_str());
  EXPECT_NE(message.find("MiB free"), std::string::npos) << message;
  EXPECT_NE(message.find("--out " + small + "/run"), std::string::npos) << message;
}

// A training set of one colour cannot be normalised: the error says that, not "std must be
// positive" from deep inside the data loader.
TEST(Trainer, AConstantColourTrainingSetIsAnErrorThatSaysSo) {
  TempDir tmp;
  data::DatasetSplit ds{quadrants(32, 1), quadrants(16, 2)};
  std::fill(ds.train.images.begin(), ds.train.images.end(), uint8_t(7));
  const train::TrainConfig c = quiet_config(tmp / "run");
  try {
    train::Trainer t(lenet(), ds, c);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("same value everywhere in channel 0"), std::string::npos)
        << e.what();
  }
}
