// Internal file helpers for the dataset loaders (see files.hpp).
#include "data/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cnnzoo/error.hpp"

namespace cnnzoo::data {

std::vector<uint8_t> read_binary_file(const std::string& path, const std::string& context) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(context + ": cannot open '" + path + "': " + std::strerror(errno));
  struct stat st;
  // One byte beyond the size lets the first read loop see end-of-file without regrowing.
  size_t expected = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? size_t(st.st_size) + 1 : 0;
  std::vector<uint8_t> bytes(expected > 0 ? expected : size_t(1) << 16);
  size_t used = 0;
  for (;;) {
    if (used == bytes.size()) bytes.resize(2 * bytes.size());
    ssize_t got = ::read(fd, bytes.data() + used, bytes.size() - used);
    if (got > 0) {
      used += size_t(got);
    } else if (got == 0) {
      break;
    } else if (errno != EINTR) {
      std::string reason = std::strerror(errno);
      ::close(fd);
      throw Error(context + ": cannot read '" + path + "': " + reason);
    }
  }
  bytes.resize(used);
  ::close(fd);
  return bytes;
}

std::vector<std::string> read_name_list(const std::string& path) {
  std::vector<std::string> names;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    size_t b = line.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) continue;
    size_t e = line.find_last_not_of(" \t\r\n");
    names.push_back(line.substr(b, e - b + 1));
  }
  return names;
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

}  // namespace cnnzoo::data
