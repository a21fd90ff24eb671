#pragma once

// A fresh directory for one test's files: made with mkdtemp (no predictable
// name another process could claim first), removed with everything in it at
// the end of the scope.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace p21::test {

struct temp_dir {
  /// The directory, absolute, without a trailing slash.
  std::string path;

  /// `tag` names the directory (`p21-TAG-XXXXXX`) so a leftover says whose it is.
  explicit temp_dir(const std::string& tag = "test") {
    std::error_code ec;
    auto base = std::filesystem::temp_directory_path(ec);
    std::string tmpl = (ec ? std::string{"/tmp"} : base.string()) + "/p21-" + tag + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("mkdtemp " + tmpl + " failed");
    path = tmpl;
  }

  ~temp_dir() {
    std::error_code ignored; // a test's own failure matters more than the cleanup's
    std::filesystem::remove_all(path, ignored);
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// The path of `name` inside the directory.
  std::string file(const std::string& name) const { return path + "/" + name; }

  /// Writes `text` to `name` inside the directory, replacing it.
  void write(const std::string& name, const std::string& text) const {
    std::ofstream{file(name), std::ios::trunc} << text;
  }
};

} // namespace p21::test
