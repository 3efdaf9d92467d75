// Small labelled image sets made on the spot, for training tests that need data with signal
// but no files.
#pragma once
#include <cstdint>

#include "cnnzoo/data/dataset.hpp"
#include "cnnzoo/random.hpp"

namespace cnnzoo {

// Four classes of `channels` x size x size images: a bright square in one of the four
// quadrants, on noise.
inline data::Dataset quadrants(int64_t n, uint64_t seed, int64_t channels = 1, int64_t size = 32) {
  data::Dataset d;
  d.channels = channels;
  d.height = d.width = size;
  d.classes = {"nw", "ne", "sw", "se"};
  Generator g(seed);
  const int64_t half = size / 2;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = g.randint(4);
    d.labels.push_back(label);
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t y = 0; y < size; ++y)
        for (int64_t x = 0; x < size; ++x) {
          const bool inside = (y / half == label / 2) && (x / half == label % 2);
          d.images.push_back(static_cast<uint8_t>((inside ? 160 : 0) + g.randint(64)));
        }
  }
  return d;
}

}  // namespace cnnzoo
