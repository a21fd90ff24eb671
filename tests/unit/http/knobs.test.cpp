// /components and /summary list each knob with its value now and bounds.

#include <catch2/catch.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "p21/db_config.hpp"
#include "p21/http_config.hpp"
#include "p21/protocol/atoms.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

json get_json(uint16_t port, const std::string& path) {
  httplib::Client cli{"127.0.0.1", port};
  cli.set_connection_timeout(3, 0);
  cli.set_read_timeout(10, 0);
  auto r = cli.Get(path.c_str());
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return json::parse(r->body);
}

} // namespace

TEST_CASE("/components and /summary list the knobs with value and bounds") {
  temp_dir dir;
  auto cfg = test_config();
  cfg.get<http_config>().listen = "127.0.0.1:0";
  cfg.get<database_config>().path = dir.path + "/http.db";
  cfg.performance.monitor_interval = 30s;
  runtime rt{cfg};
  REQUIRE(rt.set_knob("monitor.interval", 12).value() == 12);
  auto port = static_cast<uint16_t>(rt.call<int>("http", get_atom::value).value());
  auto components = get_json(port, "/components");
  std::optional<json> knob;
  for (auto& c : components)
    if (c["name"] == "monitor")
      for (auto& k : c["knobs"])
        if (k["name"] == "monitor.interval")
          knob = k;
  REQUIRE(knob);
  CHECK((*knob)["value"].get<double>() == 12);
  CHECK((*knob)["min"].get<double>() == Approx(0.1));
  CHECK((*knob)["max"].get<double>() == 3600);
  CHECK((*knob)["unit"] == "seconds");
  auto summary = get_json(port, "/summary");
  REQUIRE(summary["knobs"].contains("monitor.interval"));
  json entry = summary["knobs"]["monitor.interval"];
  CHECK(entry["value"].get<double>() == 12);
  CHECK(entry["component"] == "monitor");
  CHECK(entry["max"].get<double>() == 3600);
  // A knob whose owner is not running is listed, its value null.
  REQUIRE(summary["knobs"].contains("db_pool.pool_size"));
  if (!rt.component("db_pool")->running)
    CHECK(summary["knobs"]["db_pool.pool_size"]["value"].is_null());
  CHECK(!rt.stop());
}
