// The standard node's config schema: the framework's sections and every
// subsystem's, and the config entry points that use it.

#include "p21/config_schema.hpp"
#include "p21/subsystems.hpp"

namespace p21 {

config_schema standard_schema() {
  return make_schema(standard_subsystems());
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
