// The standard node's config schema: the framework's sections and every
// subsystem's, and the config entry points that use it.

#include "p21/config_schema.hpp"

namespace p21 {

// Each subsystem declares its sections in its own folder (config_keys.cpp).
void declare_monitor_keys(config_schema& schema);
void declare_http_keys(config_schema& schema);
void declare_cache_keys(config_schema& schema);
void declare_database_keys(config_schema& schema);
void declare_subprocess_keys(config_schema& schema);
void declare_demo_keys(config_schema& schema);
void declare_cluster_keys(config_schema& schema);
void declare_optimizer_keys(config_schema& schema);

config_schema standard_schema() {
  config_schema schema;
  declare_framework_keys(schema);
  declare_monitor_keys(schema);
  declare_http_keys(schema);
  // [cache] before [database]: a further cache starts from [cache]'s defaults.
  declare_cache_keys(schema);
  declare_database_keys(schema);
  declare_subprocess_keys(schema);
  declare_demo_keys(schema);
  declare_cluster_keys(schema);
  declare_optimizer_keys(schema);
  return schema;
}

namespace {

const config_schema& the_schema() {
  static const config_schema schema = standard_schema();
  return schema;
}

} // namespace

config load_config_file(const std::string& path) {
  return load_config_file(the_schema(), path);
}

config load_config_string(std::string_view toml, const std::string& source_name) {
  return load_config_string(the_schema(), toml, source_name);
}

void validate(const config& cfg) {
  validate(the_schema(), cfg);
}

std::string to_toml(const config& cfg) {
  return to_toml(the_schema(), cfg);
}

std::string config_reference() {
  return config_reference(the_schema());
}

} // namespace p21
