// Prints a registry model's training-mode forward pass as JSON: every op with its attributes,
// inputs and output shape, and the parameters it reads. bench/torch_twin.py rebuilds a PyTorch
// model from it for the benchmark sweep of the families without a hand-written twin.
// Usage: bench_graph_dump MODEL [--classes N]
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cnnzoo/autograd.hpp"
#include "cnnzoo/models.hpp"
#include "export/trace.hpp"

using namespace cnnzoo;
using nlohmann::json;

int main(int argc, char** argv) try {
  if (argc != 2 && !(argc == 4 && std::string(argv[2]) == "--classes")) {
    std::fprintf(stderr, "usage: bench_graph_dump MODEL [--classes N]\n");
    return 2;
  }
  models::ModelSpec spec;
  spec.name = argv[1];
  if (argc == 4) spec.num_classes = std::stoll(argv[3]);
  spec = models::resolve_spec(spec);
  nn::ModulePtr model = models::build_model(spec);
  model->train();

  // Batch 2: BatchNorm in training mode needs more than one value per channel.
  Var input(Tensor::zeros({2, spec.in_channels, spec.input_size, spec.input_size}));
  trace::Recorder rec;
  Var output;
  {
    NoGradGuard no_grad;
    trace::Scope scope(rec);
    output = model->forward(input);
  }

  std::map<const Node<real>*, std::string> param_names;
  json params = json::array();
  for (auto& [name, p] : model->named_parameters()) {
    param_names[p.node().get()] = name;
    params.push_back({{"name", name}, {"shape", p.shape()}});
  }
  std::map<const Node<real>*, size_t> made_by;
  json ops = json::array();
  for (size_t k = 0; k < rec.events.size(); ++k) {
    const trace::Event& e = rec.events[k];
    json inputs = json::array();
    for (const auto& n : e.inputs) {
      if (!n) {
        inputs.push_back(nullptr);
      } else if (n.get() == input.node().get()) {
        inputs.push_back("input");
      } else if (auto p = param_names.find(n.get()); p != param_names.end()) {
        inputs.push_back({{"param", p->second}});
      } else if (auto m = made_by.find(n.get()); m != made_by.end()) {
        inputs.push_back({{"op", m->second}});
      } else {  // a tensor no traced op made (a random mask, a fixed factor)
        inputs.push_back({{"const", n->shape}});
      }
    }
    made_by[e.output.get()] = k;
    ops.push_back({{"op", e.op},
                   {"inputs", inputs},
                   {"ints", e.ints},
                   {"reals", e.reals},
                   {"shape", e.output->shape}});
  }
  json out = {{"model", spec.name},
              {"input", {spec.in_channels, spec.input_size, spec.input_size}},
              {"classes", spec.num_classes},
              {"params", params},
              {"ops", ops},
              {"output", made_by.at(output.node().get())}};
  std::cout << out.dump() << "\n";
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_graph_dump: %s\n", e.what());
  return 1;
}
