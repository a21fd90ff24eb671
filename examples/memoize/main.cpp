// A memoized function with a TTL: repeated calls with the same argument are
// answered from the node's cache; once the TTL has passed the function runs
// again.
#include <iostream>
#include <thread>

#include <p21/p21.hpp>

int main() {
  p21::config cfg;
  cfg.logging.level = p21::log_level::warn;
  p21::runtime rt{cfg};
  int runs = 0;
  std::function<long(int)> slow_square = [&runs](int x) {
    ++runs; // stands for something expensive
    return long{x} * x;
  };
  using namespace std::chrono_literals;
  auto square = p21::memoize<long, int>(rt, "square", slow_square, 300ms).value();
  auto a = square(12);
  auto b = square(12);                // from the cache
  std::this_thread::sleep_for(400ms); // past the TTL
  auto c = square(12);                // runs again
  if (!a || !b || !c || *a != 144 || *b != 144 || *c != 144) {
    std::cerr << "memoize failed\n";
    return 1;
  }
  std::cout << "square(12) = " << *a << " three times, computed " << runs << " times\n";
  return runs == 2 ? 0 : 1;
}
