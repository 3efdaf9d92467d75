// `cnnzoo list` and `cnnzoo summary`.
#include <cstdio>
#include <iostream>

#include "cli/common.hpp"
#include "cnnzoo/nn/summary.hpp"

namespace cnnzoo::cli {

namespace {

std::string input_str(const models::ModelInfo& m) {
  return std::to_string(m.in_channels) + "x" + std::to_string(m.input_size) + "x" +
         std::to_string(m.input_size);
}

std::string paper_ref(const models::ModelInfo& m) {
  return m.authors + " " + std::to_string(m.year) + ", " + m.paper +
         (m.arxiv.empty() ? "" : " (arXiv:" + m.arxiv + ")");
}

}  // namespace

void add_list(CLI::App& app) {
  auto* cmd = app.add_subcommand("list", "List every model: name, paper, year, input");
  auto as_json = std::make_shared<bool>(false);
  auto markdown = std::make_shared<bool>(false);
  auto* json_flag = cmd->add_flag("--json", *as_json, "Print JSON");
  cmd->add_flag("--markdown", *markdown,
                "Print the README model table (builds every model to count parameters and "
                "multiply-adds; takes a minute)")
      ->excludes(json_flag);
  cmd->callback([=] {
    const auto& reg = models::registry();
    if (*as_json) {
      json arr = json::array();
      for (const auto& m : reg) {
        json options = json::array();
        for (const auto& o : m.options)
          options.push_back(
              {{"key", o.key}, {"kind", o.kind}, {"range", o.range}, {"help", o.help}});
        arr.push_back({{"name", m.name},
                       {"paper", m.paper},
                       {"authors", m.authors},
                       {"year", m.year},
                       {"arxiv", m.arxiv},
                       {"dataset", m.dataset},
                       {"classes", m.num_classes},
                       {"input", input_str(m)},
                       {"options", options},
                       {"paper_cifar10_error", m.paper_cifar10_error}});
      }
      std::cout << arr.dump(2) << "\n";
      return;
    }
    if (*markdown) {
      std::cout << "| model | paper | input | parameters | multiply-adds | paper CIFAR-10 error |\n"
                << "| --- | --- | --- | ---: | ---: | ---: |\n";
      for (const auto& m : reg) {
        nn::ModulePtr model = models::build_model(m.name);
        nn::ModelSummary s = nn::summarize(*model, {m.in_channels, m.input_size, m.input_size});
        std::cout << "| `" << m.name << "` | " << m.authors << " " << m.year << ", "
                  << (m.arxiv.empty() ? m.paper
                                      : "[" + m.paper + "](https://arxiv.org/abs/" + m.arxiv + ")")
                  << " | " << input_str(m) << " | " << nn::human_count(s.params) << " | "
                  << nn::human_count(s.macs) << " | "
                  << (m.paper_cifar10_error.empty() ? "–" : m.paper_cifar10_error + "%") << " |\n";
      }
      return;
    }
    for (const auto& m : reg)
      std::printf("%-32s %-9s %-12s %s\n", m.name.c_str(), m.dataset.c_str(), input_str(m).c_str(),
                  paper_ref(m).c_str());
  });
}

void add_summary(CLI::App& app) {
  auto* cmd = app.add_subcommand("summary", "Parameters, multiply-adds and per-layer table");
  struct Opts {
    std::string model, input;
    int64_t classes = -1;
    bool layers = false, as_json = false;
    std::vector<std::string> sets;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("model", o->model, "Model name (see `cnnzoo list`)")->required();
  cmd->add_option("--classes", o->classes, "Number of classes (default: the model's)")
      ->check(CLI::Range(int64_t(1), kMaxClasses));
  cmd->add_option("--input", o->input, "Input size CxHxW (default: the model's)");
  cmd->add_option("--set", o->sets, "Paper option key=value (repeatable)");
  cmd->add_flag("--layers", o->layers, "Print the per-layer table");
  cmd->add_flag("--json", o->as_json, "Print JSON");
  cmd->callback([o] {
    models::ModelSpec spec;
    spec.name = o->model;
    spec.num_classes = o->classes;
    spec.options = parse_sets(o->sets);
    if (!o->input.empty()) {
      Shape chw = parse_chw(o->input);
      check(chw[1] == chw[2], "--input: only square inputs are supported, got " + o->input);
      spec.in_channels = chw[0];
      spec.input_size = chw[1];
    }
    spec = models::resolve_spec(spec);
    nn::ModulePtr model = models::build_model(spec);
    nn::ModelSummary s =
        nn::summarize(*model, {spec.in_channels, spec.input_size, spec.input_size});
    std::string input = std::to_string(spec.in_channels) + "x" + std::to_string(spec.input_size) +
                        "x" + std::to_string(spec.input_size);
    if (o->as_json) {
      json j = {{"model", spec.name}, {"params", s.params},          {"macs", s.macs},
                {"input", input},     {"classes", spec.num_classes}, {"output", s.output}};
      if (o->layers) {
        json arr = json::array();
        for (const auto& l : s.layers)
          arr.push_back({{"name", l.name},
                         {"type", l.type},
                         {"config", l.config},
                         {"output", l.output},
                         {"params", l.params},
                         {"macs", l.macs}});
        j["layers"] = arr;
      }
      std::cout << j.dump(2) << "\n";
      return;
    }
    if (o->layers) {
      std::printf("%-44s %-18s %-18s %12s %14s\n", "layer", "type", "output", "params", "MACs");
      for (const auto& l : s.layers)
        std::printf("%-44s %-18s %-18s %12lld %14lld\n", l.name.c_str(), l.type.c_str(),
                    shape_str(l.output).c_str(), static_cast<long long>(l.params),
                    static_cast<long long>(l.macs));
      std::printf("\n");
    }
    std::printf("model:          %s\n", spec.name.c_str());
    std::printf("input:          %s\n", input.c_str());
    std::printf("classes:        %lld\n", static_cast<long long>(spec.num_classes));
    std::printf("parameters:     %lld (%s)\n", static_cast<long long>(s.params),
                nn::human_count(s.params).c_str());
    std::printf("multiply-adds:  %lld (%s) per image\n", static_cast<long long>(s.macs),
                nn::human_count(s.macs).c_str());
  });
}

}  // namespace cnnzoo::cli
