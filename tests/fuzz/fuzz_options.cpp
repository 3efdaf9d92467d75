// The command line's --set and --input parsers and a model's option check: the input is
// "model\nkey=value\nkey=value...\nCxHxW".
#include <sstream>
#include <vector>

#include "cli/args.hpp"
#include "cnnzoo/models.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(fuzz::bytes(data, size));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (lines.size() < 2) return 0;
  fuzz::expect_clean([&] { cnnzoo::cli::parse_chw(lines.back()); });
  fuzz::expect_clean([&] {
    cnnzoo::models::ModelSpec spec;
    spec.name = lines[0];
    spec.options = cnnzoo::cli::parse_sets({lines.begin() + 1, lines.end() - 1});
    cnnzoo::models::resolve_spec(spec);  // validates every option, builds nothing
  });
  return 0;
}
