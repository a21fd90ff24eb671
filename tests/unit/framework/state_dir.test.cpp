// The state directory and its atomic file writer: a run-time file is where
// the config says, and is replaced whole or not at all.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "framework/detail/state_dir.hpp"
#include "p21/error.hpp"
#include "support/files.hpp"
#include "support/temp_dir.hpp"

using namespace p21;
using namespace p21::detail;

namespace {

/// A temporary directory; `dir / "name"` is a path inside it.
struct scratch_dir : p21::test::temp_dir {
  scratch_dir()
    : temp_dir("unit") {}
  std::string operator/(const std::string& name) const { return file(name); }
};

using p21::test::read_file;

using p21::test::write_file;

/// The names in `dir`, dot files included.
std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (auto d = ::opendir(dir.c_str())) {
    while (auto e = ::readdir(d))
      if (std::string n = e->d_name; n != "." && n != "..")
        out.push_back(n);
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

TEST_CASE("replace_file replaces the target whole and leaves no temporary file") {
  scratch_dir dir;
  write_file(dir / "list", "old\n");
  REQUIRE_FALSE(replace_file(dir / "list", "new, and longer than before\n"));
  CHECK(read_file(dir / "list") == "new, and longer than before\n");
  REQUIRE_FALSE(replace_file(dir / "list", "x\n"));
  CHECK(read_file(dir / "list") == "x\n"); // not the tail of the longer text
  CHECK(entries(dir.path) == std::vector<std::string>{"list"});
}

TEST_CASE("a write that fails midway leaves the previous file whole and no temporary file") {
  scratch_dir dir;
  write_file(dir / "list", "cache\ndb_pool\n");
  SECTION("the writer reports an error after half the text") {
    auto err = replace_file(dir / "list", [](int fd) -> caf::error {
      CHECK(::write(fd, "subpro", 6) == 6);
      return make_error(errc::timeout, "disk full (simulated)");
    });
    CHECK(is(err, errc::timeout));
  }
  SECTION("the writer throws after half the text") {
    auto err = replace_file(dir / "list", [](int fd) -> caf::error {
      CHECK(::write(fd, "subpro", 6) == 6);
      throw std::runtime_error("crash (simulated)");
    });
    REQUIRE(err);
    CHECK_THAT(render(err), Catch::Contains("crash (simulated)"));
  }
  SECTION("the rename fails: a directory sits at the target's name") {
    ::mkdir((dir / "taken").c_str(), 0755);
    write_file(dir / "taken/inside", "x");
    CHECK(replace_file(dir / "taken", "new\n"));
    CHECK(read_file(dir / "taken/inside") == "x");
  }
  CHECK(read_file(dir / "list") == "cache\ndb_pool\n");
  auto names = entries(dir.path);
  CHECK(std::none_of(names.begin(), names.end(), [](auto& n) { return n[0] == '.'; }));
}

TEST_CASE("a symlink at the target's name is replaced, never followed") {
  scratch_dir dir;
  write_file(dir / "precious", "do not touch\n");
  REQUIRE(::symlink((dir / "precious").c_str(), (dir / "preload.list").c_str()) == 0);
  // Reading does not go through it either.
  CHECK(load_preload_list(dir.path).empty());
  REQUIRE_FALSE(save_preload_list(dir.path, {"db_pool"}));
  CHECK(read_file(dir / "precious") == "do not touch\n");
  struct stat st;
  REQUIRE(::lstat((dir / "preload.list").c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK(load_preload_list(dir.path) == std::vector<std::string>{"db_pool"});
}

TEST_CASE("a preload list reads back as saved, and a name with a line break is refused") {
  scratch_dir dir;
  CHECK(load_preload_list(dir.path).empty()); // none yet
  REQUIRE_FALSE(save_preload_list(dir.path, {"db_pool", "subprocess", "cache.async/0"}));
  CHECK(load_preload_list(dir.path) ==
        std::vector<std::string>{"db_pool", "subprocess", "cache.async/0"});
  CHECK(save_preload_list(dir.path, {"db_pool\nmonitor"}));
  CHECK(load_preload_list(dir.path) ==
        std::vector<std::string>{"db_pool", "subprocess", "cache.async/0"});
}
