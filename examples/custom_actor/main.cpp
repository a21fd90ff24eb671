// A user actor under the application's own supervisor (nested under the
// node's). It counts page views in the SQLite pool and keeps each page's
// latest count in the cache, all with asynchronous requests (an actor never
// blocks its scheduler thread). Asked to, it crashes; its supervisor
// restarts it and, since the counts live in the database, nothing is lost.
// The handle taken before the crash finds the new instance by name. Had it
// crashed in a loop, the "app" supervisor would give up and stop its own
// children; the node would go on.
#include <chrono>
#include <iostream>
#include <thread>

#include <caf/all.hpp>
#include <p21/p21.hpp>
#include "p21/db_config.hpp"

using view_atom = caf::atom_constant<caf::atom("view")>;
using crash_atom = caf::atom_constant<caf::atom("crash")>;
using namespace std::chrono_literals;

caf::behavior page_counter(caf::event_based_actor* self, p21::db_pool_actor db,
                           p21::cache_actor cache) {
  return {
      [=](view_atom, const std::string& page) -> caf::result<int64_t> {
        auto rp = self->make_response_promise<int64_t>();
        std::vector<p21::db_statement> tx{
            {"INSERT INTO views(page, n) VALUES (?, 1) "
             "ON CONFLICT(page) DO UPDATE SET n = n + 1",
             {p21::db_value::of(page)}},
            {"SELECT n FROM views WHERE page = ?", {p21::db_value::of(page)}}};
        self->request(db, 5s, p21::transaction_atom::value, std::move(tx))
            .then(
                [=](std::vector<p21::db_result>& r) mutable {
                  auto n = r.at(1).rows.at(0).at(0).i;
                  // Answered once the cache holds the count, so that a
                  // caller reading the cache next sees it.
                  self->request(cache, 5s, p21::put_atom::value, "views:" + page,
                                std::to_string(n), caf::timespan{0})
                      .then([=](bool) mutable { rp.deliver(n); },
                            [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
                },
                [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
      [=](crash_atom) -> int64_t { throw std::runtime_error("asked to crash"); },
  };
}

int main() {
  p21::config cfg;
  cfg.logging.level = p21::log_level::error;
  cfg.get<p21::database_config>().path = ":memory:";
  p21::runtime rt{cfg};
  auto db = p21::db::open(rt).value();
  auto cache = p21::cache::open(rt, "async").value();
  db.execute("CREATE TABLE views(page TEXT PRIMARY KEY, n INTEGER NOT NULL)");
  auto db_actor = db.actor().value();
  auto cache_actor = cache.shard_for("views:home").value();
  // The application's subtree: its own strategy and restart intensity (at
  // most 3 restarts in 10 s, then it gives up and stops its children; the
  // subtree then stays down and the node goes on: `restart::temporary`, the
  // default for a subtree of the node).
  p21::supervisor_config app_policy;
  app_policy.restart_strategy = p21::strategy::one_for_one;
  app_policy.max_restarts = 3;
  app_policy.period = 10s;
  auto app = rt.spawn_supervisor("app", app_policy);
  if (!app) {
    std::cerr << "supervisor failed: " << p21::render(app.error()) << "\n";
    return 1;
  }
  // `start` runs again for every restart.
  auto counter = app->spawn({"page_counter", [=](caf::actor_system& sys) {
                               return caf::actor_cast<caf::actor>(
                                   sys.spawn(page_counter, db_actor, cache_actor));
                             }});
  if (!counter) {
    std::cerr << "spawn failed: " << p21::render(counter.error()) << "\n";
    return 1;
  }
  // The handle resolves "page_counter" at each call, so it outlives restarts.
  auto view = [&] {
    return counter->call<int64_t>(view_atom::value, "home");
  };
  auto a = view(), b = view();
  auto crashed = counter->call<int64_t>(crash_atom::value);
  auto restarts_of_counter = [&]() -> uint64_t {
    for (auto& c : app->children())
      if (c.name == "page_counter" && c.running)
        return c.restarts;
    return 0;
  };
  // Wait (bounded) for the supervisor to start the next instance.
  for (int i = 0; i < 500 && restarts_of_counter() < 1; ++i)
    std::this_thread::sleep_for(10ms);
  auto c = view();
  auto restarts = restarts_of_counter();
  auto cached = cache.get("views:home");
  if (!a || !b || !c || crashed || !cached || !*cached) {
    std::cerr << "custom_actor failed: " << (a ? "" : p21::render(a.error()))
              << (c ? "" : p21::render(c.error())) << (crashed ? " no crash" : "") << "\n";
    return 1;
  }
  std::cout << "home viewed " << *a << ", " << *b
            << " times; crash: " << p21::render(crashed.error()) << "; restarted " << restarts
            << " time(s); then viewed " << *c << " times; cache says " << **cached << "\n";
  return *c == 3 && restarts == 1 && **cached == "3" && !app->given_up() ? 0 : 1;
}
