// Image read/write, channel conversion, resize, and errors for bad image files.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cnnzoo/error.hpp"
#include "cnnzoo/io/image.hpp"
#include "data_paths.hpp"
#include "expect_error.hpp"

// An independent encoder for test inputs (static, so it cannot clash with the library's stb).
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

using cnnzoo::Error;
using cnnzoo::io::Image;

namespace {

Image make_image(int h, int w, int c) {
  Image img;
  img.height = h;
  img.width = w;
  img.channels = c;
  img.pixels.resize(size_t(h) * w * c);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t((i * 37 + 11) % 256);
  return img;
}

// Expects f() to throw cnnzoo::Error whose message contains every one of needles.
// A JPEG written by stb_image_write: smooth content so it is well-formed and compressible.
std::vector<unsigned char> encode_jpeg(int h, int w) {
  std::vector<unsigned char> rgb(size_t(h) * w * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        rgb[(size_t(y) * w + x) * 3 + c] = uint8_t(4 * x + 2 * y + 60 * c);
  std::vector<unsigned char> out;
  auto append = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<unsigned char>*>(ctx);
    size_t old = v->size();
    v->resize(old + size_t(size));
    std::memcpy(v->data() + old, data, size_t(size));
  };
  EXPECT_TRUE(stbi_write_jpg_to_func(append, &out, w, h, 3, rgb.data(), 90));
  return out;
}

}  // namespace

TEST(ImageIO, PngRoundTripForEveryChannelCount) {
  TempDir dir;
  for (int c = 1; c <= 4; ++c) {
    Image img = make_image(5, 7, c);
    std::string path = dir / ("img" + std::to_string(c) + ".png");
    cnnzoo::io::write_png(path, img);
    Image back = cnnzoo::io::read_image(path);
    EXPECT_EQ(back.height, 5);
    EXPECT_EQ(back.width, 7);
    EXPECT_EQ(back.channels, c);
    EXPECT_EQ(back.pixels, img.pixels);
  }
  // Only the four PNGs: no temporary files left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(e.path().extension(), ".png") << e.path();
  }
  EXPECT_EQ(files, 4);
}

TEST(ImageIO, WritePngReplacesAndReportsErrors) {
  TempDir dir;
  std::string path = dir / "a.png";
  cnnzoo::io::write_png(path, make_image(2, 2, 3));
  Image second = make_image(3, 1, 1);
  cnnzoo::io::write_png(path, second);
  EXPECT_EQ(cnnzoo::io::read_image(path).pixels, second.pixels);
  expect_error([&] { cnnzoo::io::write_png(dir / "no/such/dir/b.png", second); },
               {"no/such/dir/b.png"});
  Image bad = make_image(2, 2, 3);
  bad.pixels.pop_back();
  expect_error([&] { cnnzoo::io::write_png(dir / "c.png", bad); }, {"c.png"});
  EXPECT_FALSE(std::filesystem::exists(dir / "c.png"));
}

TEST(ImageIO, ChannelConversionUsesBt601Luma) {
  Image rgb;
  rgb.height = 1;
  rgb.width = 4;
  rgb.channels = 3;
  rgb.pixels = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30};
  Image gray = cnnzoo::io::convert_channels(rgb, 1);
  // 0.299*255 = 76.2, 0.587*255 = 149.7, 0.114*255 = 29.1, 2.99 + 11.74 + 3.42 = 18.15
  EXPECT_EQ(gray.pixels, (std::vector<uint8_t>{76, 150, 29, 18}));
  EXPECT_EQ(gray.channels, 1);

  Image rgba = rgb;
  rgba.channels = 4;
  rgba.width = 3;
  rgba.pixels = {1, 2, 3, 200, 4, 5, 6, 0, 7, 8, 9, 255};
  EXPECT_EQ(cnnzoo::io::convert_channels(rgba, 3).pixels,
            (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));

  Image g;
  g.height = 2;
  g.width = 1;
  g.channels = 1;
  g.pixels = {9, 250};
  EXPECT_EQ(cnnzoo::io::convert_channels(g, 3).pixels,
            (std::vector<uint8_t>{9, 9, 9, 250, 250, 250}));

  // read_image converts on request, from a gray PNG and from an RGB PNG.
  TempDir dir;
  cnnzoo::io::write_png(dir / "g.png", g);
  Image g3 = cnnzoo::io::read_image(dir / "g.png", 3);
  EXPECT_EQ(g3.channels, 3);
  EXPECT_EQ(g3.pixels, (std::vector<uint8_t>{9, 9, 9, 250, 250, 250}));
  cnnzoo::io::write_png(dir / "rgb.png", rgb);
  EXPECT_EQ(cnnzoo::io::read_image(dir / "rgb.png", 1).pixels,
            (std::vector<uint8_t>{76, 150, 29, 18}));
  EXPECT_THROW(cnnzoo::io::read_image(dir / "rgb.png", 2), Error);
}

TEST(ImageIO, ResizeHandComputed) {
  Image row;
  row.height = 1;
  row.width = 2;
  row.channels = 1;
  row.pixels = {0, 100};
  // Output x samples source (x + 0.5) * 2/4 - 0.5 = -0.25, 0.25, 0.75, 1.25 (clamped).
  Image up = cnnzoo::io::resize(row, 1, 4);
  EXPECT_EQ(up.pixels, (std::vector<uint8_t>{0, 25, 75, 100}));

  Image four = row;
  four.width = 4;
  four.pixels = {0, 104, 200, 64};
  // Shrinking by 2 widens the triangle to 4 source pixels (antialiasing): output 0 at source
  // x = 1 weighs the pixels at -0.5 (the edge, clamped), 0.5, 1.5, 2.5 by 1/8, 3/8, 3/8,
  // 1/8: 0 + 0 + 39 + 25 = 64; output 1: 13 + 75 + 24 + 8 = 120. (Plain bilinear sampling
  // would give 52 and 132.)
  Image down = cnnzoo::io::resize(four, 1, 2);
  EXPECT_EQ(down.pixels, (std::vector<uint8_t>{64, 120}));

  // 2x2 RGB to 4x4: the corners keep their values, channels stay separate.
  Image sq;
  sq.height = sq.width = 2;
  sq.channels = 3;
  sq.pixels = {0, 10, 20, 40, 50, 60, 80, 90, 100, 120, 130, 140};
  Image big = cnnzoo::io::resize(sq, 4, 4);
  ASSERT_EQ(big.pixels.size(), 48u);
  auto at = [&](int y, int x, int c) { return int(big.pixels[(y * 4 + x) * 3 + c]); };
  EXPECT_EQ(at(0, 0, 0), 0);
  EXPECT_EQ(at(3, 3, 2), 140);
  EXPECT_EQ(at(0, 3, 1), 50);
  // (1, 1) samples source (0.25, 0.25): 0*.5625 + 40*.1875 + 80*.1875 + 120*.0625 = 30
  EXPECT_EQ(at(1, 1, 0), 30);
  EXPECT_EQ(at(1, 1, 2), 50);
  EXPECT_EQ(cnnzoo::io::resize(sq, 2, 2).pixels, sq.pixels);
  EXPECT_THROW(cnnzoo::io::resize(sq, 0, 3), Error);
}

TEST(ImageIO, JpegDecodes) {
  TempDir dir;
  std::vector<unsigned char> jpeg = encode_jpeg(16, 24);
  write_bytes(dir / "ok.jpg", jpeg);
  Image img = cnnzoo::io::read_image(dir / "ok.jpg");
  EXPECT_EQ(img.height, 16);
  EXPECT_EQ(img.width, 24);
  EXPECT_EQ(img.channels, 3);
  // Lossy, but the smooth ramp survives: pixel (5, 7) was (4*7 + 2*5 + 60c).
  for (int c = 0; c < 3; ++c)
    EXPECT_NEAR(img.pixels[(5 * 24 + 7) * 3 + c], 38 + 60 * c, 6) << "channel " << c;
}

TEST(ImageIO, CorruptTruncatedAndMissingFilesNameTheFile) {
  TempDir dir;
  std::vector<unsigned char> jpeg = encode_jpeg(32, 32);
  for (size_t keep : {jpeg.size() - 2, jpeg.size() * 9 / 10, jpeg.size() / 2, size_t(20)}) {
    std::string path = dir / ("cut" + std::to_string(keep) + ".jpg");
    write_bytes(path, std::vector<unsigned char>(jpeg.begin(), jpeg.begin() + keep));
    expect_error([&] { cnnzoo::io::read_image(path); }, {path, "truncated"});
  }
  std::vector<unsigned char> garbage(500);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = uint8_t(i * 7919 % 253);
  write_bytes(dir / "garbage.jpg", garbage);
  expect_error([&] { cnnzoo::io::read_image(dir / "garbage.jpg"); }, {"garbage.jpg"});
  write_bytes(dir / "empty.png", {});
  expect_error([&] { cnnzoo::io::read_image(dir / "empty.png"); }, {"empty.png"});

  cnnzoo::io::write_png(dir / "p.png", make_image(20, 20, 3));
  std::vector<unsigned char> png = read_bytes(dir / "p.png");
  write_bytes(dir / "cut.png", std::vector<unsigned char>(png.begin(), png.end() - 20));
  expect_error([&] { cnnzoo::io::read_image(dir / "cut.png"); }, {"cut.png"});

  expect_error([&] { cnnzoo::io::read_image(dir / "missing.png"); },
               {"missing.png", "No such file"});
}

// A DHT segment declaring more than 256 codes overflows stb_image's Huffman tables (an
// out-of-bounds write, seen by UBSan); it is refused before the decoder sees it.
TEST(ImageIO, AJpegHuffmanTableWithTooManyCodesIsRefused) {
  TempDir dir;
  std::vector<unsigned char> jpeg = encode_jpeg(16, 16);
  size_t dht = 0;
  for (size_t i = 2; i + 1 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC4) {
      dht = i;
      break;
    }
  ASSERT_GT(dht, 0u) << "the encoder wrote no Huffman table";
  jpeg[dht + 4 + 16] = 255;  // the count of 16-bit codes of the first table
  write_bytes(dir / "dht.jpg", jpeg);
  expect_error([&] { cnnzoo::io::read_image(dir / "dht.jpg"); },
               {"dht.jpg", "Huffman table declares", "at most 256"});
  // The decoder skips 0xFF fill bytes before the start marker too (a fuzzer's find).
  jpeg.insert(jpeg.begin(), {0xFF, 0xFF});
  write_bytes(dir / "fill.jpg", jpeg);
  expect_error([&] { cnnzoo::io::read_image(dir / "fill.jpg"); },
               {"fill.jpg", "Huffman table declares", "at most 256"});
}

// Empty IDAT chunks are legal and carry no pixels; stb_image, given one before any data,
// copies zero bytes to a null buffer (undefined: UBSan stops the sanitizer job here). They
// are dropped before decoding: the image is the same, and a file with no data is an error.
TEST(ImageIO, EmptyPngDataChunksAreDroppedBeforeDecoding) {
  TempDir dir;
  const Image original = make_image(5, 7, 3);
  cnnzoo::io::write_png(dir / "p.png", original);
  std::vector<unsigned char> png = read_bytes(dir / "p.png");
  const unsigned char empty_idat[12] = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xAF, 0x06, 0x1E};
  png.insert(png.begin() + 8 + 25, empty_idat, empty_idat + 12);  // after IHDR (8 + 12 + 13)
  png.insert(png.end() - 12, empty_idat, empty_idat + 12);        // and before IEND
  const Image decoded = cnnzoo::io::decode_image(png.data(), png.size(), "p.png");
  EXPECT_EQ(decoded.height, 5);
  EXPECT_EQ(decoded.width, 7);
  EXPECT_EQ(decoded.pixels, original.pixels);
  // The fuzzer's input: a 7x5 grey IHDR, one empty IDAT, IEND.
  const std::vector<unsigned char> no_data = {
      0x89, 'P',  'N', 'G', 13,  10,  26,  10,  0,    0,    0,    13,   'I',  'H',  'D',
      'R',  0,    0,   0,   7,   0,   0,   0,   5,    8,    0,    0,    0,    0,    0xa4,
      0xf1, 0xa9, 0x4, 0,   0,   0,   0,   'I', 'D',  'A',  'T',  0x78, 0xea, 0x94, 0xe1,
      0,    0,    0,   0,   'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
  expect_error([&] { cnnzoo::io::decode_image(no_data.data(), no_data.size(), "empty.png"); },
               {"empty.png"});
}

// The pixel limit applies to the size a file declares, before decoding; it is configurable.
TEST(ImageIO, DeclaredSizesOverThePixelLimitAreRefusedBeforeDecoding) {
  TempDir dir;
  write_bytes(dir / "ok.jpg", encode_jpeg(16, 24));
  cnnzoo::io::write_png(dir / "ok.png", make_image(16, 24, 3));
  EXPECT_EQ(cnnzoo::io::max_image_pixels(), int64_t(1) << 26);
  cnnzoo::io::set_max_image_pixels(16 * 24 - 1);
  for (const char* name : {"ok.jpg", "ok.png"})
    expect_error([&] { cnnzoo::io::read_image(dir / name); },
                 {name, "24x16", "over the limit of 383 pixels"});
  cnnzoo::io::set_max_image_pixels(16 * 24);
  EXPECT_EQ(cnnzoo::io::read_image(dir / "ok.png").width, 24);
  EXPECT_THROW(cnnzoo::io::set_max_image_pixels(0), Error);
  cnnzoo::io::set_max_image_pixels(int64_t(1) << 26);
}
