// cnnzoo::Error: the one exception type for bad input and misuse (shapes, arguments, files).
#pragma once
#include <stdexcept>
#include <string>

namespace cnnzoo {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Throws Error(message) when cond is false; used for user-facing argument checks.
inline void check(bool cond, const std::string& message) {
  if (!cond) throw Error(message);
}

}  // namespace cnnzoo
