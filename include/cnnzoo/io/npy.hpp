// NumPy .npy reading and writing: the tensor format of `cnnzoo forward` (docs/file-formats.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cnnzoo/tensor.hpp"

namespace cnnzoo::io {

// Reads an .npy file (format versions 1.0, 2.0 and 3.0) into a float tensor of the stored
// shape. Accepted dtypes, converted to float: '<f4', '<f8', '<f2', '<i8', '<i4', '<i2',
// '|i1', '|u1', '|b1' (and the native '=' spelling). Throws cnnzoo::Error naming the file
// for a bad magic string, a malformed header, fortran_order True, an unsupported or
// big-endian dtype, or data shorter or longer than the shape needs.
Tensor load_npy(const std::string& path);

// Reads an integer .npy file ('<i8', '<i4', '<i2', '|i1', '|u1', '|b1'), e.g. class labels,
// as its values in C order; the stored shape goes to *shape when given. Float data throws.
std::vector<int64_t> load_npy_i64(const std::string& path, Shape* shape = nullptr);

// Writes the tensor as '<f4', C order, format 1.0 (2.0 only if the header needs it),
// via atomic_write. Throws cnnzoo::Error for an undefined tensor or an I/O failure.
void save_npy(const std::string& path, const Tensor& tensor);

// The in-memory pair of load_npy/save_npy; `name_for_errors` stands in for the path.
Tensor parse_npy_bytes(const std::string& bytes, const std::string& name_for_errors);
std::string to_npy_bytes(const Tensor& tensor);

}  // namespace cnnzoo::io
