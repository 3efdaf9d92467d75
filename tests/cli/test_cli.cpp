// The `cnnzoo` command line end to end: real training on Fashion-MNIST, exact resume,
// weights round trips, and one-line errors with no output left behind on bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/cli_run.hpp"
#include "cnnzoo/io/npy.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/models.hpp"
#include "cnnzoo/precision.hpp"
#include "cnnzoo/random.hpp"
#include "cnnzoo/train/trainer.hpp"
#include "data_paths.hpp"

namespace fs = std::filesystem;
using namespace cnnzoo;

namespace {

// metrics.csv rows without the wall-clock columns (seconds, images_per_s).
std::vector<std::string> metrics_without_time(const std::string& path) {
  std::vector<std::string> out;
  for (const auto& line : read_lines(path)) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cols.push_back(c);
    cols.resize(7);
    std::string joined;
    for (const auto& c : cols) joined += c + ",";
    out.push_back(joined);
  }
  return out;
}

}  // namespace

TEST(Cli, FashionMnistLeNetOneEpochReaches85Percent) {
  ASSERT_TRUE(fs::exists(kFashion + "/train-images-idx3-ubyte.gz"))
      << "Debian's dataset-fashion-mnist is required (scripts/setup.sh installs it)";
  TempDir tmp;
  CliRun r = cli("train --model lenet5 --set activation=relu --set pool=max --data " + kFashion +
                     " --dataset fashion-mnist --epochs 1 --batch 64 --lr 0.05 --schedule cosine"
                     " --augment none --seed 1 --no-progress --out " +
                     tmp / "run",
                 tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  auto rows = read_lines(tmp / "run/metrics.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], "epoch,step,lr,train_loss,train_acc,test_loss,test_acc,seconds,images_per_s");
  std::vector<std::string> cols;
  std::stringstream ss(rows[1]);
  for (std::string c; std::getline(ss, c, ',');) cols.push_back(c);
  ASSERT_EQ(cols.size(), 9u);
  double test_acc = std::stod(cols[6]);
  std::printf("fashion-mnist lenet5 1 epoch: test accuracy %.4f\n", test_acc);
  EXPECT_GE(test_acc, 0.85);
  EXPECT_NE(r.out.find("final test accuracy"), std::string::npos);
  EXPECT_TRUE(fs::exists(tmp / "run/curves.svg"));
  EXPECT_TRUE(fs::exists(tmp / "run/model.safetensors"));
  EXPECT_TRUE(fs::exists(tmp / "run/checkpoint.safetensors"));
  // eval on the saved weights reproduces the last epoch's test accuracy.
  CliRun ev = cli("eval --model lenet5 --weights " + tmp / "run/model.safetensors" + " --data " +
                      kFashion + " --json",
                  tmp.path());
  ASSERT_EQ(ev.status, 0) << ev.err;
  EXPECT_NE(ev.out.find("\"confusion\""), std::string::npos);
  EXPECT_NE(ev.out.find("\"per_class\""), std::string::npos);
  char expect[32];
  std::snprintf(expect, sizeof expect, "%.4f", test_acc);
  double acc = std::stod(ev.out.substr(ev.out.find("\"accuracy\":") + 11));
  EXPECT_NEAR(acc, test_acc, 1e-6);
}

TEST(Cli, ResumeIsBitwiseIdentical) {
  TempDir tmp;
  const std::string common =
      "train --model lenet5 --data " + kFashion +
      " --batch 32 --lr 0.05 --momentum 0.9 --nesterov --wd 5e-4 --warmup 0.5"
      " --schedule cosine --augment crop,flip --limit-train 1500 --limit-test 500 --threads 1"
      " --seed 7 --no-progress --out ";
  CliRun straight = cli(common + tmp / "straight" + " --epochs 2", tmp.path());
  ASSERT_EQ(straight.status, 0) << straight.err;
  // Epoch 1 alone, then --resume for epoch 2.
  CliRun one = cli(common + tmp / "resumed" + " --epochs 2 --stop-after 1", tmp.path());
  ASSERT_EQ(one.status, 0) << one.err;
  EXPECT_EQ(read_lines(tmp / "resumed/metrics.csv").size(), 2u);
  CliRun resumed = cli("train --model lenet5 --data " + kFashion +
                           " --epochs 2 --resume"
                           " --no-progress --out " +
                           tmp / "resumed",
                       tmp.path());
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_EQ(read_bytes(tmp / "straight/model.safetensors"),
            read_bytes(tmp / "resumed/model.safetensors"));
  EXPECT_EQ(metrics_without_time(tmp / "straight/metrics.csv"),
            metrics_without_time(tmp / "resumed/metrics.csv"));
  // The per-interval training curve carries across the resume too.
  EXPECT_EQ(read_bytes(tmp / "straight/curves.svg"), read_bytes(tmp / "resumed/curves.svg"));
  // A second run into a directory that holds a checkpoint refuses to overwrite it.
  CliRun again = cli(common + tmp / "straight" + " --epochs 2", tmp.path());
  expect_one_line_error(again, "--resume");

  // A time limit stops mid-epoch: the first step outlasts a limit of 1e-9 minutes. Each
  // resume with the limit takes one more step; the last one runs to the end. 1500 images in
  // batches of 32: 47 steps per epoch.
  CliRun first = cli(common + tmp / "timed" + " --epochs 2 --time-limit 1e-9", tmp.path());
  ASSERT_EQ(first.status, 0) << first.err;
  EXPECT_NE(first.out.find("stopped in epoch 1 of 2 at step 1 of 47 (time limit)"),
            std::string::npos)
      << first.out;
  EXPECT_TRUE(fs::exists(tmp / "timed/checkpoint.safetensors"));
  EXPECT_FALSE(fs::exists(tmp / "timed/metrics.csv"));  // no epoch has ended
  const std::string resume =
      "train --model lenet5 --data " + kFashion + " --resume --no-progress --out " + tmp / "timed";
  CliRun second = cli(resume + " --time-limit 1e-9", tmp.path());
  ASSERT_EQ(second.status, 0) << second.err;
  EXPECT_NE(second.out.find("stopped in epoch 1 of 2 at step 2 of 47"), std::string::npos)
      << second.out;
  CliRun rest = cli(resume, tmp.path());
  ASSERT_EQ(rest.status, 0) << rest.err;
  EXPECT_NE(rest.out.find("final test accuracy"), std::string::npos) << rest.out;
  EXPECT_EQ(read_bytes(tmp / "straight/model.safetensors"),
            read_bytes(tmp / "timed/model.safetensors"));
  EXPECT_EQ(metrics_without_time(tmp / "straight/metrics.csv"),
            metrics_without_time(tmp / "timed/metrics.csv"));
  EXPECT_EQ(read_bytes(tmp / "straight/curves.svg"), read_bytes(tmp / "timed/curves.svg"));
}

TEST(Cli, InterruptSavesACheckpointThatResumes) {
  TempDir tmp;
  const std::string out = tmp / "run";
  // A checkpoint after every step, so that its appearance shows that training has begun
  // (and the signal handlers are in place).
  const std::string cmd = kCli + " train --model lenet5 --data " + kFashion +
                          " --epochs 8 --batch 32 --limit-train 2000 --limit-test 200"
                          " --threads 1 --seed 3 --no-progress --checkpoint-minutes 1e-9 --out " +
                          out + " >" + tmp / "stdout.txt" + " 2>" + tmp / "stderr.txt";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 6000 && !fs::exists(out + "/checkpoint.safetensors"); ++i) usleep(5000);
  ASSERT_TRUE(fs::exists(out + "/checkpoint.safetensors"));
  kill(pid, SIGINT);
  int raw = 0;
  ASSERT_EQ(waitpid(pid, &raw, 0), pid);
  ASSERT_TRUE(WIFEXITED(raw)) << "killed by signal " << WTERMSIG(raw);
  EXPECT_EQ(WEXITSTATUS(raw), 130);
  std::ifstream ef(tmp / "stderr.txt");
  std::stringstream es;
  es << ef.rdbuf();
  const std::string err = es.str();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("interrupted (signal 2)"), std::string::npos) << err;
  EXPECT_NE(err.find("--resume --out " + out), std::string::npos) << err;
  // The run was cut short, and resumes to the end from where it stopped.
  const size_t epochs_before =
      fs::exists(out + "/metrics.csv") ? read_lines(out + "/metrics.csv").size() - 1 : 0;
  EXPECT_LT(epochs_before, 8u);
  CliRun resumed = cli("train --model lenet5 --data " + kFashion +
                           " --resume --no-progress --checkpoint-minutes 0 --out " + out,
                       tmp.path());
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_EQ(read_lines(out + "/metrics.csv").size(), 9u);
}

TEST(Cli, ForwardMatchesInProcessAndWeightsRoundTrip) {
  TempDir tmp;
  // Random weights saved through the library, loaded by the CLI.
  manual_seed(3);
  nn::ModulePtr model = models::build_model("lenet5", 10);
  io::save_safetensors(tmp / "w.safetensors", model->state_dict());
  nn::ModulePtr loaded = models::build_model("lenet5", 10);
  load_weights(*loaded, tmp / "w.safetensors");
  Tensor x = Tensor::empty({3, 1, 32, 32});
  Generator g(5);
  for (float& v : x) v = static_cast<float>(g.normal());
  model->eval();
  loaded->eval();
  NoGradGuard ng;
  Tensor y = model->forward(Var(x)).value();
  Tensor y2 = loaded->forward(Var(x)).value();
  for (int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y[i], y2[i]);
  io::save_npy(tmp / "x.npy", x);
  CliRun r = cli("forward --raw --model lenet5 --weights " + tmp / "w.safetensors" + " --input " +
                     tmp / "x.npy" + " --output " + tmp / "y.npy",
                 tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  Tensor y3 = io::load_npy(tmp / "y.npy");
  ASSERT_EQ(y3.shape(), (Shape{3, 10}));
  for (int64_t i = 0; i < y.numel(); ++i) EXPECT_EQ(y[i], y3[i]);
}

TEST(Cli, SummaryListAndBenchJson) {
  TempDir tmp;
  CliRun s = cli("summary lenet5 --json", tmp.path());
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_NE(s.out.find("\"params\": 61706"), std::string::npos) << s.out;
  // conv 28*28*6*25 + 10*10*16*6*25 + 400*120 + 120*84 + 84*10
  EXPECT_NE(s.out.find("\"macs\": 416520"), std::string::npos) << s.out;
  CliRun l = cli("list", tmp.path());
  ASSERT_EQ(l.status, 0);
  EXPECT_NE(l.out.find("lenet5"), std::string::npos);
  CliRun b = cli("bench --model lenet5 --batch 8 --reps 2 --min-seconds 0.1 --json", tmp.path());
  ASSERT_EQ(b.status, 0) << b.err;
  for (const char* key : {"\"model\"", "\"batch\"", "\"threads\"", "\"images_per_s\"",
                          "\"latency_ms\"", "\"peak_rss_mb\""})
    EXPECT_NE(b.out.find(key), std::string::npos) << key << " in " << b.out;
}

// --precision: bf16 where the CPU has it (else one line naming what is missing), part of a
// run's recipe, and anything but fp32 / bf16 refused.
TEST(Cli, PrecisionFlag) {
  TempDir tmp;
  CliRun b =
      cli("bench --model lenet5 --batch 8 --reps 2 --min-seconds 0.1 --json --precision bf16",
          tmp.path());
  if (bf16_supported()) {
    ASSERT_EQ(b.status, 0) << b.err;
    EXPECT_NE(b.out.find("\"precision\": \"bf16\""), std::string::npos) << b.out;
  } else {
    expect_one_line_error(b, "AVX-512 BF16");
  }
  CliRun bad = cli("bench --model lenet5 --precision fp16", tmp.path());
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("--precision"), std::string::npos) << bad.err;
  if (!bf16_supported()) return;
  const std::string out = tmp / "run";
  CliRun t = cli("train --model lenet5 --data " + kFashion +
                     " --limit-train 256 --limit-test 64 --epochs 1 --batch 64 --threads 1 "
                     "--no-progress --precision bf16 --out " +
                     out,
                 tmp.path());
  ASSERT_EQ(t.status, 0) << t.err;
  const auto ck = io::load_safetensors(out + "/checkpoint.safetensors");
  const std::string trainer = ck.metadata.at("trainer");
  EXPECT_NE(trainer.find("\"precision\":\"bf16\""), std::string::npos) << trainer;
}

TEST(Cli, BadInputGivesOneLineErrorAndNoOutput) {
  TempDir tmp;
  const std::string out = tmp / "out";
  auto train_on = [&](const std::string& data, const std::string& extra = "") {
    return cli("train --model lenet5 --data " + data + " --epochs 1 --no-progress --out " + out +
                   " " + extra,
               tmp.path());
  };
  // Truncated CIFAR batch.
  fs::create_directories(tmp / "cifar");
  std::vector<unsigned char> record(3073, 1);
  record[0] = 3;
  for (const char* f : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                        "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"})
    write_bytes(tmp / "cifar/" + f, record);
  std::vector<unsigned char> cut(record.begin(), record.end() - 100);
  write_bytes(tmp / "cifar/data_batch_3.bin", cut);
  expect_one_line_error(train_on(tmp / "cifar", "--dataset cifar10"), "data_batch_3.bin");
  EXPECT_FALSE(fs::exists(out));
  // Corrupt JPEG in an image folder.
  for (const char* split : {"train", "test"})
    for (const char* cls : {"a", "b"}) fs::create_directories(tmp / "folder/" + split + "/" + cls);
  write_bytes(tmp / "folder/train/a/0.jpg", {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F'});
  for (const char* f : {"folder/train/b/1.jpg", "folder/test/a/2.jpg", "folder/test/b/3.jpg"})
    fs::copy_file(tmp / "folder/train/a/0.jpg", tmp / f);
  expect_one_line_error(train_on(tmp / "folder", "--dataset folder"), "0.jpg");
  EXPECT_FALSE(fs::exists(out));
  // IDX with a wrong magic, and with dimensions whose product overflows.
  fs::create_directories(tmp / "idx");
  for (const char* f : {"train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"})
    write_bytes(tmp / "idx/" + f, {0, 0, 8, 1, 0, 0, 0, 1, 0});
  write_bytes(tmp / "idx/t10k-images-idx3-ubyte",
              {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9});
  write_bytes(tmp / "idx/train-images-idx3-ubyte",
              {0, 0, 8, 9, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9});
  expect_one_line_error(train_on(tmp / "idx", "--dataset mnist"), "magic");
  write_bytes(tmp / "idx/train-images-idx3-ubyte",
              {0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF});
  expect_one_line_error(train_on(tmp / "idx", "--dataset mnist"), "train-images-idx3-ubyte");
  EXPECT_FALSE(fs::exists(out));
  // Missing data directory, unknown model, unknown flag.
  expect_one_line_error(train_on(tmp / "nowhere"), "nowhere");
  expect_one_line_error(cli("summary resnet-9000", tmp.path()), "unknown model 'resnet-9000'");
  expect_one_line_error(cli("train --model lenet5 --data x --frobnicate", tmp.path()),
                        "frobnicate");
  EXPECT_FALSE(fs::exists(out));

  // Weights files: bad JSON, offsets past the end, wrong dtype, shape mismatch.
  manual_seed(1);
  nn::ModulePtr m = models::build_model("lenet5", 10);
  std::string good = io::to_safetensors_bytes(m->state_dict(), {});
  Tensor x = Tensor::zeros({1, 1, 32, 32});
  io::save_npy(tmp / "x.npy", x);
  auto forward_with = [&](const std::string& bytes, const std::string& needle) {
    std::ofstream(tmp / "bad.safetensors", std::ios::binary) << bytes;
    CliRun r = cli("forward --model lenet5 --weights " + tmp / "bad.safetensors" + " --input " +
                       tmp / "x.npy" + " --output " + tmp / "y.npy",
                   tmp.path());
    expect_one_line_error(r, needle);
    EXPECT_FALSE(fs::exists(tmp / "y.npy"));
  };
  std::string bad_json = good;
  bad_json[8] = '#';
  forward_with(bad_json, "bad.safetensors");
  forward_with(good.substr(0, good.size() - 16), "bad.safetensors");  // data past the end
  {
    nn::NamedTensors st = m->state_dict();
    st[0].second = Tensor::zeros({7, 1, 5, 5});
    forward_with(io::to_safetensors_bytes(st, {}), "shape");
  }
  {
    std::string swapped = good;
    size_t at = swapped.find("\"F32\"");
    ASSERT_NE(at, std::string::npos);
    swapped.replace(at, 5, "\"I32\"");  // same element size: only the dtype is wrong
    forward_with(swapped, "dtype");
  }
  // forward with an input of the wrong shape.
  io::save_safetensors(tmp / "ok.safetensors", m->state_dict());
  io::save_npy(tmp / "x3.npy", Tensor::zeros({1, 3, 32, 32}));
  CliRun r = cli("forward --model lenet5 --weights " + tmp / "ok.safetensors" + " --input " +
                     tmp / "x3.npy" + " --output " + tmp / "y.npy",
                 tmp.path());
  expect_one_line_error(r, "[1, 3, 32, 32]");
  EXPECT_FALSE(fs::exists(tmp / "y.npy"));
}
