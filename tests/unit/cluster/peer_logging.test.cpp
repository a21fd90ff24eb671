// What a peer can make a node log through a public proxy: a few short
// lines, however many and however large the messages it sends.

#include <catch2/catch.hpp>

#include <chrono>
#include <sstream>

#include <caf/all.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "actors/cluster/public_interface.hpp"

using namespace p21;
using namespace p21::cluster_detail;

TEST_CASE("twenty 1 MB messages a peer sends to a public proxy are logged in a few short lines") {
  std::ostringstream out;
  auto previous = spdlog::default_logger();
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_pattern("%v");
  auto logger = std::make_shared<spdlog::logger>("captured", sink);
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  caf::actor_system_config cfg;
  auto start = std::chrono::steady_clock::now();
  {
    caf::actor_system sys{cfg};
    auto proxy = sys.spawn(public_cache, std::string{"shared"}, [] { return caf::actor{}; },
                           request_bounds{});
    caf::scoped_actor self{sys};
    const std::string mb(1 << 20, 'P');
    int refused = 0;
    for (int i = 0; i < 20; ++i)
      self->request(proxy, caf::infinite, mb, i)
          .receive([](int) {}, [&](caf::error& e) {
            refused += e == caf::sec::unexpected_message ? 1 : 0;
          });
    CHECK(refused == 20);
    self->send_exit(proxy, caf::exit_reason::kill);
  }
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  spdlog::set_default_logger(previous);
  std::vector<std::string> lines;
  std::istringstream in{out.str()};
  for (std::string line; std::getline(in, line);)
    if (line.find("refused") != std::string::npos)
      lines.push_back(line);
  REQUIRE(!lines.empty());
  // The default limit: a burst of 10, then 5 a second.
  CHECK(lines.size() <= 10 + static_cast<size_t>(5 * elapsed.count()) + 1);
  for (auto& l : lines) {
    CHECK(l.size() < 400);
    CHECK_THAT(l, Catch::Contains("bytes)"));
  }
  CHECK(out.str().size() < 20 * 1024);
}
