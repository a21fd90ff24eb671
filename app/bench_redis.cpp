// Redis figures of p21 bench (`--only redis`): a redis-server of the bench's
// own on a free loopback port, nothing persisted. Rows: a plain hiredis GET
// per lookup against a near-tier hit (redis_near) and against a near-tier
// miss served from Redis (redis_miss). Details: how long after A's
// acknowledged put B's near tier drops the key, and gets/s from 1 and 2 nodes.

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/redis/redis_tier.hpp"
#include "app/bench_rows.hpp"
#include "app/scratch_dir.hpp"
#include "p21/cache_config.hpp"
#include "p21/db_config.hpp"
#include "p21/p21.hpp"
#include "p21/redis_config.hpp"

extern char** environ;

namespace p21::app {

namespace {

namespace fs = std::filesystem;

std::string find_redis_server() {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/bin:/usr/sbin";
  size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find(':', start);
    auto dir = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty() && ::access((dir + "/redis-server").c_str(), X_OK) == 0)
      return dir + "/redis-server";
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  return {};
}

/// The bench's redis-server, stopped and its directory removed at the end.
class server {
public:
  server(const std::string& binary)
    : port_(free_loopback_port()) {
    std::vector<std::string> argv{binary,   "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                  "--save", "",       "--appendonly",        "no",     "--dir",
                                  dir_};
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    auto log = dir_ + "/redis.log";
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    auto rc = ::posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
      throw std::runtime_error("cannot start redis-server");
    auto deadline = clock::now() + std::chrono::seconds{10};
    while (clock::now() < deadline) {
      if (auto* c = redisConnect("127.0.0.1", port_)) {
        bool ok = c->err == 0;
        redisFree(c);
        if (ok)
          return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    throw std::runtime_error("redis-server did not accept connections within 10 s");
  }

  ~server() {
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }

  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  uint16_t port() const { return port_; }

private:
  uint16_t port_;
  scratch_dir scratch_{"p21-bench-redis"};
  const std::string& dir_ = scratch_.path();
  pid_t pid_ = 0;
};

config node_config(const config& base, const std::string& url) {
  auto cfg = quiet(base);
  cfg.get<database_config>().path = ":memory:";
  named_cache_config nc;
  nc.max_entries = 100'000;
  nc.backend = cache_backend::redis;
  cfg.get<cache_config>().caches["shared"] = nc;
  cfg.get<redis_config>().url = url;
  cfg.get<redis_config>().key_prefix = "bench:";
  return cfg;
}

/// A plain hiredis GET, the baseline of both rows.
struct plain_client {
  redisContext* c;
  explicit plain_client(uint16_t port)
    : c(redisConnect("127.0.0.1", port)) {
    if (!c || c->err)
      throw std::runtime_error("cannot connect to the bench's redis-server");
  }
  ~plain_client() { redisFree(c); }
  void set(const std::string& k, const std::string& v) {
    freeReplyObject(redisCommand(c, "SET %b %b", k.data(), k.size(), v.data(), v.size()));
  }
  size_t get(const std::string& k) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "GET %b", k.data(), k.size()));
    size_t n = r && r->type == REDIS_REPLY_STRING ? r->len : 0;
    freeReplyObject(r);
    return n;
  }
};

bool wait_coherent(runtime& rt) {
  auto tier = rt.shared_object<redis_detail::redis_tier>("redis");
  auto deadline = clock::now() + std::chrono::seconds{10};
  while (clock::now() < deadline) {
    if (tier && tier->coherent())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  return false;
}

const std::string value(100, 'v');

} // namespace

nlohmann::json redis_bench(const config& base, bool quick, std::vector<row_result>& rows) {
  auto binary = find_redis_server();
  if (binary.empty()) {
    std::cerr << " skipped: no redis-server on PATH (Debian: apt-get install redis-server)";
    return {{"skipped", "no redis-server on PATH"}};
  }
  server srv{binary};
  size_t runs = quick ? 5 : 20;
  plain_client plain{srv.port()};
  runtime a{node_config(base, srv.url())};
  if (!wait_coherent(a))
    throw std::runtime_error("the node did not reach the bench's Redis");
  auto ca = cache::open(a, "shared").value();
  // Both sides of a row alternate, batch by batch, so that they share
  // whatever else the machine does meanwhile.
  auto interleaved = [&](row_result& r, size_t per_base, size_t per_p21, auto base_op,
                         auto p21_op) {
    size_t i = 0, j = 0;
    for (size_t k = 0; k < runs; ++k) {
      auto t0 = clock::now();
      for (size_t n = 0; n < per_base; ++n)
        base_op(i++);
      r.baseline.samples.push_back(seconds_since(t0) / double(per_base));
      t0 = clock::now();
      for (size_t n = 0; n < per_p21; ++n)
        p21_op(j++);
      r.perfect21.samples.push_back(seconds_since(t0) / double(per_p21));
    }
  };
  // -- redis_near: a near-tier hit vs a GET per lookup -----------------------------
  const size_t keys = 1000;
  std::vector<std::string> near_keys, near_redis_keys;
  for (size_t i = 0; i < keys; ++i) {
    near_keys.push_back("near" + std::to_string(i));
    near_redis_keys.push_back("bench:shared:" + near_keys.back());
    if (auto err = ca.put(near_keys.back(), value))
      throw std::runtime_error("put: " + render(err));
  }
  for (size_t i = 0; i < keys; ++i) // warm: every pooled connection open
    benchmark_sink(ca.get(near_keys[i]));
  {
    row_result r;
    r.name = "redis_near";
    r.baseline.label = "a hiredis GET per lookup (loopback)";
    r.perfect21.label = "a near-tier hit of a Redis-backed cache";
    interleaved(
        r, 200, 20'000, [&](size_t i) { benchmark_sink(plain.get(near_redis_keys[i % keys])); },
        [&](size_t i) { benchmark_sink(ca.get(near_keys[i % keys])); });
    rows.push_back(std::move(r));
  }
  // -- redis_miss: a near-tier miss served from Redis vs the same GET ---------------
  {
    const size_t per_sample = 200;
    auto total = runs * per_sample;
    std::vector<std::string> miss_keys, miss_redis_keys;
    for (size_t i = 0; i < total; ++i) {
      miss_keys.push_back("miss" + std::to_string(i));
      miss_redis_keys.push_back("bench:shared:" + miss_keys.back());
      plain.set(miss_redis_keys.back(), value);
    }
    row_result r;
    r.name = "redis_miss";
    r.baseline.label = "a hiredis GET per lookup (loopback)";
    r.perfect21.label = "a near-tier miss served from Redis (GET, then kept near)";
    // Keys this node never read: every lookup misses the near tier.
    interleaved(
        r, per_sample, per_sample, [&](size_t i) { benchmark_sink(plain.get(miss_redis_keys[i])); },
        [&](size_t i) { benchmark_sink(ca.get(miss_keys[i])); });
    rows.push_back(std::move(r));
  }
  // -- invalidation latency: A's acknowledged put to B's near tier dropping it ------
  runtime b{node_config(base, srv.url())};
  if (!wait_coherent(b))
    throw std::runtime_error("the second node did not reach the bench's Redis");
  auto cb = cache::open(b, "shared").value();
  auto tb = b.shared_object<redis_detail::redis_tier>("redis");
  const size_t puts = 10'000;
  series inval, inval_from_start;
  size_t lost = 0;
  for (size_t i = 0; i < puts; ++i) {
    auto k = "inv" + std::to_string(i % 100);
    if (!cb.get(k)) // B reads it: its near tier holds it, Redis tracks it for B
      continue;
    auto before = tb->counters().invalidations;
    auto started = clock::now();
    if (ca.put(k, std::to_string(i)))
      continue;
    // Often B has dropped the key before A's put returns (the invalidation
    // leaves Redis with the SET, A waits for the pipelined GET too): 0 then.
    auto acked = clock::now();
    if (tb->counters().invalidations != before) {
      inval.samples.push_back(0);
      inval_from_start.samples.push_back(seconds_since(started));
      continue;
    }
    auto deadline = acked + std::chrono::seconds{1};
    while (tb->counters().invalidations == before && clock::now() < deadline) {
    }
    if (tb->counters().invalidations == before) {
      ++lost;
      continue;
    }
    inval.samples.push_back(seconds_since(acked));
    inval_from_start.samples.push_back(seconds_since(started));
  }
  // -- gets/s from 1 and 2 nodes, each one thread over 1000 hot keys ---------------
  auto gets_per_s = [&](std::vector<cache*> nodes) {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> total{0};
    std::vector<std::thread> threads;
    for (auto* c : nodes)
      threads.emplace_back([&, c] {
        uint64_t n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          benchmark_sink(c->get(near_keys[n % keys]));
          ++n;
        }
        total += n;
      });
    auto t0 = clock::now();
    std::this_thread::sleep_for(quick ? std::chrono::milliseconds{300} : std::chrono::seconds{1});
    stop = true;
    for (auto& t : threads)
      t.join();
    return double(total.load()) / seconds_since(t0);
  };
  auto one = gets_per_s({&ca});
  auto two = gets_per_s({&ca, &cb});
  auto counters = a.shared_object<redis_detail::redis_tier>("redis")->counters();
  nlohmann::json out{{"invalidation_p50_s", inval.median()},
                     {"invalidation_p99_s", inval.quantile(0.99)},
                     {"invalidation_samples", inval.samples.size()},
                     {"invalidation_from_put_start_p50_s", inval_from_start.median()},
                     {"invalidation_from_put_start_p99_s", inval_from_start.quantile(0.99)},
                     {"invalidations_not_seen_within_1s", lost},
                     {"gets_per_s_1_node", one},
                     {"gets_per_s_2_nodes", two},
                     {"near_hit_ratio_node_a",
                      double(counters.near_hits) /
                          double(std::max<uint64_t>(1, counters.near_hits + counters.near_misses))},
                     {"server", "redis-server on 127.0.0.1, --save \"\" --appendonly no"}};
  std::cerr << " invalidation after the put's ack p50 " << inval.median() * 1e6 << " us, p99 "
            << inval.quantile(0.99) * 1e6 << " us (from the put's start p50 "
            << inval_from_start.median() * 1e6 << " us, p99 "
            << inval_from_start.quantile(0.99) * 1e6 << " us);";
  return out;
}

} // namespace p21::app
