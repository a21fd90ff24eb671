#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "p21/cache_config.hpp"
#include "p21/cluster_config.hpp"
#include "p21/config.hpp"
#include "p21/config_schema.hpp"
#include "p21/db_config.hpp"
#include "p21/demo_config.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/subprocess_config.hpp"
#include "p21/subsystems.hpp"
#include "support/config_refusal.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

TEST_CASE("an empty file is a valid deployment with every default") {
  auto cfg = load_config_string("", "empty.toml");
  CHECK(cfg.performance.auto_optimization);
  CHECK(cfg.performance.optimization_interval == 300s);
  CHECK(cfg.performance.monitor_interval == 60s);
  CHECK(cfg.get<cache_config>().async_maxsize == 512);
  CHECK(cfg.get<cache_config>().async_ttl == 3600s);
  CHECK(cfg.get<cache_config>().git_timeout == 30s);
  CHECK(cfg.get<cache_config>().db_maxsize == 1000);
  CHECK(cfg.get<cache_config>().db_ttl == 300s);
  CHECK(cfg.get<database_config>().path == "perfect21.db");
  CHECK(cfg.get<database_config>().pool_size == 10);
  CHECK(cfg.get<database_config>().max_overflow == 20);
  CHECK(cfg.get<database_config>().pool_timeout == 30s);
  CHECK(cfg.get<subprocess_config>().max_processes == 32);
  CHECK(cfg.get<optimizer_config>().rules.size() == 9); // the eight of SPEC.md and issue 18's response_time
  CHECK(cfg.get<optimizer_config>().rules.at("memory_pressure").threshold == 85);
  CHECK(cfg.get<optimizer_config>().rules.at("cpu_usage").threshold == 80);
  CHECK(cfg.get<optimizer_config>().rules.at("parallel_efficiency").threshold == 70);
}

TEST_CASE("the shipped config/perfect21.toml is valid and carries the report's keys") {
  auto cfg = load_config_file(P21_SOURCE_DIR "/config/perfect21.toml");
  CHECK(cfg.get<database_config>().pool_size == 10);
  CHECK(cfg.get<subprocess_config>().max_processes == 32);
  // It is the demo node `make run` starts: workload on, short intervals.
  CHECK(cfg.performance.optimization_interval == 5s);
  CHECK(cfg.get<demo_config>().enabled);
}

TEST_CASE("the demo workload is off by default and [demo] sets it up") {
  auto defaults = load_config_string("", "empty.toml");
  CHECK_FALSE(defaults.get<demo_config>().enabled);
  CHECK(defaults.logging.status_interval == 5s);
  auto cfg = load_config_string("[demo]\nenabled = true\nphase = \"3s\"\nrate = 50\n"
                                "clients = 4\nrepo = \"/srv/repo\"\n"
                                "[logging]\nstatus_interval = \"0s\"\n");
  CHECK(cfg.get<demo_config>().enabled);
  CHECK(cfg.get<demo_config>().phase == 3s);
  CHECK(cfg.get<demo_config>().rate == 50);
  CHECK(cfg.get<demo_config>().clients == 4);
  CHECK(cfg.get<demo_config>().repo == "/srv/repo");
  CHECK(cfg.logging.status_interval == 0s);
  auto again = load_config_string(to_toml(cfg), "again.toml");
  CHECK(again.get<demo_config>().phase == 3s);
  CHECK(again.get<demo_config>().repo == "/srv/repo");
  auto e = refusal("[demo]\nenabled = true\nrate = 0\n");
  CHECK(e.line() == 3);
  CHECK(e.key() == "demo.rate");
  CHECK_THAT(e.message(), Catch::Contains("between 1 and 1000000"));
  CHECK(refusal("[demo]\nphase = \"10ms\"\n").key() == "demo.phase");
  CHECK(refusal("[demo]\nclients = 0\n").key() == "demo.clients");
}

TEST_CASE("a valid file sets typed values") {
  auto cfg = load_config_string(R"(
[performance]
monitor_interval = "250ms"
auto_optimization = false

[runtime]
threads = 3
scheduler = "stealing"

[logging]
max_size = "64MiB"

[database]
path = ":memory:"
pool_size = 4
pool_timeout = "2s"

[supervisor]
strategy = "rest_for_one"
max_restarts = 2
period = "1m"

[components.reports]
priority = "low"
depends_on = ["db_pool"]

[optimizer.rules.cpu_usage]
threshold = 90
clear_threshold = 75
for = "30s"
)");
  CHECK(cfg.performance.monitor_interval == 250ms);
  CHECK_FALSE(cfg.performance.auto_optimization);
  CHECK(cfg.runtime.threads == 3);
  CHECK(cfg.runtime.scheduler == scheduler_policy::stealing);
  CHECK(cfg.logging.max_size == 64u * 1024 * 1024);
  CHECK(cfg.get<database_config>().pool_size == 4);
  CHECK(cfg.get<database_config>().pool_timeout == 2s);
  CHECK(cfg.supervisor.restart_strategy == strategy::rest_for_one);
  CHECK(cfg.supervisor.period == 1min);
  REQUIRE(cfg.components.count("reports") == 1);
  CHECK(*cfg.components.at("reports").prio == priority::low);
  CHECK(*cfg.components.at("reports").depends_on == std::vector<std::string>{"db_pool"});
  CHECK(cfg.get<optimizer_config>().rules.at("cpu_usage").threshold == 90);
  CHECK(cfg.get<optimizer_config>().rules.at("cpu_usage").for_duration == 30s);
}

TEST_CASE("a syntax error names file, line and column") {
  auto e = refusal("[cache]\nasync_maxsize = = 2\n");
  CHECK(e.file() == "node.toml");
  CHECK(e.line() == 2);
  CHECK(e.column() > 0);
  CHECK_THAT(e.what(), Catch::StartsWith("node.toml:2:"));
}

TEST_CASE("an unknown key is refused with a did-you-mean") {
  auto e = refusal("[database]\npool_sise = 4\n");
  CHECK(e.line() == 2);
  CHECK(e.column() == 1);
  CHECK(e.key() == "database.pool_sise");
  CHECK(e.message() == "unknown key (did you mean 'pool_size'?)");
  CHECK(std::string{e.what()} ==
        "node.toml:2:1: database.pool_sise: unknown key (did you mean 'pool_size'?)");
}

TEST_CASE("an unknown section is refused") {
  auto e = refusal("\n[databse]\npath = \"x.db\"\n");
  CHECK(e.line() == 2);
  CHECK(e.key() == "databse");
  CHECK_THAT(e.message(), Catch::Contains("did you mean 'database'"));
}

TEST_CASE("every problem of a file is reported in one pass, in file order, each with line and key") {
  auto e = refusal("[database]\n"
                   "pool_size = 0\n"
                   "pool_timout = \"1s\"\n"
                   "[cache]\n"
                   "async_ttl = 5\n"
                   "[optimizer.rules.memory_pressure]\n"
                   "threshold = 80\n"
                   "clear_threshold = 90\n"
                   "[cachee]\n");
  auto all = e.problems();
  REQUIRE(all.size() == 5);
  std::vector<std::pair<size_t, std::string>> where;
  for (auto& p : all)
    where.emplace_back(p.line(), p.key());
  CHECK(where == std::vector<std::pair<size_t, std::string>>{
                     {2, "database.pool_size"},
                     {3, "database.pool_timout"},
                     {5, "cache.async_ttl"},
                     {8, "optimizer.rules.memory_pressure.clear_threshold"},
                     {9, "cachee"}});
  CHECK_THAT(all[1].message(), Catch::Contains("did you mean 'pool_timeout'"));
  // The error itself is the first problem; what() has one line per problem.
  CHECK(e.line() == 2);
  std::string text = e.what();
  CHECK(std::count(text.begin(), text.end(), '\n') == 4);
}

TEST_CASE("every problem of a config built in code is reported in one pass") {
  config cfg;
  cfg.get<database_config>().pool_size = 0;
  cfg.get<subprocess_config>().max_processes = 0;
  auto e = refusal(cfg);
  REQUIRE(e.problems().size() == 2);
  CHECK(e.problems()[0].key() == "database.pool_size");
  CHECK(e.problems()[1].key() == "subprocess.max_processes");
}

TEST_CASE("a wrong type is refused with the expected type") {
  auto e = refusal("[database]\npool_size = \"ten\"\n");
  CHECK(e.line() == 2);
  CHECK(e.column() == 13);
  CHECK(e.key() == "database.pool_size");
  CHECK(e.message() == "expected an integer, got a string");
}

TEST_CASE("a duration without a unit is refused") {
  auto e = refusal("[performance]\nmonitor_interval = 60\n");
  CHECK(e.key() == "performance.monitor_interval");
  CHECK_THAT(e.message(), Catch::Contains("\"30s\""));
  auto e2 = refusal("[performance]\nmonitor_interval = \"60 seconds\"\n");
  CHECK_THAT(e2.message(), Catch::Contains("not a duration"));
}

TEST_CASE("values out of range are refused") {
  SECTION("a negative pool size") {
    auto e = refusal("[database]\npath = \"x.db\"\npool_size = -3\n");
    CHECK(e.line() == 3);
    CHECK(e.column() == 13);
    CHECK(e.key() == "database.pool_size");
    CHECK(e.message() == "must be between 1 and 10000, got -3");
  }
  SECTION("a zero interval") {
    auto e = refusal("[performance]\noptimization_interval = \"0s\"\n");
    CHECK(e.line() == 2);
    CHECK(e.key() == "performance.optimization_interval");
    CHECK_THAT(e.message(), Catch::Contains("at least 100ms"));
  }
  SECTION("a zero cache size") {
    auto e = refusal("[cache]\nasync_maxsize = 0\n");
    CHECK(e.key() == "cache.async_maxsize");
  }
  SECTION("an unknown enum value") {
    auto e = refusal("[supervisor]\nstrategy = \"one_for_some\"\n");
    CHECK(e.key() == "supervisor.strategy");
    CHECK_THAT(e.message(), Catch::Contains("one_for_one, one_for_all, rest_for_one"));
  }
}

TEST_CASE("a dependency cycle among components is refused naming the cycle") {
  auto e = refusal(R"([components.a]
depends_on = ["b"]

[components.b]
depends_on = ["a"]
)");
  CHECK(e.line() > 0);
  CHECK_THAT(e.key(), Catch::StartsWith("components."));
  CHECK_THAT(e.message(), Catch::Contains("dependency cycle: ") &&
                              (Catch::Contains("a -> b -> a") || Catch::Contains("b -> a -> b")));
}

TEST_CASE("a file that cannot be opened is an error naming it") {
  try {
    static_cast<void>(load_config_file("/nonexistent/p21.toml"));
    FAIL("accepted");
  } catch (const config_error& e) {
    CHECK(e.file() == "/nonexistent/p21.toml");
    CHECK_THAT(e.message(), Catch::Contains("cannot open"));
  }
}

TEST_CASE("durations and sizes parse and print") {
  CHECK(parse_duration("250ms") == timespan{250ms});
  CHECK(parse_duration("30s") == timespan{30s});
  CHECK(parse_duration("5m") == timespan{5min});
  CHECK(parse_duration("1h") == timespan{1h});
  CHECK_FALSE(parse_duration("1.5s"));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK(format_duration(90s) == "90s");
  CHECK(format_duration(2h) == "2h");
  CHECK(format_duration(1500ms) == "1500ms");
  CHECK(parse_size("64MiB") == 64u << 20);
  CHECK(parse_size("10MB") == 10'000'000u);
  CHECK(parse_size("512") == 512u);
  CHECK_FALSE(parse_size("12XB"));
  CHECK(format_size(3u << 20) == "3MiB");
}

TEST_CASE("the effective config printed by to_toml reads back to the same values") {
  auto cfg = load_config_string("[database]\npath = \":memory:\"\npool_size = 7\n"
                                "[components.x]\npriority = \"high\"\n");
  auto again = load_config_string(to_toml(cfg), "again.toml");
  CHECK(again.get<database_config>().pool_size == 7);
  CHECK(again.get<database_config>().path == ":memory:");
  CHECK(*again.components.at("x").prio == priority::high);
  CHECK(again.get<optimizer_config>().rules.at("disk_usage").threshold == cfg.get<optimizer_config>().rules.at("disk_usage").threshold);
}

TEST_CASE("available_cpus is at least one") {
  CHECK(available_cpus() >= 1);
}

// -- the schema ---------------------------------------------------------------

TEST_CASE("a key declared once drives the reader, the checks, the writer and the reference") {
  config_schema schema;
  schema
      .section<database_config>(
          "database", [](config & c) -> auto& { return c.get<database_config>(); }, "The pool.")
      .count("pool_size", &database_config::pool_size, 1, 50, "connections kept open");
  auto cfg = load_config_string(schema, "[database]\npool_size = 7\n", "mini.toml");
  CHECK(cfg.get<database_config>().pool_size == 7);
  CHECK(to_toml(schema, cfg) == "[database]\npool_size = 7\n");
  auto e = Catch::Contains("mini.toml:2:13: database.pool_size: must be between 1 and 50, got 60");
  CHECK_THROWS_WITH(load_config_string(schema, "[database]\npool_size = 60\n", "mini.toml"), e);
  cfg.get<database_config>().pool_size = 51;
  CHECK_THROWS_WITH(validate(schema, cfg), Catch::Contains("must be between 1 and 50, got 51"));
  // Keys the schema does not declare are unknown to it.
  CHECK_THROWS_WITH(load_config_string(schema, "[database]\nmax_overflow = 2\n", "mini.toml"),
                    Catch::Contains("database.max_overflow: unknown key"));
  auto ref = config_reference(schema);
  CHECK_THAT(ref, Catch::Contains("| `database.pool_size` | integer 1–50 | `10` | "
                                  "connections kept open |"));
}

TEST_CASE("to_toml of a config re-reads to an equal config") {
  auto cfg = load_config_string(R"(
[performance]
memory_budget = "3GiB"
[runtime]
threads = 3
scheduler = "stealing"
state_dir = "/var/lib/p21"
[logging]
level = "debug"
file = "/tmp/p21 \"quoted\".log"
[monitor]
watch_paths = ["/", "/tmp"]
[http]
listen = "127.0.0.1:0"
[cache]
policy = "tinylfu"
[caches.sessions]
max_entries = 7
ttl = "90s"
[caches."with space"]
shards = 1
[database]
path = ":memory:"
pool_size = 7
synchronous = "FULL"
[subprocess]
git_watch = "fingerprint"
[supervisor]
strategy = "rest_for_one"
[demo]
rate = 12.5
[cluster.publish]
actors = ["cache.sessions"]
[[cluster.peers]]
name = "a"
port = 7100
actors = ["db_pool", "cache.remote"]
near_ttl = "2s"
[components.x]
priority = "high"
[components.y]
depends_on = ["x"]
[optimizer.rules.cpu_usage]
threshold = 91.25
clear_threshold = 70.5
step = 0.1
)",
                                "full.toml");
  auto text = to_toml(cfg);
  auto again = load_config_string(text, "again.toml");
  // The writer prints every key, so equal text is an equal config.
  CHECK(to_toml(again) == text);
  CHECK(again.runtime.state_dir == "/var/lib/p21");
  CHECK(again.logging.file == "/tmp/p21 \"quoted\".log");
  CHECK(again.get<cache_config>().caches.at("with space").shards == 1);
  CHECK(again.get<cache_config>().caches.at("sessions").policy == eviction_policy::tinylfu);
  CHECK(again.get<demo_config>().rate == 12.5);
  CHECK(again.get<optimizer_config>().rules.at("cpu_usage").step == 0.1);
  CHECK(again.get<optimizer_config>().rules.at("cpu_usage").threshold == 91.25);
  CHECK(again.get<cluster_config>().peers.at(0).near_ttl == 2s);
  CHECK(again.components.at("x").prio == priority::high);
  CHECK_FALSE(again.components.at("x").depends_on);
  CHECK_FALSE(again.components.at("y").prio);
  // A default config round-trips too, and the defaults come from the structs.
  config defaults;
  CHECK(to_toml(load_config_string(to_toml(defaults), "d.toml")) == to_toml(defaults));
  CHECK(load_config_string("", "e.toml").runtime.state_dir.empty());
}

TEST_CASE("a duration or size too large for its type is refused naming file, line and key") {
  auto e = refusal("[runtime]\n\nshutdown_timeout = \"999999999999999h\"\n");
  CHECK(e.line() == 3);
  CHECK(e.column() == 20);
  CHECK(e.key() == "runtime.shutdown_timeout");
  CHECK_THAT(e.what(), Catch::StartsWith("node.toml:3:20: runtime.shutdown_timeout: "
                                         "'999999999999999h' is too large"));
  CHECK(refusal("[cache]\ndb_ttl = \"106752d\"\n").key() == "cache.db_ttl");
  CHECK(refusal("[cache]\ndb_ttl = \"99999999999999999999999ns\"\n").key() == "cache.db_ttl");
  auto s = refusal("[cache]\nmax_bytes = \"16777217TiB\"\n");
  CHECK(s.line() == 2);
  CHECK(s.key() == "cache.max_bytes");
  CHECK_THAT(s.message(), Catch::Contains("'16777217TiB' is too large"));
  CHECK_THAT(refusal("[subprocess]\noutput_cap = \"18446744073709551616\"\n").message(),
             Catch::Contains("too large"));
  // The largest values that fit are accepted, to the unit.
  CHECK(parse_duration("106751d") == timespan{std::chrono::hours{24 * 106751}});
  CHECK_FALSE(parse_duration("106752d"));
  CHECK_FALSE(parse_duration("999999999999999h"));
  CHECK(parse_size("16777215TiB") == 16777215ull << 40);
  CHECK_FALSE(parse_size("16777216TiB"));
  CHECK(parse_size("18446744073709551615") == ~0ull);
  CHECK_FALSE(parse_size("18446744073709551616"));
  CHECK(load_config_string("[cache]\nmax_bytes = \"16777215TiB\"\n").get<cache_config>().max_bytes ==
        16777215ull << 40);
}

TEST_CASE("an unknown enum value is refused with a did-you-mean, from a file and from code") {
  auto e = refusal("[subprocess]\ngit_watch = \"inotfy\"\n");
  CHECK(e.key() == "subprocess.git_watch");
  CHECK(e.line() == 2);
  CHECK(e.message() ==
        "'inotfy' is not one of: auto, inotify, fingerprint (did you mean 'inotify'?)");
  CHECK_THAT(refusal("[database]\nsynchronous = \"NORMLA\"\n").message(),
             Catch::Contains("did you mean 'NORMAL'"));
  CHECK_THAT(refusal("[logging]\nlevel = \"wran\"\n").message(),
             Catch::Contains("did you mean 'warn'"));
  CHECK_THAT(refusal("[supervisor]\nstrategy = \"one_for_al\"\n").message(),
             Catch::Contains("did you mean 'one_for_all'"));
  CHECK_THAT(refusal("[runtime]\nscheduler = \"stealng\"\n").message(),
             Catch::Contains("did you mean 'stealing'"));
  // In code the keys are enums; a value cast from outside the enum is still
  // refused by validate() rather than silently replaced.
  config cfg;
  cfg.runtime.scheduler = static_cast<scheduler_policy>(7);
  auto v = refusal(cfg);
  CHECK(v.key() == "runtime.scheduler");
  CHECK(v.line() == 0);
  config policy;
  policy.get<cache_config>().caches["x"].policy = static_cast<eviction_policy>(9);
  CHECK(refusal(policy).key() == "caches.x.policy");
  CHECK(enum_from_string("tinylfu", {eviction_policy::lru, eviction_policy::tinylfu}) ==
        eviction_policy::tinylfu);
  CHECK_FALSE(enum_from_string<git_watch_mode>("automatic", {git_watch_mode::automatic}));
}

TEST_CASE("a path with a NUL or another control character is refused naming file, line and key") {
  struct bad {
    std::string toml;
    std::string key;
    size_t line;
  };
  std::vector<bad> cases = {
      {"[database]\npath = \"x\\u0000.db\"\n", "database.path", 2},
      {"[logging]\nfile = \"p21\\u001b[1m.log\"\n", "logging.file", 2},
      {"[runtime]\nstate_dir = \"/var/lib/p21\\n\"\n", "runtime.state_dir", 2},
      {"[monitor]\nwatch_paths = [\n  \"/\",\n  \"/tmp\\u0007\",\n]\n", "monitor.watch_paths", 4},
      {"[demo]\nrepo = \"/srv/re\\tpo\"\n", "demo.repo", 2},
      {"[cluster.tls]\ncertificate = \"a\\u0000.pem\"\nkey = \"k\"\nca = \"c\"\n",
       "cluster.tls.certificate", 2},
  };
  for (auto& c : cases) {
    auto e = refusal(c.toml);
    CHECK(e.key() == c.key);
    CHECK(e.line() == c.line);
    CHECK_THAT(e.message(), Catch::Contains("must not contain control characters"));
  }
  config cfg;
  cfg.runtime.state_dir = std::string{"/var/lib\0/p21", 13};
  auto v = refusal(cfg);
  CHECK(v.key() == "runtime.state_dir");
  CHECK_THAT(v.message(), Catch::Contains("U+0000"));
  // Plain strings that are not paths may hold them (TOML allows it).
  CHECK(load_config_string("[cluster.publish]\nhost = \"h\\u0001\"\n")
            .get<cluster_config>()
            .publish_host == "h\x01");
}

TEST_CASE("a table name with a control character is refused naming file, line and the name "
          "escaped") {
  struct bad {
    std::string toml;
    std::string key;
    size_t line;
  };
  std::vector<bad> cases = {
      {"[caches.\"a\\u0001b\"]\nmax_entries = 10\n", "caches.a\\u0001b", 1},
      {"[monitor]\n\n[monitor.alerts.\"cpu\\u001b[2J\"]\nthreshold = 0.5\n",
       "monitor.alerts.cpu\\u001B[2J", 3},
      {"[components.\"x\\ny\"]\n", "components.x\\u000Ay", 1},
      {"[caches]\n\"tab\\tbed\" = { max_entries = 10 }\n", "caches.tab\\u0009bed", 2},
  };
  for (auto& c : cases) {
    auto e = refusal(c.toml);
    CHECK(e.key() == c.key);
    CHECK(e.line() == c.line);
    CHECK_THAT(e.message(), Catch::Contains("a name must not contain control characters"));
    // The error itself carries no control character to a terminal.
    for (char ch : std::string{e.what()})
      CHECK(static_cast<unsigned char>(ch) >= 0x20);
  }
  config cfg;
  cfg.get<cache_config>().caches["bell\x07"].max_entries = 10;
  auto v = refusal(cfg);
  CHECK(v.key() == "caches.bell\\u0007");
  CHECK_THAT(v.message(), Catch::Contains("U+0007"));
}

TEST_CASE("the file reader and validate of a config built in code agree on ranges") {
  auto e = refusal("[database]\npool_size = 0\n");
  config cfg;
  cfg.get<database_config>().pool_size = 0;
  auto v = refusal(cfg);
  CHECK(e.key() == v.key());
  CHECK(e.message() == v.message());
  CHECK(v.message() == "must be between 1 and 10000, got 0");
  cfg.get<database_config>().pool_size = 10'001;
  CHECK(refusal(cfg).message() == "must be between 1 and 10000, got 10001");
  config interval;
  interval.performance.monitor_interval = 99ms;
  CHECK(refusal(interval).message() ==
        refusal("[performance]\nmonitor_interval = \"99ms\"\n").message());
  config rate;
  rate.get<demo_config>().rate = 0;
  CHECK(refusal(rate).message() == refusal("[demo]\nrate = 0\n").message());
  config frame;
  frame.get<cluster_config>().max_frame = 10;
  CHECK(refusal(frame).key() == "cluster.max_frame");
  config rule;
  rule.get<optimizer_config>().rules["cpu_usge"] = {};
  CHECK_THAT(refusal(rule).message(), Catch::Contains("unknown rule (did you mean 'cpu_usage'?)"));
  CHECK_NOTHROW(validate(config{}));
}

TEST_CASE("docs/config.md is the reference the schema generates") {
  std::ifstream in{P21_SOURCE_DIR "/docs/config.md"};
  std::stringstream committed;
  committed << in.rdbuf();
  auto generated = config_reference();
  INFO("docs/config.md differs from the schema; regenerate it from the source directory with "
       "`build/dev/p21 check --reference > docs/config.md`");
  CHECK(committed.str() == generated);
  CHECK_THAT(generated, Catch::Contains("`runtime.state_dir`"));
  CHECK_THAT(generated, Catch::Contains("`optimizer.rules.NAME.step`"));
}
