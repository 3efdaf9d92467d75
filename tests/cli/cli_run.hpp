// Running the `cnnzoo` binary from a test: exit status, stdout and stderr apart, and the
// check that a failure is one line on stderr.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

inline const std::string kCli = CNNZOO_BINARY_DIR "/cnnzoo";
inline const std::string kFashion = "/usr/share/datasets/fashion-mnist";

struct CliRun {
  int status;
  std::string out, err;
};

// Runs the CLI with the given arguments; captures stdout and stderr separately.
CliRun cli(const std::string& args, const std::string& dir) {
  std::string out = dir + "/stdout.txt", err = dir + "/stderr.txt";
  std::string cmd = kCli + " " + args + " >" + out + " 2>" + err + " </dev/null";
  int raw = std::system(cmd.c_str());
  CliRun r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  std::ifstream o(out), e(err);
  std::stringstream so, se;
  so << o.rdbuf();
  se << e.rdbuf();
  r.out = so.str();
  r.err = se.str();
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return r;
}

// A failed command: non-zero exit (not a crash), exactly one line on stderr that mentions
// `needle`.
void expect_one_line_error(const CliRun& r, const std::string& needle) {
  EXPECT_NE(r.status, 0) << r.err;
  EXPECT_LT(r.status, 128) << "crashed: " << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(f, l);) lines.push_back(l);
  return lines;
}

}  // namespace
