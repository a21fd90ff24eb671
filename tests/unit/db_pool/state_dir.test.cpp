// The db pool's data directories hook: the runtime's state directory sits
// beside the database unless `[runtime] state_dir` says otherwise, and the
// database's directory is created before the pool opens it.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "framework/detail/state_dir.hpp"
#include "p21/db_config.hpp"
#include "p21/subsystems.hpp"
#include "support/files.hpp"
#include "support/temp_dir.hpp"

using namespace p21;
using namespace p21::detail;

using p21::test::temp_dir;
using p21::test::write_file;

TEST_CASE("the state directory is runtime.state_dir, else the database's directory, else none") {
  config cfg;
  auto dirs = [&] { return data_directories(cfg, {db_pool_subsystem()}); };
  cfg.get<database_config>().path = "data/perfect21.db";
  CHECK(state_dir(cfg, dirs()) == "data");
  cfg.get<database_config>().path = "perfect21.db";
  CHECK(state_dir(cfg, dirs()) == "."); // beside the database, as configured
  cfg.get<database_config>().path = ":memory:";
  CHECK(state_dir(cfg, dirs()).empty());
  CHECK(state_dir(cfg, {}).empty()); // no subsystem keeps files: no state
  cfg.runtime.state_dir = "/var/lib/p21";
  CHECK(state_dir(cfg, dirs()) == "/var/lib/p21");
  CHECK(preload_file(state_dir(cfg, dirs())) == "/var/lib/p21/preload.list");
}

TEST_CASE("make_run_dirs creates the database's directory and the state directory") {
  temp_dir dir;
  config cfg;
  cfg.get<database_config>().path = dir.file("a/b/node.db");
  cfg.runtime.state_dir = dir.file("state/x");
  auto dirs = data_directories(cfg, {db_pool_subsystem()});
  REQUIRE(dirs == std::vector<std::string>{dir.file("a/b")});
  REQUIRE_FALSE(make_run_dirs(cfg, dirs));
  struct stat st;
  CHECK((::stat((dir.file("a/b")).c_str(), &st) == 0 && S_ISDIR(st.st_mode)));
  CHECK((::stat((dir.file("state/x")).c_str(), &st) == 0 && S_ISDIR(st.st_mode)));
  write_file(dir.file("file"), "x");
  cfg.runtime.state_dir = dir.file("file/state"); // under a regular file: cannot be
  CHECK(make_run_dirs(cfg, dirs));
}
