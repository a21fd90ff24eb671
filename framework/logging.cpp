#include "detail/logging.hpp"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace p21::detail {

std::shared_ptr<spdlog::logger> make_logger(const logging_config& cfg) {
  std::vector<spdlog::sink_ptr> sinks;
  if (cfg.console)
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!cfg.file.empty())
    sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(cfg.file, cfg.max_size,
                                                                           cfg.max_files));
  auto logger = std::make_shared<spdlog::logger>("p21", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::from_str(cfg.level));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [p21] %v");
  logger->flush_on(spdlog::level::warn);
  return logger;
}

} // namespace p21::detail
