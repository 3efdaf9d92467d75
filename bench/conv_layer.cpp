// Times one conv layer (default: ResNet-20 stage 1, batch 128, 16->16, 32x32, 3x3) through
// autograd: forward, then backward for input and weight. Prints median ms and GFLOP/s.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cnnzoo/autograd.hpp"
#include "cnnzoo/ops/conv.hpp"
#include "cnnzoo/parallel.hpp"
#include "cnnzoo/precision.hpp"
#include "cnnzoo/random.hpp"

using namespace cnnzoo;

namespace {

struct Args {
  int threads = 2, reps = 20, warmup = 3;
  int64_t batch = 128, cin = 16, cout = 16, hw = 32, k = 3, stride = 1, groups = 1;
  std::string precision = "fp32";
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "--help" || key == "-h") {
      std::printf(
          "usage: bench_conv_layer [--threads N] [--batch B] [--cin C] [--cout C] [--hw S]\n"
          "                        [--k K] [--stride S] [--groups G] [--reps R]   (padding = k / "
          "2)\n"
          "                        [--precision fp32|bf16]\n");
      std::exit(0);
    }
    if (i + 1 >= argc) throw Error("bench_conv_layer: missing value after " + key);
    if (key == "--precision") {
      a.precision = argv[++i];
      continue;
    }
    const long v = std::strtol(argv[++i], nullptr, 10);
    if (v < 1) throw Error("bench_conv_layer: " + key + " needs a positive integer");
    if (key == "--threads")
      a.threads = static_cast<int>(v);
    else if (key == "--batch")
      a.batch = v;
    else if (key == "--cin")
      a.cin = v;
    else if (key == "--cout")
      a.cout = v;
    else if (key == "--hw")
      a.hw = v;
    else if (key == "--k")
      a.k = v;
    else if (key == "--stride")
      a.stride = v;
    else if (key == "--groups")
      a.groups = v;
    else if (key == "--reps")
      a.reps = static_cast<int>(v);
    else
      throw Error("bench_conv_layer: unknown option " + key);
  }
  return a;
}

Tensor random_tensor(const Shape& s, Generator& g) {
  Tensor t = Tensor::empty(s);
  for (float& v : t) v = static_cast<float>(g.uniform(-1, 1));
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) try {
  const Args a = parse(argc, argv);
  keep_freed_memory();  // as the CLI does for training
  set_num_threads(a.threads);
  set_precision(parse_precision(a.precision));
  Conv2dParams opt;
  opt.stride = a.stride;
  opt.padding = a.k / 2;
  opt.groups = a.groups;
  Generator gen(1);
  Var x(random_tensor({a.batch, a.cin, a.hw, a.hw}, gen), true);
  Var w(random_tensor({a.cout, a.cin / a.groups, a.k, a.k}, gen), true);
  const Shape ys = conv2d_output_shape(x.shape(), w.shape(), opt);
  const Tensor dy = random_tensor(ys, gen);
  const double macs = double(shape_numel(ys)) * double(a.cin / a.groups * a.k * a.k);

  using clock = std::chrono::steady_clock;
  std::vector<double> fwd, bwd, total;
  for (int r = 0; r < a.warmup + a.reps; ++r) {
    x.zero_grad();
    w.zero_grad();
    const auto t0 = clock::now();
    Var y = conv2d(x, w, Var(), opt);
    const auto t1 = clock::now();
    backward(y, dy);
    const auto t2 = clock::now();
    if (r < a.warmup) continue;
    fwd.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    bwd.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    total.push_back(std::chrono::duration<double, std::milli>(t2 - t0).count());
  }
  const double ms = median(total);
  std::printf(
      "cnnzoo %s threads=%d x=[%lld,%lld,%lld,%lld] w=[%lld,%lld,%lld,%lld] stride=%lld "
      "groups=%lld  "
      "fwd %.2f ms  bwd %.2f ms  total %.2f ms  %.1f GFLOP/s\n",
      a.precision.c_str(), a.threads, (long long)a.batch, (long long)a.cin, (long long)a.hw,
      (long long)a.hw, (long long)a.cout, (long long)(a.cin / a.groups), (long long)a.k,
      (long long)a.k, (long long)a.stride, (long long)a.groups, median(fwd), median(bwd), ms,
      2.0 * macs * 3.0 / (ms * 1e6));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
