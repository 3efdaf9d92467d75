// Whole-file helpers: atomic replacement of a file and bounded reading of one.
#pragma once
#include <cstddef>
#include <functional>
#include <ostream>
#include <string>

namespace cnnzoo::io {

// Writes a file so that `path` holds either its old contents or the complete new ones, never
// a mixture: `write` fills a temporary file in the same directory, which is flushed, fsynced
// and renamed over `path`. If `write` throws, or any I/O step fails, the temporary file is
// removed and `path` is left untouched; I/O failures throw cnnzoo::Error naming `path`.
// Exceptions thrown by `write` propagate unchanged. Temporaries of `path` that a killed
// process left behind (.<name>.tmp-<pid>-<n>, pid no longer running) are removed first.
void atomic_write(const std::string& path, const std::function<void(std::ostream&)>& write);

// atomic_write of a ready-made byte string.
void atomic_write_bytes(const std::string& path, const std::string& bytes);

// Default limit for read_file: large enough for any checkpoint, small enough that a wrong
// path (a device, a huge log) fails with a message instead of exhausting memory.
constexpr size_t kDefaultMaxFileBytes = size_t(16) << 30;

// The whole contents of a regular file. Throws cnnzoo::Error naming `path` when it is
// missing, unreadable, not a regular file, or larger than max_bytes.
std::string read_file(const std::string& path, size_t max_bytes = kDefaultMaxFileBytes);

}  // namespace cnnzoo::io
