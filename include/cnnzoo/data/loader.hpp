// DataLoader: shuffled, augmented float batches from an in-memory Dataset, with the next
// batch prepared on a background thread. All randomness for epoch e is a pure function of
// (seed, e, sample position), so a resumed run sees bit-identical batches.
#pragma once
#include <cstdint>
#include <future>
#include <vector>

#include "cnnzoo/data/dataset.hpp"
#include "cnnzoo/tensor.hpp"

namespace cnnzoo::data {

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;  // drop the last, smaller batch
  uint64_t seed = 0;
  // Pad by this many black (pixel value 0) pixels on each side, then crop a random window of
  // the original size, like torchvision RandomCrop(size, padding).
  int64_t pad_crop = 0;
  bool hflip = false;  // random horizontal flip with probability 1/2
  // Side of a square set to zero after normalisation (DeVries & Taylor); its centre is
  // uniform over the image and it is clipped at the borders. 0 = off.
  int64_t cutout = 0;
  // Per channel, in pixel/255 units: x = (pixel/255 - mean) / std. Empty = pixel/255.
  std::vector<float> mean, std;
  bool prefetch = true;  // prepare the next batch on a background thread
  // Data parallelism: each batch is cut into shard_count contiguous parts (shard_range) and
  // this loader yields part shard_index, possibly empty. The augmentation of an image depends
  // on its place in the epoch, not on the part that holds it.
  int64_t shard_count = 1, shard_index = 0;
};

// Part `index` of `count` items cut into `parts` contiguous pieces as equal as they can be
// (the first count % parts pieces one larger): {first, size}.
struct ShardRange {
  int64_t first, size;
};
ShardRange shard_range(int64_t count, int64_t parts, int64_t index);

// Batches in one epoch of `samples` samples; the trainer needs it before any loader exists.
int64_t batches_per_epoch(int64_t samples, int64_t batch_size, bool drop_last);

struct Batch {
  Tensor images;                // float [B, C, H, W]
  std::vector<int64_t> labels;  // B labels
};

class DataLoader {
 public:
  // The dataset is not copied: it must outlive the loader.
  DataLoader(const Dataset& dataset, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t batches_per_epoch() const;
  const LoaderOptions& options() const { return opt_; }
  const Dataset& dataset() const { return ds_; }
  int64_t epoch() const { return epoch_; }

  // Starts epoch `epoch` (>= 0) at batch first_batch (to resume mid-epoch); a prefetch still
  // running for the previous epoch is waited for and discarded.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the epoch; false when the epoch is over. Starts epoch 0 if no epoch was
  // started. Errors from the background thread are rethrown here.
  bool next(Batch& out);

  // The order of the dataset's samples in epoch `epoch` (identity without shuffle).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  void build(int64_t batch_index, Batch& out, bool parallel) const;
  void wait_pending();

  const Dataset& ds_;
  LoaderOptions opt_;
  std::vector<float> lut_;  // [C][256]: normalised value of each pixel byte per channel
  int64_t epoch_ = -1;
  uint64_t epoch_key_ = 0;
  std::vector<int64_t> order_;
  int64_t next_batch_ = 0;
  std::future<Batch> pending_;  // batch next_batch_, being prepared in the background
};

}  // namespace cnnzoo::data
