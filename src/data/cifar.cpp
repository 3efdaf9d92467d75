// CIFAR-10 / CIFAR-100 binary release readers (fixed-size records: label byte(s) + 3072 CHW
// pixel bytes).
#include <cstring>
#include <string>
#include <vector>

#include "cnnzoo/data/dataset.hpp"
#include "cnnzoo/error.hpp"
#include "data/files.hpp"

namespace cnnzoo::data {
namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

// The directory that holds marker, accepting the release's own subdirectory name too.
std::string resolve_dir(const std::string& dir, const std::string& marker,
                        const std::string& subdir, const std::string& context) {
  check(is_directory(dir), context + ": '" + dir + "' does not exist or is not a directory");
  if (is_file(dir + "/" + marker)) return dir;
  if (is_file(dir + "/" + subdir + "/" + marker)) return dir + "/" + subdir;
  throw Error(context + ": cannot find '" + marker + "' in '" + dir + "'");
}

// Appends the records of one batch file; label_offset picks which label byte is the label.
void append_batch(const std::string& path, int64_t label_bytes, int64_t label_offset,
                  int64_t num_classes, const std::string& context, Dataset& ds) {
  const int64_t record = label_bytes + kPixels;
  std::vector<uint8_t> bytes = read_binary_file(path, context);
  const int64_t size = static_cast<int64_t>(bytes.size());
  if (size == 0 || size % record != 0)
    throw Error(context + ": truncated CIFAR batch '" + path + "': " + std::to_string(size) +
                " bytes is not a whole number of " + std::to_string(record) + "-byte records");
  const int64_t n = size / record;
  const int64_t first = ds.size();
  ds.labels.resize(first + n);
  ds.images.resize((first + n) * kPixels);
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* rec = bytes.data() + r * record;
    int64_t label = rec[label_offset];
    if (label >= num_classes)
      throw Error(context + ": corrupt CIFAR batch '" + path + "': record " + std::to_string(r) +
                  " has label " + std::to_string(label) + ", expected < " +
                  std::to_string(num_classes));
    ds.labels[first + r] = label;
    std::memcpy(ds.images.data() + (first + r) * kPixels, rec + label_bytes, kPixels);
  }
}

std::vector<std::string> class_names(const std::string& names_file, int64_t n) {
  std::vector<std::string> names = read_name_list(names_file);
  if (static_cast<int64_t>(names.size()) == n) return names;
  names.clear();
  for (int64_t i = 0; i < n; ++i) names.push_back(std::to_string(i));
  return names;
}

Dataset empty_cifar() {
  Dataset ds;
  ds.channels = 3;
  ds.height = ds.width = 32;
  return ds;
}

}  // namespace

Dataset load_cifar10_binary(const std::string& dir, bool train) {
  const std::string context = "CIFAR-10";
  std::string root = resolve_dir(dir, train ? "data_batch_1.bin" : "test_batch.bin",
                                 "cifar-10-batches-bin", context);
  Dataset ds = empty_cifar();
  if (train) {
    ds.labels.reserve(50000);
    ds.images.reserve(50000 * kPixels);
    for (int b = 1; b <= 5; ++b)
      append_batch(root + "/data_batch_" + std::to_string(b) + ".bin", 1, 0, 10, context, ds);
  } else {
    append_batch(root + "/test_batch.bin", 1, 0, 10, context, ds);
  }
  ds.classes = class_names(root + "/batches.meta.txt", 10);
  return ds;
}

Dataset load_cifar100_binary(const std::string& dir, bool train, bool fine) {
  const std::string context = "CIFAR-100";
  std::string root =
      resolve_dir(dir, train ? "train.bin" : "test.bin", "cifar-100-binary", context);
  Dataset ds = empty_cifar();
  const int64_t num_classes = fine ? 100 : 20;
  append_batch(root + (train ? "/train.bin" : "/test.bin"), 2, fine ? 1 : 0, num_classes, context,
               ds);
  ds.classes =
      class_names(root + (fine ? "/fine_label_names.txt" : "/coarse_label_names.txt"), num_classes);
  return ds;
}

}  // namespace cnnzoo::data
