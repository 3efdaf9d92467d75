// IDX reader (the MNIST / Fashion-MNIST format), plain or gzip-compressed, via zlib's gzread
// which reads both transparently.
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cnnzoo/data/dataset.hpp"
#include "cnnzoo/error.hpp"
#include "data/files.hpp"

namespace cnnzoo::data {
namespace {

struct IdxArray {
  std::vector<uint64_t> dims;
  std::vector<uint8_t> data;
};

class GzFile {
 public:
  GzFile(const std::string& path) : path_(path) {
    errno = 0;
    f_ = gzopen(path.c_str(), "rb");
    if (!f_)
      throw Error("IDX: cannot open '" + path +
                  "': " + (errno ? std::strerror(errno) : "out of memory"));
    gzbuffer(f_, 1 << 17);
  }
  ~GzFile() { gzclose(f_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to n bytes; fewer only at end of file. Throws on a read or decompression error.
  size_t read(uint8_t* dst, size_t n) {
    size_t done = 0;
    while (done < n) {
      unsigned want = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
      int got = gzread(f_, dst + done, want);
      if (got < 0) {
        int code = 0;
        const char* msg = gzerror(f_, &code);
        throw Error("IDX: cannot read '" + path_ + "': " + (msg ? msg : "read error"));
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }

 private:
  std::string path_;
  gzFile f_;
};

IdxArray read_idx(const std::string& path, uint32_t expected_magic, const char* what) {
  GzFile f(path);
  uint8_t head[4];
  if (f.read(head, 4) != 4) throw Error("IDX: truncated file '" + path + "' (no header)");
  uint32_t magic = uint32_t(head[0]) << 24 | uint32_t(head[1]) << 16 | head[2] << 8 | head[3];
  if (magic != expected_magic) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "wrong magic number 0x%08x (expected 0x%08x for %s)", magic,
                  expected_magic, what);
    throw Error("IDX: '" + path + "': " + buf);
  }
  IdxArray a;
  a.dims.resize(head[3]);
  // The data may not exceed what any IDX file of ours could hold; guards the multiplication
  // and keeps a corrupt header from asking for an absurd allocation.
  const uint64_t limit = uint64_t(1) << 40;
  uint64_t total = 1;
  std::string dims_text;
  for (auto& d : a.dims) {
    uint8_t b[4];
    if (f.read(b, 4) != 4) throw Error("IDX: truncated file '" + path + "' (in the header)");
    d = uint64_t(b[0]) << 24 | uint64_t(b[1]) << 16 | uint64_t(b[2]) << 8 | b[3];
    dims_text += (dims_text.empty() ? "" : " x ") + std::to_string(d);
    if (d != 0 && total > limit / d)
      throw Error("IDX: '" + path + "': dimensions " + dims_text + "... are too large");
    total *= d;
  }
  // Grow the buffer as data actually arrives, so a lying header cannot make us allocate
  // more than the file holds.
  size_t have = 0;
  while (have < total) {
    size_t step = std::min<uint64_t>(total - have, std::max<size_t>(have, size_t(1) << 24));
    a.data.resize(have + step);
    size_t got = f.read(a.data.data() + have, step);
    have += got;
    if (got < step)
      throw Error("IDX: truncated file '" + path + "': dimensions " + dims_text + " need " +
                  std::to_string(total) + " bytes of data, the file has " + std::to_string(have));
  }
  uint8_t extra;
  if (f.read(&extra, 1) != 0)
    throw Error("IDX: '" + path + "' has data beyond its dimensions " + dims_text);
  return a;
}

}  // namespace

Dataset load_idx(const std::string& images_path, const std::string& labels_path) {
  IdxArray images = read_idx(images_path, 0x00000803, "unsigned-byte images [N, rows, cols]");
  IdxArray labels = read_idx(labels_path, 0x00000801, "unsigned-byte labels [N]");
  if (images.dims[0] != labels.dims[0])
    throw Error("IDX: " + std::to_string(images.dims[0]) + " images in '" + images_path + "' but " +
                std::to_string(labels.dims[0]) + " labels in '" + labels_path + "'");
  if (images.dims[1] == 0 || images.dims[2] == 0)
    throw Error("IDX: '" + images_path + "' has images of size " + std::to_string(images.dims[1]) +
                "x" + std::to_string(images.dims[2]));
  Dataset ds;
  ds.channels = 1;
  ds.height = static_cast<int64_t>(images.dims[1]);
  ds.width = static_cast<int64_t>(images.dims[2]);
  ds.images = std::move(images.data);
  ds.labels.assign(labels.data.begin(), labels.data.end());
  int64_t max_label = 0;
  for (int64_t l : ds.labels) max_label = std::max(max_label, l);
  for (int64_t c = 0; c <= max_label; ++c) ds.classes.push_back(std::to_string(c));
  return ds;
}

DatasetSplit load_idx_dir(const std::string& dir) {
  check(is_directory(dir), "IDX: '" + dir + "' does not exist or is not a directory");
  auto find = [&](const std::string& base) {
    for (const char* suffix : {"", ".gz"}) {
      std::string p = dir + "/" + base + suffix;
      if (is_file(p)) return p;
    }
    throw Error("IDX: cannot find '" + base + "[.gz]' in '" + dir + "'");
  };
  DatasetSplit split;
  split.train = load_idx(find("train-images-idx3-ubyte"), find("train-labels-idx1-ubyte"));
  split.test = load_idx(find("t10k-images-idx3-ubyte"), find("t10k-labels-idx1-ubyte"));
  // Both splits name the same classes even if one lacks the highest label.
  auto& longer = split.train.classes.size() >= split.test.classes.size() ? split.train.classes
                                                                         : split.test.classes;
  split.train.classes = split.test.classes = std::vector<std::string>(longer);
  return split;
}

DatasetSplit load_fashion_mnist(const std::string& dir) {
  DatasetSplit split = load_idx_dir(dir);
  for (const Dataset* d : {&split.train, &split.test})
    for (int64_t l : d->labels)
      check(l < 10, "Fashion-MNIST: label " + std::to_string(l) + " in '" + dir +
                        "' is not one of the 10 classes");
  const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                          "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                          "Bag",         "Ankle boot"};
  split.train.classes = split.test.classes = names;
  return split;
}

}  // namespace cnnzoo::data
