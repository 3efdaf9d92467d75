// Argument parsing shared by the cnnzoo command line and cnnzoo-gradcheck.
#include "cli/args.hpp"

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "cnnzoo/error.hpp"

namespace cnnzoo::cli {

std::map<std::string, std::string> parse_sets(const std::vector<std::string>& items) {
  std::map<std::string, std::string> out;
  for (const auto& it : items) {
    auto eq = it.find('=');
    check(eq != std::string::npos && eq > 0, "--set expects key=value, got '" + it + "'");
    out[it.substr(0, eq)] = it.substr(eq + 1);
  }
  return out;
}

Shape parse_chw(const std::string& s) {
  Shape out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t x = s.find('x', pos);
    std::string part = s.substr(pos, x == std::string::npos ? std::string::npos : x - pos);
    char* end = nullptr;
    long long v = std::strtoll(part.c_str(), &end, 10);
    check(!part.empty() && *end == '\0' && v > 0 && v <= kMaxSide,
          "--input expects CxHxW with sides in [1, " + std::to_string(kMaxSide) + "], got '" + s +
              "'");
    out.push_back(v);
    if (x == std::string::npos) break;
    pos = x + 1;
  }
  check(out.size() == 3, "--input expects CxHxW, got '" + s + "'");
  return out;
}

CLI::Validator finite_range(double lo, double hi) {
  std::ostringstream bounds;
  bounds << "[" << lo << ", " << hi << "]";
  const std::string range = bounds.str();
  return CLI::Validator(
      [lo, hi, range](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0') return "expects a number, got '" + text + "'";
        if (!std::isfinite(v) || v < lo || v > hi)
          return "value " + text + " is not a finite number in " + range;
        return "";
      },
      "in " + range);
}

}  // namespace cnnzoo::cli
