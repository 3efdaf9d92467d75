// Image files in and out: decode PNG/JPEG/BMP with stb_image, resize, atomic PNG write.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cnnzoo::io {

// 8-bit image, interleaved HWC (row-major, channels innermost), 1 to 4 channels.
struct Image {
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels bytes
};

// Reads a PNG, JPEG or BMP file. channels: 0 keeps what the file stores; 1 or 3 converts
// (gray -> RGB replicates, RGB(A) -> gray with ITU-R BT.601 luma, alpha is dropped).
// Throws cnnzoo::Error naming the file when it is missing, truncated or corrupt.
Image read_image(const std::string& path, int channels = 0);

// The same from an encoded file already in memory; name is used in error messages.
Image decode_image(const uint8_t* data, size_t size, const std::string& name, int channels = 0);

// The most pixels (width x height) a file may declare: larger ones are refused, with an Error
// naming the size, before anything is decoded. Default 2^26 (67 million, 8192 x 8192). One
// setting for the process.
int64_t max_image_pixels();
void set_max_image_pixels(int64_t pixels);

// Converts interleaved pixels between 1, 2 (gray+alpha), 3 and 4 (RGBA) channels to 1 or 3.
Image convert_channels(const Image& image, int channels);

// Resamples with stb_image_resize's triangle filter, pixel centres aligned: bilinear when
// enlarging, antialiased (the filter widened by the scale) when shrinking, like PIL's and
// torchvision's bilinear resize with antialias. A target over 1 GiB of pixels is an Error.
Image resize(const Image& image, int height, int width);

// Writes a PNG through a temporary file in the same directory and a rename, so the
// destination is never left half-written. Throws Error naming the file on failure.
void write_png(const std::string& path, const Image& image);

}  // namespace cnnzoo::io
