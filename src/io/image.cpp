// Image decode/encode over stb_image and stb_image_write (their single implementation lives
// here, with static linkage so an application that also uses stb cannot clash with ours).
#include "cnnzoo/io/image.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <atomic>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "cnnzoo/error.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO  // we read files ourselves, to check them for truncation first
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#include <stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>
#define STB_IMAGE_RESIZE_STATIC
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image_resize.h>
#pragma GCC diagnostic pop

namespace cnnzoo::io {
namespace {

// The largest image resize will produce (1 GiB of pixels): a mistyped size is an error, not
// an allocation that takes the machine.
constexpr size_t kMaxImageBytes = size_t(1) << 30;

std::vector<uint8_t> read_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw Error("read_image: cannot open '" + path + "': " + std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, f.get())) > 0)
    bytes.insert(bytes.end(), chunk, chunk + got);
  if (std::ferror(f.get())) throw Error("read_image: cannot read '" + path + "'");
  return bytes;
}

uint32_t be16(const uint8_t* p) {
  return uint32_t(p[0]) << 8 | p[1];
}
uint32_t be32(const uint8_t* p) {
  return be16(p) << 16 | be16(p + 2);
}
uint32_t le32(const uint8_t* p) {
  return p[0] | p[1] << 8 | p[2] << 16 | uint32_t(p[3]) << 24;
}

const uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

// stb_image quietly fills a truncated JPEG or BMP with zeros, so truncation is detected here
// by walking the container: JPEG segments up to the end-of-image marker, PNG chunks up to
// IEND, BMP pixel array size. Returns an empty string when the file is complete.
std::string find_truncation(const uint8_t* d, size_t n) {
  // stb_image takes 0xFF D8 after any run of 0xFF fill bytes as the start of a JPEG.
  size_t soi = 1;
  while (soi < n && d[soi] == 0xFF) ++soi;
  if (n >= 2 && d[0] == 0xFF && soi < n && d[soi] == 0xD8) {
    size_t pos = soi + 1;
    while (pos + 1 < n) {
      if (d[pos] != 0xFF) return "corrupt JPEG (bad segment marker)";
      uint8_t marker = d[pos + 1];
      if (marker == 0xFF) {  // fill byte before a marker
        ++pos;
        continue;
      }
      if (marker == 0xD9) return "";
      if ((marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
        pos += 2;
        continue;
      }
      if (pos + 4 > n) break;
      uint32_t len = be16(d + pos + 2);
      if (len < 2) return "corrupt JPEG (bad segment length)";
      if (marker == 0xC4 && pos + 2 + len <= n) {
        // Huffman tables: a class/id byte, 16 code counts, then that many symbols. More than
        // 256 codes overflow the decoder's tables (stb_image writes past them).
        size_t t = pos + 4;
        const size_t end = pos + 2 + len;
        while (t < end) {
          if (t + 17 > end) return "corrupt JPEG (short Huffman table)";
          size_t codes = 0;
          for (int i = 1; i <= 16; ++i) codes += d[t + i];
          if (codes > 256)
            return "corrupt JPEG (Huffman table declares " + std::to_string(codes) +
                   " codes; at most 256)";
          t += 17 + codes;
        }
        if (t != end) return "corrupt JPEG (Huffman table longer than its segment)";
      }
      pos += 2 + len;
      if (marker == 0xDA) {  // entropy-coded data runs to the next marker other than RSTn
        while (pos + 1 < n &&
               !(d[pos] == 0xFF && d[pos + 1] != 0 && !(d[pos + 1] >= 0xD0 && d[pos + 1] <= 0xD7)))
          ++pos;
      }
    }
    return "truncated JPEG (no end-of-image marker)";
  }
  if (n >= 8 && std::memcmp(d, kPngSignature, 8) == 0) {
    size_t pos = 8;
    while (pos + 12 <= n) {
      size_t len = be32(d + pos);
      if (len > n - pos - 12) break;
      if (std::memcmp(d + pos + 4, "IEND", 4) == 0) return "";
      pos += 12 + len;
    }
    return "truncated PNG (no IEND chunk)";
  }
  if (n >= 34 && d[0] == 'B' && d[1] == 'M') {
    uint32_t offset = le32(d + 10), header = le32(d + 14);
    if (header >= 40) {
      int64_t width = int32_t(le32(d + 18)), height = int32_t(le32(d + 22));
      uint32_t bpp = d[28] | d[29] << 8;
      uint32_t compression = le32(d + 30);
      if ((compression == 0 || compression == 3) && width > 0) {
        uint64_t stride = (uint64_t(width) * bpp + 31) / 32 * 4;
        uint64_t need = uint64_t(offset) + stride * uint64_t(std::llabs(height));
        if (need > n) return "truncated BMP (pixel data shorter than the header says)";
      }
    }
  }
  return "";
}

std::atomic<int64_t>& pixel_limit() {
  static std::atomic<int64_t> limit{int64_t(1) << 26};
  return limit;
}

// A PNG's chunks without its empty IDAT chunks (none of its pixel data is in them). stb_image
// copies each IDAT into a buffer it allocates on the first non-empty one, so an empty IDAT
// first hands memcpy a null destination (undefined, though of zero bytes; the image fuzzer
// found it). Returns nothing when there is no empty IDAT; call after find_truncation.
std::vector<uint8_t> without_empty_idat(const uint8_t* d, size_t n) {
  if (n < 8 || std::memcmp(d, kPngSignature, 8) != 0) return {};
  // The chunks up to IEND as find_truncation walks them: f(start, whole length).
  auto each_chunk = [&](auto&& f) {
    for (size_t pos = 8; pos + 12 <= n;) {
      const size_t len = be32(d + pos);
      if (len > n - pos - 12) return;
      f(pos, 12 + len);
      if (!std::memcmp(d + pos + 4, "IEND", 4)) return;
      pos += 12 + len;
    }
  };
  auto empty_idat = [&](size_t pos, size_t whole) {
    return whole == 12 && !std::memcmp(d + pos + 4, "IDAT", 4);
  };
  bool any = false;
  each_chunk([&](size_t pos, size_t whole) { any = any || empty_idat(pos, whole); });
  if (!any) return {};
  std::vector<uint8_t> out(d, d + 8);
  each_chunk([&](size_t pos, size_t whole) {
    if (!empty_idat(pos, whole)) out.insert(out.end(), d + pos, d + pos + whole);
  });
  return out;
}

}  // namespace

int64_t max_image_pixels() {
  return pixel_limit().load();
}

void set_max_image_pixels(int64_t pixels) {
  check(pixels >= 1, "set_max_image_pixels: expected at least 1, got " + std::to_string(pixels));
  pixel_limit() = pixels;
}

Image decode_image(const uint8_t* data, size_t size, const std::string& name, int channels) {
  check(channels == 0 || channels == 1 || channels == 3,
        "read_image: channels must be 0, 1 or 3, got " + std::to_string(channels));
  std::string problem = find_truncation(data, size);
  if (!problem.empty()) throw Error("read_image: cannot decode '" + name + "': " + problem);
  const std::vector<uint8_t> cleaned = without_empty_idat(data, size);
  if (!cleaned.empty()) {
    data = cleaned.data();
    size = cleaned.size();
  }
  int w = 0, h = 0, c = 0;
  if (size > static_cast<size_t>(INT32_MAX)) throw Error("read_image: '" + name + "' is too large");
  // The size the header declares, checked before any pixel is decoded: a few hundred bytes
  // of JPEG or PNG can declare gigabytes.
  if (stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &c) &&
      int64_t(w) * h > max_image_pixels())
    throw Error("read_image: '" + name + "' is " + std::to_string(w) + "x" + std::to_string(h) +
                ", over the limit of " + std::to_string(max_image_pixels()) +
                " pixels (io::set_max_image_pixels)");
  std::unique_ptr<uint8_t, void (*)(void*)> px(
      stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &c, 0), &stbi_image_free);
  if (!px) {
    const char* reason = stbi_failure_reason();
    throw Error("read_image: cannot decode '" + name + "': " + (reason ? reason : "unknown"));
  }
  Image img;
  img.height = h;
  img.width = w;
  img.channels = c;
  img.pixels.assign(px.get(), px.get() + size_t(h) * w * c);
  if (channels != 0 && channels != c) return convert_channels(img, channels);
  return img;
}

Image read_image(const std::string& path, int channels) {
  check(channels == 0 || channels == 1 || channels == 3,
        "read_image: channels must be 0, 1 or 3, got " + std::to_string(channels));
  std::vector<uint8_t> bytes = read_file(path);
  return decode_image(bytes.data(), bytes.size(), path, channels);
}

Image convert_channels(const Image& in, int channels) {
  check(in.channels >= 1 && in.channels <= 4,
        "convert_channels: image has " + std::to_string(in.channels) + " channels");
  check(in.pixels.size() == size_t(in.height) * in.width * in.channels,
        "convert_channels: pixel buffer does not match the image size");
  check(channels == 1 || channels == 3,
        "convert_channels: channels must be 1 or 3, got " + std::to_string(channels));
  Image out;
  out.height = in.height;
  out.width = in.width;
  out.channels = channels;
  size_t n = size_t(in.height) * in.width;
  out.pixels.resize(n * channels);
  const uint8_t* s = in.pixels.data();
  uint8_t* d = out.pixels.data();
  int ci = in.channels;
  bool colour = ci >= 3;
  for (size_t i = 0; i < n; ++i, s += ci) {
    if (channels == 1) {
      // BT.601 luma, rounded: Y = 0.299 R + 0.587 G + 0.114 B.
      d[i] = colour ? uint8_t((299u * s[0] + 587u * s[1] + 114u * s[2] + 500u) / 1000u) : s[0];
    } else if (colour) {
      d[3 * i] = s[0], d[3 * i + 1] = s[1], d[3 * i + 2] = s[2];
    } else {
      d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = s[0];
    }
  }
  return out;
}

Image resize(const Image& in, int height, int width) {
  check(height > 0 && width > 0, "resize: target size must be positive, got " +
                                     std::to_string(height) + "x" + std::to_string(width));
  check(in.height > 0 && in.width > 0 && in.channels > 0 &&
            in.pixels.size() == size_t(in.height) * in.width * in.channels,
        "resize: input image is empty or its pixel buffer does not match its size");
  check(size_t(height) * width * in.channels <= kMaxImageBytes,
        "resize: target " + std::to_string(height) + "x" + std::to_string(width) +
            " is over the limit of " + std::to_string(kMaxImageBytes >> 20) + " MiB");
  if (height == in.height && width == in.width) return in;
  Image out;
  out.height = height;
  out.width = width;
  out.channels = in.channels;
  out.pixels.resize(size_t(height) * width * in.channels);
  // The triangle filter widened by the scale factor when shrinking: bilinear when
  // enlarging, antialiased when shrinking, as PIL's and torchvision's bilinear resize.
  if (!stbir_resize_uint8_generic(in.pixels.data(), in.width, in.height, 0, out.pixels.data(),
                                  width, height, 0, in.channels, STBIR_ALPHA_CHANNEL_NONE, 0,
                                  STBIR_EDGE_CLAMP, STBIR_FILTER_TRIANGLE, STBIR_COLORSPACE_LINEAR,
                                  nullptr))
    throw Error("resize: out of memory resizing to " + std::to_string(height) + "x" +
                std::to_string(width));
  return out;
}

void write_png(const std::string& path, const Image& image) {
  check(image.height > 0 && image.width > 0 && image.channels >= 1 && image.channels <= 4,
        "write_png: '" + path + "': bad image size " + std::to_string(image.height) + "x" +
            std::to_string(image.width) + "x" + std::to_string(image.channels));
  check(image.pixels.size() == size_t(image.height) * image.width * image.channels,
        "write_png: '" + path + "': pixel buffer does not match the image size");
  std::vector<uint8_t> encoded;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<uint8_t>*>(context);
    size_t old = out->size();
    out->resize(old + size_t(size));
    std::memcpy(out->data() + old, data, size_t(size));
  };
  if (!stbi_write_png_to_func(append, &encoded, image.width, image.height, image.channels,
                              image.pixels.data(), image.width * image.channels))
    throw Error("write_png: cannot encode '" + path + "'");

  std::string tmp = path + ".tmpXXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0)
    throw Error("write_png: cannot create a file next to '" + path + "': " + std::strerror(errno));
  auto fail = [&](const char* what) {
    std::string reason = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(std::string("write_png: cannot ") + what + " '" + path + "': " + reason);
  };
  size_t done = 0;
  while (done < encoded.size()) {
    ssize_t w = ::write(fd, encoded.data() + done, encoded.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("write");
    done += size_t(w);
  }
  // mkstemp makes the file 0600; give it the usual permissions of a new file.
  mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd, 0666 & ~mask) != 0) fail("set permissions of");
  if (::fsync(fd) != 0) fail("flush");
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) fail("close");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("rename a temporary file onto");
}

}  // namespace cnnzoo::io
