// Internal: small file helpers shared by the dataset loaders.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cnnzoo::data {

// The whole file; throws Error "<context>: cannot open/read '<path>': <reason>".
std::vector<uint8_t> read_binary_file(const std::string& path, const std::string& context);

// Non-empty lines of a text file with surrounding whitespace removed; empty if it is missing.
std::vector<std::string> read_name_list(const std::string& path);

bool is_directory(const std::string& path);
bool is_file(const std::string& path);

}  // namespace cnnzoo::data
