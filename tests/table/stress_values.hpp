// What the cache stress programs (table_stress.cpp, store_stress.cpp)
// write and check: a value names its key in its first byte and repeats one
// fill byte after it, so a torn value or another key's value is seen at
// once by whoever reads it.

#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace p21::cache_detail::stress {

/// Failures seen by any thread; the first ten are printed.
inline std::atomic<uint64_t> failures{0};

inline void fail(const char* what, const std::string& key) {
  if (failures.fetch_add(1) < 10)
    std::fprintf(stderr, "FAIL: %s (key %s)\n", what, key.c_str());
}

/// A value for `key`: its tag byte, then `fill` repeated.
inline std::string value_of(const std::string& key, char fill, size_t size) {
  std::string v(size, fill);
  v[0] = key.back();
  return v;
}

inline bool intact(const std::string& key, std::string_view v) {
  if (v.empty() || v[0] != key.back())
    return false;
  for (size_t i = 2; i < v.size(); ++i)
    if (v[i] != v[1])
      return false;
  return true;
}

} // namespace p21::cache_detail::stress
