// Test helpers for real data: the shared CIFAR-10 JPEG set (extracted once into the build
// tree, safely when several test processes ask at once) and scratch directories.
#pragma once
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

// The 60,000 CIFAR-10 images as ROOT/{train,test}/<class>/NNNN.jpg. Throws (which fails the
// calling test) when the tarball beside the repository is missing or cannot be extracted.
inline std::string cifar10_jpg_root() {
  namespace fs = std::filesystem;
  const fs::path tarball = CNNZOO_SOURCE_DIR "/../shared/data/cifar10-jpg.tar.gz";
  const fs::path data_dir = CNNZOO_BINARY_DIR "/data";
  const fs::path root = data_dir / "cifar10-jpg";
  // Written into the extracted tree before it is renamed into place, so its presence means
  // the tree is complete.
  const fs::path marker = root / ".extracted";
  if (fs::exists(marker)) return root.string();
  if (!fs::exists(tarball))
    throw std::runtime_error("CIFAR-10 JPEG tarball missing: expected '" + tarball.string() +
                             "' (../shared/data/ beside the repository)");
  fs::create_directories(data_dir);
  std::string tmpl = (data_dir / ".extract-XXXXXX").string();
  if (!mkdtemp(tmpl.data()))
    throw std::runtime_error("cannot create a temporary directory in " + data_dir.string());
  const fs::path tmp = tmpl;
  const std::string cmd = "tar -xzf '" + tarball.string() + "' -C '" + tmp.string() + "'";
  if (std::system(cmd.c_str()) != 0 || !fs::is_directory(tmp / "cifar10-jpg")) {
    fs::remove_all(tmp);
    throw std::runtime_error("cannot extract '" + tarball.string() + "' with: " + cmd);
  }
  std::ofstream(tmp / "cifar10-jpg" / ".extracted") << "complete\n";
  std::error_code ec;
  // A root without the marker was not made by us (only complete trees are renamed in).
  if (fs::exists(root, ec) && !fs::exists(marker, ec)) fs::remove_all(root, ec);
  // Fails harmlessly when another process renamed its complete copy in first.
  fs::rename(tmp / "cifar10-jpg", root, ec);
  fs::remove_all(tmp, ec);
  if (!fs::exists(marker))
    throw std::runtime_error("extracting '" + tarball.string() + "' into '" + root.string() +
                             "' did not complete");
  return root.string();
}

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cnnzoo-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary directory");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

inline std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::vector<unsigned char>(std::istreambuf_iterator<char>(in), {});
}
