// Writes the fuzzers' seed corpora (tests/fuzz/README in scripts/fuzz.sh): small valid files
// of every format, made with the library's own writers or by hand, so that nothing binary
// is committed. Usage: make_seeds DIR
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "cnnzoo/compression.hpp"
#include "cnnzoo/io/image.hpp"
#include "cnnzoo/io/npy.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/nn/layers.hpp"

namespace fs = std::filesystem;
using namespace cnnzoo;

namespace {

void put(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

Tensor ramp(const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = 0.25f * float(i);
  return t;
}

io::Image picture(int h, int w, int c) {
  io::Image img;
  img.height = h;
  img.width = w;
  img.channels = c;
  img.pixels.resize(size_t(h) * w * c);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t(i * 37 % 256);
  return img;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  const fs::path dir = argv[1];
  const std::map<std::string, std::string> meta = {{"format", "cnnzoo-weights"},
                                                   {"model", "lenet5"},
                                                   {"classes", "[\"a\",\"b\"]"},
                                                   {"mean", "[0.5]"},
                                                   {"std", "[0.25]"}};
  put(dir / "safetensors/weights",
      io::to_safetensors_bytes({{"conv.weight", ramp({2, 1, 3, 3})}, {"conv.bias", ramp({2})}},
                               meta));
  put(dir / "safetensors/empty", io::to_safetensors_bytes({}, {}));
  {
    // A linear layer with a few pruned weights, its 3-bit codes deflated.
    nn::Sequential net;
    net.push_back(std::make_shared<nn::Linear>(6, 3));
    for (auto [name, p] : net.named_parameters()) p.value()[0] = 0;
    ModelMetadata md;
    md.spec.name = "lenet5";
    compress::CompressOptions o;
    o.linear_bits = 3;
    const fs::path c = dir / "compressed/linear";
    fs::create_directories(c.parent_path());
    compress::save_compressed(net, md, c.string(), o);
  }
  std::string kv;
  for (const auto& [k, v] : meta) kv += k + '\0' + v + '\0';
  kv += std::string("model_options") + '\0' + "{\"activation\":\"relu\"}" + '\0';
  kv += std::string("preprocessing") + '\0' + "resize-crop" + '\0' + "resize_size" + '\0' + "36";
  put(dir / "checkpoint_metadata/lenet", kv);
  put(dir / "npy/float", io::to_npy_bytes(ramp({2, 3})));
  put(dir / "npy/scalar", io::to_npy_bytes(Tensor::full({}, 1.5f)));
  // IDX: first byte / 4 = images length; 2 images of 2x2, then their labels.
  std::string images = be32(0x00000803) + be32(2) + be32(2) + be32(2) + "abcdefgh";
  std::string labels = be32(0x00000801) + be32(2) + std::string("\x01\x02", 2);
  put(dir / "idx/two", std::string(1, char(images.size() / 4)) + images + labels);
  std::string record(1 + 3072, '\x40');
  record[0] = 3;
  put(dir / "cifar/two_records", record + record);
  for (int c : {1, 3}) {
    const std::string png = dir / "image" / ("png" + std::to_string(c));
    fs::create_directories(dir / "image");
    io::write_png(png, picture(5, 7, c));
  }
  put(dir / "options/wrn", "wrn-16-4\ndepth=10\nwiden_factor=2\ndrop_rate=0.3\n3x32x32");
  put(dir / "options/resnet", "resnet20\nshortcut=B\n3x8x8");
  std::printf("seeds written to %s\n", dir.c_str());
  return 0;
}
