// Thread-local layer recording for summaries.
#include "cnnzoo/nn/profile.hpp"

namespace cnnzoo::nn {

namespace {
thread_local ProfileScope* t_scope = nullptr;
}

ProfileScope::ProfileScope() : prev_(t_scope) {
  t_scope = this;
}
ProfileScope::~ProfileScope() {
  t_scope = prev_;
}

void record_layer(const Module& m, const Shape& input, const Shape& output, int64_t macs) {
  if (t_scope) t_scope->records_.push_back({&m, input, output, macs});
}

}  // namespace cnnzoo::nn
