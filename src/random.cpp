// Generator state save/restore and the process-wide generator.
#include "cnnzoo/random.hpp"

#include <cmath>
#include <sstream>

#include "cnnzoo/error.hpp"

namespace cnnzoo {

double Generator::normal(double mean, double stddev) {
  if (has_spare_) {
    has_spare_ = false;
    return mean + stddev * spare_;
  }
  double u1 = uniform(), u2 = uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  const double r = std::sqrt(-2.0 * std::log(u1)), theta = 2.0 * M_PI * u2;
  spare_ = r * std::sin(theta);
  has_spare_ = true;
  return mean + stddev * r * std::cos(theta);
}

std::string Generator::state() const {
  std::ostringstream os;
  os.precision(17);
  os << engine_ << " " << (has_spare_ ? 1 : 0) << " " << spare_;
  return os.str();
}

void Generator::set_state(const std::string& s) {
  std::istringstream is(s);
  std::mt19937_64 e;
  int spare_flag = 0;
  double spare = 0;
  is >> e >> spare_flag >> spare;
  if (is.fail() || (spare_flag != 0 && spare_flag != 1))
    throw Error("random: malformed generator state");
  engine_ = e;
  has_spare_ = spare_flag == 1;
  spare_ = spare;
}

Generator& global_generator() {
  static Generator g;
  return g;
}

void manual_seed(uint64_t seed) {
  global_generator().seed(seed);
}

}  // namespace cnnzoo
