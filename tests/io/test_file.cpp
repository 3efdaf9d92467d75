// atomic_write (all-or-nothing replacement, no leftover temp files) and read_file errors.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

#include "cnnzoo/error.hpp"
#include "cnnzoo/io/file.hpp"
#include "io/temp_dir.hpp"

using namespace cnnzoo;
using cnnzoo::testing::read_raw;
using cnnzoo::testing::write_raw;

class AtomicWrite : public cnnzoo::testing::TempDirTest {};
class ReadFile : public cnnzoo::testing::TempDirTest {};

TEST_F(AtomicWrite, CreatesFileWithContents) {
  const std::string p = path("out.bin");
  std::string bytes("abc\0def", 7);
  io::atomic_write(p, [&](std::ostream& os) { os.write(bytes.data(), 7); });
  EXPECT_EQ(read_raw(p), bytes);
  EXPECT_EQ(listing(), (std::set<std::string>{"out.bin"}));
}

TEST_F(AtomicWrite, ReplacesExistingFile) {
  const std::string p = path("out.txt");
  write_raw(p, "old contents that are longer");
  io::atomic_write_bytes(p, "new");
  EXPECT_EQ(read_raw(p), "new");
  EXPECT_EQ(listing(), (std::set<std::string>{"out.txt"}));
}

TEST_F(AtomicWrite, LargeWritesBypassingTheBuffer) {
  const std::string p = path("big.bin");
  std::string big(300000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 3);
  io::atomic_write(p, [&](std::ostream& os) {
    os << "head";
    os.write(big.data(), static_cast<std::streamsize>(big.size()));
    os << "tail";
  });
  EXPECT_EQ(read_raw(p), "head" + big + "tail");
}

TEST_F(AtomicWrite, ThrowingWriterLeavesOldFileAndNoTemp) {
  const std::string p = path("model.safetensors");
  write_raw(p, "precious");
  EXPECT_THROW(io::atomic_write(p,
                                [](std::ostream& os) {
                                  os << "half written";
                                  os.flush();
                                  throw std::runtime_error("writer failed");
                                }),
               std::runtime_error);
  EXPECT_EQ(read_raw(p), "precious");
  EXPECT_EQ(listing(), (std::set<std::string>{"model.safetensors"}));
}

TEST_F(AtomicWrite, WriterExceptionPropagatesUnchanged) {
  try {
    io::atomic_write(path("x"), [](std::ostream&) { throw Error("my message"); });
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "my message");
  }
  EXPECT_TRUE(listing().empty());
}

TEST_F(AtomicWrite, ThrowingWriterWithoutOldFileLeavesNothing) {
  EXPECT_THROW(io::atomic_write(path("new.bin"),
                                [](std::ostream& os) {
                                  os << std::string(200000, 'x');  // past the buffer, on disk
                                  throw std::logic_error("boom");
                                }),
               std::logic_error);
  EXPECT_TRUE(listing().empty());
}

TEST_F(AtomicWrite, StreamFailureIsAnErrorAndLeavesOldFile) {
  const std::string p = path("out.bin");
  write_raw(p, "old");
  try {
    io::atomic_write(p, [](std::ostream& os) {
      os << "partial";
      os.setstate(std::ios::badbit);
    });
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_raw(p), "old");
  EXPECT_EQ(listing(), (std::set<std::string>{"out.bin"}));
}

TEST_F(AtomicWrite, MissingDirectoryIsAnErrorNamingThePath) {
  const std::string p = path("no/such/dir/out.bin");
  try {
    io::atomic_write_bytes(p, "x");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
  EXPECT_TRUE(listing().empty());
}

TEST_F(AtomicWrite, TargetIsADirectoryIsAnErrorAndLeavesNoTemp) {
  const std::string p = path("sub");
  ASSERT_TRUE(std::filesystem::create_directory(p));
  std::filesystem::create_directory(p + "/inner");  // rename cannot replace a non-empty dir
  EXPECT_THROW(io::atomic_write_bytes(p, "x"), Error);
  EXPECT_EQ(listing(), (std::set<std::string>{"sub"}));
  EXPECT_TRUE(std::filesystem::is_directory(p + "/inner"));
}

TEST_F(AtomicWrite, TrailingSlashIsAnError) {
  EXPECT_THROW(io::atomic_write_bytes(dir_.string() + "/", "x"), Error);
}

TEST_F(AtomicWrite, FileGetsUsualPermissions) {
  const std::string p = path("perm.bin");
  io::atomic_write_bytes(p, "x");
  mode_t mask = umask(0);
  umask(mask);
  struct stat st;
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask);
}

TEST_F(AtomicWrite, RelativePathInCurrentDirectory) {
  auto old = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  io::atomic_write_bytes("rel.txt", "relative");
  std::filesystem::current_path(old);
  EXPECT_EQ(read_raw(path("rel.txt")), "relative");
  EXPECT_EQ(listing(), (std::set<std::string>{"rel.txt"}));
}

TEST_F(ReadFile, ReadsBinaryContents) {
  std::string bytes("\0\1\2\xff", 4);
  write_raw(path("f"), bytes);
  EXPECT_EQ(io::read_file(path("f")), bytes);
  write_raw(path("empty"), "");
  EXPECT_EQ(io::read_file(path("empty")), "");
}

TEST_F(ReadFile, MissingFileNamesThePath) {
  const std::string p = path("missing.npy");
  try {
    io::read_file(p);
    FAIL() << "no exception";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
  }
}

TEST_F(ReadFile, DirectoryIsAnError) {
  try {
    io::read_file(dir_.string());
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("directory"), std::string::npos) << e.what();
  }
}

TEST_F(ReadFile, SizeLimit) {
  write_raw(path("f"), "0123456789");
  EXPECT_EQ(io::read_file(path("f"), 10), "0123456789");
  EXPECT_THROW(io::read_file(path("f"), 9), Error);
}

// What a kill -9 during a write leaves (.<name>.tmp-<pid>-<n> of a process that is gone) is
// removed by the next write of that file; temporaries of running processes, this one
// included, and of other files are left alone.
TEST_F(AtomicWrite, RemovesTemporariesThatAKilledProcessLeftBehind) {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // `child` now names no process
  const std::string dead = ".ck.bin.tmp-" + std::to_string(child) + "-0";
  const std::string ours = ".ck.bin.tmp-" + std::to_string(::getpid()) + "-999";
  const std::string live = ".ck.bin.tmp-1-0";  // pid 1 always runs
  const std::string other = ".other.bin.tmp-" + std::to_string(child) + "-0";
  for (const auto& name : {dead, ours, live, other}) write_raw(path(name), "partial");
  io::atomic_write_bytes(path("ck.bin"), "complete");
  EXPECT_EQ(listing(), (std::set<std::string>{"ck.bin", ours, live, other}));
}
