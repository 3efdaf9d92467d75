// cnnzoo: list, inspect, train, evaluate and run the model zoo from the command line.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cli/common.hpp"
#include "cnnzoo/error.hpp"
#include "cnnzoo/tensor.hpp"

namespace {

// `cnnzoo gradcheck ...` is cnnzoo-gradcheck, the program beside this one: gradient checks need
// the double-precision models, which cannot share a process with the float ones.
int run_gradcheck(int argc, char** argv) {
  std::string self(4096, '\0');
  const ssize_t n = readlink("/proc/self/exe", self.data(), self.size() - 1);
  std::string dir = n > 0 ? self.substr(0, static_cast<size_t>(n)) : std::string(argv[0]);
  dir = dir.find('/') == std::string::npos ? "." : dir.substr(0, dir.rfind('/'));
  const std::string helper = dir + "/cnnzoo-gradcheck";
  std::vector<char*> args = {const_cast<char*>(helper.c_str())};
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  execv(helper.c_str(), args.data());
  std::fprintf(stderr, "cnnzoo: gradcheck needs %s (built with CNNZOO_BUILD_DOUBLE): %s\n",
               helper.c_str(), std::strerror(errno));
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "gradcheck") return run_gradcheck(argc, argv);
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
  cnnzoo::cli::add_cam(app);
  cnnzoo::cli::add_chart(app);
  cnnzoo::cli::add_prune(app);
  cnnzoo::cli::add_compress(app);
  app.add_subcommand("gradcheck",
                     "Double-precision gradient check of a model at tiny size (cnnzoo gradcheck "
                     "--help)");
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
