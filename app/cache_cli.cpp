// p21 cache get|put|erase|stats --connect HOST:PORT: a command-line client
// for a node's published cache, through CAF's network layer (as redis-cli is
// for Redis). It builds a small actor system of its own, connects to the
// node's gateway, looks the cache up and sends one request.

#include "app/bench.hpp"

#include <iostream>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "p21/cluster.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/request.hpp"
#include "p21/subsystems.hpp"
#include "p21/types.hpp"

namespace p21::app {

namespace {

template <class R, class... Ts>
caf::expected<R> ask(caf::actor_system& sys, const caf::actor& cache, timespan timeout,
                     Ts&&... xs) {
  return blocking_request<R>(sys, caf::actor_cast<cache_actor>(cache), timeout,
                             std::forward<Ts>(xs)...);
}

} // namespace

int run_cache_client(const cache_client_options& o) {
  auto colon = o.connect.rfind(':');
  gateway_address addr;
  if (colon == std::string::npos || colon == 0) {
    std::cerr << "p21 cache: --connect wants HOST:PORT, got '" << o.connect << "'\n";
    return 2;
  }
  addr.host = o.connect.substr(0, colon);
  try {
    auto port = std::stoul(o.connect.substr(colon + 1));
    if (port == 0 || port > 65535)
      throw std::out_of_range("port");
    addr.port = static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    std::cerr << "p21 cache: --connect wants HOST:PORT with a port 1-65535, got '" << o.connect
              << "'\n";
    return 2;
  }
  addr.certificate = o.certificate;
  addr.key = o.key;
  addr.ca = o.ca;
  auto timeout = parse_duration(o.timeout);
  if (!timeout || timeout->count() <= 0) {
    std::cerr << "p21 cache: --timeout wants a duration such as \"3s\", got '" << o.timeout
              << "'\n";
    return 2;
  }
  size_t want = o.action == "put" ? 2 : o.action == "stats" ? 0 : 1;
  if (o.args.size() != want) {
    std::cerr << "p21 cache " << o.action << ": expected " << want << " argument(s)"
              << (want == 2 ? " (KEY VALUE)" : want == 1 ? " (KEY)" : "") << ", got "
              << o.args.size() << "\n";
    return 2;
  }
  // stdout carries only the answer; what the connection's guard logs (a
  // refused frame, an unreachable peer) goes to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("p21-cache"));
  spdlog::set_level(spdlog::level::warn);
  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  add_message_types(cfg);
  cfg.load<caf::io::middleman>();
  if (!addr.certificate.empty()) {
    if (auto why = tls_files_problem(addr.certificate, addr.key, addr.ca); !why.empty()) {
      std::cerr << "p21 cache: " << why << "\n";
      return 2;
    }
    enable_cluster_tls();
    if (auto why = require_tls_names(
            o.tls_name.empty() ? std::vector<std::string>{} : std::vector<std::string>{o.tls_name},
            {});
        !why.empty()) {
      std::cerr << "p21 cache: " << why << "\n";
      return 2;
    }
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = addr.certificate;
    cfg.openssl_key = addr.key;
    cfg.openssl_cafile = addr.ca;
  }
  caf::actor_system sys{cfg};
  auto cache = lookup_remote(sys, addr, "cache." + o.cache, *timeout);
  if (!cache) {
    std::cerr << "p21 cache: " << render(cache.error()) << "\n";
    return 1;
  }
  auto fail = [](const caf::error& e) {
    std::cerr << "p21 cache: " << render(e) << "\n";
    return 1;
  };
  if (o.action == "get") {
    auto v = ask<caf::optional<std::string>>(sys, *cache, *timeout, get_atom::value, o.args[0]);
    if (!v)
      return fail(v.error());
    std::cout << (*v ? **v : std::string{"(nil)"}) << "\n";
    return 0;
  }
  if (o.action == "put") {
    auto ttl = o.ttl.empty() ? std::optional<timespan>{timespan{0}} : parse_duration(o.ttl);
    if (!ttl) {
      std::cerr << "p21 cache: --ttl wants a duration such as \"10m\", got '" << o.ttl << "'\n";
      return 2;
    }
    auto ok = ask<bool>(sys, *cache, *timeout, put_atom::value, o.args[0], o.args[1], *ttl);
    if (!ok)
      return fail(ok.error());
    std::cout << "OK\n";
    return 0;
  }
  if (o.action == "erase") {
    auto gone = ask<bool>(sys, *cache, *timeout, erase_atom::value, o.args[0]);
    if (!gone)
      return fail(gone.error());
    std::cout << (*gone ? "erased" : "(not found)") << "\n";
    return 0;
  }
  auto s = ask<cache_stats>(sys, *cache, *timeout, stats_atom::value);
  if (!s)
    return fail(s.error());
  std::cout << nlohmann::json{{"name", s->name},
                              {"hits", s->hits},
                              {"misses", s->misses},
                              {"hit_rate", s->hit_rate()},
                              {"puts", s->puts},
                              {"evictions", s->evictions},
                              {"expirations", s->expirations},
                              {"entries", s->entries},
                              {"bytes", s->bytes},
                              {"max_entries", s->max_entries},
                              {"max_bytes", s->max_bytes}}
                   .dump()
            << "\n";
  return 0;
}

} // namespace p21::app
