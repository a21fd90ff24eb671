// Two nodes on loopback: node A is a `p21 run` process that publishes its
// cache "shared"; node B is a runtime in this process that uses it through
// the cache handle. Timeouts are set to a minute, so an error of kind
// `unavailable` (not `timeout`) shows that a call did not wait for them.

#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <optional>
#include <thread>

#include <caf/io/all.hpp>

#include <caf/all.hpp>

#include "p21/cache_config.hpp"
#include "p21/cluster_config.hpp"
#include "p21/db_config.hpp"
#include "p21/metrics.hpp"
#include "p21/p21.hpp"
#include "p21/types.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace std::chrono_literals;
using namespace p21::test;

namespace {

/// `p21 cache ARGS...`: exit code and stdout.
std::pair<int, std::string> cli(const temp_dir& s, std::vector<std::string> args) {
  args.insert(args.begin(), "cache");
  return run_p21(s, std::move(args));
}

/// Node A: `p21 run` with a cache "shared" published on `port`.
class node_a {
public:
  /// `publish_extra`: more keys of its `[cluster.publish]`.
  node_a(const temp_dir& s, uint16_t port, const std::string& publish_extra = "")
    : s_(s)
    , port_(port) {
    s.write("a.toml", "[logging]\nlevel = \"info\"\nstatus_interval = \"0s\"\n"
                      "[database]\npath = \"" + s.file("a.db") + "\"\n"
                      "[caches.shared]\nmax_entries = 10000\n"
                      "[cluster.publish]\nport = " + std::to_string(port) +
                      "\nactors = [\"cache.shared\", \"db_pool\"]\n" + publish_extra);
  }

  pid_t pid() const { return proc_ ? proc_->pid() : 0; }

  /// Whether the process still runs.
  bool running() { return proc_ && !proc_->wait(std::chrono::milliseconds{0}); }

  void start() {
    proc_.emplace(s_, std::vector<std::string>{"run", "--config", s_.file("a.toml")}, "a");
    auto published = "publishing cache.shared, db_pool on 127.0.0.1:" + std::to_string(port_);
    REQUIRE(proc_->await_log(published, 20s));
  }

  /// Sends SIGTERM; the exit code, or nothing if it still runs after `timeout`.
  std::optional<int> terminate(std::chrono::milliseconds timeout) {
    ::kill(proc_->pid(), SIGTERM);
    return proc_->wait(timeout);
  }

  /// Sends `sig` and reaps the process.
  void kill(int sig) {
    if (proc_)
      proc_->stop(sig);
  }

private:
  const temp_dir& s_;
  uint16_t port_;
  std::optional<p21_process> proc_; // killed with SIGKILL at the end of the scope
};

/// Node B's config: uses A's "shared" cache; long timeouts (see above).
config node_b_config(uint16_t port, timespan near_ttl = timespan{0}) {
  auto cfg = test::test_config();
  cluster_peer peer;
  peer.name = "a";
  peer.port = port;
  peer.actors = {"cache.shared", "db_pool"};
  peer.near_ttl = near_ttl;
  cfg.get<cluster_config>().peers.push_back(peer);
  cfg.get<cluster_config>().request_timeout = 60s;
  cfg.get<cluster_config>().connect_timeout = 60s;
  cfg.get<cluster_config>().retry_initial = 20ms;
  cfg.get<cluster_config>().retry_max = 200ms;
  cfg.runtime.request_timeout = 60s;
  return cfg;
}

/// The state letter of /proc/PID/stat (R, S, T, ...).
char process_state(pid_t pid) {
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? '?' : stat[paren + 2];
}

bool a_log_has(const temp_dir& s, const std::string& text) {
  return read_file(s.file("a.err")).find(text) != std::string::npos;
}

bool connected(cache& c) {
  return static_cast<bool>(c.get("probe"));
}

double metric(runtime& rt, const std::string& name) {
  for (auto& g : rt.metrics().collect().gauges)
    if (g.name == name)
      return g.value;
  for (auto& c : rt.metrics().collect().counters)
    if (c.name == name)
      return c.value;
  return -1;
}

/// A type node A has never heard of.
struct alien {
  std::string payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, alien& x) {
  return f(caf::meta::type_name("test.alien"), x.payload);
}

} // namespace

TEST_CASE("node B reads what node A's published cache holds and writes entries A then sees",
          "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  node_a a{s, port};
  a.start();
  auto addr = "127.0.0.1:" + std::to_string(port);
  REQUIRE(cli(s, {"put", "greeting", "hello from A", "--connect", addr}).first == 0);
  runtime rt{node_b_config(port)};
  auto shared = cache::open(rt, "shared").value();
  REQUIRE(eventually([&] { return connected(shared); }, 20s));
  CHECK(shared.get("greeting").value() == std::optional<std::string>{"hello from A"});
  REQUIRE_FALSE(shared.put("written by", "node B"));
  auto [rc, out] = cli(s, {"get", "written by", "--connect", addr});
  CHECK(rc == 0);
  CHECK(out == "node B\n");
  CHECK(shared.erase("greeting").value());
  CHECK(cli(s, {"get", "greeting", "--connect", addr}).second == "(nil)\n");
  // get_or_load crosses the network too: the loader runs here, A keeps the value.
  CHECK(shared.get_or_load("computed", [] { return caf::expected<std::string>{"42"}; }).value() ==
        "42");
  CHECK(cli(s, {"get", "computed", "--connect", addr}).second == "42\n");
  CHECK(shared.stats().value().name == "shared");
  CHECK(metric(rt, "cluster_peer_connected") == 1);
}

TEST_CASE("node B runs SQL on node A's published db pool as a.db_pool", "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  node_a a{s, port, "allow_writes = true\n"};
  a.start();
  runtime rt{node_b_config(port)};
  auto remote = db::open(rt, "a.db_pool").value();
  REQUIRE(eventually([&] { return static_cast<bool>(remote.query("SELECT 1")); }, 20s));
  REQUIRE(remote.execute("CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT)"));
  auto tx = remote.transaction({{"INSERT INTO kv VALUES (?, ?)", {db_value::of("x"), db_value::of("1")}},
                                {"INSERT INTO kv VALUES (?, ?)", {db_value::of("y"), db_value::of("2")}}});
  REQUIRE(tx);
  auto rows = remote.query("SELECT v FROM kv ORDER BY k");
  REQUIRE(rows);
  REQUIRE(rows->rows.size() == 2);
  CHECK(rows->rows[1][0].s == "2");
  auto bad = remote.query("SELEKT nothing");
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == errc::bad_query); // the remote pool's error, as it is
  CHECK(remote.stats().value().queries >= 3);
  // The local pool is a different one.
  auto local = db::open(rt).value();
  CHECK_FALSE(local.query("SELECT v FROM kv"));
  a.kill(SIGKILL);
  REQUIRE(eventually([&] {
    auto r = remote.query("SELECT 1");
    return !r && r.error() == errc::unavailable;
  }, 20s));
}

TEST_CASE("node B starts before node A, gets unavailable at once, and works once A is up",
          "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  runtime rt{node_b_config(port)};
  auto shared = cache::open(rt, "shared").value();
  auto early = shared.get("x");
  REQUIRE_FALSE(early);
  CHECK(early.error() == errc::unavailable); // not timeout: it did not wait a minute
  CHECK(metric(rt, "cluster_peer_connected") == 0);
  node_a a{s, port};
  a.start();
  REQUIRE(eventually([&] { return connected(shared); }, 20s));
  CHECK_FALSE(shared.put("late", "but fine"));
  CHECK(shared.get("late").value() == std::optional<std::string>{"but fine"});
}

TEST_CASE("node A killed with SIGKILL mid-load: B's callers get unavailable, then recover when A "
          "restarts",
          "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  node_a a{s, port};
  a.start();
  runtime rt{node_b_config(port)};
  auto shared = cache::open(rt, "shared").value();
  REQUIRE(eventually([&] { return connected(shared); }, 20s));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ok{0}, unavailable{0}, other{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 2; ++t)
    load.emplace_back([&, t] {
      auto c = cache::open(rt, "shared").value();
      for (uint64_t i = 0; !stop; ++i) {
        auto key = "k" + std::to_string(t) + "-" + std::to_string(i % 100);
        auto count = [&](const caf::error& e) {
          if (e)
            (e == errc::unavailable ? unavailable : other)++;
        };
        auto err = c.put(key, "v");
        auto got = c.get(key);
        count(err);
        if (!got)
          count(got.error());
        if (!err && got)
          ++ok;
      }
      release_thread();
    });
  REQUIRE(eventually([&] { return ok > 200; }, 20s));
  a.kill(SIGKILL);
  REQUIRE(eventually([&] { return unavailable > 0; }, 20s));
  auto ok_while_down = ok.load();
  CHECK(metric(rt, "cluster_peer_connected") == 0);
  node_a again{s, port};
  again.start();
  REQUIRE(eventually([&] { return ok > ok_while_down + 200; }, 20s));
  stop = true;
  for (auto& t : load)
    t.join();
  CHECK(other == 0); // no timeouts, no other errors: nothing hung
  CHECK(metric(rt, "cluster_peer_connected") == 1);
  CHECK(metric(rt, "cluster_peer_reconnects") >= 1);
  CHECK(metric(rt, "cluster_peer_errors") >= static_cast<double>(unavailable.load()));
}

TEST_CASE("a near cache answers reads while the peer is down: lower hit rate, still available",
          "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  node_a a{s, port};
  a.start();
  runtime rt{node_b_config(port, 60s)};
  auto shared = cache::open(rt, "shared").value();
  // (With a near cache a get succeeds even while disconnected.)
  REQUIRE(eventually([&] { return metric(rt, "cluster_peer_connected") == 1; }, 20s));
  REQUIRE_FALSE(shared.put("seen", "before the outage"));
  a.kill(SIGKILL);
  REQUIRE(eventually([&] { return metric(rt, "cluster_peer_connected") == 0; }, 20s));
  CHECK(shared.get("seen").value() == std::optional<std::string>{"before the outage"});
  auto miss = shared.get("never seen");
  REQUIRE(miss); // a miss, not an error
  CHECK_FALSE(miss->has_value());
  auto write = shared.put("new", "value"); // writes are never acknowledged without A
  REQUIRE(write);
  CHECK(write == errc::unavailable);
}

TEST_CASE("p21 cache exits non-zero with a clear message when the node is unreachable",
          "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  auto [rc, out] = cli(s, {"get", "x", "--connect", "127.0.0.1:" + std::to_string(port)});
  CHECK(rc == 1);
  CHECK(out.empty());
  auto err = read_file(s.file("cli.err"));
  CHECK_THAT(err, Catch::Contains("cannot reach 127.0.0.1:" + std::to_string(port)));
  CHECK(cli(s, {"get", "x", "--connect", "nonsense"}).first == 2);
}

TEST_CASE("a peer's unexpected messages are dropped, its unannounced types close its connection, "
          "both logged and harmless",
          "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  node_a a{s, port};
  a.start();
  caf::actor_system_config cfg;
  add_message_types(cfg);
  cfg.add_message_type<alien>("test.alien");
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  auto gw = sys.middleman().remote_actor("127.0.0.1", port);
  REQUIRE(gw);
  {
    caf::scoped_actor self{sys};
    // A message the gateway does not understand: an error reply, logged.
    self->request(*gw, 30s, std::string{"rm -rf"}, 42)
        .receive([](caf::message&) { FAIL("the gateway accepted nonsense"); },
                 [](caf::error& e) { CHECK(e == caf::sec::unexpected_message); });
    // A still answers over the same connection.
    self->request(*gw, 30s, lookup_atom::value, std::string{"cache.shared"})
        .receive([](caf::actor& c) { CHECK(c); }, [](caf::error& e) { FAIL(render(e)); });
    // A type no published protocol carries: the frame guard refuses the
    // frame before CAF reads it and closes this connection.
    self->monitor(*gw);
    self->send(*gw, alien{"from outer space"});
    bool down = false;
    self->receive([&](caf::down_msg&) { down = true; }, caf::after(10s) >> [] {});
    CHECK(down);
  }
  // A new connection works.
  CHECK(cli(s, {"put", "still", "alive", "--connect", "127.0.0.1:" + std::to_string(port)}).first ==
        0);
  CHECK(eventually([&] { return a_log_has(s, "a value of type 'test.alien', not accepted"); }, 10s));
  CHECK(eventually(
      [&] {
        return read_file(s.file("a.err")).find("gateway dropped an unexpected message") !=
               std::string::npos;
      },
      10s));
}

namespace {

/// A bare CAF node that talks to node A the way any peer could.
struct raw_peer {
  caf::actor_system_config cfg;
  std::optional<caf::actor_system> sys;

  raw_peer() {
    add_message_types(cfg);
    cfg.load<caf::io::middleman>();
    sys.emplace(cfg);
  }

  caf::actor gateway(uint16_t port) {
    auto gw = sys->middleman().remote_actor("127.0.0.1", port);
    REQUIRE(gw);
    return *gw;
  }

  /// What the gateway hands out for `name`.
  caf::actor lookup(uint16_t port, const std::string& name) {
    caf::actor result;
    caf::scoped_actor self{*sys};
    self->request(gateway(port), 30s, lookup_atom::value, name)
        .receive([&](caf::actor& a) { result = a; }, [](caf::error& e) { FAIL(render(e)); });
    REQUIRE(result);
    return result;
  }

  /// The error a request to `dest` ends with (none: it replied an `R`).
  template <class R = bool, class... Ts>
  caf::error error_of(const caf::actor& dest, Ts... xs) {
    caf::error result;
    caf::scoped_actor self{*sys};
    self->request(dest, 30s, xs...).receive([](R&) {}, [&](caf::error& e) { result = e; });
    return result;
  }
};

} // namespace

TEST_CASE("a peer gets only the public interface of a published name", "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  node_a a{s, port};
  a.start();
  raw_peer peer;
  auto cache = peer.lookup(port, "cache.shared");
  CHECK_FALSE(peer.error_of(cache, put_atom::value, std::string{"k"}, std::string{"v"},
                            caf::timespan{0}));
  // Contents as a whole, capacity and TTL belong to node A.
  CHECK(peer.error_of(cache, clear_atom::value) == errc::forbidden);
  CHECK(peer.error_of(cache, resize_atom::value, uint64_t{1} << 63, uint64_t{0}) ==
        errc::forbidden);
  CHECK(peer.error_of(cache, set_ttl_atom::value, caf::timespan{1}) == errc::forbidden);
  // Arguments are bounded.
  CHECK(peer.error_of(cache, get_atom::value, std::string(100'000, 'k')) ==
        errc::invalid_argument);
  CHECK(peer.error_of(cache, put_atom::value, std::string{"k"}, std::string{"v"},
                      caf::timespan{-1}) == errc::invalid_argument);
  // Internal messages (a timer, handle sharing) do not reach the cache.
  CHECK(peer.error_of(cache, caf::atom("tick")) == caf::sec::unexpected_message);
  CHECK(peer.error_of(cache, metrics_atom::value) == caf::sec::unexpected_message);
  auto pool = peer.lookup(port, "db_pool");
  using params = std::vector<db_value>;
  CHECK_FALSE(peer.error_of<db_result>(pool, query_atom::value, std::string{"SELECT 1"}, params{}));
  // Read-only unless A allows writes.
  CHECK(peer.error_of(pool, execute_atom::value, std::string{"CREATE TABLE t(x)"}, params{}) ==
        errc::forbidden);
  CHECK(peer.error_of(pool, transaction_atom::value,
                      std::vector<db_statement>{{"CREATE TABLE t(x)", {}}}) == errc::forbidden);
  CHECK(peer.error_of(pool, set_pool_size_atom::value, uint64_t{1'000'000}) == errc::forbidden);
  CHECK(peer.error_of(pool, vacuum_atom::value) == errc::forbidden);
  // What was put is still there: nothing above changed the cache.
  auto [rc, out] = cli(s, {"get", "k", "--connect", "127.0.0.1:" + std::to_string(port)});
  CHECK(rc == 0);
  CHECK(out == "v\n");
}

TEST_CASE("exits a peer sends never stop the node nor restart its components", "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  node_a a{s, port};
  a.start();
  auto addr = "127.0.0.1:" + std::to_string(port);
  REQUIRE(cli(s, {"put", "kept", "across the attack", "--connect", addr}).first == 0);
  {
    raw_peer peer;
    // More kills than the supervisor's restart intensity allows, to what a
    // lookup hands out and to the gateway itself.
    for (int i = 0; i < 8; ++i) {
      auto cache = peer.lookup(port, "cache.shared");
      caf::anon_send_exit(cache, caf::exit_reason::kill);
      caf::anon_send_exit(cache, caf::exit_reason::user_shutdown);
    }
    caf::anon_send_exit(peer.gateway(port), caf::exit_reason::kill);
  }
  // A publishes a new gateway; its cache was never restarted, so it still
  // holds what was put before.
  REQUIRE(eventually(
      [&] {
        auto [rc, out] = cli(s, {"get", "kept", "--connect", addr});
        return rc == 0 && out == "across the attack\n";
      },
      20s));
  CHECK(a.running());
  CHECK(a_log_has(s, "was ended from outside"));
}

TEST_CASE("a publishing node stops cleanly: its gateway and proxies, which ignore a peer's "
          "exits, still end with the node",
          "[cluster]") {
  // They used to ignore the node's own exit too: every `p21 run` with
  // [cluster.publish] waited out shutdown_timeout, abandoned its actor
  // system and exited with shutdown_timeout.
  temp_dir s{"cluster"};
  auto port = free_port();
  node_a a{s, port};
  a.start();
  auto addr = "127.0.0.1:" + std::to_string(port);
  REQUIRE(cli(s, {"put", "k", "v", "--connect", addr}).first == 0);
  auto rc = a.terminate(20s);
  REQUIRE(rc);
  CHECK(*rc == 0);
  CHECK_FALSE(a_log_has(s, "did not terminate"));
  CHECK(a_log_has(s, "stopped"));
}

TEST_CASE("a killed cluster component leaves no gateway, proxy or listener behind and "
          "publishes again on its port",
          "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  auto cfg = test_config();
  cfg.get<database_config>().path = s.file("k.db");
  cfg.get<cache_config>().caches["shared"].max_entries = 100;
  cfg.get<cluster_config>().publish_port = port;
  cfg.get<cluster_config>().publish_actors = {"cache.shared"};
  cfg.supervisor.backoff_initial = 1ms;
  cfg.supervisor.backoff_max = 10ms;
  runtime rt{cfg};
  REQUIRE(cache::open(rt, "shared").value().put("k", "v") == caf::error{});
  auto addr = "127.0.0.1:" + std::to_string(port);
  REQUIRE(cli(s, {"get", "k", "--connect", addr}).second == "v\n");
  auto actors = rt.system().registry().running();
  for (int i = 0; i < 3; ++i) {
    auto restarts = rt.component("cluster")->restarts;
    caf::anon_send_exit(rt.actor_of("cluster").value(), caf::exit_reason::kill);
    REQUIRE(eventually([&] {
      auto c = rt.component("cluster");
      return c->restarts > restarts && c->running;
    }));
  }
  CHECK(eventually([&] { return cli(s, {"get", "k", "--connect", addr}).second == "v\n"; }, 20s));
  // Killed, the keeper used to leave its gateway and proxy running (they
  // drop exits) and the gateway's listener open: two actors per kill.
  CHECK(eventually([&] { return rt.system().registry().running() <= actors; }));
  CHECK(rt.stop() == caf::error{});
}

TEST_CASE("a frozen peer (half-open connection) is noticed by heartbeats: unavailable, not a "
          "request timeout",
          "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  node_a a{s, port};
  a.start();
  auto cfg = node_b_config(port);
  cfg.get<cluster_config>().heartbeat_interval = 200ms;
  cfg.get<cluster_config>().peer_timeout = 1s;
  runtime rt{cfg};
  auto shared = cache::open(rt, "shared").value();
  REQUIRE(eventually([&] { return connected(shared); }, 20s));
  // SIGSTOP keeps A's sockets open and silent, as a cut cable would.
  ::kill(a.pid(), SIGSTOP);
  // The signal takes effect asynchronously: a request racing it could still
  // be answered.
  REQUIRE(eventually([&] { return process_state(a.pid()) == 'T'; }, 10s));
  // Request timeouts are a minute (see above): `unavailable` means the
  // heartbeat noticed, `timeout` that the call waited it out.
  auto r = shared.get("x");
  ::kill(a.pid(), SIGCONT);
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::unavailable);
}

namespace {

/// A server that answers every connection with one BASP header announcing
/// a 1 GiB payload, then stays silent: what CAF 0.17 would allocate up front.
class hostile_server {
public:
  hostile_server() {
    auto [fd, port] = listen_loopback();
    listener_ = unique_fd{fd};
    port_ = port;
    thread_ = std::thread{[this] { run(); }};
  }
  ~hostile_server() {
    stop_ = true;
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int connections() const { return connections_; }

private:
  void run() {
    std::string header(32, '\0');
    header[4] = 0x40; // payload length 0x40000000, network byte order
    std::vector<unique_fd> open;
    while (!stop_) {
      auto c = accept_within(listener_.get(), 50ms);
      if (c.get() < 0)
        continue;
      send_all(c.get(), header);
      ++connections_;
      open.push_back(std::move(c));
    }
  }

  unique_fd listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

double rss_mib() {
  return read_process().resident_memory_bytes / (1 << 20);
}

} // namespace

TEST_CASE("a hostile server's oversized frame is refused by the outbound guard: clients fail "
          "instead of allocating it",
          "[cluster]") {
  hostile_server evil;
  auto before = rss_mib();
  {
    // `p21 cache --connect`'s path.
    caf::actor_system_config cfg;
    add_message_types(cfg);
    cfg.load<caf::io::middleman>();
    caf::actor_system sys{cfg};
    auto r = lookup_remote(sys, {"127.0.0.1", evil.port(), {}, {}, {}}, "cache.shared", 10s);
    REQUIRE_FALSE(r);
    CHECK(r.error() != errc::timeout); // the guard closed it; nothing waited for the payload
  }
  {
    // A node's [[cluster.peers]] stub, which keeps reconnecting.
    auto cfg = node_b_config(evil.port());
    runtime rt{cfg};
    auto shared = cache::open(rt, "shared").value();
    REQUIRE(eventually([&] { return evil.connections() >= 3; }, 20s));
    auto r = shared.get("x");
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::unavailable);
  }
  // Unguarded, each connection made CAF allocate 1 GiB.
  CHECK(rss_mib() - before < 256);
}
