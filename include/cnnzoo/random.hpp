// The random number generator behind initialisation, dropout and stochastic structure.
// Its state can be saved and restored, so a resumed training run continues bit for bit.
#pragma once
#include <cstdint>
#include <random>
#include <string>

namespace cnnzoo {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : engine_(seed) {}
  void seed(uint64_t s) {
    engine_.seed(s);
    has_spare_ = false;
  }
  uint64_t next_u64() { return engine_(); }
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal(double mean = 0.0, double stddev = 1.0);
  bool bernoulli(double p) { return uniform() < p; }
  int64_t randint(int64_t n) { return static_cast<int64_t>(next_u64() % static_cast<uint64_t>(n)); }
  std::string state() const;             // text form of the engine state
  void set_state(const std::string& s);  // throws Error on malformed state
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
  // Box-Muller yields normals in pairs; the second is kept for the next call (and is part
  // of the saved state, so a restored generator continues identically).
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// Process-wide generator used by init and by stochastic layers in training mode.
Generator& global_generator();
void manual_seed(uint64_t seed);

}  // namespace cnnzoo
