// `[monitor]`: the keys of the monitor's alerts and sampling.

#include "p21/config_schema.hpp"

namespace p21 {

using namespace std::chrono_literals;

void declare_monitor_keys(config_schema& schema) {
  using M = monitor_config;
  schema
      .section<M>(
          "monitor", [](config & c) -> auto& { return c.monitor; },
          "Alerts and sampling details (the interval is `performance.monitor_interval`).")
      .duration("alert_for", &M::alert_for, 0s,
                "how long an alert's condition must hold before it fires")
      .live()
      .paths("watch_paths", &M::watch_paths,
             "file systems whose use is sampled (disk %); empty: the database's directory")
      .count("events_max", &M::events_max, 1, 1'000'000,
             "alert and optimizer events kept for `/events`");
}

} // namespace p21
