#pragma once

// Who `p21 reload --pid` may signal. SIGHUP ends a process that does not
// handle it, so a mistyped or planted pid must not take down something
// else: a process name is anyone's to choose (a symlink named p21, prctl),
// the executable and the owner are not.

#include <string>

#include <sys/types.h>

namespace p21::app {

/// Empty when `pid` is a p21 node the caller may reload: its executable is
/// this p21 (same file) or a file named `p21` (another install, or this one
/// replaced by an upgrade), and it runs as the caller's user (root may
/// reload any). Otherwise why not, in a sentence that names the process.
std::string why_not_reloadable(pid_t pid);

} // namespace p21::app
