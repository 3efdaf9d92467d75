// The shipped weights and the tools around trained models, from the command line: predict
// with no --model, class activation maps, ensembles in eval and predict, prune, fine-tuning
// that keeps the masks, compress, and the accuracy-compute chart.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_run.hpp"
#include "cnnzoo/compression.hpp"
#include "cnnzoo/data/dataset.hpp"
#include "cnnzoo/inference.hpp"
#include "cnnzoo/io/image.hpp"
#include "cnnzoo/models.hpp"
#include "cnnzoo/random.hpp"
#include "data_paths.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace cnnzoo;

namespace {

const std::string kRepo = CNNZOO_SOURCE_DIR;

// A model file for Fashion-MNIST's 1x28x28 images, random weights of the given seed.
std::string fashion_model(const TempDir& tmp, const std::string& name, uint64_t seed) {
  const data::DatasetSplit ds = data::load_fashion_mnist(kFashion);
  ModelMetadata md;
  md.spec.name = name;
  md.spec.num_classes = 10;
  md.spec.in_channels = 1;
  md.spec.input_size = 28;
  md.classes = ds.test.classes;
  md.mean = {0.29f};
  md.std = {0.35f};
  md.preprocessing = "resize";
  manual_seed(seed);
  const std::string path = tmp / (name + "-" + std::to_string(seed) + ".safetensors");
  save_weights(*models::build_model(md.spec), md, path);
  return path;
}

std::string fashion_image(const TempDir& tmp, int index) {
  const data::DatasetSplit ds = data::load_fashion_mnist(kFashion);
  io::Image img{28, 28, 1, {}};
  img.pixels.assign(ds.test.image(index), ds.test.image(index) + 28 * 28);
  const std::string path = tmp / ("item" + std::to_string(index) + ".png");
  io::write_png(path, img);
  return path;
}

TEST(ZooTools, TheShippedResnet20PredictsFromItsFileAloneAndScoresWhatItsReadmeSays) {
  TempDir tmp;
  const std::string weights = kRepo + "/weights/resnet20-cifar10.safetensors";
  CliRun r = cli(
      "predict --threads 1 --json --weights " + weights + " " + kRepo + "/weights/examples/cat.png",
      tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const json top = json::parse(r.out).at(0).at("predictions").at(0);
  EXPECT_EQ(top.at("label"), "cat");
  EXPECT_GT(top.at("probability").get<double>(), 0.5);
  // The accuracy weights/accuracy.csv states is what eval measures on the CIFAR-10 test set.
  r = cli("eval --threads 2 --json --weights " + weights + " --data " + cifar10_jpg_root() +
              " --dataset folder",
          tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const double measured = json::parse(r.out).at("accuracy").get<double>() * 100;
  std::ifstream csv(kRepo + "/weights/accuracy.csv");
  std::string header, row;
  std::getline(csv, header);
  std::vector<std::string> names;
  {
    std::stringstream h(header);
    for (std::string f; std::getline(h, f, ',');) names.push_back(f);
  }
  bool found = false;
  while (std::getline(csv, row)) {
    std::stringstream rs(row);
    std::map<std::string, std::string> fields;
    for (size_t i = 0; i < names.size(); ++i) std::getline(rs, fields[names[i]], ',');
    // Every row names a shipped file that loads as the model the row says (predict refuses a
    // --model the file contradicts); only ResNet-20's accuracy is measured again here.
    CliRun row_check =
        cli("predict --threads 1 --weights " + kRepo + "/weights/" + fields["file"] + " --model " +
                fields["model"] + " " + kRepo + "/weights/examples/cat.png",
            tmp.path());
    EXPECT_EQ(row_check.status, 0) << row << ": " << row_check.err;
    if (fields["file"] != "resnet20-cifar10.safetensors") continue;
    found = true;
    EXPECT_NEAR(std::stod(fields["final_test_accuracy"]), measured, 0.005);
  }
  EXPECT_TRUE(found);
}

TEST(ZooTools, CamWritesOnePicturePerImageAndClassAndRefusesWhatItCannotDo) {
  TempDir tmp;
  const std::string resnet = fashion_model(tmp, "resnet20", 1);
  const std::string lenet = fashion_model(tmp, "lenet5", 2);
  const std::string a = fashion_image(tmp, 0), b = fashion_image(tmp, 1);
  CliRun r = cli("cam --threads 1 --json --weights " + resnet + " " + a + " " + b +
                     " --topk 2 --output " + tmp / "cam",
                 tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const json out = json::parse(r.out);
  ASSERT_EQ(out.size(), 4u);
  for (const auto& item : out) {
    EXPECT_EQ(item.at("method"), "CAM");
    EXPECT_EQ(item.at("map_size"), json::array({7, 7}));
    const io::Image pic = io::read_image(item.at("output").get<std::string>());
    EXPECT_GE(pic.width, 2 * 256);
    EXPECT_GT(pic.height, 256);
  }
  EXPECT_EQ(out[0].at("probability").get<double>() >= out[1].at("probability").get<double>(), true);
  // A class by name; LeNet-5 has no pooling head: Grad-CAM.
  r = cli("cam --threads 1 --json --weights " + lenet + " " + a + " --class Bag --output " +
              tmp / "lenet",
          tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).at(0).at("method"), "Grad-CAM");
  EXPECT_EQ(json::parse(r.out).at(0).at("label"), "Bag");
  EXPECT_TRUE(fs::exists(tmp / "lenet/item0.png"));
  expect_one_line_error(
      cli("cam --weights " + resnet + " " + a + " --class Hat --output " + tmp / "x", tmp.path()),
      "'Hat' is neither a class name");
  expect_one_line_error(
      cli("cam --weights " + lenet + " " + a + " --method cam --output " + tmp / "x", tmp.path()),
      "global average pooling");
  expect_one_line_error(
      cli("cam --weights " + resnet + " " + a + " --layer layer9 --output " + tmp / "x",
          tmp.path()),
      "no layer 'layer9'");
  expect_one_line_error(
      cli("cam --weights " + resnet + " " + a + " " + a + " --output " + tmp / "x", tmp.path()),
      "two images are named 'item0'");
}

TEST(ZooTools, EnsemblesAverageTheMembersAndReportEachOne) {
  TempDir tmp;
  // Two LeNet-5s in eval (ten thousand images each), LeNet-5 and ResNet-20 in predict.
  const std::string m1 = fashion_model(tmp, "lenet5", 3), m2 = fashion_model(tmp, "lenet5", 4);
  const std::string m3 = fashion_model(tmp, "resnet20", 4);
  CliRun r =
      cli("eval --threads 2 --json --weights " + m1 + "," + m2 + " --data " + kFashion, tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const json e = json::parse(r.out);
  ASSERT_EQ(e.at("members").size(), 2u);
  // Each member's line is that file evaluated alone.
  for (int i = 0; i < 2; ++i) {
    CliRun one = cli("eval --threads 2 --json --weights " + (i ? m2 : m1) + " --data " + kFashion,
                     tmp.path());
    ASSERT_EQ(one.status, 0) << one.err;
    EXPECT_DOUBLE_EQ(e.at("members")[i].at("accuracy").get<double>(),
                     json::parse(one.out).at("accuracy").get<double>());
  }
  EXPECT_EQ(e.at("model"), "ensemble of 2");
  // predict: the ensemble's probabilities are the mean of the members'.
  const std::string img = fashion_image(tmp, 5);
  r = cli("predict --json --topk 10 --weights " + m1 + "," + m3 + " " + img, tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const json ens = json::parse(r.out).at(0);
  EXPECT_EQ(ens.at("members").size(), 2u);
  std::map<std::string, double> mean;
  for (const std::string& m : {m1, m3}) {
    CliRun one = cli("predict --json --topk 10 --weights " + m + " " + img, tmp.path());
    ASSERT_EQ(one.status, 0) << one.err;
    const json preds = json::parse(one.out).at(0).at("predictions");
    for (const auto& p : preds)
      mean[p.at("label").get<std::string>()] += p.at("probability").get<double>() / 2;
  }
  for (const auto& p : ens.at("predictions"))
    EXPECT_NEAR(p.at("probability").get<double>(), mean[p.at("label").get<std::string>()], 1e-6);
  // Members must agree on the classes; forward takes one file.
  const std::string ten = tmp / "cifar.safetensors";
  {
    ModelMetadata md;
    md.spec.name = "lenet5";
    md.spec.num_classes = 4;
    md.spec.in_channels = 1;
    md.spec.input_size = 28;
    md.mean = {0.5f};
    md.std = {0.5f};
    save_weights(*models::build_model(md.spec), md, ten);
  }
  expect_one_line_error(cli("predict --weights " + m1 + "," + ten + " " + img, tmp.path()),
                        "ensemble: lenet5 has 10 classes, lenet5 has 4");
  expect_one_line_error(
      cli("forward --weights " + m1 + "," + m2 + " --input x.npy --output y.npy", tmp.path()),
      "takes one file");
}

TEST(ZooTools, PruneFineTuneWithTheMasksThenCompressAndLoadBack) {
  TempDir tmp;
  const std::string dense = fashion_model(tmp, "lenet5", 5);
  const std::string pruned = tmp / "pruned.safetensors";
  CliRun r = cli("prune --json --weights " + dense +
                     " --sparsity 0.8 --per-layer classifier.4=0.5 --output " + pruned,
                 tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const json p = json::parse(r.out);
  EXPECT_EQ(p.at("layers").size(), 5u);  // LeNet-5: two convolutions, three linear layers
  for (const auto& l : p.at("layers")) {
    const double share = l.at("zeros").get<double>() / l.at("weights").get<double>();
    EXPECT_NEAR(share, l.at("name") == "classifier.4.weight" ? 0.5 : 0.8, 0.01) << l.at("name");
  }
  // Fine-tuning keeps every pruned weight at zero.
  r = cli("train --resume-from-pruned " + pruned + " --data " + kFashion +
              " --epochs 1 --limit-train 2000 --limit-test 300 --threads 1 --no-progress --out " +
              tmp / "ft",
          tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const io::SafetensorsFile pf = io::load_safetensors(pruned);
  const io::SafetensorsFile tuned = io::load_safetensors(tmp / "ft/model.safetensors");
  int64_t masked = 0, moved = 0;
  for (const auto& e : pf.tensors) {
    if (e.name.rfind("mask.", 0) != 0) continue;
    const std::string w = e.name.substr(5);
    const Tensor& before = pf.find(w)->value;
    const Tensor& after = tuned.find(w)->value;
    for (int64_t i = 0; i < e.value.numel(); ++i) {
      if (e.value[i] == 0) {
        ++masked;
        EXPECT_EQ(after[i], 0.0f) << w << " " << i;
      } else {
        moved += after[i] != before[i];
      }
    }
  }
  EXPECT_GT(masked, 30000);
  EXPECT_GT(moved, 1000);
  // Compress the fine-tuned model; it loads back as a normal model everywhere.
  r = cli("compress --json --weights " + tmp / "ft/model.safetensors" + " --output " +
              tmp / "c.safetensors",
          tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const json c = json::parse(r.out);
  EXPECT_EQ(c.at("compressed_bytes").get<int64_t>(),
            static_cast<int64_t>(fs::file_size(tmp / "c.safetensors")));
  EXPECT_GT(c.at("ratio").get<double>(), 6.0);
  const std::string img = fashion_image(tmp, 2);
  r = cli("predict --json --weights " + tmp / "c.safetensors" + " " + img, tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  expect_one_line_error(cli("prune --weights " + dense + " --sparsity 0.5 --global --per-layer " +
                                "classifier.4=0.5 --output " + tmp / "g.safetensors",
                            tmp.path()),
                        "not global");
  expect_one_line_error(cli("prune --weights " + dense + " --output " + dense, tmp.path()),
                        "is the --weights file");
  expect_one_line_error(cli("train --resume-from-pruned " + dense + " --data " + kFashion +
                                " --out " + tmp / "nomask",
                            tmp.path()),
                        "has no pruning masks");
}

TEST(ZooTools, TheChartDrawsEveryCifarModelFromTheCommittedCache) {
  TempDir tmp;
  CliRun r = cli("chart --output " + tmp / "zoo.svg" + " --bench-cache " + kRepo +
                     "/docs/chart/zoo-bench.csv --accuracy " + kRepo + "/weights/accuracy.csv",
                 tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  std::ifstream f(tmp / "zoo.svg");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string svg = ss.str();
  int64_t cifar = 0;
  for (const auto& info : models::registry())
    if (info.dataset == "cifar") {
      ++cifar;
      EXPECT_NE(svg.find(">" + info.name + "<"), std::string::npos) << info.name;
    }
  EXPECT_NE(r.out.find("(" + std::to_string(cifar) + " models"), std::string::npos) << r.out;
  EXPECT_NE(svg.find("fill-opacity='0.75'"), std::string::npos);  // a measured accuracy
  expect_one_line_error(
      cli("chart --output " + tmp / "z.svg" + " --bench-cache " + tmp / "none.csv", tmp.path()),
      "pass --refresh");
  std::ofstream(tmp / "bad.csv") << "model,params,macs,threads,images_per_s,batch\nresnet20,1,2\n";
  expect_one_line_error(
      cli("chart --output " + tmp / "z.svg" + " --bench-cache " + tmp / "bad.csv", tmp.path()),
      "3 fields, the header has 6");
  EXPECT_FALSE(fs::exists(tmp / "z.svg"));
}

}  // namespace
