#pragma once

#include <memory>

#include <spdlog/logger.h>

#include "p21/config.hpp"

namespace p21::detail {

/// Builds the node's logger from `[logging]`: console (stderr, so that
/// stdout stays for command output) and/or a size-rotated file.
std::shared_ptr<spdlog::logger> make_logger(const logging_config& cfg);

/// Whether stderr is the journal stream systemd gave this process
/// (`JOURNAL_STREAM` names stderr's device and inode): then the console
/// log carries sd-daemon `<N>` priorities and no timestamp of its own.
bool stderr_is_journal();

/// spdlog's level for ours.
spdlog::level::level_enum spdlog_level(log_level x);

/// Sets the level of `logger` (a reload of `[logging] level`).
void set_level(spdlog::logger& logger, log_level level);

/// Rotates the log file of the current node's logger (`[logging] file`):
/// the current file becomes FILE.1 and the oldest beyond `max_files` is
/// deleted. False when no file is logged to. Only the node actor calls it
/// (the optimizer's rule 7 sends it `rotate_logs`), so rotations never race.
bool rotate_logs();

} // namespace p21::detail
