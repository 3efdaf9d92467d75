// The files a run writes carry everything: eval, predict and forward agree whichever file
// (model, best or checkpoint) they are given; the classify example on three kinds of model;
// training output, recipes and flags that say what they do.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/cli_run.hpp"
#include "cnnzoo/data/dataset.hpp"
#include "cnnzoo/inference.hpp"
#include "cnnzoo/io/npy.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/random.hpp"
#include "data_paths.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace cnnzoo;

namespace {

const std::string kClassify = CNNZOO_BINARY_DIR "/classify";

// `cnnzoo train` of LeNet-5 on Fashion-MNIST with the given flags.
CliRun train_lenet(const std::string& flags, const std::string& dir) {
  return cli("train --model lenet5 --data " + kFashion + " " + flags, dir);
}

// A short lenet5 run on Fashion-MNIST, shared by the tests of this file.
const std::string& trained_run() {
  static TempDir dir;
  static const std::string out = dir / "run";
  if (!fs::exists(out + "/model.safetensors")) {
    const std::string flags =
        "--epochs 1 --limit-train 3000 --limit-test 500 --threads 1 --seed 2 --no-progress";
    CliRun r = train_lenet(flags + " --out " + out, dir.path());
    if (r.status != 0) throw std::runtime_error("training failed: " + r.err);
  }
  return out;
}

// The first n Fashion-MNIST test images as PNG files, and as pixels in [0, 1] in x.npy.
std::vector<std::string> write_test_images(const TempDir& tmp, int n) {
  data::DatasetSplit ds = data::load_fashion_mnist(kFashion);
  std::vector<std::string> paths;
  Tensor x = Tensor::empty({n, 1, 28, 28});
  for (int i = 0; i < n; ++i) {
    io::Image img;
    img.height = img.width = 28;
    img.channels = 1;
    img.pixels.assign(ds.test.image(i), ds.test.image(i) + 28 * 28);
    for (int p = 0; p < 28 * 28; ++p) x[i * 28 * 28 + p] = img.pixels[p] / 255.0f;
    paths.push_back(tmp / ("img" + std::to_string(i) + ".png"));
    io::write_png(paths.back(), img);
  }
  io::save_npy(tmp / "x.npy", x);
  return paths;
}

json trainer_config(const std::string& out) {
  io::SafetensorsFile f = io::load_safetensors(out + "/checkpoint.safetensors");
  return json::parse(f.metadata.at("trainer")).at("config");
}

}  // namespace

TEST(CliFiles, ForwardPredictAndEvalAgreeOnEveryFileTheRunWrote) {
  const std::string run = trained_run();
  TempDir tmp;
  const auto images = write_test_images(tmp, 6);
  std::string image_args;
  for (const auto& p : images) image_args += " " + p;
  std::vector<json> predictions;
  std::vector<Tensor> logits;
  std::vector<double> accuracies;
  for (const char* file : {"model", "best", "checkpoint"}) {
    SCOPED_TRACE(file);
    const std::string w = run + "/" + file + ".safetensors";
    // No --model: every file names its model.
    CliRun p = cli("predict --json --topk 3 --weights " + w + image_args, tmp.path());
    ASSERT_EQ(p.status, 0) << p.err;
    predictions.push_back(json::parse(p.out));
    CliRun f = cli("forward --weights " + w + " --input " + tmp / "x.npy" + " --output " +
                       tmp / (std::string(file) + ".npy"),
                   tmp.path());
    ASSERT_EQ(f.status, 0) << f.err;
    logits.push_back(io::load_npy(tmp / (std::string(file) + ".npy")));
    CliRun e = cli("eval --json --weights " + w + " --data " + kFashion, tmp.path());
    ASSERT_EQ(e.status, 0) << e.err;
    accuracies.push_back(json::parse(e.out).at("accuracy"));
  }
  EXPECT_EQ(predictions[0], predictions[1]);
  EXPECT_EQ(predictions[0], predictions[2]);
  EXPECT_EQ(accuracies[0], accuracies[1]);
  EXPECT_EQ(accuracies[0], accuracies[2]);
  // forward normalises as predict does: the same argmax, the same probabilities.
  ASSERT_EQ(logits[0].shape(), (Shape{6, 10}));
  Tensor probs = softmax(logits[0]);
  for (int n = 0; n < 6; ++n) {
    const json& top = predictions[0][n]["predictions"][0];
    int64_t argmax = 0;
    for (int64_t k = 1; k < 10; ++k)
      if (logits[0][n * 10 + k] > logits[0][n * 10 + argmax]) argmax = k;
    EXPECT_EQ(top["class"].get<int64_t>(), argmax) << "image " << n;
    EXPECT_NEAR(top["probability"].get<float>(), probs[n * 10 + argmax], 1e-6);
    for (int64_t k = 0; k < 10; ++k) {
      EXPECT_EQ(logits[1][n * 10 + k], logits[0][n * 10 + k]);
      EXPECT_EQ(logits[2][n * 10 + k], logits[0][n * 10 + k]);
    }
  }
  // The predictions are Fashion-MNIST names, and a trained model gets most right.
  data::DatasetSplit ds = data::load_fashion_mnist(kFashion);
  int right = 0;
  for (int n = 0; n < 6; ++n) {
    const json& top = predictions[0][n]["predictions"][0];
    EXPECT_EQ(top["label"], ds.test.classes[top["class"].get<int64_t>()]);
    right += top["class"].get<int64_t>() == ds.test.labels[n];
  }
  EXPECT_GE(right, 4);
  // --raw feeds already normalised inputs as they are.
  Classifier c = Classifier::load(run + "/model.safetensors");
  io::save_npy(tmp / "xn.npy", c.normalize(io::load_npy(tmp / "x.npy")));
  CliRun raw = cli("forward --raw --weights " + run + "/model.safetensors --input " +
                       tmp / "xn.npy" + " --output " + tmp / "raw.npy",
                   tmp.path());
  ASSERT_EQ(raw.status, 0) << raw.err;
  Tensor yr = io::load_npy(tmp / "raw.npy");
  for (int64_t i = 0; i < yr.numel(); ++i) EXPECT_EQ(yr[i], logits[0][i]);
}

TEST(CliFiles, AModelThatContradictsTheFileIsRefused) {
  const std::string w = trained_run() + "/model.safetensors";
  TempDir tmp;
  CliRun r = cli("eval --model resnet20 --weights " + w + " --data " + kFashion, tmp.path());
  expect_one_line_error(r, "holds a 'lenet5' model, not 'resnet20'");
  r = cli("predict --classes 7 --weights " + w + " x.png", tmp.path());
  expect_one_line_error(r, "10 classes, not 7");
  r = cli("predict --set activation=relu --weights " + w + " x.png", tmp.path());
  expect_one_line_error(r, "saved with option activation at its default, not activation=relu");
  // A file that names its model but no normalisation (and lenet5 has no published one) is
  // not evaluated on unnormalised pixels.
  ModelMetadata bare;
  bare.spec.name = "lenet5";
  bare.spec.in_channels = 1;
  bare.spec.input_size = 28;
  manual_seed(1);
  save_weights(*models::build_model(bare.spec), bare, tmp / "bare.safetensors");
  r = cli("eval --weights " + tmp / "bare.safetensors" + " --data " + kFashion, tmp.path());
  expect_one_line_error(r, "has no normalisation");
  // The same facts as the file's are accepted.
  write_test_images(tmp, 1);
  r = cli("predict --model lenet5 --classes 10 --weights " + w + " " + tmp / "img0.png",
          tmp.path());
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(CliFiles, ClassifyExampleOnLeNetACifarModelAndAnImageNetModel) {
  TempDir tmp;
  const auto images = write_test_images(tmp, 2);
  // A CIFAR ResNet and a torchvision-named ImageNet model with random weights: the file
  // names the model (and for resnet20 its classes and statistics); squeezenet1_1 gets the
  // published ImageNet preprocessing from the registry.
  manual_seed(5);
  ModelMetadata cifar;
  cifar.spec.name = "resnet20";
  cifar.classes = {"airplane", "automobile", "bird",  "cat",  "deer",
                   "dog",      "frog",       "horse", "ship", "truck"};
  cifar.mean = {0.49f, 0.48f, 0.45f};
  cifar.std = {0.25f, 0.24f, 0.26f};
  cifar.preprocessing = "resize";
  save_weights(*models::build_model("resnet20"), cifar, tmp / "resnet20.safetensors");
  ModelMetadata imagenet;
  imagenet.spec.name = "squeezenet1_1";
  save_weights(*models::build_model("squeezenet1_1"), imagenet, tmp / "squeeze.safetensors");
  for (const std::string& w : {trained_run() + "/model.safetensors", tmp / "resnet20.safetensors",
                               tmp / "squeeze.safetensors"}) {
    SCOPED_TRACE(w);
    Classifier c = Classifier::load(w);
    std::string expect;
    for (const auto& img : images)
      for (const Prediction& p : c.topk(io::read_image(img), 3)) {
        char line[256];
        std::snprintf(line, sizeof line, "%s: %s %.2f%%\n", img.c_str(), p.label.c_str(),
                      100 * p.probability);
        expect += line;
      }
    const std::string cmd =
        kClassify + " " + w + " " + images[0] + " " + images[1] + " >" + tmp / "out.txt" + " 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    std::ifstream f(tmp / "out.txt");
    std::stringstream got;
    got << f.rdbuf();
    EXPECT_EQ(got.str(), expect);
  }
  const std::string bad =
      kClassify + " " + tmp / "none.safetensors " + images[0] + " 2>" + tmp / "err.txt";
  EXPECT_NE(std::system(bad.c_str()), 0);
}

TEST(CliFiles, TrainingSaysWhatItDoesAndUsesTheDatasetsRecipe) {
  TempDir tmp;
  // Fashion-MNIST without recipe flags: its own recipe (no crop, lr 0.05, batch 64), said
  // at the start; the per-epoch line stays with --no-progress; the last line printed is the
  // final accuracy.
  const std::string small = "--epochs 1 --limit-train 600 --limit-test 200 --threads 1";
  CliRun r = train_lenet(small + " --no-progress --out " + tmp / "a", tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("lenet5: 61706 parameters; 600 training and 200 test images of 10 "
                       "classes"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("batch 64, lr 0.05"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("augment none"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("epoch 1/1  train loss"), std::string::npos) << r.err;
  std::string last = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
  EXPECT_EQ(last.rfind("final test accuracy: ", 0), 0u) << r.out;
  json cfg = trainer_config(tmp / "a");
  EXPECT_EQ(cfg["lr"], 0.05);
  EXPECT_EQ(cfg["batch"], 64);
  EXPECT_EQ(cfg["augment"], "none");
  EXPECT_EQ(cfg["decay_bn_and_bias"], true);
  EXPECT_TRUE(fs::exists(tmp / "a/best.safetensors"));

  // Flags win over the recipe; --no-decay-bn-bias exempts them; --json prints the result.
  r = train_lenet(small + " --no-progress --lr 0.02 --augment flip --no-decay-bn-bias --json" +
                      " --out " + tmp / "b",
                  tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["model"], "lenet5");
  EXPECT_EQ(j["epochs_done"], 1);
  EXPECT_GT(j["final_test_acc"].get<double>(), 0.1);
  EXPECT_EQ(j["best_weights"], tmp / "b/best.safetensors");
  cfg = trainer_config(tmp / "b");
  EXPECT_EQ(cfg["lr"], 0.02);
  EXPECT_EQ(cfg["augment"], "flip");
  EXPECT_EQ(cfg["decay_bn_and_bias"], false);
}

TEST(CliFiles, BadFlagsGetOneReadableLine) {
  TempDir tmp;
  expect_one_line_error(cli("frobnicate", tmp.path()), "unknown subcommand 'frobnicate'");
  CliRun r = cli("train --model lenet5 --data x --epochs 0", tmp.path());
  expect_one_line_error(r, "1 to 100000");
  EXPECT_LT(r.err.size(), 120u) << r.err;
  expect_one_line_error(cli("train --model lenet5 --data x --threads 10000", tmp.path()), "10000");
  // Real-valued flags refuse NaN (CLI11's range check lets it through: --time-limit nan trained
  // without a limit) and print their bounds briefly.
  // Sizes are checked, never clamped or ignored.
  expect_one_line_error(cli("summary lenet5 --classes 99999999999999999999", tmp.path()),
                        "--classes");
  expect_one_line_error(cli("summary lenet5 --classes 0", tmp.path()), "--classes");
  expect_one_line_error(cli("bench --model lenet5 --input 1x28x30", tmp.path()), "square");
  for (const char* flag : {"--time-limit nan", "--lr nan", "--wd inf", "--warmup nan"}) {
    r = cli(std::string("train --model lenet5 --data x ") + flag, tmp.path());
    expect_one_line_error(r, "not a finite number");
    EXPECT_LT(r.err.size(), 160u) << r.err;
  }
  expect_one_line_error(cli("list --json --markdown", tmp.path()), "--markdown");
  // Every option of train shows its default, or says what happens without it.
  r = cli("train --help", tmp.path());
  ASSERT_EQ(r.status, 0);
  for (const char* shown : {"--epochs INT:INT in [1 - 100000]=1", "=cosine", "--wd", "=0.0005",
                            "(default: 128 for CIFAR", "--checkpoint-minutes", "=5"})
    EXPECT_NE(r.out.find(shown), std::string::npos) << shown << " in:\n" << r.out;
}

TEST(CliFiles, AResumedRunKeepsItsRecipeAndItsDirectory) {
  TempDir tmp;
  const std::string common = " --limit-train 600 --limit-test 200 --threads 1 --no-progress";
  CliRun r = train_lenet(" --epochs 2 --stop-after 1" + common + " --out " + tmp / "a", tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  // A flag that asks for another recipe is refused, not ignored.
  r = cli("train --resume --lr 0.5 --out " + tmp / "a", tmp.path());
  expect_one_line_error(r, "--lr asks for lr 0.5, but the run being resumed has 0.05");
  r = cli("train --resume --model resnet20 --out " + tmp / "a", tmp.path());
  expect_one_line_error(r, "\"lenet5\"");
  // A copy of the run resumes in its own directory: no --model or --data needed, and the
  // original is left as it was.
  fs::copy(tmp / "a", tmp / "b");
  const auto before = read_bytes(tmp / "a/checkpoint.safetensors");
  r = cli("train --resume" + common + " --out " + tmp / "b", tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_bytes(tmp / "a/checkpoint.safetensors"), before);
  EXPECT_EQ(read_lines(tmp / "a/metrics.csv").size(), 2u);
  EXPECT_EQ(read_lines(tmp / "b/metrics.csv").size(), 3u);
  EXPECT_EQ(trainer_config(tmp / "b")["out"], tmp / "b");
}

// examples/custom_model.cpp: a new network from the installed blocks (ConvBnAct stem, an SE
// pre-activation unit, two DenseNet-BC layers) trains through the shared trainer and learns.
TEST(CliFiles, CustomModelExampleBuildsFromTheZoosBlocksAndLearns) {
  TempDir tmp;
  const std::string cmd = "cd " + tmp.path() +
                          " && OMP_NUM_THREADS=1 " CNNZOO_BINARY_DIR "/custom_model " + kFashion +
                          " 3000 >out.txt 2>err.txt";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_lines(tmp / "err.txt").size();
  std::vector<std::string> out = read_lines(tmp / "out.txt");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].rfind("SmallNet: ", 0), 0u) << out[0];
  double acc = 0;
  ASSERT_EQ(std::sscanf(out[1].c_str(), "test accuracy: %lf%%", &acc), 1) << out[1];
  EXPECT_GT(acc, 30.0) << "one epoch on 3000 images must beat chance (10%) clearly";
}

// forward never writes its logits over the files it reads.
TEST(CliFiles, ForwardRefusesToWriteOverItsWeightsOrInput) {
  TempDir tmp;
  const std::string weights = tmp / "model.safetensors";
  fs::copy(trained_run() + "/model.safetensors", weights);
  const std::string input = tmp / "x.npy";
  io::save_npy(input, Tensor::zeros({1, 1, 28, 28}));
  const auto weights_before = read_bytes(weights), input_before = read_bytes(input);
  expect_one_line_error(
      cli("forward --weights " + weights + " --input " + input + " --output " + weights,
          tmp.path()),
      "is the --weights file");
  expect_one_line_error(
      cli("forward --weights " + weights + " --input " + input + " --output " + input, tmp.path()),
      "is the --input file");
  EXPECT_EQ(read_bytes(weights), weights_before);
  EXPECT_EQ(read_bytes(input), input_before);
}
