// Embeds a Perfect21 node, supervises an actor of its own and calls it from
// a plain thread.
#include <iostream>

#include <caf/all.hpp>
#include <p21/p21.hpp>

using add_atom = caf::atom_constant<caf::atom("add")>;

caf::behavior adder() {
  return {[](add_atom, int x, int y) {
    return x + y;
  }};
}

int main() {
  p21::config cfg; // defaults; or p21::load_config_file("node.toml")
  cfg.logging.level = "warn";
  p21::runtime rt{cfg}; // starts the node; stops it when rt goes out of scope
  auto child = rt.spawn_supervised({"adder", [](caf::actor_system& sys) {
                                      return sys.spawn(adder);
                                    }});
  if (!child) {
    std::cerr << "spawn failed: " << p21::render(child.error()) << "\n";
    return 1;
  }
  auto sum = rt.call<int>("adder", add_atom::value, 40, 2); // blocking, with a timeout
  if (!sum) {
    std::cerr << "call failed: " << p21::render(sum.error()) << "\n";
    return 1;
  }
  std::cout << "40 + 2 = " << *sum << "\n";
  return *sum == 42 ? 0 : 1;
}
