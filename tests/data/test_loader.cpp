// DataLoader: epoch coverage, determinism with and without prefetch, normalisation, crop,
// flip and cutout on tiny images with known pixels, and throughput.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

#include "cnnzoo/data/loader.hpp"
#include "cnnzoo/error.hpp"

using cnnzoo::Error;
using cnnzoo::Tensor;
using namespace cnnzoo::data;

namespace {

// n images of size c x h x w; image i has every pixel = i % 256 and label i, so a batch
// element tells which sample it came from.
Dataset numbered(int64_t n, int64_t c = 1, int64_t h = 2, int64_t w = 2) {
  Dataset ds;
  ds.channels = c;
  ds.height = h;
  ds.width = w;
  ds.images.resize(n * c * h * w);
  for (int64_t i = 0; i < n; ++i)
    std::fill(ds.images.begin() + i * c * h * w, ds.images.begin() + (i + 1) * c * h * w,
              uint8_t(i % 256));
  for (int64_t i = 0; i < n; ++i) ds.labels.push_back(i);
  return ds;
}

// One image with the given pixels (1 channel).
Dataset single(int64_t h, int64_t w, const std::vector<uint8_t>& pixels) {
  Dataset ds;
  ds.channels = 1;
  ds.height = h;
  ds.width = w;
  ds.images = pixels;
  ds.labels = {0};
  return ds;
}

std::vector<Batch> epoch_batches(DataLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(b);
  return out;
}

bool same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].labels != b[i].labels || a[i].images.shape() != b[i].images.shape()) return false;
    if (std::memcmp(a[i].images.data(), b[i].images.data(), sizeof(float) * a[i].images.numel()) !=
        0)
      return false;
  }
  return true;
}

LoaderOptions all_augmentations(bool prefetch) {
  LoaderOptions o;
  o.batch_size = 7;
  o.seed = 42;
  o.pad_crop = 2;
  o.hflip = true;
  o.cutout = 3;
  o.mean = {0.4f, 0.5f, 0.6f};
  o.std = {0.2f, 0.25f, 0.3f};
  o.prefetch = prefetch;
  return o;
}

// Image data with varied pixels so augmentations change values.
Dataset textured(int64_t n) {
  Dataset ds = numbered(n, 3, 6, 5);
  for (size_t k = 0; k < ds.images.size(); ++k) ds.images[k] = uint8_t((k * 37) % 251);
  return ds;
}

}  // namespace

TEST(DataLoader, EverySampleOncePerEpoch) {
  Dataset ds = numbered(103);
  LoaderOptions o;
  o.batch_size = 10;
  o.seed = 7;
  for (bool prefetch : {false, true}) {
    o.prefetch = prefetch;
    DataLoader loader(ds, o);
    EXPECT_EQ(loader.batches_per_epoch(), 11);
    std::vector<Batch> batches = epoch_batches(loader, 0);
    ASSERT_EQ(batches.size(), 11u);
    std::vector<int64_t> seen;
    for (const Batch& b : batches) {
      ASSERT_EQ(b.images.shape(), (cnnzoo::Shape{int64_t(b.labels.size()), 1, 2, 2}));
      for (size_t j = 0; j < b.labels.size(); ++j) {
        // The image is the labelled sample's: all pixels (i % 256) / 255.
        for (int k = 0; k < 4; ++k)
          ASSERT_FLOAT_EQ(b.images[j * 4 + k], float(b.labels[j] % 256) / 255.f);
        seen.push_back(b.labels[j]);
      }
    }
    EXPECT_EQ(batches.back().labels.size(), 3u);
    std::vector<int64_t> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 103; ++i) ASSERT_EQ(sorted[i], i);
    EXPECT_FALSE(std::is_sorted(seen.begin(), seen.end())) << "epoch was not shuffled";
  }
  o.drop_last = true;
  DataLoader dropping(ds, o);
  EXPECT_EQ(dropping.batches_per_epoch(), 10);
  std::vector<Batch> batches = epoch_batches(dropping, 0);
  ASSERT_EQ(batches.size(), 10u);
  for (const Batch& b : batches) EXPECT_EQ(b.labels.size(), 10u);

  o.shuffle = false;
  o.drop_last = false;
  DataLoader ordered(ds, o);
  int64_t expect = 0;
  for (const Batch& b : epoch_batches(ordered, 3))
    for (int64_t l : b.labels) EXPECT_EQ(l, expect++);
  EXPECT_EQ(expect, 103);
}

TEST(DataLoader, SameSeedAndEpochGiveIdenticalBatchesWithOrWithoutPrefetch) {
  Dataset ds = textured(40);
  DataLoader with(ds, all_augmentations(true)), without(ds, all_augmentations(false));
  std::vector<Batch> e0 = epoch_batches(with, 0), e1 = epoch_batches(with, 1);
  EXPECT_TRUE(same(e0, epoch_batches(without, 0)));
  EXPECT_TRUE(same(e1, epoch_batches(without, 1)));
  EXPECT_FALSE(same(e0, e1));
  // A fresh loader (a resumed run) that starts straight at epoch 1 sees the same batches,
  // and so does one resuming in the middle of the epoch.
  DataLoader resumed(ds, all_augmentations(true));
  EXPECT_TRUE(same(e1, epoch_batches(resumed, 1)));
  DataLoader mid(ds, all_augmentations(true));
  mid.start_epoch(1, 3);
  Batch b;
  for (size_t k = 3; k < e1.size(); ++k) {
    ASSERT_TRUE(mid.next(b));
    EXPECT_TRUE(same({b}, {e1[k]})) << "batch " << k;
  }
  EXPECT_FALSE(mid.next(b));
  // A different seed changes everything.
  LoaderOptions other = all_augmentations(true);
  other.seed = 43;
  DataLoader reseeded(ds, other);
  EXPECT_FALSE(same(e0, epoch_batches(reseeded, 0)));
}

TEST(DataLoader, RestartingAnEpochWhilePrefetchingIsClean) {
  Dataset ds = textured(40);
  DataLoader reference(ds, all_augmentations(false));
  std::vector<Batch> e2 = epoch_batches(reference, 2);
  {
    DataLoader loader(ds, all_augmentations(true));
    Batch b;
    loader.start_epoch(5);
    ASSERT_TRUE(loader.next(b));  // a prefetch of batch 1 of epoch 5 is now running
    EXPECT_TRUE(same(epoch_batches(loader, 2), e2));
    loader.start_epoch(0);
    ASSERT_TRUE(loader.next(b));
  }  // destroyed with a prefetch in flight
  // next() without start_epoch begins epoch 0.
  DataLoader fresh(ds, all_augmentations(true));
  Batch first;
  ASSERT_TRUE(fresh.next(first));
  EXPECT_TRUE(same({first}, {epoch_batches(reference, 0)[0]}));
}

TEST(DataLoader, NormalisationPerChannel) {
  Dataset ds;
  ds.channels = 2;
  ds.height = 1;
  ds.width = 2;
  ds.images = {0, 255, 51, 102};
  ds.labels = {0};
  LoaderOptions o;
  o.batch_size = 1;
  o.mean = {0.5f, 0.2f};
  o.std = {0.5f, 0.1f};
  DataLoader loader(ds, o);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  ASSERT_EQ(b.images.shape(), (cnnzoo::Shape{1, 2, 1, 2}));
  // (0 - .5)/.5 = -1, (1 - .5)/.5 = 1, (.2 - .2)/.1 = 0, (.4 - .2)/.1 = 2
  EXPECT_NEAR(b.images[0], -1.f, 1e-6);
  EXPECT_NEAR(b.images[1], 1.f, 1e-6);
  EXPECT_NEAR(b.images[2], 0.f, 1e-6);
  EXPECT_NEAR(b.images[3], 2.f, 1e-6);

  o.mean = {0.5f};
  EXPECT_THROW(DataLoader(ds, o), Error);
  o.mean = {0.5f, 0.5f};
  o.std = {0.5f, 0.f};
  EXPECT_THROW(DataLoader(ds, o), Error);
  o.std = {};
  o.mean = {};
  o.batch_size = 0;
  EXPECT_THROW(DataLoader(ds, o), Error);
}

// A 3x3 image 1..9 (row-major), padded by 1 and cropped back: every output is one of the
// nine shifts, padding is black (0), and all nine shifts occur.
TEST(DataLoader, PadCropGivesShiftedCopies) {
  Dataset ds = single(3, 3, {10, 20, 30, 40, 50, 60, 70, 80, 90});
  LoaderOptions o;
  o.batch_size = 1;
  o.pad_crop = 1;
  o.seed = 3;
  DataLoader loader(ds, o);
  std::set<std::pair<int, int>> shifts_seen;
  for (int64_t epoch = 0; epoch < 200; ++epoch) {
    Batch b = epoch_batches(loader, epoch)[0];
    ASSERT_EQ(b.images.shape(), (cnnzoo::Shape{1, 1, 3, 3}));
    bool matched = false;
    for (int dy = -1; dy <= 1 && !matched; ++dy) {
      for (int dx = -1; dx <= 1 && !matched; ++dx) {
        bool ok = true;
        for (int y = 0; y < 3; ++y)
          for (int x = 0; x < 3; ++x) {
            int sy = y + dy, sx = x + dx;
            float want =
                sy < 0 || sy > 2 || sx < 0 || sx > 2 ? 0.f : ds.images[sy * 3 + sx] / 255.f;
            ok = ok && std::fabs(b.images[y * 3 + x] - want) < 1e-6f;
          }
        if (ok) {
          matched = true;
          shifts_seen.insert({dy, dx});
        }
      }
    }
    ASSERT_TRUE(matched) << "epoch " << epoch << " is not a shifted copy";
  }
  EXPECT_EQ(shifts_seen.size(), 9u);
}

TEST(DataLoader, FlipGivesMirroredCopies) {
  Dataset ds = single(2, 3, {1, 2, 3, 4, 5, 6});
  LoaderOptions o;
  o.batch_size = 1;
  o.hflip = true;
  DataLoader loader(ds, o);
  const std::vector<float> plain = {1, 2, 3, 4, 5, 6}, mirrored = {3, 2, 1, 6, 5, 4};
  int flips = 0;
  for (int64_t epoch = 0; epoch < 100; ++epoch) {
    Batch b = epoch_batches(loader, epoch)[0];
    std::vector<float> got(6);
    for (int k = 0; k < 6; ++k) got[k] = std::round(b.images[k] * 255.f);
    ASSERT_TRUE(got == plain || got == mirrored) << "epoch " << epoch;
    flips += got == mirrored;
  }
  EXPECT_GT(flips, 25);
  EXPECT_LT(flips, 75);

  // Crop and flip together: always the mirror image of some shifted copy (the crop also
  // shifts vertically, which moves this one-row image out of view).
  Dataset wide = single(1, 4, {10, 20, 30, 40});
  o.pad_crop = 1;
  DataLoader both(wide, o);
  for (int64_t epoch = 0; epoch < 60; ++epoch) {
    Batch b = epoch_batches(both, epoch)[0];
    bool matched = false;
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx)
        for (bool flip : {false, true}) {
          bool ok = true;
          for (int x = 0; x < 4; ++x) {
            int sx = (flip ? 3 - x : x) + dx;
            float want = dy != 0 || sx < 0 || sx > 3 ? 0.f : wide.images[sx] / 255.f;
            ok = ok && std::fabs(b.images[x] - want) < 1e-6f;
          }
          matched = matched || ok;
        }
    ASSERT_TRUE(matched) << "epoch " << epoch;
  }
}

TEST(DataLoader, CutoutZeroesAClippedSquareAfterNormalisation) {
  const int64_t H = 8, W = 8;
  for (int64_t side : {4, 3}) {
    Dataset ds = single(H, W, std::vector<uint8_t>(H * W, 255));
    LoaderOptions o;
    o.batch_size = 1;
    o.cutout = side;
    o.mean = {0.25f};
    o.std = {0.5f};  // unmasked pixels become (1 - .25)/.5 = 1.5
    DataLoader loader(ds, o);
    int64_t full_squares = 0, clipped = 0;
    for (int64_t epoch = 0; epoch < 200; ++epoch) {
      Batch b = epoch_batches(loader, epoch)[0];
      int64_t y0 = H, y1 = -1, x0 = W, x1 = -1, zeros = 0;
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          float v = b.images[y * W + x];
          ASSERT_TRUE(v == 0.f || v == 1.5f) << v;
          if (v == 0.f) {
            ++zeros;
            y0 = std::min(y0, y), y1 = std::max(y1, y), x0 = std::min(x0, x), x1 = std::max(x1, x);
          }
        }
      // The zeros form one rectangle no larger than side x side.
      ASSERT_GT(zeros, 0);
      ASSERT_EQ(zeros, (y1 - y0 + 1) * (x1 - x0 + 1));
      ASSERT_LE(y1 - y0 + 1, side);
      ASSERT_LE(x1 - x0 + 1, side);
      if (zeros == side * side) ++full_squares;
      if (zeros < side * side) {
        ++clipped;
        // Clipped squares touch the border.
        EXPECT_TRUE(y0 == 0 || x0 == 0 || y1 == H - 1 || x1 == W - 1);
      }
    }
    EXPECT_GT(full_squares, 0) << "side " << side;
    EXPECT_GT(clipped, 0) << "side " << side;
  }
}

TEST(DataLoader, ThroughputOnCifarSizedImages) {
  const int64_t n = 20000;
  Dataset ds;
  ds.channels = 3;
  ds.height = ds.width = 32;
  ds.images.resize(n * 3072);
  for (size_t k = 0; k < ds.images.size(); ++k) ds.images[k] = uint8_t(k * 2654435761u >> 24);
  ds.labels.assign(n, 1);
  for (bool prefetch : {false, true}) {
    LoaderOptions o;
    o.pad_crop = 4;
    o.hflip = true;
    o.cutout = 16;
    o.mean = {0.49f, 0.48f, 0.45f};
    o.std = {0.25f, 0.24f, 0.26f};
    o.prefetch = prefetch;
    DataLoader loader(ds, o);
    auto t0 = std::chrono::steady_clock::now();
    loader.start_epoch(0);
    Batch b;
    int64_t images = 0;
    double checksum = 0;
    while (loader.next(b)) {
      images += b.images.size(0);
      checksum += b.images[0];
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf(
        "[ TIMING   ] DataLoader 3x32x32 crop+flip+normalise+cutout, prefetch=%d: "
        "%.0f images/s (checksum %.3f)\n",
        int(prefetch), images / s, checksum);
    EXPECT_EQ(images, n);
    EXPECT_GT(images / s, 3000.0);
  }
}
