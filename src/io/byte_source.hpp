// Random-access reading of a file or an in-memory byte string, shared by the format parsers
// so that a large file is read straight into tensor storage instead of through a copy.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace cnnzoo::io::detail {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Copies n bytes starting at offset into dst; throws cnnzoo::Error if they are not there.
  virtual void read(uint64_t offset, size_t n, void* dst) const = 0;
  // How error messages name the source (a path, or the caller's label for a byte string).
  virtual const std::string& name() const = 0;
};

class MemorySource : public ByteSource {
 public:
  MemorySource(const std::string& bytes, std::string name)
      : bytes_(bytes), name_(std::move(name)) {}
  uint64_t size() const override { return bytes_.size(); }
  void read(uint64_t offset, size_t n, void* dst) const override;
  const std::string& name() const override { return name_; }

 private:
  const std::string& bytes_;
  std::string name_;
};

// An open regular file read with pread. `context` prefixes error messages ("npy", ...).
class FileSource : public ByteSource {
 public:
  FileSource(const std::string& path, const std::string& context);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, size_t n, void* dst) const override;
  const std::string& name() const override { return path_; }

 private:
  std::string path_, context_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace cnnzoo::io::detail
