// Per-layer records for `summary`: while a ProfileScope is alive on this thread, each layer
// module reports its input/output shapes and multiply-adds as it runs forward.
#pragma once
#include <vector>

#include "cnnzoo/nn/module.hpp"

namespace cnnzoo::nn {

struct LayerRecord {
  const Module* module;
  Shape input, output;
  int64_t macs;  // conv + linear multiply-adds for the whole batch (0 for other layers)
};

class ProfileScope {
 public:
  ProfileScope();
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;
  const std::vector<LayerRecord>& records() const { return records_; }

 private:
  friend void record_layer(const Module&, const Shape&, const Shape&, int64_t);
  std::vector<LayerRecord> records_;
  ProfileScope* prev_;
};

// Called by layers; does nothing unless a ProfileScope is active on this thread.
void record_layer(const Module& m, const Shape& input, const Shape& output, int64_t macs);

}  // namespace cnnzoo::nn
