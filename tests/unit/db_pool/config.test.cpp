// [database]: its keys and checks, as the db pool declares them.

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

TEST_CASE("a database directory that cannot be written is refused") {
  SECTION("a directory that does not exist and cannot be created") {
    auto e = refusal("[database]\npath = \"" P21_SOURCE_DIR "/CMakeLists.txt/data/x.db\"\n");
    CHECK(e.line() == 2);
    CHECK(e.key() == "database.path");
    CHECK_THAT(e.message(), Catch::Contains("is not a directory"));
  }
  SECTION("a directory that does not exist yet is accepted: the node creates it at start") {
    CHECK_NOTHROW(load_config_string("[database]\npath = \"/nonexistent-dir-p21/data/x.db\"\n"));
  }
  SECTION("a parent that is a file") {
    auto e = refusal("[database]\npath = \"" P21_SOURCE_DIR "/CMakeLists.txt/x.db\"\n");
    CHECK(e.key() == "database.path");
    CHECK_THAT(e.message(), Catch::Contains("is not a directory"));
  }
}
