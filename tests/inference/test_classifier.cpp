// The public inference API: files that rebuild their model, the preprocessing they state,
// contradictions refused, concurrent inference, and a library that leaves malloc alone.
// Only the inference header is needed to classify: no trainer, no CLI.
#include "cnnzoo/inference.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/models.hpp"
#include "cnnzoo/parallel.hpp"
#include "cnnzoo/random.hpp"
#include "data_paths.hpp"

using namespace cnnzoo;

namespace {

io::Image test_image(int height, int width, int channels, uint64_t seed) {
  io::Image img;
  img.height = height;
  img.width = width;
  img.channels = channels;
  Generator g(seed);
  for (int i = 0; i < height * width * channels; ++i)
    img.pixels.push_back(static_cast<uint8_t>(g.randint(256)));
  return img;
}

// A lenet5 for 1x28x28 images with every fact a cnnzoo training run writes.
ModelMetadata lenet_metadata() {
  ModelMetadata md;
  md.spec.name = "lenet5";
  md.spec.options = {{"activation", "relu"}};
  md.spec.num_classes = 3;
  md.spec.in_channels = 1;
  md.spec.input_size = 28;
  md.classes = {"cat", "dog", "bird"};
  md.mean = {0.25f};
  md.std = {0.5f};
  md.preprocessing = "resize";
  return md;
}

std::string save_lenet(const TempDir& tmp, const ModelMetadata& md, uint64_t seed = 1) {
  manual_seed(seed);
  models::ModelSpec spec = md.spec;
  nn::ModulePtr m = models::build_model(spec);
  save_weights(*m, md, tmp / "lenet.safetensors");
  return tmp / "lenet.safetensors";
}

int64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

}  // namespace

TEST(Classifier, RebuildsTheModelFromItsFile) {
  TempDir tmp;
  const std::string path = save_lenet(tmp, lenet_metadata());
  Classifier c = Classifier::load(path);
  const ModelMetadata& md = c.metadata();
  EXPECT_EQ(c.name(), "lenet5");
  EXPECT_EQ(c.num_classes(), 3);
  EXPECT_EQ(md.spec.in_channels, 1);
  EXPECT_EQ(md.spec.input_size, 28);
  EXPECT_EQ(md.spec.options.at("activation"), "relu");
  EXPECT_EQ(md.classes, (std::vector<std::string>{"cat", "dog", "bird"}));
  EXPECT_FALSE(c.module().is_training());

  // Same weights as the model that was saved: same logits.
  manual_seed(1);
  nn::ModulePtr ref = models::build_model(md.spec);
  ref->eval();
  io::Image img = test_image(28, 28, 1, 7);
  Tensor x = c.preprocess(img);
  ASSERT_EQ(x.shape(), (Shape{1, 28, 28}));
  Tensor batch = x.reshape({1, 1, 28, 28});
  Tensor expect;
  {
    NoGradGuard ng;
    expect = ref->forward(Var(batch)).value();
  }
  Tensor logits = c.logits(batch);
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(logits[i], expect[i]);

  // topk: names, probabilities in order that sum to one over all classes.
  auto top = c.topk(img, 5);
  ASSERT_EQ(top.size(), 3u);  // capped at the class count
  float sum = 0;
  for (size_t i = 0; i < top.size(); ++i) {
    sum += top[i].probability;
    EXPECT_EQ(top[i].label, md.classes[top[i].index]);
    if (i) EXPECT_GE(top[i - 1].probability, top[i].probability);
  }
  EXPECT_NEAR(sum, 1.0f, 1e-5);
  int64_t argmax = 0;
  for (int64_t i = 1; i < 3; ++i)
    if (logits[i] > logits[argmax]) argmax = i;
  EXPECT_EQ(c.predict(img).index, argmax);
  // Batched calls give the single-image answers.
  io::Image other = test_image(28, 28, 1, 8);
  auto both = c.predict(std::vector<io::Image>{img, other});
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].index, argmax);
  EXPECT_EQ(both[1].index, c.predict(other).index);
  EXPECT_FLOAT_EQ(both[1].probability, c.predict(other).probability);
}

TEST(Classifier, PreprocessConvertsResizesAndNormalises) {
  TempDir tmp;
  Classifier c = Classifier::load(save_lenet(tmp, lenet_metadata()));
  // An RGB image of another size: to gray (BT.601), resized to 28x28, then (p/255-0.25)/0.5.
  io::Image rgb = test_image(40, 35, 3, 3);
  io::Image expect = io::resize(io::convert_channels(rgb, 1), 28, 28);
  Tensor x = c.preprocess(rgb);
  ASSERT_EQ(x.shape(), (Shape{1, 28, 28}));
  for (int64_t i = 0; i < 28 * 28; ++i)
    ASSERT_FLOAT_EQ(x[i], (expect.pixels[i] / 255.0f - 0.25f) / 0.5f) << i;
  // normalize() applies the same statistics to pixels given as floats in [0, 1].
  Tensor pixels = Tensor::empty({1, 1, 28, 28});
  for (int64_t i = 0; i < 28 * 28; ++i) pixels[i] = expect.pixels[i] / 255.0f;
  Tensor n = c.normalize(pixels);
  for (int64_t i = 0; i < 28 * 28; ++i) ASSERT_FLOAT_EQ(n[i], x[i]);
  EXPECT_THROW(c.normalize(Tensor::zeros({1, 3, 28, 28})), Error);
  EXPECT_THROW(c.logits(Tensor::zeros({1, 3, 28, 28})), Error);
}

TEST(Classifier, ImageNetModelsGetTheTorchvisionTransform) {
  TempDir tmp;
  // A torchvision model converted without metadata: the model is named by the caller.
  manual_seed(2);
  nn::ModulePtr m = models::build_model("squeezenet1_1");
  io::save_safetensors(tmp / "sq.safetensors", m->state_dict());
  EXPECT_THROW(Classifier::load(tmp / "sq.safetensors"), Error);  // which model?
  LoadOptions lo;
  lo.model = "squeezenet1_1";
  Classifier c = Classifier::load(tmp / "sq.safetensors", lo);
  const ModelMetadata& md = c.metadata();
  EXPECT_EQ(md.preprocessing, "resize-crop");
  EXPECT_EQ(md.resize_size, 256);
  EXPECT_EQ(md.spec.input_size, 224);
  EXPECT_EQ(md.mean, (std::vector<float>{0.485f, 0.456f, 0.406f}));
  EXPECT_EQ(md.std, (std::vector<float>{0.229f, 0.224f, 0.225f}));
  EXPECT_EQ(c.num_classes(), 1000);
  // 300x400 (h x w): shorter side to 256, the other to 400 * 256 / 300 = 341 (truncated),
  // then the centre 224x224: rows from 16, columns from round(58.5) = 58 (half to even).
  io::Image img = test_image(300, 400, 3, 4);
  io::Image resized = io::resize(img, 256, 341);
  Tensor x = c.preprocess(img);
  ASSERT_EQ(x.shape(), (Shape{3, 224, 224}));
  for (int ch = 0; ch < 3; ++ch)
    for (int y : {0, 100, 223})
      for (int xx : {0, 7, 223}) {
        const uint8_t p = resized.pixels[((16 + y) * 341 + 58 + xx) * 3 + ch];
        ASSERT_FLOAT_EQ(x[(ch * 224 + y) * 224 + xx], (p / 255.0f - md.mean[ch]) / md.std[ch]);
      }
  EXPECT_EQ(c.topk(img, 5).size(), 5u);
  EXPECT_EQ(c.topk(img, 5)[0].label, std::to_string(c.topk(img, 5)[0].index));  // no names

  // Inception v3's 299 crop comes from a 342 resize, as in torchvision.
  manual_seed(2);
  nn::ModulePtr inc = models::build_model("inception_v3");
  io::save_safetensors(tmp / "inc.safetensors", inc->state_dict());
  lo.model = "inception_v3";
  EXPECT_EQ(Classifier::load(tmp / "inc.safetensors", lo).metadata().resize_size, 342);
}

TEST(Classifier, MissingAndContradictingFactsAreErrorsThatNameThem) {
  TempDir tmp;
  const std::string path = save_lenet(tmp, lenet_metadata());
  auto message = [&](const LoadOptions& lo) {
    try {
      Classifier::load(path, lo);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  LoadOptions lo;
  lo.model = "resnet20";
  std::string m = message(lo);
  EXPECT_NE(m.find("'lenet5'"), std::string::npos) << m;
  EXPECT_NE(m.find("'resnet20'"), std::string::npos) << m;
  lo = {};
  lo.options = {{"activation", "tanh"}};
  m = message(lo);
  EXPECT_NE(m.find("activation=relu"), std::string::npos) << m;
  EXPECT_NE(m.find("activation=tanh"), std::string::npos) << m;
  lo = {};
  lo.num_classes = 10;
  m = message(lo);
  EXPECT_NE(m.find("3 classes"), std::string::npos) << m;
  lo = {};
  lo.model = "lenet5";  // agreeing facts are fine
  lo.options = {{"activation", "relu"}};
  lo.num_classes = 3;
  EXPECT_EQ(message(lo), "no error");

  // A file that contradicts itself: three class names for ten outputs; std of zero.
  ModelMetadata md = lenet_metadata();
  md.spec.num_classes = 10;
  save_lenet(tmp, md);
  EXPECT_NE(message({}).find("3 class names"), std::string::npos);
  md = lenet_metadata();
  md.std = {0.0f};
  save_lenet(tmp, md);
  EXPECT_NE(message({}).find("std"), std::string::npos) << message({});
  md = lenet_metadata();
  md.preprocessing = "stretch";
  save_lenet(tmp, md);
  EXPECT_NE(message({}).find("'stretch'"), std::string::npos);

  // No normalisation and none published: inputs normalised by the caller still run;
  // preprocessing says what is missing.
  md = lenet_metadata();
  md.mean.clear();
  md.std.clear();
  save_lenet(tmp, md);
  Classifier c = Classifier::load(path);
  EXPECT_EQ(c.logits(Tensor::zeros({2, 1, 28, 28})).shape(), (Shape{2, 3}));
  try {
    c.preprocess(test_image(28, 28, 1, 1));
    FAIL() << "preprocess without normalisation";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("normalisation"), std::string::npos) << e.what();
  }
}

// A count must be an integer that fits: a float was cast to one (2.5 read as 2; 1e300 and a
// 55-digit number undefined behaviour, which the metadata fuzzer found).
TEST(Classifier, MetadataCountsAreIntegersInRange) {
  for (const char* value :
       {"2.5", "1e300", "7111111111111111111111111111111111111111111111111111111", "-3", "0",
        "16777217", "\"3\"", "[3]"}) {
    try {
      ModelMetadata::from_file_metadata({{"num_classes", value}}, "w.safetensors");
      ADD_FAILURE() << "num_classes " << value << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("w.safetensors: metadata 'num_classes'"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(ModelMetadata::from_file_metadata({{"num_classes", "16777216"}}, "w").spec.num_classes,
            16777216);
}

TEST(Classifier, ConcurrentInferenceOnOneModelMatchesSerial) {
  TempDir tmp;
  // resnet20: conv-BN pairs folded at inference, the path most likely to share state.
  ModelMetadata md;
  md.spec.name = "resnet20";
  md.mean = {0.5f, 0.5f, 0.5f};
  md.std = {0.25f, 0.25f, 0.25f};
  manual_seed(4);
  nn::ModulePtr m = models::build_model("resnet20");
  save_weights(*m, md, tmp / "r.safetensors");
  const Classifier c = Classifier::load(tmp / "r.safetensors");
  set_num_threads(1);  // two threads below, one core each
  std::vector<Tensor> inputs, serial;
  for (uint64_t s = 0; s < 2; ++s) {
    inputs.push_back(c.preprocess(std::vector<io::Image>{test_image(32, 32, 3, 10 + s)}));
    serial.push_back(c.logits(inputs.back()));
  }
  std::vector<int> mismatches(2, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 20; ++rep) {
        Tensor y = c.logits(inputs[t]);
        for (int64_t i = 0; i < y.numel(); ++i) mismatches[t] += y[i] != serial[t][i];
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, (std::vector<int>{0, 0}));
}

TEST(Library, LeavesTheProcessAllocatorAloneUnlessAsked) {
  // 256 MB freed goes back to the system with glibc's defaults; after keep_freed_memory()
  // the heap keeps it for reuse.
  const int64_t n = int64_t(64) << 20;  // floats
  const int64_t before = rss_bytes();
  {
    Tensor t = Tensor::full({n}, 1.0f);
    EXPECT_GT(rss_bytes(), before + (200 << 20));
  }
  EXPECT_LT(rss_bytes(), before + (64 << 20)) << "freed memory was kept: malloc was tuned";
  keep_freed_memory();
  { Tensor t = Tensor::full({n}, 1.0f); }
  EXPECT_GT(rss_bytes(), before + (200 << 20)) << "keep_freed_memory did not keep it";
}

// The file scripts/convert_torch.py writes from a torchvision state dict: F32 tensors, BN
// counters as int64 scalars, the ImageNet metadata with the 1000 class names of
// data/imagenet_classes.txt. Classifier::load needs nothing else to use it.
TEST(Classifier, LoadsTheFileTheTorchConverterWrites) {
  manual_seed(12);
  nn::ModulePtr source = models::build_model("resnet18");
  std::ifstream names_file(std::string(CNNZOO_SOURCE_DIR) + "/data/imagenet_classes.txt");
  std::vector<std::string> classes;
  for (std::string l; std::getline(names_file, l);) classes.push_back(l);
  ASSERT_EQ(classes.size(), 1000u);
  nlohmann::json header;
  header["__metadata__"] = {{"format", "cnnzoo-weights"},
                            {"model", "resnet18"},
                            {"model_options", "{}"},
                            {"num_classes", "1000"},
                            {"in_channels", "3"},
                            {"input_size", "224"},
                            {"classes", nlohmann::json(classes).dump()},
                            {"mean", "[0.485, 0.456, 0.406]"},
                            {"std", "[0.229, 0.224, 0.225]"},
                            {"preprocessing", "resize-crop"},
                            {"resize_size", "256"}};
  std::string data;
  for (const auto& [name, t] : source->state_dict()) {
    const bool counter = name.size() > 19 && name.substr(name.size() - 19) == "num_batches_tracked";
    std::string bytes;
    if (counter) {
      const int64_t v = 7;
      bytes.assign(reinterpret_cast<const char*>(&v), 8);
    } else {
      bytes.assign(reinterpret_cast<const char*>(t.data()), t.numel() * 4);
    }
    header[name] = {{"dtype", counter ? "I64" : "F32"},
                    {"shape", counter ? Shape{} : t.shape()},
                    {"data_offsets", {data.size(), data.size() + bytes.size()}}};
    data += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  TempDir tmp;
  const std::string path = tmp / "resnet18.safetensors";
  {
    std::ofstream f(path, std::ios::binary);
    const uint64_t n = text.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << text << data;
  }
  Classifier c = Classifier::load(path);
  EXPECT_EQ(c.name(), "resnet18");
  EXPECT_EQ(c.metadata().classes[281], classes[281]);
  EXPECT_EQ(c.metadata().resize_size, 256);
  for (const auto& [name, m] : c.module().named_buffers())
    if (name == "bn1.num_batches_tracked") EXPECT_EQ(m[0], 7.0f);
  // The same weights as the source model: the same logits.
  Tensor x = Tensor::empty({1, 3, 224, 224});
  Generator g(3);
  for (auto& v : x) v = static_cast<float>(g.uniform(-2.0, 2.0));
  source->eval();
  Tensor want;
  {
    NoGradGuard no_grad;
    want = source->forward(Var(x)).value();
  }
  Tensor got = c.logits(x);
  for (int64_t i = 0; i < got.numel(); ++i) ASSERT_EQ(got[i], want[i]) << i;
  io::Image img;
  img.width = 300;
  img.height = 260;
  img.channels = 3;
  img.pixels.assign(300 * 260 * 3, 128);
  EXPECT_EQ(c.topk(img, 3).size(), 3u);
}
