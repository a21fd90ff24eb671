// The TOML config loader with every standard subsystem's schema: a refusal
// is a `config_error`; anything else escaping (or a crash) is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "p21/config.hpp"
#include "p21/config_schema.hpp"
#include "p21/subsystem.hpp"

namespace p21 {
void declare_cache_keys(config_schema&);
void declare_database_keys(config_schema&);
void declare_subprocess_keys(config_schema&);
void declare_monitor_keys(config_schema&);
void declare_optimizer_keys(config_schema&);
void declare_http_keys(config_schema&);
void declare_demo_keys(config_schema&);
} // namespace p21

namespace {

/// The standard schema's keys without the subsystems' actors: each
/// subsystem's `config_keys.cpp` alone (the cluster's are left out).
const p21::config_schema& schema() {
  static const p21::config_schema s = [] {
    std::vector<p21::subsystem> subs;
    for (auto declare :
         {p21::declare_cache_keys, p21::declare_database_keys, p21::declare_subprocess_keys,
          p21::declare_monitor_keys, p21::declare_optimizer_keys, p21::declare_http_keys,
          p21::declare_demo_keys}) {
      p21::subsystem x;
      x.name = "fuzz";
      x.declare_config = declare;
      subs.push_back(std::move(x));
    }
    return p21::make_schema(subs);
  }();
  return s;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  try {
    auto cfg = p21::load_config_string(schema(), text, "fuzz.toml");
    static_cast<void>(cfg);
  } catch (const p21::config_error&) {
    // refused, with file, line and key: what a bad file gets
  }
  return 0;
}
