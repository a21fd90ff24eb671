// A user actor under the node's supervisor. It counts page views in the
// SQLite pool and keeps each page's latest count in the cache, all with
// asynchronous requests (an actor never blocks its scheduler thread). Asked
// to, it crashes; the supervisor restarts it and, since the counts live in
// the database, nothing is lost.
#include <chrono>
#include <iostream>
#include <thread>

#include <caf/all.hpp>
#include <p21/p21.hpp>

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
                  caf::anon_send(cache, p21::put_atom::value, "views:" + page,
                                 std::to_string(n), caf::timespan{0});
                  rp.deliver(n);
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
  cfg.database.path = ":memory:";
  p21::runtime rt{cfg};
  auto db = p21::db::open(rt).value();
  auto cache = p21::cache::open(rt, "async").value();
  db.execute("CREATE TABLE views(page TEXT PRIMARY KEY, n INTEGER NOT NULL)");
  auto db_actor = db.actor().value();
  auto cache_actor = cache.shard_for("views:home").value();
  // `start` runs again for every restart.
  auto spawned = rt.spawn_supervised(
      {"page_counter", [=](caf::actor_system& sys) {
         return caf::actor_cast<caf::actor>(sys.spawn(page_counter, db_actor, cache_actor));
       }});
  if (!spawned) {
    std::cerr << "spawn failed: " << p21::render(spawned.error()) << "\n";
    return 1;
  }
  auto view = [&] { return rt.call<int64_t>("page_counter", view_atom::value, "home"); };
  auto a = view(), b = view();
  auto crashed = rt.call<int64_t>("page_counter", crash_atom::value);
  // Wait (bounded) for the supervisor to start the next instance.
  for (int i = 0; i < 500; ++i) {
    auto c = rt.component("page_counter");
    if (c && c->restarts >= 1 && c->running)
      break;
    std::this_thread::sleep_for(10ms);
  }
  auto c = view();
  auto restarts = rt.component("page_counter")->restarts;
  auto cached = cache.get("views:home");
  if (!a || !b || !c || crashed || !cached || !*cached) {
    std::cerr << "custom_actor failed: " << (a ? "" : p21::render(a.error()))
              << (c ? "" : p21::render(c.error())) << (crashed ? " no crash" : "") << "\n";
    return 1;
  }
  std::cout << "home viewed " << *a << ", " << *b << " times; crash: "
            << p21::render(crashed.error()) << "; restarted " << restarts
            << " time(s); then viewed " << *c << " times; cache says " << **cached << "\n";
  return *c == 3 && restarts == 1 && **cached == "3" ? 0 : 1;
}
