// Atomic file replacement (temp file + fsync + rename) and bounded whole-file reads.
#include "cnnzoo/io/file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <streambuf>
#include <vector>

#include "cnnzoo/error.hpp"
#include "io/byte_source.hpp"

namespace cnnzoo::io {

namespace {

std::string errno_str(int err) {
  return std::strerror(err);
}

// Writes all n bytes, retrying short writes and EINTR; returns 0 or the errno.
int write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

// A streambuf over a raw descriptor, so that the descriptor stays ours to fsync, and the
// first write error (ENOSPC, EIO, ...) is remembered for the error message.
class FdStreamBuf : public std::streambuf {
 public:
  explicit FdStreamBuf(int fd) : fd_(fd) { setp(buf_, buf_ + sizeof(buf_)); }
  int error() const { return error_; }

 protected:
  int_type overflow(int_type c) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override { return drain() ? 0 : -1; }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    // Large blocks (tensor data) go straight to the descriptor instead of through buf_.
    if (n < static_cast<std::streamsize>(sizeof(buf_))) return std::streambuf::xsputn(s, n);
    if (!drain()) return 0;
    if (int err = write_all(fd_, s, static_cast<size_t>(n))) {
      error_ = err;
      return 0;
    }
    return n;
  }

 private:
  bool drain() {
    if (error_) return false;
    if (int err = write_all(fd_, pbase(), static_cast<size_t>(pptr() - pbase()))) {
      error_ = err;
      return false;
    }
    setp(buf_, buf_ + sizeof(buf_));
    return true;
  }

  int fd_;
  int error_ = 0;
  char buf_[1 << 16];
};

// Removes the temporary file unless the rename went through.
struct TempFile {
  std::string path;
  int fd = -1;
  bool committed = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!committed) ::unlink(path.c_str());
  }
};

// Temporaries of `base` that a killed process (kill -9, power loss) left behind: named
// .<base>.tmp-<pid>-<n> with a pid that no longer runs. Best effort; never our own.
void remove_stale_temporaries(const std::string& dir, const std::string& base) {
  const std::string prefix = "." + base + ".tmp-";
  DIR* d = ::opendir(dir.empty() ? "." : dir.c_str());
  if (!d) return;
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (end == name.c_str() + prefix.size() || *end != '-' || pid <= 0 || pid == ::getpid())
      continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) stale.push_back(name);
  }
  ::closedir(d);
  for (const auto& name : stale) ::unlink((dir + name).c_str());
}

}  // namespace

void atomic_write(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string where = "atomic_write: '" + path + "': ";
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  check(!base.empty(), where + "not a file name");

  remove_stale_temporaries(dir, base);

  // A hidden name in the same directory, so the rename stays within one filesystem.
  static std::atomic<unsigned> counter{0};
  TempFile tmp;
  for (int attempt = 0; attempt < 100 && tmp.fd < 0; ++attempt) {
    tmp.path = dir + "." + base + ".tmp-" + std::to_string(::getpid()) + "-" +
               std::to_string(counter.fetch_add(1));
    tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (tmp.fd < 0 && errno != EEXIST) break;
  }
  if (tmp.fd < 0) {
    int err = errno;
    tmp.committed = true;  // nothing of ours to remove
    throw Error(where + "cannot create a temporary file: " + errno_str(err));
  }

  {
    FdStreamBuf buf(tmp.fd);
    std::ostream os(&buf);
    write(os);
    os.flush();
    if (!os || buf.error())
      throw Error(where + "write failed: " +
                  (buf.error() ? errno_str(buf.error()) : std::string("stream error")));
  }
  if (::fsync(tmp.fd) != 0) throw Error(where + "fsync failed: " + errno_str(errno));
  int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) throw Error(where + "close failed: " + errno_str(errno));
  if (::rename(tmp.path.c_str(), path.c_str()) != 0)
    throw Error(where + "cannot rename the temporary file into place: " + errno_str(errno));
  tmp.committed = true;

  // Persist the rename itself; best effort, the data is already safe under one name or the
  // other.
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void atomic_write_bytes(const std::string& path, const std::string& bytes) {
  atomic_write(path, [&](std::ostream& os) { os.write(bytes.data(), bytes.size()); });
}

std::string read_file(const std::string& path, size_t max_bytes) {
  detail::FileSource src(path, "read_file");
  check(src.size() <= max_bytes, "read_file: '" + path + "': " + std::to_string(src.size()) +
                                     " bytes exceeds the limit of " + std::to_string(max_bytes));
  std::string bytes(static_cast<size_t>(src.size()), '\0');
  src.read(0, bytes.size(), bytes.data());
  return bytes;
}

namespace detail {

void MemorySource::read(uint64_t offset, size_t n, void* dst) const {
  check(offset <= bytes_.size() && n <= bytes_.size() - offset,
        "'" + name_ + "': unexpected end of data at byte " + std::to_string(bytes_.size()));
  if (n) std::memcpy(dst, bytes_.data() + offset, n);
}

FileSource::FileSource(const std::string& path, const std::string& context)
    : path_(path), context_(context) {
  const std::string where = context + ": '" + path + "': ";
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw Error(where + "cannot open: " + errno_str(errno));
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    int err = errno;
    ::close(fd_);
    throw Error(where + "cannot stat: " + errno_str(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw Error(where + (S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file"));
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

void FileSource::read(uint64_t offset, size_t n, void* dst) const {
  const std::string where = context_ + ": '" + path_ + "': ";
  check(offset <= size_ && n <= size_ - offset,
        where + "unexpected end of file at byte " + std::to_string(size_));
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t r = ::pread(fd_, p, n, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(where + "read failed: " + errno_str(errno));
    }
    // The file shrank after we measured it.
    if (r == 0) throw Error(where + "unexpected end of file at byte " + std::to_string(offset));
    p += r;
    offset += static_cast<uint64_t>(r);
    n -= static_cast<size_t>(r);
  }
}

}  // namespace detail

}  // namespace cnnzoo::io
