#include "detail/logging.hpp"

#include <cstdlib>
#include <mutex>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/pattern_formatter.h>

#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace p21 {

namespace {


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

/// `%*`: the sd-daemon priority of a record (`<6>` for info), which the
/// journal reads from the start of each line of a service's stderr.
class journal_priority : public spdlog::custom_flag_formatter {
public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    char level = '6';
    switch (msg.level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      level = '7';
      break;
    case spdlog::level::info:
      level = '6';
      break;
    case spdlog::level::warn:
      level = '4';
      break;
    case spdlog::level::err:
      level = '3';
      break;
    default:
      level = '2';
    }
    const char text[] = {'<', level, '>'};
    dest.append(text, text + 3);
  }

  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<journal_priority>();
  }
};

} // namespace

namespace detail {

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

bool stderr_is_journal() {
  // systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it connected
  // to stderr; a child whose stderr was redirected elsewhere inherits the
  // variable but not the stream, hence the comparison.
  auto env = std::getenv("JOURNAL_STREAM");
  if (!env || isatty(STDERR_FILENO) == 1)
    return false;
  struct stat st;
  if (fstat(STDERR_FILENO, &st) != 0)
    return false;
  return std::string{env} ==
         std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
             std::to_string(static_cast<unsigned long long>(st.st_ino));
}

void set_level(spdlog::logger& logger, log_level level) {
  logger.set_level(spdlog_level(level));
}

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
  spdlog::sink_ptr console;
  if (cfg.console) {
    console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    sinks.push_back(console);
  }
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
  if (console && stderr_is_journal()) {
    // The journal stamps each line itself and shows the priority by
    // color and in `journalctl -p`: no second timestamp, level as `<N>`.
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<journal_priority>('*').set_pattern("%*%-5l [p21] %v");
    console->set_formatter(std::move(f));
  }
  logger->flush_on(spdlog::level::warn);
  return logger;
}

} // namespace detail

} // namespace p21
