#include "monitor_settings.hpp"

#include <filesystem>

#include "p21/db_config.hpp"
#include "p21/monitor_config.hpp"

namespace p21 {

monitor_settings settings_of(const config& cfg) {
  monitor_settings ms;
  ms.interval = cfg.performance.monitor_interval;
  ms.alert_for = cfg.get<monitor_config>().alert_for;
  ms.events_max = cfg.get<monitor_config>().events_max;
  ms.watch_paths = cfg.get<monitor_config>().watch_paths;
  ms.alerts = alert_rules(cfg.get<monitor_config>().alerts, cfg.get<monitor_config>().alert_for);
  ms.alert_commands_max = cfg.get<monitor_config>().alert_commands_max;
  ms.pressure.psi_trigger = cfg.get<monitor_config>().psi_trigger;
  ms.pressure.check_interval = cfg.get<monitor_config>().pressure_check;
  ms.pressure.memory_budget = cfg.performance.memory_budget;
  ms.pressure_release = cfg.get<monitor_config>().pressure_release;
  if (ms.watch_paths.empty()) {
    auto dir = std::filesystem::path{cfg.get<database_config>().path}.parent_path().string();
    ms.watch_paths.push_back(dir.empty() ? "." : dir);
  }
  return ms;
}

} // namespace p21
