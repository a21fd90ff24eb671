// The startup RSS of an embedded runtime with the default config, right
// after `runtime{cfg, subsystems}` returns: built twice, linking every
// standard subsystem (p21_startup_rss_all) and the five an application
// without HTTP and the cluster needs (p21_startup_rss_lean). Run both:
//   build/default/bench/p21_startup_rss_all; build/default/bench/p21_startup_rss_lean

#include <fstream>
#include <iostream>
#include <string>

#include "p21/db_config.hpp"
#include "p21/runtime.hpp"
#include "p21/subsystems.hpp"

int main() {
  p21::config cfg;
  cfg.logging.level = p21::log_level::error;
  cfg.get<p21::database_config>().path = "p21_startup_rss.db";
#ifdef P21_STARTUP_RSS_LEAN
  std::vector<p21::subsystem> subsystems{p21::cache_subsystem(), p21::db_pool_subsystem(),
                                         p21::subprocess_subsystem(), p21::monitor_subsystem(),
                                         p21::optimizer_subsystem()};
#else
  auto subsystems = p21::standard_subsystems();
#endif
  p21::runtime rt{cfg, subsystems};
  std::ifstream in{"/proc/self/status"};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS", 0) == 0 || line.rfind("Rss", 0) == 0 || line.rfind("Threads", 0) == 0)
      std::cout << line << "\n";
  return 0;
}
