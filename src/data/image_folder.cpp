// torchvision-style image folder loader: split_dir/<class>/<image>, decoded in parallel with
// stb_image straight into the dataset's CHW buffer.
#include <omp.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "cnnzoo/data/dataset.hpp"
#include "cnnzoo/error.hpp"
#include "cnnzoo/io/image.hpp"
#include "cnnzoo/parallel.hpp"
#include "data/files.hpp"

namespace cnnzoo::data {
namespace {

namespace fs = std::filesystem;

bool is_image_name(const std::string& name) {
  size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == "png" || ext == "jpg" || ext == "jpeg" || ext == "bmp";
}

struct Listing {
  std::vector<std::string> classes;
  std::vector<std::string> files;
  std::vector<int64_t> labels;
};

Listing list_folder(const std::string& split_dir) {
  const std::string context = "image folder";
  check(is_directory(split_dir),
        context + ": '" + split_dir + "' does not exist or is not a directory");
  Listing out;
  try {
    for (const auto& entry : fs::directory_iterator(split_dir)) {
      std::string name = entry.path().filename().string();
      if (!name.empty() && name[0] != '.' && entry.is_directory()) out.classes.push_back(name);
    }
    std::sort(out.classes.begin(), out.classes.end());
    for (size_t c = 0; c < out.classes.size(); ++c) {
      std::string class_dir = split_dir + "/" + out.classes[c];
      std::vector<std::string> names;
      for (const auto& entry : fs::directory_iterator(class_dir)) {
        std::string name = entry.path().filename().string();
        if (is_image_name(name) && entry.is_regular_file()) names.push_back(name);
      }
      if (names.empty())
        throw Error(context + ": class directory '" + class_dir +
                    "' holds no .png/.jpg/.jpeg/.bmp files");
      std::sort(names.begin(), names.end());
      for (const auto& name : names) {
        out.files.push_back(class_dir + "/" + name);
        out.labels.push_back(static_cast<int64_t>(c));
      }
    }
  } catch (const fs::filesystem_error& e) {
    throw Error(context + ": cannot list '" + split_dir + "': " + e.what());
  }
  if (out.classes.empty())
    throw Error(context + ": '" + split_dir + "' has no class subdirectories");
  return out;
}

}  // namespace

Dataset load_image_folder(const std::string& split_dir, const ImageFolderOptions& opt) {
  check(opt.channels == 1 || opt.channels == 3,
        "image folder: channels must be 1 or 3, got " + std::to_string(opt.channels));
  check(opt.height >= 0 && opt.width >= 0 && (opt.height > 0) == (opt.width > 0),
        "image folder: height and width must both be 0 (keep) or both positive, got " +
            std::to_string(opt.height) + "x" + std::to_string(opt.width));
  Listing listing = list_folder(split_dir);
  const int64_t n = static_cast<int64_t>(listing.files.size());

  Dataset ds;
  ds.channels = opt.channels;
  ds.height = opt.height;
  ds.width = opt.width;
  ds.classes = std::move(listing.classes);
  ds.labels = std::move(listing.labels);
  if (opt.height == 0) {
    io::Image first = io::read_image(listing.files[0], opt.channels);
    ds.height = first.height;
    ds.width = first.width;
  }
  const int64_t H = ds.height, W = ds.width, C = ds.channels, plane = H * W;
  ds.images.resize(size_t(n) * C * plane);

  // Every image is tried even after a failure so that the error reported (the failing file
  // with the lowest index) does not depend on thread timing.
  std::mutex error_mutex;
  int64_t error_index = std::numeric_limits<int64_t>::max();
  std::string error_message;
#pragma omp parallel for num_threads(num_threads()) schedule(dynamic, 64)
  for (int64_t i = 0; i < n; ++i) {
    try {
      const std::string& path = listing.files[i];
      std::vector<uint8_t> bytes = read_binary_file(path, "image folder");
      io::Image img = io::decode_image(bytes.data(), bytes.size(), path, opt.channels);
      if (opt.height > 0) img = io::resize(img, opt.height, opt.width);
      if (img.height != H || img.width != W)
        throw Error("image folder: '" + path + "' is " + std::to_string(img.height) + "x" +
                    std::to_string(img.width) + ", expected " + std::to_string(H) + "x" +
                    std::to_string(W) + " like '" + listing.files[0] +
                    "' (set a height and width to resize)");
      uint8_t* dst = ds.images.data() + i * C * plane;
      const uint8_t* src = img.pixels.data();
      if (C == 1) {
        std::memcpy(dst, src, plane);
      } else {
        for (int64_t p = 0; p < plane; ++p) {
          dst[p] = src[3 * p];
          dst[plane + p] = src[3 * p + 1];
          dst[2 * plane + p] = src[3 * p + 2];
        }
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (i < error_index) {
        error_index = i;
        error_message = e.what();
      }
    }
  }
  if (!error_message.empty()) throw Error(error_message);
  return ds;
}

}  // namespace cnnzoo::data
