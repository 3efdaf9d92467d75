// Image folders: the real 60,000-image CIFAR-10 JPEG set (counts, class order, pixels against
// an independent decode, load time) and small synthetic folders for options and errors.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cnnzoo/data/dataset.hpp"
#include "cnnzoo/error.hpp"
#include "cnnzoo/io/image.hpp"
#include "data_paths.hpp"
#include "expect_error.hpp"

// An independent decoder to check the loader against (static: no clash with the library's).
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

using cnnzoo::Error;
using cnnzoo::io::Image;
using namespace cnnzoo::data;

namespace {

const std::vector<std::string> kCifarClasses = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                "dog",      "frog",       "horse", "ship", "truck"};

}  // namespace

// One test, so that ctest (one process per test) loads the 60,000 images only once.
TEST(CifarJpg, LoadsCompletelyQuicklyAndMatchesAnIndependentDecode) {
  const std::string root = cifar10_jpg_root();
  EXPECT_EQ(detect_dataset_kind(root), "folder");
  auto t0 = std::chrono::steady_clock::now();
  DatasetSplit split = load_dataset("folder", root);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "[ TIMING   ] CIFAR-10 JPEG folder, 60,000 images (train + test): %.2f s, "
      "%.0f images/s\n",
      seconds, 60000 / seconds);
  EXPECT_LT(seconds, 15.0);

  const Dataset& train = split.train;
  const Dataset& test = split.test;
  ASSERT_EQ(train.size(), 50000);
  ASSERT_EQ(test.size(), 10000);
  for (const Dataset* d : {&train, &test}) {
    EXPECT_EQ(d->channels, 3);
    EXPECT_EQ(d->height, 32);
    EXPECT_EQ(d->width, 32);
    EXPECT_EQ(d->classes, kCifarClasses);
    EXPECT_EQ(d->images.size(), size_t(d->size()) * 3072);
  }
  std::array<int64_t, 10> train_count{}, test_count{};
  for (int64_t l : train.labels) ++train_count.at(l);
  for (int64_t l : test.labels) ++test_count.at(l);
  for (int c = 0; c < 10; ++c) {
    EXPECT_EQ(train_count[c], 5000);
    EXPECT_EQ(test_count[c], 1000);
  }

  // Files are NNNN.jpg in each class directory, so sorted order is numeric order and
  // sample i is class i / per_class, file i % per_class.
  for (const char* split_name : {"train", "test"}) {
    const Dataset& ds = std::string(split_name) == "train" ? train : test;
    const int64_t per_class = ds.size() / 10;
    for (int64_t i : {int64_t(0), int64_t(1), per_class - 1, per_class, 3 * per_class + 17,
                      7 * per_class + 123, ds.size() - 1}) {
      const int64_t label = i / per_class;
      char name[16];
      std::snprintf(name, sizeof name, "%04lld.jpg", static_cast<long long>(i % per_class));
      std::string path = root + "/" + split_name + "/" + kCifarClasses[label] + "/" + name;
      EXPECT_EQ(ds.labels[i], label) << path;
      int w = 0, h = 0, c = 0;
      unsigned char* px = stbi_load(path.c_str(), &w, &h, &c, 3);
      ASSERT_NE(px, nullptr) << path;
      ASSERT_EQ(w, 32);
      ASSERT_EQ(h, 32);
      int mismatches = 0;
      for (int ch = 0; ch < 3; ++ch)
        for (int p = 0; p < 1024; ++p) mismatches += ds.image(i)[ch * 1024 + p] != px[p * 3 + ch];
      stbi_image_free(px);
      EXPECT_EQ(mismatches, 0) << path << " (sample " << i << ")";
    }
  }
}

TEST(ImageFolder, SortingFilteringAndLabels) {
  TempDir dir;
  auto img = [](int h, int w, int c, uint8_t v) {
    Image im;
    im.height = h;
    im.width = w;
    im.channels = c;
    im.pixels.assign(size_t(h) * w * c, v);
    return im;
  };
  // Classes sorted by name ("Zebra" < "ant" in byte order, like Python's sorted()).
  std::filesystem::create_directories(dir / "ant");
  std::filesystem::create_directories(dir / "Zebra");
  std::filesystem::create_directories(dir / ".hidden");
  cnnzoo::io::write_png(dir / "ant/b.PNG", img(2, 3, 3, 20));
  cnnzoo::io::write_png(dir / "ant/a.png", img(2, 3, 1, 10));  // gray: replicated to RGB
  cnnzoo::io::write_png(dir / "Zebra/z.png", img(2, 3, 4, 30));
  cnnzoo::io::write_png(dir / ".hidden/h.png", img(2, 3, 3, 99));
  write_bytes(dir / "ant/notes.txt", {'x'});
  write_bytes(dir / "stray.png", {'x'});
  Dataset ds = load_image_folder(dir.path());
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"Zebra", "ant"}));
  ASSERT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(ds.channels, 3);
  EXPECT_EQ(ds.height, 2);
  EXPECT_EQ(ds.width, 3);
  EXPECT_EQ(ds.images, (std::vector<uint8_t>([] {
              std::vector<uint8_t> v(18, 30);
              v.insert(v.end(), 18, 10);
              v.insert(v.end(), 18, 20);
              return v;
            }())));

  // Grayscale: RGB pixels become BT.601 luma.
  Image rgb;
  rgb.height = 1;
  rgb.width = 2;
  rgb.channels = 3;
  rgb.pixels = {255, 0, 0, 0, 0, 255};
  TempDir gray_dir;
  std::filesystem::create_directories(gray_dir / "c");
  cnnzoo::io::write_png(gray_dir / "c/x.png", rgb);
  ImageFolderOptions gray;
  gray.channels = 1;
  Dataset g = load_image_folder(gray_dir.path(), gray);
  EXPECT_EQ(g.channels, 1);
  EXPECT_EQ(g.images, (std::vector<uint8_t>{76, 29}));
}

TEST(ImageFolder, SizesMustAgreeUnlessResized) {
  TempDir dir;
  std::filesystem::create_directories(dir / "a");
  Image small;
  small.height = small.width = 2;
  small.channels = 3;
  small.pixels = {0, 0, 0, 100, 100, 100, 0, 0, 0, 100, 100, 100};  // columns 0 and 100
  Image big;
  big.height = 4;
  big.width = 4;
  big.channels = 3;
  big.pixels.assign(48, 60);
  cnnzoo::io::write_png(dir / "a/1.png", small);
  cnnzoo::io::write_png(dir / "a/2.png", big);
  expect_error([&] { load_image_folder(dir.path()); }, {"2.png", "4x4", "2x2"});
  ImageFolderOptions opt;
  opt.height = 2;
  opt.width = 4;
  Dataset ds = load_image_folder(dir.path(), opt);
  ASSERT_EQ(ds.size(), 2);
  EXPECT_EQ(ds.height, 2);
  EXPECT_EQ(ds.width, 4);
  // Image 1 row, channel 0: columns 0, 100 resized to 4 -> 0, 25, 75, 100.
  EXPECT_EQ(std::vector<uint8_t>(ds.image(0), ds.image(0) + 4),
            (std::vector<uint8_t>{0, 25, 75, 100}));
  EXPECT_EQ(ds.image(1)[7], 60);
  opt.width = 0;
  EXPECT_THROW(load_image_folder(dir.path(), opt), Error);
}

TEST(ImageFolder, CorruptFilesAndMissingFoldersAreErrors) {
  TempDir dir;
  expect_error([&] { load_image_folder(dir / "missing"); }, {"missing"});
  expect_error([&] { load_image_folder(dir.path()); }, {dir.path()});  // no classes
  std::filesystem::create_directories(dir / "empty_class");
  expect_error([&] { load_image_folder(dir.path()); }, {"empty_class"});
  std::filesystem::remove(dir / "empty_class");

  // A real CIFAR JPEG, whole and truncated.
  std::string real = cifar10_jpg_root() + "/test/cat/0000.jpg";
  std::vector<unsigned char> jpeg = read_bytes(real);
  write_bytes(dir / "cat/0000.jpg", jpeg);
  write_bytes(dir / "cat/0001.jpg",
              std::vector<unsigned char>(jpeg.begin(), jpeg.begin() + jpeg.size() / 2));
  write_bytes(dir / "cat/0002.jpg", jpeg);
  expect_error([&] { load_image_folder(dir.path()); }, {"0001.jpg"});
  std::filesystem::remove(dir / "cat/0001.jpg");
  EXPECT_EQ(load_image_folder(dir.path()).size(), 2);
  std::vector<unsigned char> garbage(jpeg.size());
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = uint8_t(i * 131 + 7);
  write_bytes(dir / "cat/0003.jpeg", garbage);
  expect_error([&] { load_image_folder(dir.path()); }, {"0003.jpeg"});

  // A folder dataset needs train/ and test/ with the same classes.
  TempDir two;
  std::filesystem::create_directories(two / "train/a");
  std::filesystem::create_directories(two / "test/b");
  write_bytes(two / "train/a/x.jpg", jpeg);
  write_bytes(two / "test/b/x.jpg", jpeg);
  EXPECT_EQ(detect_dataset_kind(two.path()), "folder");
  expect_error([&] { load_dataset("folder", two.path()); }, {"same class"});
  expect_error([&] { load_dataset("folder", two / "nothing"); }, {"nothing"});
}
