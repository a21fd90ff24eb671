#pragma once

#include <memory>

#include <spdlog/logger.h>

#include "p21/config.hpp"

namespace p21::detail {

/// Builds the node's logger from `[logging]`: console (stderr, so that
/// stdout stays for command output) and/or a size-rotated file.
std::shared_ptr<spdlog::logger> make_logger(const logging_config& cfg);

} // namespace p21::detail
