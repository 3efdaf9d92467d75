// IDX (MNIST layout), plain and gzip: the first input byte splits the rest into an images
// file and a labels file; both are also tried gzip-compressed.
#include <zlib.h>

#include "cnnzoo/data/dataset.hpp"
#include "fuzz_common.hpp"

namespace {
void write_gz(const std::string& path, const uint8_t* data, size_t size) {
  gzFile f = gzopen(path.c_str(), "wb1");
  if (size) gzwrite(f, data, static_cast<unsigned>(size));
  gzclose(f);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t split = std::min<size_t>(size - 1, size_t(data[0]) * 4);
  const uint8_t* images = data + 1;
  const uint8_t* labels = data + 1 + split;
  const size_t labels_size = size - 1 - split;
  const std::string ip = fuzz::write("images-idx3-ubyte", images, split);
  const std::string lp = fuzz::write("labels-idx1-ubyte", labels, labels_size);
  fuzz::expect_clean([&] { cnnzoo::data::load_idx(ip, lp); });
  write_gz(ip + ".gz", images, split);
  write_gz(lp + ".gz", labels, labels_size);
  fuzz::expect_clean([&] { cnnzoo::data::load_idx(ip + ".gz", lp + ".gz"); });
  return 0;
}
