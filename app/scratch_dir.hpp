#pragma once

// A private scratch directory for the demo and the benchmarks.

#include <string>

namespace p21::app {

/// A fresh directory only this process made (mkdtemp, mode 0700) under the
/// system's temp directory, removed with everything in it when this object
/// goes. A predictable name in /tmp could be planted first by another user,
/// and run-time files (databases, preload lists) must never land in the
/// directory the command was started from.
class scratch_dir {
public:
  /// `prefix` names the directory (`prefix-XXXXXX`); throws when none can
  /// be made.
  explicit scratch_dir(const std::string& prefix);
  ~scratch_dir();
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  const std::string& path() const { return path_; }

  /// `path()/name`.
  std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

} // namespace p21::app
