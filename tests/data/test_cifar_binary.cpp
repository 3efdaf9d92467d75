// CIFAR-10/100 binary batches (synthetic files in the real format), dataset-kind detection
// and dispatch, and per-channel statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "cnnzoo/data/dataset.hpp"
#include "cnnzoo/error.hpp"
#include "data_paths.hpp"
#include "expect_error.hpp"

using cnnzoo::Error;
using namespace cnnzoo::data;

namespace {

// Pixel k (CHW order) of the record with global id `id`.
uint8_t pixel(int id, int k) {
  return uint8_t((id * 31 + k * 7) % 256);
}

// A batch of `count` CIFAR records with global ids first..first+count-1; labels_of(id) gives
// the label byte(s) that precede the pixels.
template <class Labels>
std::vector<unsigned char> batch(int first, int count, Labels labels_of) {
  std::vector<unsigned char> out;
  for (int id = first; id < first + count; ++id) {
    for (unsigned char l : labels_of(id)) out.push_back(l);
    for (int k = 0; k < 3072; ++k) out.push_back(pixel(id, k));
  }
  return out;
}

std::vector<unsigned char> label10(int id) {
  return {uint8_t(id % 10)};
}

void write_cifar10(const std::string& dir) {
  for (int b = 1; b <= 5; ++b)
    write_bytes(dir + "/data_batch_" + std::to_string(b) + ".bin", batch((b - 1) * 3, 3, label10));
  write_bytes(dir + "/test_batch.bin", batch(100, 4, label10));
}

}  // namespace

TEST(CifarBinary, Cifar10RecordsAndClassNames) {
  TempDir dir;
  write_cifar10(dir.path());
  Dataset train = load_cifar10_binary(dir.path(), true);
  ASSERT_EQ(train.size(), 15);
  EXPECT_EQ(train.channels, 3);
  EXPECT_EQ(train.height, 32);
  EXPECT_EQ(train.width, 32);
  for (int id = 0; id < 15; ++id) {
    EXPECT_EQ(train.labels[id], id % 10);
    for (int k : {0, 1, 1023, 1024, 2048, 3071}) ASSERT_EQ(train.image(id)[k], pixel(id, k));
  }
  EXPECT_EQ(train.classes,
            (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
  write_bytes(dir / "batches.meta.txt",
              std::vector<unsigned char>({'a', '\n', 'b', '\n'}));  // wrong count: ignored
  EXPECT_EQ(load_cifar10_binary(dir.path(), false).classes.size(), 10u);
  std::string names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
  write_bytes(dir / "batches.meta.txt", std::vector<unsigned char>(names.begin(), names.end()));
  Dataset test = load_cifar10_binary(dir.path(), false);
  ASSERT_EQ(test.size(), 4);
  EXPECT_EQ(test.labels[3], 103 % 10);
  EXPECT_EQ(test.image(3)[2000], pixel(103, 2000));
  EXPECT_EQ(test.classes.front(), "airplane");
  EXPECT_EQ(test.classes.back(), "truck");

  // The release's own subdirectory is found from its parent, and by detection.
  TempDir parent;
  std::filesystem::create_directory(parent / "cifar-10-batches-bin");
  write_cifar10(parent / "cifar-10-batches-bin");
  EXPECT_EQ(detect_dataset_kind(parent.path()), "cifar10");
  EXPECT_EQ(detect_dataset_kind(dir.path()), "cifar10");
  DatasetSplit split = load_dataset("auto", parent.path());
  EXPECT_EQ(split.train.size(), 15);
  EXPECT_EQ(split.test.size(), 4);
  EXPECT_EQ(split.train.images, train.images);
}

TEST(CifarBinary, Cifar100FineAndCoarse) {
  TempDir dir;
  auto labels = [](int id) {
    return std::vector<unsigned char>{uint8_t(id % 20), uint8_t(id % 100)};
  };
  write_bytes(dir / "train.bin", batch(0, 5, labels));
  write_bytes(dir / "test.bin", batch(95, 3, labels));
  Dataset fine = load_cifar100_binary(dir.path(), false, true);
  ASSERT_EQ(fine.size(), 3);
  EXPECT_EQ(fine.labels, (std::vector<int64_t>{95, 96, 97}));
  EXPECT_EQ(fine.classes.size(), 100u);
  Dataset coarse = load_cifar100_binary(dir.path(), false, false);
  EXPECT_EQ(coarse.labels, (std::vector<int64_t>{15, 16, 17}));
  EXPECT_EQ(coarse.classes.size(), 20u);
  EXPECT_EQ(coarse.image(1)[77], pixel(96, 77));
  EXPECT_EQ(detect_dataset_kind(dir.path()), "cifar100");
  EXPECT_EQ(load_dataset("cifar100", dir.path()).train.size(), 5);
}

TEST(CifarBinary, TruncatedOrCorruptBatchNamesTheFile) {
  TempDir dir;
  write_cifar10(dir.path());
  auto bytes = batch(6, 3, label10);
  bytes.pop_back();
  write_bytes(dir / "data_batch_3.bin", bytes);
  expect_error([&] { load_cifar10_binary(dir.path(), true); },
               {"data_batch_3.bin", "truncated CIFAR batch"});
  // The test split does not read the broken training batch.
  EXPECT_EQ(load_cifar10_binary(dir.path(), false).size(), 4);

  write_bytes(dir / "test_batch.bin",
              batch(0, 2, [](int) { return std::vector<unsigned char>{10}; }));
  expect_error([&] { load_cifar10_binary(dir.path(), false); }, {"test_batch.bin", "label 10"});
  write_bytes(dir / "test_batch.bin", {});
  expect_error([&] { load_cifar10_binary(dir.path(), false); }, {"test_batch.bin"});

  write_cifar10(dir.path());
  std::filesystem::remove(dir / "data_batch_5.bin");
  expect_error([&] { load_cifar10_binary(dir.path(), true); }, {"data_batch_5.bin"});

  write_bytes(dir / "train.bin", batch(0, 1, [](int) {
                return std::vector<unsigned char>{3, 100};
              }));
  expect_error([&] { load_cifar100_binary(dir.path(), true); }, {"train.bin", "label 100"});
}

TEST(Dataset, KindErrors) {
  TempDir dir;
  expect_error([&] { detect_dataset_kind(dir.path()); }, {dir.path()});
  expect_error([&] { load_dataset("auto", dir.path()); }, {dir.path()});
  expect_error([&] { load_dataset("cifar10", dir / "missing"); }, {"missing"});
  write_cifar10(dir.path());
  expect_error([&] { load_dataset("imagenet", dir.path()); }, {"imagenet"});
  expect_error([&] { load_dataset("cifar100", dir.path()); }, {"train.bin"});
}

TEST(Dataset, ChannelMeanAndStdHandComputed) {
  Dataset ds;
  ds.channels = 2;
  ds.height = 1;
  ds.width = 2;
  // Image 0: channel 0 = {0, 255}, channel 1 = {51, 51}; image 1: {255, 255}, {51, 102}.
  ds.images = {0, 255, 51, 51, 255, 255, 51, 102};
  ds.labels = {0, 1};
  std::vector<float> mean = channel_mean(ds), sd = channel_std(ds);
  ASSERT_EQ(mean.size(), 2u);
  // Channel 0: {0, 1, 1, 1} -> mean 0.75, std sqrt(0.75 - 0.5625) = 0.4330127.
  EXPECT_NEAR(mean[0], 0.75f, 1e-6);
  EXPECT_NEAR(sd[0], 0.4330127f, 1e-6);
  // Channel 1: {0.2, 0.2, 0.2, 0.4} -> mean 0.25, std sqrt(0.07 - 0.0625) = 0.0866025.
  EXPECT_NEAR(mean[1], 0.25f, 1e-6);
  EXPECT_NEAR(sd[1], 0.0866025f, 1e-6);
  ds.images.pop_back();
  EXPECT_THROW(channel_mean(ds), Error);
}
