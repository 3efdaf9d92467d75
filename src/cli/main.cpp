// cnnzoo: list, inspect, train, evaluate and run the model zoo from the command line.
#include <cstdio>
#include <exception>
#include <string>

#include "cli/common.hpp"
#include "cnnzoo/error.hpp"
#include "cnnzoo/tensor.hpp"

namespace cnnzoo::cli {

std::map<std::string, std::string> parse_sets(const std::vector<std::string>& items) {
  std::map<std::string, std::string> out;
  for (const auto& it : items) {
    auto eq = it.find('=');
    check(eq != std::string::npos && eq > 0, "--set expects key=value, got '" + it + "'");
    out[it.substr(0, eq)] = it.substr(eq + 1);
  }
  return out;
}

Shape parse_chw(const std::string& s) {
  Shape out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t x = s.find('x', pos);
    std::string part = s.substr(pos, x == std::string::npos ? std::string::npos : x - pos);
    char* end = nullptr;
    long long v = std::strtoll(part.c_str(), &end, 10);
    check(!part.empty() && *end == '\0' && v > 0, "--input expects CxHxW, got '" + s + "'");
    out.push_back(v);
    if (x == std::string::npos) break;
    pos = x + 1;
  }
  check(out.size() == 3, "--input expects CxHxW, got '" + s + "'");
  return out;
}

}  // namespace cnnzoo::cli

int main(int argc, char** argv) {
  cnnzoo::keep_freed_memory();  // a process of its own: training reuses its freed memory
  CLI::App app{"cnnzoo: classic convolutional networks (2012-2017) on CIFAR-10 and ImageNet"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "cnnzoo 0.1.0");
  cnnzoo::cli::add_list(app);
  cnnzoo::cli::add_summary(app);
  cnnzoo::cli::add_train(app);
  cnnzoo::cli::add_eval(app);
  cnnzoo::cli::add_predict(app);
  cnnzoo::cli::add_forward(app);
  cnnzoo::cli::add_export(app);
  cnnzoo::cli::add_bench(app);
  // A first word that is no subcommand and no flag: name it, rather than CLI11's "A
  // subcommand is required".
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      names += (names.empty() ? "" : ", ") + sub->get_name();
      known = known || sub->check_name(argv[1]);
    }
    if (!known) {
      std::fprintf(stderr, "cnnzoo: unknown subcommand '%s' (%s; see cnnzoo --help)\n", argv[1],
                   names.c_str());
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const cnnzoo::cli::ExitStatus& e) {
    return e.code;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "cnnzoo: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cnnzoo: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
