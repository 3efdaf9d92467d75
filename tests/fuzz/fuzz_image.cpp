// Image files (PNG, JPEG, BMP): decode, convert to 1 and 3 channels, resize.
#include "cnnzoo/io/image.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool limited = [] {
    cnnzoo::io::set_max_image_pixels(int64_t(1) << 22);  // keep each run fast
    return true;
  }();
  (void)limited;
  fuzz::expect_clean([&] {
    cnnzoo::io::Image img = cnnzoo::io::decode_image(data, size, "fuzz");
    cnnzoo::io::Image gray = cnnzoo::io::convert_channels(img, 1);
    cnnzoo::io::Image rgb = cnnzoo::io::convert_channels(img, 3);
    cnnzoo::io::resize(rgb, 8, 8);
    cnnzoo::io::resize(gray, 3, 17);
  });
  return 0;
}
