// Dataset checks, dataset-kind detection and dispatch, per-channel statistics.
#include "cnnzoo/data/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>
#include <vector>

#include "cnnzoo/error.hpp"
#include "data/files.hpp"

namespace cnnzoo::data {

void Dataset::validate(const std::string& what) const {
  check(channels > 0 && height > 0 && width > 0,
        what + ": dataset has image size " + std::to_string(channels) + "x" +
            std::to_string(height) + "x" + std::to_string(width));
  check(static_cast<int64_t>(images.size()) == size() * image_bytes(),
        what + ": dataset has " + std::to_string(images.size()) + " pixel bytes for " +
            std::to_string(size()) + " images of " + std::to_string(image_bytes()) + " bytes");
  const int64_t num_classes = static_cast<int64_t>(classes.size());
  for (int64_t l : labels)
    check(l >= 0 && (num_classes == 0 || l < num_classes),
          what + ": label " + std::to_string(l) + " outside the " + std::to_string(num_classes) +
              " classes");
}

std::string detect_dataset_kind(const std::string& path) {
  check(is_directory(path), "dataset: '" + path + "' does not exist or is not a directory");
  auto has = [&](const std::string& name) { return is_file(path + "/" + name); };
  if (is_directory(path + "/train") && is_directory(path + "/test")) return "folder";
  if (has("data_batch_1.bin") || has("test_batch.bin") ||
      is_directory(path + "/cifar-10-batches-bin"))
    return "cifar10";
  if (has("train.bin") || has("test.bin") || is_directory(path + "/cifar-100-binary"))
    return "cifar100";
  for (const char* name : {"train-images-idx3-ubyte", "t10k-images-idx3-ubyte"})
    if (has(name) || has(std::string(name) + ".gz")) return "fashion-mnist";
  throw Error("dataset: cannot tell the format of '" + path +
              "' (expected train/ and test/ image folders, CIFAR .bin batches or IDX files)");
}

DatasetSplit load_dataset(const std::string& kind_in, const std::string& path,
                          const LoadOptions& opt) {
  static const char* const kinds[] = {"cifar10", "cifar100", "folder", "fashion-mnist",
                                      "mnist",   "auto",     ""};
  if (std::find(std::begin(kinds), std::end(kinds), kind_in) == std::end(kinds))
    throw Error("dataset: unknown kind '" + kind_in +
                "' (expected cifar10, cifar100, folder, fashion-mnist, mnist or auto)");
  check(is_directory(path), "dataset: '" + path + "' does not exist or is not a directory");
  std::string kind = kind_in.empty() || kind_in == "auto" ? detect_dataset_kind(path) : kind_in;
  DatasetSplit split;
  if (kind == "cifar10") {
    split.train = load_cifar10_binary(path, true);
    split.test = load_cifar10_binary(path, false);
  } else if (kind == "cifar100") {
    split.train = load_cifar100_binary(path, true, opt.cifar100_fine);
    split.test = load_cifar100_binary(path, false, opt.cifar100_fine);
  } else if (kind == "folder") {
    split.train = load_image_folder(path + "/train", opt.folder);
    split.test = load_image_folder(path + "/test", opt.folder);
    // Labels are class indices, so both splits must list the same classes.
    if (split.train.classes != split.test.classes)
      throw Error("dataset: '" + path + "/train' and '" + path +
                  "/test' do not have the same class subdirectories");
    if (split.train.height != split.test.height || split.train.width != split.test.width)
      throw Error("dataset: train images in '" + path + "' are " +
                  std::to_string(split.train.height) + "x" + std::to_string(split.train.width) +
                  " but test images are " + std::to_string(split.test.height) + "x" +
                  std::to_string(split.test.width));
  } else if (kind == "fashion-mnist") {
    split = load_fashion_mnist(path);
  } else {
    split = load_idx_dir(path);  // "mnist"
  }
  return split;
}

namespace {

// Exact integer sums of pixels and squared pixels per channel.
void channel_sums(const Dataset& ds, std::vector<uint64_t>& sum, std::vector<uint64_t>& sq) {
  ds.validate("channel statistics");
  check(ds.size() > 0, "channel statistics: empty dataset");
  const int64_t C = ds.channels, plane = ds.height * ds.width;
  sum.assign(C, 0);
  sq.assign(C, 0);
  for (int64_t i = 0; i < ds.size(); ++i) {
    for (int64_t c = 0; c < C; ++c) {
      const uint8_t* p = ds.image(i) + c * plane;
      uint64_t s = 0, q = 0;
      for (int64_t k = 0; k < plane; ++k) {
        s += p[k];
        q += uint32_t(p[k]) * p[k];
      }
      sum[c] += s;
      sq[c] += q;
    }
  }
}

}  // namespace

std::vector<float> channel_mean(const Dataset& ds) {
  std::vector<uint64_t> sum, sq;
  channel_sums(ds, sum, sq);
  const long double count = static_cast<long double>(ds.size()) * ds.height * ds.width;
  std::vector<float> mean(ds.channels);
  for (int64_t c = 0; c < ds.channels; ++c) mean[c] = float(sum[c] / count / 255.0L);
  return mean;
}

std::vector<float> channel_std(const Dataset& ds) {
  std::vector<uint64_t> sum, sq;
  channel_sums(ds, sum, sq);
  const long double count = static_cast<long double>(ds.size()) * ds.height * ds.width;
  std::vector<float> sd(ds.channels);
  for (int64_t c = 0; c < ds.channels; ++c) {
    long double m = sum[c] / count, var = sq[c] / count - m * m;
    sd[c] = float(std::sqrt(std::max(var, 0.0L)) / 255.0L);
  }
  return sd;
}

}  // namespace cnnzoo::data
