#include "detail/logging.hpp"

#include <mutex>

#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace p21 {

namespace {

spdlog::level::level_enum spdlog_level(log_level x) {
  switch (x) {
  case log_level::trace:
    return spdlog::level::trace;
  case log_level::debug:
    return spdlog::level::debug;
  case log_level::info:
    return spdlog::level::info;
  case log_level::warn:
    return spdlog::level::warn;
  case log_level::error:
    return spdlog::level::err;
  case log_level::critical:
    return spdlog::level::critical;
  case log_level::off:
    return spdlog::level::off;
  }
  return spdlog::level::info;
}

/// The file sink of the current logger, behind a dist_sink so that it can be
/// swapped (rotated) while other threads log.
struct file_sink_slot {
  std::mutex mtx;
  std::weak_ptr<spdlog::sinks::dist_sink_mt> dist;
  logging_config cfg;
};

file_sink_slot& file_slot() {
  static file_sink_slot slot;
  return slot;
}

} // namespace

namespace detail {

bool rotate_logs() {
  auto& slot = file_slot();
  std::lock_guard<std::mutex> guard{slot.mtx};
  auto dist = slot.dist.lock();
  if (!dist)
    return false;
  // Flushed first: the new sink only rotates a file that is not empty.
  dist->flush();
  // A new rotating sink that rotates as it opens: the current file becomes
  // FILE.1 and the oldest beyond max_files is deleted.
  dist->set_sinks({std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
      slot.cfg.file, slot.cfg.max_size, slot.cfg.max_files, true)});
  return true;
}

std::shared_ptr<spdlog::logger> make_logger(const logging_config& cfg) {
  std::vector<spdlog::sink_ptr> sinks;
  if (cfg.console)
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!cfg.file.empty()) {
    auto dist = std::make_shared<spdlog::sinks::dist_sink_mt>();
    dist->add_sink(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(cfg.file, cfg.max_size,
                                                                          cfg.max_files));
    sinks.push_back(dist);
    auto& slot = file_slot();
    std::lock_guard<std::mutex> guard{slot.mtx};
    slot.dist = dist;
    slot.cfg = cfg;
  }
  auto logger = std::make_shared<spdlog::logger>("p21", sinks.begin(), sinks.end());
  logger->set_level(spdlog_level(cfg.level));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [p21] %v");
  logger->flush_on(spdlog::level::warn);
  return logger;
}

} // namespace detail

} // namespace p21
