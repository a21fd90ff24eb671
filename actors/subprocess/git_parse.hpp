#pragma once

// What the git cache reads from text: a git command's arguments (does it
// read or write?) and a work tree's `.git` file. Pure functions without
// CAF or I/O, so that a fuzz target can feed them anything.

#include <string>
#include <string_view>
#include <vector>

namespace p21::subprocess_detail {

/// What a git command depends on, or that it may change things.
enum class git_kind {
  /// Not known to be read-only: runs uncached and invalidates the repository.
  write,
  /// Reads commits, refs and the index (`log`, `show`, `rev-parse`, `branch`).
  refs,
  /// Also reads the work tree (`status`, `diff`, `ls-files`).
  tree,
};

git_kind classify(const std::vector<std::string>& args);

/// The git directory named by the content of a work tree's `.git` file
/// (`gitdir: PATH`, relative to `root` unless absolute); empty when the
/// content says nothing usable. Pure: a fuzz target feeds it anything.
std::string gitdir_from_file(const std::string& root, std::string_view content);

} // namespace p21::subprocess_detail
