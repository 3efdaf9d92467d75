// In-memory image classification datasets: CIFAR-10/100 binary, image folders, IDX (MNIST).
// Images stay 8-bit (CHW per image) until the DataLoader turns a batch into floats.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cnnzoo::data {

struct Dataset {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<uint8_t> images;  // size() * channels * height * width bytes, CHW per image
  std::vector<int64_t> labels;  // one class index per image
  std::vector<std::string> classes;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t image_bytes() const { return channels * height * width; }
  const uint8_t* image(int64_t i) const { return images.data() + i * image_bytes(); }
  // Throws Error unless the buffers, sizes and labels are consistent.
  void validate(const std::string& what) const;
};

struct DatasetSplit {
  Dataset train, test;
};

// CIFAR-10 binary release: data_batch_1..5.bin (train) or test_batch.bin, records of a label
// byte and 3072 CHW pixel bytes. dir may also be the parent of cifar-10-batches-bin/.
Dataset load_cifar10_binary(const std::string& dir, bool train);
// CIFAR-100 binary release: train.bin / test.bin, records of coarse label, fine label, pixels.
Dataset load_cifar100_binary(const std::string& dir, bool train, bool fine = true);

struct ImageFolderOptions {
  int channels = 3;           // 1 or 3 (see io::read_image for the conversion)
  int height = 0, width = 0;  // 0: keep, every image must have the same size;
                              // > 0: resize (io::resize) to this size
};

// torchvision-style ImageFolder: split_dir/<class>/<file>.{png,jpg,jpeg,bmp}; classes are the
// sorted subdirectory names, files sorted by name within a class. Decoded in parallel.
Dataset load_image_folder(const std::string& split_dir, const ImageFolderOptions& opt = {});

// IDX files (MNIST format), plain or gzip: unsigned-byte images [N, rows, cols] (magic
// 0x00000803) and labels [N] (magic 0x00000801). Classes are "0".."max label".
Dataset load_idx(const std::string& images_path, const std::string& labels_path);
// Finds {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] in dir.
DatasetSplit load_idx_dir(const std::string& dir);
// load_idx_dir with the Fashion-MNIST class names (T-shirt/top ... Ankle boot).
DatasetSplit load_fashion_mnist(const std::string& dir = "/usr/share/datasets/fashion-mnist");

struct LoadOptions {
  ImageFolderOptions folder;  // for kind "folder"
  bool cifar100_fine = true;  // fine (100) or coarse (20) CIFAR-100 labels
};

// kind: cifar10, cifar100, folder (path/train and path/test), fashion-mnist, mnist, or
// "auto"/"" to use detect_dataset_kind(path). Unknown kind or missing path -> Error.
DatasetSplit load_dataset(const std::string& kind, const std::string& path,
                          const LoadOptions& opt = {});
// folder (train/ and test/ subdirectories), cifar10 (data_batch_*.bin / test_batch.bin),
// cifar100 (train.bin / test.bin), fashion-mnist (IDX files); Error when none matches.
std::string detect_dataset_kind(const std::string& path);

// Per-channel mean and (population) standard deviation of the pixels in [0, 1] units.
std::vector<float> channel_mean(const Dataset& dataset);
std::vector<float> channel_std(const Dataset& dataset);

}  // namespace cnnzoo::data
