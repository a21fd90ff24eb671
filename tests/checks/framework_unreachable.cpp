// Must NOT compile: a program with every framework header (and no
// p21/subsystems.hpp) calls each function that only the umbrella library
// defines. Each call has to fail here, at compile time, rather than at link
// time; framework_unreachable.cmake checks that every line marked REFUSED has
// an error of its own.
#include <caf/actor_system_config.hpp>

#include "framework_headers.hpp"

int main() {
  p21::config cfg;
  caf::actor_system_config caf_cfg;
  // clang-format off
  p21::runtime rt{cfg};                            // REFUSED: standard subsystems
  (void) p21::load_config_file("node.toml");       // REFUSED: standard schema
  (void) p21::load_config_string("", "node.toml"); // REFUSED: standard schema
  p21::validate(cfg);                              // REFUSED: standard schema
  (void) p21::to_toml(cfg);                        // REFUSED: standard schema
  (void) p21::standard_schema();                   // REFUSED: the umbrella's
  (void) p21::config_reference();                  // REFUSED: standard schema
  p21::add_message_types(caf_cfg);                 // REFUSED: standard types
  // clang-format on
  return 0;
}
