#pragma once

// Whole-file reads and writes for tests.

#include <exception>
#include <fstream>
#include <iterator>
#include <string>

namespace p21::test {

/// The contents of `path`; empty when it cannot be read.
inline std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  try {
    return {std::istreambuf_iterator<char>{in}, {}};
  } catch (const std::exception&) {
    // A /proc file of a process that exited while it was read: libstdc++
    // throws from underflow (ESRCH). What vanished reads as empty.
    return {};
  }
}

/// Replaces the contents of `path` with `text`.
inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream{path, std::ios::binary | std::ios::trunc} << text;
}

} // namespace p21::test
