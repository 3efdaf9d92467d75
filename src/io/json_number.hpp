// Integers read from JSON in files. nlohmann's conversion to an integer type casts a float
// (a file holding 1e300 where a count belongs), which is undefined beyond the type's range;
// here an integer field must hold an integer that fits, or it is a json::type_error.
#pragma once
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <vector>

namespace cnnzoo::io {

template <class T>
void json_read(const nlohmann::json& j, T& out) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using L = std::numeric_limits<T>;
    bool fits = false;
    if (j.is_number_unsigned())
      fits = j.get<uint64_t>() <= static_cast<uint64_t>(L::max());
    else if (j.is_number_integer())
      fits = j.get<int64_t>() >= static_cast<int64_t>(L::min()) &&
             (j.get<int64_t>() < 0 || static_cast<uint64_t>(j.get<int64_t>()) <= L::max());
    if (!fits)
      throw nlohmann::json::type_error::create(
          302, "expected an integer within range, found " + j.dump().substr(0, 40), &j);
    out = j.is_number_unsigned() ? static_cast<T>(j.get<uint64_t>())
                                 : static_cast<T>(j.get<int64_t>());
  } else {
    out = j.get<T>();
  }
}

template <class T>
void json_read(const nlohmann::json& j, std::vector<T>& out) {
  if (!j.is_array())
    throw nlohmann::json::type_error::create(
        302, "expected an array, found " + std::string(j.type_name()), &j);
  out.resize(j.size());
  for (size_t i = 0; i < j.size(); ++i) json_read(j[i], out[i]);
}

template <class T>
T json_get(const nlohmann::json& j) {
  T out{};
  json_read(j, out);
  return out;
}

}  // namespace cnnzoo::io
