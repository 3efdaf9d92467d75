// Generator state save/restore and the process-wide generator.
#include "cnnzoo/random.hpp"

#include <cmath>
#include <sstream>

#include "cnnzoo/error.hpp"

namespace cnnzoo {

double Generator::normal(double mean, double stddev) {
  // Box-Muller without a cached second value, so the state is just the engine's.
  double u1 = uniform(), u2 = uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

std::string Generator::state() const {
  std::ostringstream os;
  os << engine_;
  return os.str();
}

void Generator::set_state(const std::string& s) {
  std::istringstream is(s);
  std::mt19937_64 e;
  is >> e;
  if (is.fail()) throw Error("random: malformed generator state");
  engine_ = e;
}

Generator& global_generator() {
  static Generator g;
  return g;
}

void manual_seed(uint64_t seed) {
  global_generator().seed(seed);
}

}  // namespace cnnzoo
