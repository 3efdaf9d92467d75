// IDX (MNIST format) loading: the real Fashion-MNIST files from Debian, and malformed files.
#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <string>
#include <vector>

#include "cnnzoo/data/dataset.hpp"
#include "cnnzoo/error.hpp"
#include "data_paths.hpp"
#include "expect_error.hpp"

using cnnzoo::Error;
using namespace cnnzoo::data;

namespace {

const std::string kFashionDir = "/usr/share/datasets/fashion-mnist";

// The whole decompressed content of a .gz file, read here independently of the library.
std::vector<unsigned char> gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  int got;
  while ((got = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + got);
  gzclose(f);
  return out;
}

std::vector<unsigned char> be32(uint32_t v) {
  return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
}

std::vector<unsigned char> idx_file(uint32_t magic, const std::vector<uint32_t>& dims,
                                    const std::vector<unsigned char>& data) {
  std::vector<unsigned char> out = be32(magic);
  for (uint32_t d : dims) {
    auto b = be32(d);
    out.insert(out.end(), b.begin(), b.end());
  }
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write_gz(const std::string& path, const std::vector<unsigned char>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  gzclose(f);
}

// Three 2x3 images with pixel k of image i equal to 10*i + k, labels 2, 0, 1.
std::vector<unsigned char> small_pixels() {
  std::vector<unsigned char> px;
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 6; ++k) px.push_back(uint8_t(10 * i + k));
  return px;
}

}  // namespace

// Real data that CI always has: a missing package must fail this test, not skip it.
TEST(FashionMnist, RealDebianFilesLoad) {
  DatasetSplit split = load_fashion_mnist(kFashionDir);
  const Dataset& train = split.train;
  const Dataset& test = split.test;
  ASSERT_EQ(train.size(), 60000);
  ASSERT_EQ(test.size(), 10000);
  for (const Dataset* d : {&train, &test}) {
    EXPECT_EQ(d->channels, 1);
    EXPECT_EQ(d->height, 28);
    EXPECT_EQ(d->width, 28);
    EXPECT_EQ(d->images.size(), size_t(d->size()) * 784);
    ASSERT_EQ(d->classes.size(), 10u);
  }
  EXPECT_EQ(train.classes.front(), "T-shirt/top");
  EXPECT_EQ(train.classes.back(), "Ankle boot");
  std::array<int64_t, 10> train_count{}, test_count{};
  for (int64_t l : train.labels) {
    ASSERT_GE(l, 0);
    ASSERT_LT(l, 10);
    ++train_count[l];
  }
  for (int64_t l : test.labels) ++test_count[l];
  for (int c = 0; c < 10; ++c) {
    EXPECT_EQ(train_count[c], 6000) << "class " << c;
    EXPECT_EQ(test_count[c], 1000) << "class " << c;
  }
  // First labels of the published files (ankle boot, T-shirt, T-shirt, dress, ...).
  EXPECT_EQ(std::vector<int64_t>(train.labels.begin(), train.labels.begin() + 10),
            (std::vector<int64_t>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}));
  EXPECT_EQ(std::vector<int64_t>(test.labels.begin(), test.labels.begin() + 5),
            (std::vector<int64_t>{9, 2, 1, 1, 6}));
  // Pixels equal the file's bytes after its 16-byte header, decompressed independently.
  std::vector<unsigned char> raw = gunzip(kFashionDir + "/t10k-images-idx3-ubyte.gz");
  ASSERT_EQ(raw.size(), 16u + 10000u * 784u);
  EXPECT_TRUE(std::equal(test.images.begin(), test.images.end(), raw.begin() + 16));

  EXPECT_EQ(detect_dataset_kind(kFashionDir), "fashion-mnist");
  DatasetSplit via_kind = load_dataset("fashion-mnist", kFashionDir);
  EXPECT_EQ(via_kind.test.labels, test.labels);
  EXPECT_EQ(via_kind.train.images, train.images);
}

TEST(Idx, PlainAndGzipReadTheSame) {
  TempDir dir;
  auto images = idx_file(0x803, {3, 2, 3}, small_pixels());
  auto labels = idx_file(0x801, {3}, {2, 0, 1});
  write_bytes(dir / "img", images);
  write_bytes(dir / "lbl", labels);
  write_gz(dir / "img.gz", images);
  write_gz(dir / "lbl.gz", labels);
  for (const auto& suffix : {std::string(), std::string(".gz")}) {
    Dataset ds = load_idx(dir / ("img" + suffix), dir / ("lbl" + suffix));
    EXPECT_EQ(ds.size(), 3);
    EXPECT_EQ(ds.channels, 1);
    EXPECT_EQ(ds.height, 2);
    EXPECT_EQ(ds.width, 3);
    EXPECT_EQ(ds.labels, (std::vector<int64_t>{2, 0, 1}));
    EXPECT_EQ(ds.images, small_pixels());
    EXPECT_EQ(ds.image(2)[4], 24);
    EXPECT_EQ(ds.classes, (std::vector<std::string>{"0", "1", "2"}));
  }
}

TEST(Idx, DirectoryWithStandardNames) {
  TempDir dir;
  write_gz(dir / "train-images-idx3-ubyte.gz", idx_file(0x803, {3, 2, 3}, small_pixels()));
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_file(0x801, {3}, {2, 0, 1}));
  write_bytes(dir / "t10k-images-idx3-ubyte", idx_file(0x803, {1, 2, 3}, {1, 2, 3, 4, 5, 6}));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_file(0x801, {1}, {0}));
  EXPECT_EQ(detect_dataset_kind(dir.path()), "fashion-mnist");
  DatasetSplit split = load_dataset("mnist", dir.path());
  EXPECT_EQ(split.train.size(), 3);
  EXPECT_EQ(split.test.size(), 1);
  // The test split names the same classes as the train split.
  EXPECT_EQ(split.test.classes.size(), 3u);
  std::filesystem::remove(dir / "t10k-labels-idx1-ubyte");
  expect_error([&] { load_idx_dir(dir.path()); }, {"t10k-labels-idx1-ubyte"});
}

TEST(Idx, MalformedFilesAreErrors) {
  TempDir dir;
  write_bytes(dir / "lbl", idx_file(0x801, {3}, {2, 0, 1}));
  write_bytes(dir / "img", idx_file(0x803, {3, 2, 3}, small_pixels()));

  write_bytes(dir / "magic", idx_file(0x804, {3, 2, 3, 1}, small_pixels()));
  expect_error([&] { load_idx(dir / "magic", dir / "lbl"); }, {"magic", "0x00000804"});
  // Images and labels swapped.
  expect_error([&] { load_idx(dir / "lbl", dir / "img"); }, {"lbl", "magic"});

  write_bytes(dir / "huge", idx_file(0x803, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {1, 2, 3}));
  expect_error([&] { load_idx(dir / "huge", dir / "lbl"); }, {"huge", "too large"});
  write_bytes(dir / "big", idx_file(0x803, {100000, 28, 28}, small_pixels()));
  expect_error([&] { load_idx(dir / "big", dir / "lbl"); }, {"big", "truncated"});

  auto cut = idx_file(0x803, {3, 2, 3}, small_pixels());
  cut.pop_back();
  write_bytes(dir / "cut", cut);
  expect_error([&] { load_idx(dir / "cut", dir / "lbl"); }, {"cut", "truncated"});
  write_bytes(dir / "header", {0, 0, 8, 3, 0, 0});
  expect_error([&] { load_idx(dir / "header", dir / "lbl"); }, {"header", "truncated"});
  auto extra = idx_file(0x803, {3, 2, 3}, small_pixels());
  extra.push_back(7);
  write_bytes(dir / "extra", extra);
  expect_error([&] { load_idx(dir / "extra", dir / "lbl"); }, {"extra"});

  write_bytes(dir / "flat", idx_file(0x803, {3, 0, 5}, {}));
  expect_error([&] { load_idx(dir / "flat", dir / "lbl"); }, {"flat", "0x5"});

  write_bytes(dir / "lbl4", idx_file(0x801, {4}, {2, 0, 1, 1}));
  expect_error([&] { load_idx(dir / "img", dir / "lbl4"); }, {"img", "lbl4", "3 images"});

  // A gzip stream cut short: the decompressor runs out of data.
  write_gz(dir / "full.gz", idx_file(0x803, {50, 28, 28}, std::vector<unsigned char>(39200, 9)));
  auto gz = read_bytes(dir / "full.gz");
  write_bytes(dir / "half.gz", std::vector<unsigned char>(gz.begin(), gz.begin() + gz.size() / 2));
  write_bytes(dir / "lbl50", idx_file(0x801, {50}, std::vector<unsigned char>(50, 1)));
  EXPECT_EQ(load_idx(dir / "full.gz", dir / "lbl50").size(), 50);
  expect_error([&] { load_idx(dir / "half.gz", dir / "lbl50"); }, {"half.gz"});

  expect_error([&] { load_idx(dir / "nope", dir / "lbl"); }, {"nope"});
}
