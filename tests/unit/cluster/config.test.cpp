// [cluster]: its keys and checks, as the cluster subsystem declares them.

#include <catch2/catch.hpp>

#include "p21/cache_config.hpp"
#include "p21/cluster_config.hpp"
#include "p21/config.hpp"
#include "p21/config_schema.hpp"
#include "p21/db_config.hpp"
#include "p21/optimizer_config.hpp"
#include "support/config_refusal.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

TEST_CASE("[cluster] is read, and its mistakes are refused with file, line and key") {
  auto cfg = load_config_file(P21_SOURCE_DIR "/config/cluster/a.toml");
  CHECK(cfg.get<cluster_config>().publish_port == 7100);
  CHECK(cfg.get<cluster_config>().publish_host == "127.0.0.1");
  CHECK(cfg.get<cluster_config>().publish_actors == std::vector<std::string>{"cache.shared"});
  auto b = load_config_file(P21_SOURCE_DIR "/config/cluster/b.toml");
  REQUIRE(b.get<cluster_config>().peers.size() == 1);
  CHECK(b.get<cluster_config>().peers[0].name == "a");
  CHECK(b.get<cluster_config>().peers[0].port == 7100);
  CHECK(b.get<cluster_config>().peers[0].near_ttl == 2s);
  CHECK_FALSE(b.get<cluster_config>().tls());
  CHECK(load_config_string("[cluster.publish]\nactors = [\"db_pool\"]\n").get<cluster_config>().publish_actors ==
        std::vector<std::string>{"db_pool"});
  auto again = load_config_string(to_toml(b), "again.toml");
  CHECK(again.get<cluster_config>().peers.at(0).actors == std::vector<std::string>{"cache.shared"});
  // Nothing listens anywhere unless configured; loopback by default.
  CHECK_FALSE(load_config_string("", "empty.toml").get<cluster_config>().enabled());
  CHECK(load_config_string("", "empty.toml").get<cluster_config>().publish_host == "127.0.0.1");
  SECTION("publishing something that is neither a cache nor the db pool") {
    auto e = refusal("[cluster.publish]\nport = 7100\nactors = [\"subprocess\"]\n");
    CHECK(e.key() == "cluster.publish.actors");
    CHECK(e.line() == 3);
  }
  SECTION("publishing a cache that does not exist") {
    auto e = refusal("[cluster.publish]\nactors = [\"cache.nope\"]\n");
    CHECK(e.key() == "cluster.publish.actors");
    CHECK_THAT(e.message(), Catch::Contains("no cache named 'nope'"));
  }
  SECTION("publishing a sharded cache") {
    auto e = refusal("[caches.s]\nshards = 2\n[cluster.publish]\nactors = [\"cache.s\"]\n");
    CHECK_THAT(e.message(), Catch::Contains("2 shards"));
  }
  SECTION("a peer without a port") {
    auto e = refusal("[[cluster.peers]]\nname = \"a\"\nactors = [\"cache.x\"]\n");
    CHECK(e.key() == "cluster.peers[0].port");
  }
  SECTION("a peer's cache that shadows a local one") {
    auto e = refusal("[[cluster.peers]]\nname = \"a\"\nport = 1\nactors = [\"cache.async\"]\n");
    CHECK(e.key() == "cluster.peers[0].actors");
    CHECK(e.line() == 4);
  }
  SECTION("TLS files that cannot be read") {
    auto e =
        refusal("[cluster.tls]\ncertificate = \"/nonexistent.pem\"\nkey = \"k\"\nca = \"c\"\n");
    CHECK(e.key() == "cluster.tls.certificate");
    CHECK(e.line() == 2);
    CHECK_THAT(e.message(), Catch::Contains("cannot read '/nonexistent.pem'"));
  }
  SECTION("max_frame") {
    CHECK(load_config_string("", "e.toml").get<cluster_config>().max_frame == 64ull << 20);
    CHECK(load_config_string("[cluster]\nmax_frame = \"1MiB\"\n").get<cluster_config>().max_frame == 1u << 20);
    CHECK(refusal("[cluster]\nmax_frame = 10\n").key() == "cluster.max_frame");
  }
  SECTION("publishing beyond loopback without TLS, unless written as insecure") {
    auto e = refusal("[cluster.publish]\nhost = \"0.0.0.0\"\n"
                     "actors = [\"cache.async\", \"db_pool\"]\n");
    CHECK(e.key() == "cluster.publish.host");
    CHECK(e.line() == 2);
    CHECK_THAT(e.message(), Catch::Contains("needs [cluster.tls]"));
    auto open = load_config_string("[cluster.publish]\nhost = \"0.0.0.0\"\ninsecure = true\n"
                                   "actors = [\"db_pool\"]\n");
    CHECK(open.get<cluster_config>().insecure);
    CHECK_FALSE(open.get<cluster_config>().allow_writes);
    // Loopback needs neither.
    CHECK(load_config_string("[cluster.publish]\nhost = \"127.0.0.1\"\nactors = [\"db_pool\"]\n")
              .get<cluster_config>().publish_actors.size() == 1);
  }
  SECTION("a certificate name to expect, without TLS or on some peers only") {
    auto plain = refusal("[[cluster.peers]]\nname = \"a\"\nport = 1\nactors = [\"cache.x\"]\n"
                         "expected_name = \"node-a\"\n");
    CHECK(plain.key() == "cluster.peers[0].expected_name");
    CHECK_THAT(plain.message(), Catch::Contains("only with [cluster.tls]"));
    auto self = std::string{P21_SOURCE_DIR} + "/config/perfect21.toml"; // any readable file
    auto tls = "[cluster.tls]\ncertificate = \"" + self + "\"\nkey = \"" + self + "\"\nca = \"" +
               self + "\"\n";
    auto some = refusal(tls + "[[cluster.peers]]\nname = \"a\"\nport = 1\nactors = [\"cache.x\"]\n"
                              "expected_name = \"node-a\"\n[[cluster.peers]]\nname = \"b\"\n"
                              "port = 2\nactors = [\"cache.y\"]\n");
    CHECK(some.key() == "cluster.peers[1].expected_name");
    CHECK_THAT(some.message(), Catch::Contains("on every peer or on none"));
    auto all = load_config_string(tls + "accepted_names = [\"node-b\"]\n[[cluster.peers]]\n"
                                        "name = \"a\"\nport = 1\nactors = [\"cache.x\"]\n"
                                        "expected_name = \"node-a\"\n");
    CHECK(all.get<cluster_config>().peers.at(0).expected_name == "node-a");
    CHECK(all.get<cluster_config>().tls_accepted_names == std::vector<std::string>{"node-b"});
  }
  SECTION("an unknown key") {
    auto e = refusal("[cluster.publish]\nprot = 7100\n");
    CHECK(e.key() == "cluster.publish.prot");
  }
}
