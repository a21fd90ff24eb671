#pragma once

// The node's state directory and the files in it. Run-time files go where
// the config says (`[runtime] state_dir`, else the first directory a
// subsystem keeps files in: beside the database file, for the standard ones),
// never into the working directory by accident, and are replaced whole: a
// crash or a full disk mid-write leaves the previous file, never a torn one.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>

#include "p21/config.hpp"
#include "p21/subsystem.hpp"

namespace p21::detail {

/// The directories `subsystems` keep files in for `cfg`
/// (`subsystem::data_directories`), in subsystem order.
std::vector<std::string> data_directories(const config& cfg,
                                          const std::vector<subsystem>& subsystems);

/// The node's state directory: `[runtime] state_dir`, else the first of
/// `data_dirs`; empty (no state kept) when there is neither.
std::string state_dir(const config& cfg, const std::vector<std::string>& data_dirs);

/// The file of the preload list (rule 4) in state directory `dir`.
std::string preload_file(const std::string& dir);

/// Creates the directories a node writes to that do not exist yet:
/// `data_dirs` and the state directory.
caf::error make_run_dirs(const config& cfg, const std::vector<std::string>& data_dirs);

/// Writes a new `path` through `write` (given the descriptor of a temporary
/// file in the same directory), then syncs it and renames it over `path`,
/// and syncs the directory. On any error, or when `write` fails or throws,
/// the temporary file is removed and `path` is left as it was. A symlink at
/// `path` is replaced, never followed.
caf::error replace_file(const std::string& path, const std::function<caf::error(int fd)>& write);

/// `replace_file` with `content`.
caf::error replace_file(const std::string& path, std::string_view content);

/// Saves `names` (one per line) as the preload list in `dir`.
caf::error save_preload_list(const std::string& dir, const std::vector<std::string>& names);

/// The preload list in `dir`: none when there is no list, or when a symlink
/// or anything but a regular file sits at its name.
std::vector<std::string> load_preload_list(const std::string& dir);

} // namespace p21::detail
