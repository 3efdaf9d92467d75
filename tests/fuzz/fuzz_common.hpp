// What the fuzz harnesses share: the input as bytes or as a file, and the rule that a loader
// may refuse its input only with cnnzoo::Error (anything else, a crash or a sanitizer report
// is a finding).
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "cnnzoo/error.hpp"

namespace fuzz {

inline std::string bytes(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// A per-process scratch directory for loaders that read files.
inline const std::string& scratch() {
  static const std::string dir = [] {
    std::string tmpl = "/tmp/cnnzoo-fuzz-XXXXXX";
    if (!mkdtemp(tmpl.data())) std::abort();
    return tmpl;
  }();
  return dir;
}

inline std::string write(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch() + "/" + name;
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data), size);
  return path;
}

template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const cnnzoo::Error&) {
  }
}

}  // namespace fuzz
