// A program that links Perfect21::framework and nothing else, with every
// framework header included (framework_headers.hpp, generated): an
// application's own subsystem declares a section, `[myapp]`, through the
// same schema as the built-in ones, and gets what a built-in key gets:
// line:col errors with did-you-mean, every problem of a file in one pass,
// the generated reference, and its live key delivered to its actor on
// reload. It fails to link if the framework calls into a subsystem, and
// exits non-zero if any step misbehaves.
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <caf/all.hpp>

#include "framework_headers.hpp" // generated: every framework public header

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using workers_atom = caf::atom_constant<caf::atom("workers")>;

namespace {

/// `[myapp]`: the application's own keys, in its own struct.
struct myapp_config {
  size_t workers = 4;
  std::string greeting = "hello";
};

/// The component: answers pings and holds the worker count it was given.
caf::behavior echo(caf::event_based_actor*, uint64_t workers) {
  auto current = std::make_shared<uint64_t>(workers);
  return {
      [](ping_atom, int x) { return x + 1; },
      [current](workers_atom) { return *current; },
      [current](workers_atom, uint64_t n) {
        *current = n;
        return n;
      },
  };
}

p21::subsystem myapp_subsystem() {
  p21::subsystem s;
  s.name = "myapp";
  s.declare_config = [](p21::config_schema& schema) {
    schema.section<myapp_config>("myapp", "The application's own section.")
        .count("workers", &myapp_config::workers, 1, 64, "worker threads")
        .live()
        .string("greeting", &myapp_config::greeting, "what it says");
  };
  s.components = [](const p21::config& cfg, std::shared_ptr<const p21::node_view> view) {
    p21::child_spec spec;
    spec.name = "echo";
    uint64_t workers = cfg.get<myapp_config>().workers;
    p21::config_source current = view ? view->settings : nullptr;
    spec.start = [workers, current](caf::actor_system& sys) {
      // The current config, read at each start: a first start or a restart
      // after a reload gets the reloaded value.
      auto now = current ? current() : nullptr;
      return caf::actor_cast<caf::actor>(
          sys.spawn(echo, now ? uint64_t{now->get<myapp_config>().workers} : workers));
    };
    return std::vector<p21::child_spec>{spec};
  };
  s.reload = [](const p21::config&, const p21::config& now, const p21::reload_context& ctx,
                p21::reload_report& report) {
    report.apply<uint64_t>("myapp.workers", ctx, "echo", [&](caf::actor a) {
      return ctx.request<uint64_t>(a, workers_atom::value,
                                   uint64_t{now.get<myapp_config>().workers});
    });
  };
  return s;
}

int fail(const std::string& what) {
  std::cerr << "framework_alone: " << what << "\n";
  return 1;
}

/// The refusal of `toml`, or nothing when it loads.
std::optional<p21::config_error> refusal(const p21::config_schema& schema,
                                         const std::string& toml) {
  try {
    (void) p21::load_config_string(schema, toml, "alone.toml");
    return std::nullopt;
  } catch (const p21::config_error& e) {
    return e;
  }
}

} // namespace

int main() {
  std::vector<p21::subsystem> subsystems{myapp_subsystem()};
  auto schema = p21::make_schema(subsystems);
  auto loaded = p21::load_config_string(schema, "[runtime]\nthreads = 2\n[myapp]\nworkers = 8\n",
                                        "alone.toml");
  if (loaded.runtime.threads != 2 || loaded.get<myapp_config>().workers != 8 ||
      loaded.get<myapp_config>().greeting != "hello")
    return fail("the schema read [runtime] or [myapp] wrong");

  // A typo in the application's section: file, line, column, key, did-you-mean.
  auto typo = refusal(schema, "[myapp]\nworkrs = 8\n");
  if (!typo || typo->line() != 2 || typo->column() != 1 || typo->key() != "myapp.workrs" ||
      typo->message().find("did you mean 'workers'") == std::string::npos)
    return fail(std::string{"the typo's refusal is wrong: "} + (typo ? typo->what() : "none"));
  // Its bounds, and three problems reported in one pass, in file order.
  auto three = refusal(schema, "[myapp]\nworkers = 0\ngreeting = 3\n[runtime]\nthredas = 2\n");
  if (!three || three->problems().size() != 3 || three->problems()[0].line() != 2 ||
      three->problems()[1].line() != 3 || three->problems()[2].key() != "runtime.thredas")
    return fail(std::string{"three problems were not reported in one pass: "} +
                (three ? three->what() : "none"));
  p21::validate(schema, loaded);
  auto again = p21::load_config_string(schema, p21::to_toml(schema, loaded), "again.toml");
  if (again.runtime.threads != 2 || again.get<myapp_config>().workers != 8)
    return fail("the schema did not read back its own TOML");
  caf::actor_system_config caf_cfg;
  p21::add_message_types(caf_cfg, subsystems);
  // A section nobody declares is refused.
  auto undeclared = refusal(schema, "[database]\npool_size = 3\n");
  if (!undeclared || undeclared->key().rfind("database", 0) != 0)
    return fail("a section no subsystem declares was accepted");
  // The generated reference documents the application's keys.
  if (p21::config_reference(schema).find("myapp.workers") == std::string::npos)
    return fail("the reference lacks myapp.workers");

  p21::config cfg = loaded;
  cfg.logging.console = false;
  p21::runtime rt{cfg, subsystems};
  auto answer = rt.call<int>("echo", ping_atom::value, 41);
  if (!answer || *answer != 42)
    return fail("the component did not answer");
  auto workers = rt.call<uint64_t>("echo", workers_atom::value);
  if (!workers || *workers != 8)
    return fail("the component did not start with [myapp] workers = 8");

  // A reload changes the live key, and the actor has the new value.
  auto next = rt.settings();
  next.get<myapp_config>().workers = 16;
  auto report = rt.reload(next);
  if (std::find(report.applied.begin(), report.applied.end(), "myapp.workers") ==
      report.applied.end())
    return fail("the reload did not apply myapp.workers: " + report.describe());
  workers = rt.call<uint64_t>("echo", workers_atom::value);
  if (!workers || *workers != 16)
    return fail("the component did not get the reloaded workers");
  if (rt.settings().get<myapp_config>().workers != 16)
    return fail("the running config does not show the reloaded workers");
  // A key that is not live needs a restart and is not adopted.
  next.get<myapp_config>().greeting = "hi";
  report = rt.reload(next);
  if (report.restart_needed != std::vector<std::string>{"myapp.greeting"} ||
      rt.settings().get<myapp_config>().greeting != "hello")
    return fail("a non-live key was adopted: " + report.describe());
  // A restart keeps the reloaded value: the start function reads the
  // current config, not the one the node started with.
  caf::anon_send_exit(rt.actor_of("echo").value(), caf::exit_reason::kill);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  auto back = [&] {
    auto c = rt.component("echo");
    return c && c->restarts >= 1 && c->running;
  };
  while (!back() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  workers = rt.call<uint64_t>("echo", workers_atom::value);
  if (!back() || !workers || *workers != 16)
    return fail("the restarted component lost the reloaded workers");
  if (auto err = rt.stop())
    return fail("stop failed");
  std::cout << "framework alone: an application's section loads, is refused with line and "
               "did-you-mean, and reloads into its actor\n";
  return 0;
}
