// Trainings interrupted the hard way: kill -9 at random moments and in the middle of
// checkpoint and weights writes, and a disk that fills up mid-run. Resuming must reach the
// bytes of an uninterrupted run, and a failed write must keep the last good checkpoint.
#include <dirent.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>

#include "cli/cli_run.hpp"
#include "data_paths.hpp"

namespace fs = std::filesystem;

namespace {

// LeNet-5 on 1200 Fashion-MNIST images, 3 epochs of 38 steps, a checkpoint after every step.
const std::string kRecipe = "train --model lenet5 --data " + kFashion +
                            " --epochs 3 --batch 32 --lr 0.05 --limit-train 1200 "
                            "--limit-test 200 --threads 1 --seed 5 --no-progress "
                            "--checkpoint-minutes 1e-9";

// `cnnzoo ARGS` started in the background, its output in dir/stdout.txt and dir/stderr.txt.
pid_t spawn(const std::string& args, const std::string& dir) {
  const std::string cmd =
      "exec " + kCli + " " + args + " >" + dir + "/stdout.txt 2>" + dir + "/stderr.txt </dev/null";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Names in `dir` that start with `prefix`.
std::vector<std::string> names_starting(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (const dirent* e = readdir(d))
      if (std::string(e->d_name).compare(0, prefix.size(), prefix) == 0) out.push_back(e->d_name);
    closedir(d);
  }
  return out;
}

// The temporary that process `pid` writes `file` through: .<file>.tmp-<pid>-<n>.
std::string temp_prefix(const std::string& file, pid_t pid) {
  return "." + file + ".tmp-" + std::to_string(pid) + "-";
}

bool exited(pid_t pid, int* raw) {
  return waitpid(pid, raw, WNOHANG) == pid;
}

// Waits until process `pid` has created its n-th file whose name starts with `prefix` in the
// directory that `inotify` watches, or has exited (then true, with its status in *raw).
bool wait_for_creations(int inotify, pid_t pid, const std::string& prefix, int n, int* raw) {
  alignas(inotify_event) char buf[4096];
  for (int seen = 0; seen < n;) {
    if (exited(pid, raw)) return true;
    pollfd p{inotify, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0) continue;
    const ssize_t len = read(inotify, buf, sizeof buf);
    for (ssize_t i = 0; i < len;) {
      const auto* e = reinterpret_cast<const inotify_event*>(buf + i);
      if (e->len > 0 && std::string(e->name).compare(0, prefix.size(), prefix) == 0) ++seen;
      i += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
  }
  return false;
}

// metrics.csv rows without the wall-clock columns (seconds, images_per_s).
std::vector<std::string> metrics_without_time(const std::string& path) {
  std::vector<std::string> out;
  for (auto line : read_lines(path)) {
    for (int cut = 0; cut < 2; ++cut) line = line.substr(0, line.rfind(','));
    out.push_back(line);
  }
  return out;
}

std::string file_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// How a run is cut short: after a random time, or as soon as the process is seen writing
// the n-th checkpoint, or the weights file, or metrics.csv.
enum class Cut { random_time, checkpoint_write, weights_write, metrics_write };

}  // namespace

TEST(CliFaults, KillNineAnywhereThenResumeReachesTheBytesOfAnUninterruptedRun) {
  ASSERT_TRUE(fs::exists(kFashion + "/train-images-idx3-ubyte.gz"))
      << "Debian's dataset-fashion-mnist is required (scripts/setup.sh installs it)";
  TempDir tmp;
  const auto t0 = std::chrono::steady_clock::now();
  CliRun straight = cli(kRecipe + " --out " + tmp / "straight", tmp.path());
  ASSERT_EQ(straight.status, 0) << straight.err;
  const double run_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  const std::string out = tmp / "killed";
  fs::create_directories(out);
  const int inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(inotify, 0);
  ASSERT_GE(inotify_add_watch(inotify, out.c_str(), IN_CREATE), 0);
  std::mt19937 rng(2026);
  const Cut schedule[] = {Cut::random_time,   Cut::checkpoint_write, Cut::random_time,
                          Cut::weights_write, Cut::checkpoint_write, Cut::metrics_write,
                          Cut::random_time,   Cut::weights_write,    Cut::checkpoint_write,
                          Cut::random_time,   Cut::metrics_write,    Cut::random_time};
  int kills = 0, in_checkpoint = 0, in_weights = 0, in_metrics = 0, runs = 0;
  for (bool done = false; !done; ++runs) {
    ASSERT_LT(runs, 40) << "the run never finished";
    const bool resume = fs::exists(out + "/checkpoint.safetensors");
    const pid_t pid =
        spawn(resume ? "train --resume --no-progress --checkpoint-minutes 1e-9 --out " + out
                     : kRecipe + " --out " + out,
              tmp.path());
    ASSERT_GT(pid, 0);
    const size_t step = static_cast<size_t>(runs);
    const bool cut = step < std::size(schedule);
    const Cut how = cut ? schedule[step] : Cut::random_time;
    int raw = 0;
    bool killed = false;
    if (cut && how == Cut::random_time) {
      const auto deadline = std::chrono::steady_clock::now() +
                            std::chrono::microseconds(
                                std::uniform_int_distribution<int>(0, int(run_ms * 1000 / 2))(rng));
      while (!(done = exited(pid, &raw)) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      killed = !done;
    } else if (cut) {
      const std::string file = how == Cut::checkpoint_write ? "checkpoint.safetensors"
                               : how == Cut::weights_write  ? "model.safetensors"
                                                            : "metrics.csv";
      // The n-th write of the file that this process is seen making (checkpoints: 1 to 4).
      const int nth =
          how == Cut::checkpoint_write ? std::uniform_int_distribution<int>(1, 4)(rng) : 1;
      done = wait_for_creations(inotify, pid, temp_prefix(file, pid), nth, &raw);
      killed = !done;
    }
    if (killed) {
      kill(pid, SIGKILL);
      ASSERT_EQ(waitpid(pid, &raw, 0), pid);
      if (WIFEXITED(raw)) {
        done = true;  // it finished just before the signal
      } else {
        ASSERT_EQ(WTERMSIG(raw), SIGKILL);
        ++kills;
        // A temporary left behind is the proof that the kill came mid-write.
        in_checkpoint += !names_starting(out, temp_prefix("checkpoint.safetensors", pid)).empty();
        in_weights += !names_starting(out, temp_prefix("model.safetensors", pid)).empty();
        in_metrics += !names_starting(out, temp_prefix("metrics.csv", pid)).empty();
        continue;
      }
    }
    if (!done) ASSERT_EQ(waitpid(pid, &raw, 0), pid);
    done = true;
    close(inotify);
    ASSERT_TRUE(WIFEXITED(raw)) << "signal " << WTERMSIG(raw);
    ASSERT_EQ(WEXITSTATUS(raw), 0) << file_text(tmp / "stderr.txt");
  }
  std::printf(
      "%d kills (%d during a checkpoint write, %d during a weights write, %d during a "
      "metrics write) over %d runs; uninterrupted run %.0f ms\n",
      kills, in_checkpoint, in_weights, in_metrics, runs, run_ms);
  EXPECT_GE(kills, 8);
  EXPECT_GE(in_checkpoint, 1);
  EXPECT_GE(in_weights, 1);
  EXPECT_GE(in_metrics, 1);

  EXPECT_EQ(read_bytes(tmp / "straight/model.safetensors"), read_bytes(out + "/model.safetensors"));
  EXPECT_EQ(read_bytes(tmp / "straight/best.safetensors"), read_bytes(out + "/best.safetensors"));
  EXPECT_EQ(metrics_without_time(tmp / "straight/metrics.csv"),
            metrics_without_time(out + "/metrics.csv"));
  EXPECT_EQ(read_bytes(tmp / "straight/curves.svg"), read_bytes(out + "/curves.svg"));
  // The killed processes' temporaries went with the later writes of the same files.
  EXPECT_EQ(names_starting(out, "."), (std::vector<std::string>{".", ".."}));
  EXPECT_FALSE(fs::exists(out + "/write-check"));
}

// A disk that fills up mid-run: the failed write is the error (one line naming the file and
// the cause), the last good checkpoint survives, and the run moved to another disk resumes
// there and ends with the bytes of an uninterrupted run.
TEST(CliFaults, AFullDiskMidRunKeepsTheLastCheckpointAndTheRunResumesElsewhere) {
  TempDir tmp;
  const std::string disk = tmp / "disk";
  fs::create_directories(disk);
  if (std::system(("mount -t tmpfs -o size=8m tmpfs " + disk + " 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "mounting a tmpfs needs root";
  struct Unmount {
    std::string dir;
    ~Unmount() { std::system(("umount " + dir + " 2>/dev/null").c_str()); }
  } unmount{disk};

  CliRun straight = cli(kRecipe + " --out " + tmp / "straight", tmp.path());
  ASSERT_EQ(straight.status, 0) << straight.err;

  const std::string out = disk + "/run";
  const pid_t pid = spawn(kRecipe + " --out " + out, tmp.path());
  ASSERT_GT(pid, 0);
  int raw = 0;
  bool done = false;
  while (!(done = exited(pid, &raw)) && !fs::exists(out + "/checkpoint.safetensors"))
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  ASSERT_FALSE(done) << "the run ended before its first checkpoint";
  // Another program takes the rest of the disk.
  std::system(("dd if=/dev/zero of=" + disk + "/filler bs=64k 2>/dev/null").c_str());
  if (!done) ASSERT_EQ(waitpid(pid, &raw, 0), pid);
  ASSERT_TRUE(WIFEXITED(raw)) << "signal " << WTERMSIG(raw);
  const std::string err = file_text(tmp / "stderr.txt");
  EXPECT_EQ(WEXITSTATUS(raw), 1) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("No space left on device"), std::string::npos) << err;
  EXPECT_NE(err.find(out + "/checkpoint.safetensors"), std::string::npos) << err;
  EXPECT_NE(err.find("--resume --out"), std::string::npos) << "says how to continue: " << err;

  // The last good checkpoint is whole (the one the failure found, or one written between the
  // read above and the disk filling up), and no temporary is left.
  const std::string moved = tmp / "moved";
  fs::copy(out, moved);
  for (const auto& name : names_starting(moved, "."))
    EXPECT_TRUE(name == "." || name == "..") << "left behind: " << name;

  // The disk stays full: the resumed run must neither read from it nor write to it.
  const auto disk_before = read_bytes(out + "/checkpoint.safetensors");
  CliRun resumed = cli("train --resume --no-progress --out " + moved, tmp.path());
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_EQ(read_bytes(out + "/checkpoint.safetensors"), disk_before);
  EXPECT_EQ(read_bytes(tmp / "straight/model.safetensors"),
            read_bytes(moved + "/model.safetensors"));
  EXPECT_EQ(metrics_without_time(tmp / "straight/metrics.csv"),
            metrics_without_time(moved + "/metrics.csv"));
}
