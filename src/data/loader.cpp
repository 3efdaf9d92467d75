// DataLoader: per-sample crop/flip/normalise/cutout written straight into the batch tensor,
// with deterministic counter-based randomness and a one-batch background prefetch.
#include "cnnzoo/data/loader.hpp"

#include <algorithm>
#include <cstring>
#include <random>

#include "cnnzoo/error.hpp"
#include "parallel_for.hpp"

namespace cnnzoo::data {
namespace {

// SplitMix64 finaliser: a bijective mix, good enough to decorrelate counters.
uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform integer in [0, n) from 64 random bits (multiply-high; bias < n / 2^64).
uint64_t bounded(uint64_t bits, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(bits) * n) >> 64);
}

// A small counter-based stream for one sample: independent of which thread draws it.
struct SampleRng {
  uint64_t state;
  uint64_t next() { return mix64(state += 0xD1B54A32D192ED03ull); }
};

struct Augment {
  int64_t dy = 0, dx = 0;  // crop window offset in the padded image, in [0, 2 * pad]
  bool flip = false;
  int64_t cut_y0 = 0, cut_y1 = 0, cut_x0 = 0, cut_x1 = 0;  // empty when y0 == y1
};

}  // namespace

DataLoader::DataLoader(const Dataset& dataset, LoaderOptions options)
    : ds_(dataset), opt_(std::move(options)) {
  ds_.validate("DataLoader");
  check(ds_.size() > 0, "DataLoader: empty dataset");
  check(opt_.batch_size >= 1,
        "DataLoader: batch_size must be >= 1, got " + std::to_string(opt_.batch_size));
  check(opt_.pad_crop >= 0, "DataLoader: pad_crop must be >= 0");
  check(opt_.cutout >= 0, "DataLoader: cutout must be >= 0");
  check(opt_.shard_count >= 1 && opt_.shard_index >= 0 && opt_.shard_index < opt_.shard_count,
        "DataLoader: shard_index " + std::to_string(opt_.shard_index) + " outside [0, " +
            std::to_string(opt_.shard_count) + ")");
  const int64_t C = ds_.channels;
  check(opt_.mean.size() == opt_.std.size() &&
            (opt_.mean.empty() || static_cast<int64_t>(opt_.mean.size()) == C),
        "DataLoader: mean and std need one value per channel (" + std::to_string(C) + "), got " +
            std::to_string(opt_.mean.size()) + " and " + std::to_string(opt_.std.size()));
  for (float s : opt_.std) check(s > 0, "DataLoader: std must be positive");
  lut_.resize(C * 256);
  for (int64_t c = 0; c < C; ++c) {
    double m = opt_.mean.empty() ? 0.0 : opt_.mean[c];
    double s = opt_.std.empty() ? 1.0 : opt_.std[c];
    for (int v = 0; v < 256; ++v) lut_[c * 256 + v] = static_cast<float>((v / 255.0 - m) / s);
  }
}

DataLoader::~DataLoader() {
  wait_pending();
}

void DataLoader::wait_pending() {
  if (!pending_.valid()) return;
  try {
    pending_.get();
  } catch (...) {
    // A discarded prefetch's error is of no interest; the batch will be rebuilt if needed.
  }
}

ShardRange shard_range(int64_t count, int64_t parts, int64_t index) {
  const int64_t base = count / parts, extra = count % parts;
  return {index * base + std::min(index, extra), base + (index < extra ? 1 : 0)};
}

int64_t batches_per_epoch(int64_t samples, int64_t batch_size, bool drop_last) {
  return drop_last ? samples / batch_size : (samples + batch_size - 1) / batch_size;
}

int64_t DataLoader::batches_per_epoch() const {
  return data::batches_per_epoch(ds_.size(), opt_.batch_size, opt_.drop_last);
}

static uint64_t make_epoch_key(uint64_t seed, int64_t epoch) {
  return mix64(mix64(seed) ^ mix64(0x6A09E667F3BCC909ull + static_cast<uint64_t>(epoch)));
}

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(ds_.size());
  for (int64_t i = 0; i < ds_.size(); ++i) order[i] = i;
  if (opt_.shuffle) {
    // Fisher-Yates with our own bounded draw: std::uniform_int_distribution is not specified
    // bit-exactly, so it could differ between standard libraries.
    std::mt19937_64 engine(make_epoch_key(opt_.seed, epoch));
    for (int64_t i = ds_.size() - 1; i > 0; --i)
      std::swap(order[i], order[bounded(engine(), uint64_t(i) + 1)]);
  }
  return order;
}

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  check(epoch >= 0, "DataLoader::start_epoch: epoch must be >= 0, got " + std::to_string(epoch));
  check(first_batch >= 0 && first_batch <= batches_per_epoch(),
        "DataLoader::start_epoch: first_batch " + std::to_string(first_batch) + " outside [0, " +
            std::to_string(batches_per_epoch()) + "]");
  wait_pending();
  if (epoch != epoch_) {
    order_ = epoch_order(epoch);
    epoch_ = epoch;
    epoch_key_ = make_epoch_key(opt_.seed ^ 0xA5A5A5A5A5A5A5A5ull, epoch);
  }
  next_batch_ = first_batch;
}

bool DataLoader::next(Batch& out) {
  if (epoch_ < 0) start_epoch(0);
  const int64_t total = batches_per_epoch();
  if (next_batch_ >= total) return false;
  if (!opt_.prefetch) {
    build(next_batch_, out, true);
    ++next_batch_;
    return true;
  }
  auto launch = [this](int64_t index) {
    pending_ = std::async(std::launch::async, [this, index] {
      Batch b;
      build(index, b, false);  // serial: the training step owns the OpenMP threads
      return b;
    });
  };
  if (!pending_.valid()) launch(next_batch_);
  Batch ready = pending_.get();  // rethrows an error from the background thread
  ++next_batch_;
  if (next_batch_ < total) launch(next_batch_);
  out = std::move(ready);
  return true;
}

void DataLoader::build(int64_t batch_index, Batch& out, bool parallel) const {
  const int64_t n = ds_.size();
  const int64_t batch_begin = batch_index * opt_.batch_size;
  const ShardRange part =
      shard_range(std::min(opt_.batch_size, n - batch_begin), opt_.shard_count, opt_.shard_index);
  const int64_t begin = batch_begin + part.first;  // this part's first place in the epoch
  const int64_t count = part.size;
  const int64_t C = ds_.channels, H = ds_.height, W = ds_.width, plane = H * W;
  const int64_t pad = opt_.pad_crop, cut = opt_.cutout;
  out.images = Tensor::empty({count, C, H, W});
  out.labels.resize(count);
  float* images = out.images.data();

  auto one = [&](int64_t j) {
    const int64_t position = begin + j;
    const int64_t sample = order_[position];
    out.labels[j] = ds_.labels[sample];
    // Every draw is made whatever the options, so turning one augmentation on or off does
    // not change the randomness of the others.
    SampleRng rng{epoch_key_ ^ mix64(static_cast<uint64_t>(position))};
    Augment a;
    uint64_t r_dy = rng.next(), r_dx = rng.next(), r_flip = rng.next();
    uint64_t r_cy = rng.next(), r_cx = rng.next();
    if (pad > 0) {
      a.dy = static_cast<int64_t>(bounded(r_dy, uint64_t(2 * pad + 1)));
      a.dx = static_cast<int64_t>(bounded(r_dx, uint64_t(2 * pad + 1)));
    }
    a.flip = opt_.hflip && (r_flip >> 63);
    if (cut > 0) {
      int64_t cy = static_cast<int64_t>(bounded(r_cy, uint64_t(H)));
      int64_t cx = static_cast<int64_t>(bounded(r_cx, uint64_t(W)));
      a.cut_y0 = std::max<int64_t>(0, cy - cut / 2);
      a.cut_y1 = std::min<int64_t>(H, cy - cut / 2 + cut);
      a.cut_x0 = std::max<int64_t>(0, cx - cut / 2);
      a.cut_x1 = std::min<int64_t>(W, cx - cut / 2 + cut);
    }
    // Output (y, x) reads source (y + dy - pad, x' + dx - pad) with x' = W-1-x when flipped;
    // columns [x_lo, x_hi) hit the source image, the rest is padding.
    const int64_t shift_x = a.dx - pad;
    const int64_t x_lo = a.flip ? std::max<int64_t>(0, shift_x) : std::max<int64_t>(0, -shift_x);
    const int64_t x_hi =
        a.flip ? std::min<int64_t>(W, W + shift_x) : std::min<int64_t>(W, W - shift_x);
    const uint8_t* src_image = ds_.image(sample);
    float* dst_image = images + j * C * plane;
    for (int64_t c = 0; c < C; ++c) {
      const float* lut = lut_.data() + c * 256;
      const float fill = lut[0];
      for (int64_t y = 0; y < H; ++y) {
        float* dst = dst_image + c * plane + y * W;
        const int64_t sy = y + a.dy - pad;
        if (sy < 0 || sy >= H || x_lo >= x_hi) {
          std::fill(dst, dst + W, fill);
          continue;
        }
        const uint8_t* src = src_image + c * plane + sy * W;
        std::fill(dst, dst + x_lo, fill);
        if (a.flip) {
          for (int64_t x = x_lo; x < x_hi; ++x) dst[x] = lut[src[W - 1 + shift_x - x]];
        } else {
          for (int64_t x = x_lo; x < x_hi; ++x) dst[x] = lut[src[x + shift_x]];
        }
        std::fill(dst + x_hi, dst + W, fill);
      }
      for (int64_t y = a.cut_y0; y < a.cut_y1; ++y)
        std::fill(dst_image + c * plane + y * W + a.cut_x0,
                  dst_image + c * plane + y * W + a.cut_x1, 0.f);
    }
  };
  if (parallel) {
    // Threads only pay off for big images: a batch of 32x32 images takes about a millisecond,
    // less than waking and synchronising an OpenMP team on a busy machine.
    parallel_for(count, one, std::max<int64_t>(1, (int64_t(1) << 18) / (C * plane)));
  } else {
    for (int64_t j = 0; j < count; ++j) one(j);
  }
}

}  // namespace cnnzoo::data
