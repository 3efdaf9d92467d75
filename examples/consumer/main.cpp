// Builds a zoo model by name and runs one image through it: proof that an outside project
// can use cnnzoo through find_package or add_subdirectory.
#include <cstdio>

#include "cnnzoo/models.hpp"

int main() {
  auto model = cnnzoo::models::build_model("lenet5", 10);
  model->eval();
  cnnzoo::NoGradGuard no_grad;
  cnnzoo::Var y = model->forward(cnnzoo::Var(cnnzoo::Tensor::zeros({1, 1, 32, 32})));
  std::printf("lenet5: %lld parameters, output %s\n",
              static_cast<long long>(model->num_parameters()), y.value().shape_str().c_str());
  return y.size(1) == 10 ? 0 : 1;
}
