// Argument parsing shared by the cnnzoo command line and cnnzoo-gradcheck.
#pragma once
#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/tensor.hpp"

namespace cnnzoo::cli {

// The largest side --input accepts: a typo, not an image, beyond it.
constexpr int64_t kMaxSide = 65536;

// Parses "key=value" items of --set into a map; Error on an item without '='.
std::map<std::string, std::string> parse_sets(const std::vector<std::string>& items);

// "3x32x32" -> {3, 32, 32}; Error when malformed or a side is outside [1, kMaxSide].
Shape parse_chw(const std::string& s);

// The range of a real-valued flag. CLI11's Range lets NaN through (every comparison with NaN
// is false: `--time-limit nan` trained forever); this one refuses NaN and infinities and
// prints its bounds briefly.
CLI::Validator finite_range(double lo, double hi);

}  // namespace cnnzoo::cli
