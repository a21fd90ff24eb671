// A program that links Perfect21::framework and nothing else, with every
// framework header included: a config, the framework's own schema and a
// runtime with one component of its own. It fails to link if the framework
// calls into a subsystem, and exits non-zero if any step misbehaves.
#include <iostream>
#include <string>

#include <caf/all.hpp>

#include "framework_headers.hpp" // generated: every framework public header

using ping_atom = caf::atom_constant<caf::atom("ping")>;

int fail(const std::string& what) {
  std::cerr << "framework_alone: " << what << "\n";
  return 1;
}

int main() {
  auto schema = p21::make_schema({});
  auto loaded = p21::load_config_string(schema, "[runtime]\nthreads = 2\n", "alone.toml");
  if (loaded.runtime.threads != 2 || !loaded.rules.empty())
    return fail("the framework's schema read [runtime] wrong");
  try {
    (void) p21::load_config_string(schema, "[database]\npool_size = 3\n", "alone.toml");
    return fail("a section no subsystem declares was accepted");
  } catch (const p21::config_error& e) {
    if (e.key().rfind("database", 0) != 0)
      return fail(std::string{"refusal names the wrong key: "} + e.what());
  }
  p21::validate(schema, loaded);
  if (p21::load_config_string(schema, p21::to_toml(schema, loaded), "again.toml").runtime.threads !=
      2)
    return fail("the framework's schema did not read back its own TOML");
  caf::actor_system_config caf_cfg;
  p21::add_message_types(caf_cfg, {});
  p21::config cfg;
  cfg.logging.console = false;
  cfg.database.path = ":memory:";
  p21::child_spec echo;
  echo.name = "echo";
  echo.start = [](caf::actor_system& sys) {
    return caf::actor_cast<caf::actor>(sys.spawn([]() -> caf::behavior {
      return {[](ping_atom, int x) { return x + 1; }};
    }));
  };
  p21::runtime rt{cfg, std::vector<p21::subsystem>{}, {echo}};
  auto answer = rt.call<int>("echo", ping_atom::value, 41);
  if (!answer || *answer != 42)
    return fail("the component did not answer");
  if (auto err = rt.stop())
    return fail("stop failed");
  std::cout << "framework alone: config, schema and runtime work\n";
  return 0;
}
