// Embeds a Perfect21 node and uses it from a plain thread: a supervised actor
// of its own, the cache, the SQLite pool and a command, in under 40 lines.
#include <iostream>

#include <caf/all.hpp>
#include <p21/p21.hpp>
#include "p21/db_config.hpp"

using add_atom = caf::atom_constant<caf::atom("add")>;
using p21::db_value;

int main() {
  p21::config cfg; // defaults; or p21::load_config_file("node.toml")
  cfg.logging.level = p21::log_level::warn;
  cfg.get<p21::database_config>().path = ":memory:";
  p21::runtime rt{cfg}; // starts the node; stops it when rt goes out of scope
  rt.spawn_supervised({"adder", [](caf::actor_system& sys) { // restarted if it crashes
                         return sys.spawn([] {
                           return caf::behavior{[](add_atom, int x, int y) {
                             return x + y;
                           }};
                         });
                       }});
  auto sum = rt.call<int>("adder", add_atom::value, 40, 2); // blocking, with a timeout
  auto cache = p21::cache::open(rt, "async").value();
  auto put = cache.put("greeting", "hello");
  auto db = p21::db::open(rt).value();
  db.execute("CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT)");
  db.execute("INSERT INTO kv VALUES (?, ?)", {db_value::of("answer"), db_value::of("42")});
  auto row = db.query("SELECT v FROM kv WHERE k = ?", {db_value::of("answer")});
  auto echo = p21::subprocess::open(rt).value().run({"echo", "hi from a child"}); // no shell
  if (!sum || put || !row || !echo) { // errors are values
    std::cerr << "something failed\n";
    return 1;
  }
  std::cout << "40 + 2 = " << *sum << "; cache: " << cache.get("greeting")->value_or("?")
            << "; db: " << row->rows.at(0).at(0).s << "; command: " << echo->stdout_data;
  return 0;
}
