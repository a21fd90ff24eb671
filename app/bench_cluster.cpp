// Cluster figures of p21 bench: a remote cache get over loopback (plain and
// TLS) against a local get, and gets per second from one and from two
// client nodes into one cache node. Every node is a runtime in this process
// with its own actor system and middleman; they talk over 127.0.0.1.

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/bench_rows.hpp"
#include "app/node_subsystems.hpp"
#include "app/scratch_dir.hpp"
#include <caf/all.hpp>

#include "p21/cache_config.hpp"
#include "p21/cluster_config.hpp"
#include "p21/db_config.hpp"
#include "p21/p21.hpp"

namespace p21::app {

namespace {

namespace fs = std::filesystem;

struct tls_files {
  std::string certificate, key, ca;
};

config owner_config(const config& base, uint16_t port, const tls_files* tls) {
  auto cfg = quiet(base);
  cfg.get<database_config>().path = ":memory:";
  cfg.get<cache_config>().caches["shared"].max_entries = 10000;
  cfg.get<cluster_config>().publish_port = port;
  cfg.get<cluster_config>().publish_actors = {"cache.shared"};
  if (tls) {
    cfg.get<cluster_config>().tls_certificate = tls->certificate;
    cfg.get<cluster_config>().tls_key = tls->key;
    cfg.get<cluster_config>().tls_ca = tls->ca;
  }
  return cfg;
}

config client_config(const config& base, uint16_t port, const tls_files* tls) {
  auto cfg = quiet(base);
  cfg.get<database_config>().path = ":memory:";
  cluster_peer peer;
  peer.name = "owner";
  peer.port = port;
  peer.actors = {"cache.shared"};
  cfg.get<cluster_config>().peers.push_back(peer);
  cfg.get<cluster_config>().retry_initial = std::chrono::milliseconds{10};
  if (tls) {
    cfg.get<cluster_config>().tls_certificate = tls->certificate;
    cfg.get<cluster_config>().tls_key = tls->key;
    cfg.get<cluster_config>().tls_ca = tls->ca;
  }
  return cfg;
}

/// Waits (bounded) until `c` reaches its peer.
void await_connected(cache& c) {
  auto deadline = clock::now() + std::chrono::seconds{10};
  while (!c.get("warm-up")) {
    if (clock::now() > deadline)
      throw std::runtime_error("the client node did not connect to the cache node");
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
}

series time_gets(cache& c, size_t n, const std::string& label) {
  series s{label, {}};
  time_each(s, n, [&](size_t) {
    auto v = c.get("key");
    if (!v || !*v)
      throw std::runtime_error("a benchmark get failed");
  });
  return s;
}

nlohmann::json summary(const series& s) {
  return {{"unit", "s"},
          {"median_s", s.median()},
          {"p99_s", s.quantile(0.99)},
          {"spread", s.spread()},
          {"runs", s.samples.size()}};
}

/// Remote vs local get, with or without TLS.
nlohmann::json round_trip(const config& base, size_t n, const tls_files* tls) {
  auto port = free_loopback_port();
  runtime owner{owner_config(base, port, tls), node_subsystems()};
  runtime client{client_config(base, port, tls), node_subsystems()};
  auto local = cache::open(owner, "shared").value();
  auto remote = cache::open(client, "shared").value();
  if (auto err = local.put("key", std::string(100, 'v')))
    throw std::runtime_error(render(err));
  await_connected(remote);
  auto l = time_gets(local, n, "local get (handle, same node)");
  auto r = time_gets(remote, n, tls ? "remote get over loopback, TLS" : "remote get over loopback");
  release_thread();
  return {{"local", summary(l)},
          {"remote", summary(r)},
          {"remote_over_local", r.median() / std::max(l.median(), 1e-12)}};
}

/// Gets per second from `clients` client nodes, one thread each, into one
/// cache node, for `seconds`.
double throughput(const config& base, size_t clients, double seconds) {
  auto port = free_loopback_port();
  runtime owner{owner_config(base, port, nullptr)};
  if (auto err = cache::open(owner, "shared").value().put("key", std::string(100, 'v')))
    throw std::runtime_error(render(err));
  std::vector<std::unique_ptr<runtime>> nodes;
  for (size_t i = 0; i < clients; ++i)
    nodes.push_back(std::make_unique<runtime>(client_config(base, port, nullptr)));
  for (auto& n : nodes) {
    auto c = cache::open(*n, "shared").value();
    await_connected(c);
  }
  std::atomic<uint64_t> gets{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (auto& n : nodes)
    threads.emplace_back([&, rt = n.get()] {
      auto c = cache::open(*rt, "shared").value();
      while (!go)
        std::this_thread::yield();
      auto end = clock::now() + std::chrono::duration_cast<clock::duration>(
                                    std::chrono::duration<double>{seconds});
      uint64_t mine = 0;
      while (clock::now() < end)
        if (c.get("key"))
          ++mine;
      gets += mine;
      release_thread();
    });
  auto t0 = clock::now();
  go = true;
  for (auto& t : threads)
    t.join();
  return static_cast<double>(gets) / seconds_since(t0);
}

/// A CA and a node certificate it signed, made with the openssl command
/// through a node's subprocess pool (argv, no shell). Empty without openssl.
std::optional<tls_files> make_certificates(const config& base, const fs::path& dir) {
  if (::access("/usr/bin/openssl", X_OK) != 0)
    return std::nullopt;
  auto cfg = quiet(base);
  cfg.get<database_config>().path = ":memory:";
  runtime rt{cfg};
  auto sp = subprocess::open(rt).value();
  auto d = dir.string() + "/";
  std::vector<std::vector<std::string>> steps{
      {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "ca.key", "-out",
       d + "ca.pem", "-days", "1", "-subj", "/CN=p21 bench CA"},
      {"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "node.key", "-out",
       d + "node.csr", "-subj", "/CN=127.0.0.1"},
      {"openssl", "x509", "-req", "-in", d + "node.csr", "-CA", d + "ca.pem", "-CAkey",
       d + "ca.key", "-CAcreateserial", "-out", d + "node.pem", "-days", "1"}};
  for (auto& argv : steps) {
    auto r = sp.run(argv);
    if (!r || r->exit_code != 0)
      return std::nullopt;
  }
  return tls_files{d + "node.pem", d + "node.key", d + "ca.pem"};
}

} // namespace

nlohmann::json cluster_details(const config& base, bool quick) {
  nlohmann::json out;
  size_t n = quick ? 500 : 3000;
  out["plain"] = round_trip(base, n, nullptr);
  // mkdtemp: a name nobody could have planted first (it holds a private key).
  {
    scratch_dir dir{"p21-bench-tls"};
    if (auto tls = make_certificates(base, dir.path()))
      out["tls"] = round_trip(base, n, &*tls);
    else
      out["tls"] = nullptr;
  }
  double seconds = quick ? 1 : 3;
  out["gets_per_second"] = {{"one_client_node", throughput(base, 1, seconds)},
                            {"two_client_nodes", throughput(base, 2, seconds)}};
  auto us = [](const nlohmann::json& s) {
    return s["median_s"].get<double>() * 1e6;
  };
  std::cout << std::fixed << std::setprecision(1);
  for (auto kind : {"plain", "tls"}) {
    auto& r = out[kind];
    if (r.is_null()) {
      std::cout << "cluster: TLS figures skipped (no /usr/bin/openssl to make certificates)\n";
      continue;
    }
    std::cout << "cluster: remote get over loopback" << (std::string{kind} == "tls" ? ", TLS" : "")
              << ": " << us(r["remote"]) << " us (p99 " << r["remote"]["p99_s"].get<double>() * 1e6
              << " us) vs local get " << us(r["local"])
              << " us: " << r["remote_over_local"].get<double>() << "x the local time\n";
  }
  std::cout << std::setprecision(0) << "cluster: gets/s into one cache node: from 1 client node "
            << out["gets_per_second"]["one_client_node"].get<double>() << ", from 2 client nodes "
            << out["gets_per_second"]["two_client_nodes"].get<double>() << "\n";
  return out;
}

} // namespace p21::app
