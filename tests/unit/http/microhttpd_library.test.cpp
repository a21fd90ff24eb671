// libmicrohttpd is loaded with dlopen when an HTTP server starts
// (actors/http/microhttpd_library.hpp): a runtime whose `[http] listen` is
// empty never maps it, nor the GnuTLS family it brings (2.4 MiB of startup
// RSS, issue 34); a missing library or function is an error naming it.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <httplib.h>

#include "actors/http/microhttpd_library.hpp"
#include "p21/http_config.hpp"
#include "p21/monitor.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

/// Whether a mapping of this process names a file containing `name`.
bool mapped(const std::string& name) {
  std::ifstream in{"/proc/self/maps"};
  for (std::string line; std::getline(in, line);)
    if (line.find(name) != std::string::npos)
      return true;
  return false;
}

constexpr const char* fresh_process_variable = "P21_TEST_FRESH_PROCESS";

/// Runs the test case `name` of this binary in a new process (with
/// P21_TEST_FRESH_PROCESS set): its exit code, its output in `dir`.
int run_in_fresh_process(const std::string& name, const temp_dir& dir) {
  std::vector<std::string> env_text;
  for (char** e = environ; *e != nullptr; ++e)
    env_text.emplace_back(*e);
  env_text.push_back(std::string{fresh_process_variable} + "=1");
  std::vector<char*> envp;
  for (auto& e : env_text)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  // --warn NoTests: a name that matches no case fails instead of passing.
  std::string warn = "--warn", no_tests = "NoTests";
  std::vector<char*> argv{exe.data(), const_cast<char*>(name.c_str()), warn.data(),
                          no_tests.data(), nullptr};
  auto out = dir.file("child.out");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  auto rc = ::posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  auto status = wait_exit(pid, 120s);
  if (!status) {
    ::kill(pid, SIGKILL);
    wait_exit(pid, 10s);
  }
  INFO(read_file(out));
  REQUIRE(status);
  return WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

} // namespace

TEST_CASE("libmicrohttpd and GnuTLS are mapped only once an HTTP server starts") {
  // In a process of its own: the other cases of this binary start servers,
  // and the library stays loaded for the life of the process.
  if (std::getenv(fresh_process_variable) == nullptr) {
    temp_dir dir;
    CHECK(run_in_fresh_process(
              "libmicrohttpd and GnuTLS are mapped only once an HTTP server starts", dir) == 0);
    return;
  }
  REQUIRE_FALSE(mapped("libmicrohttpd"));
  auto cfg = test_config(); // every standard subsystem; `[http] listen` empty
  {
    runtime rt{cfg};
    CHECK_FALSE(mapped("libmicrohttpd"));
    CHECK_FALSE(mapped("libgnutls"));
  }
  cfg.get<http_config>().listen = "127.0.0.1:0";
  runtime rt{cfg};
  auto port = rt.call<int>("http", get_atom::value);
  REQUIRE(port);
  CHECK(mapped("libmicrohttpd"));
  CHECK(mapped("libgnutls"));
  httplib::Client cli{"127.0.0.1", static_cast<uint16_t>(*port)};
  cli.set_connection_timeout(3, 0);
  cli.set_read_timeout(3, 0);
  auto r = cli.Get("/health");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("a missing libmicrohttpd or function is an error that names it") {
  using http_detail::microhttpd_library;
  try {
    microhttpd_library lib{"libp21-no-such-library.so.12"};
    FAIL("loaded a library that does not exist");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("cannot load libp21-no-such-library.so.12") &&
                             Catch::Contains("libmicrohttpd12"));
  }
  // A library that exists but is not libmicrohttpd: the first function is missing.
  try {
    microhttpd_library lib{"libc.so.6"};
    FAIL("found libmicrohttpd's functions in libc");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("libc.so.6 has no function MHD_start_daemon"));
  }
  auto& lib = microhttpd_library::instance();
  CHECK(&lib == &microhttpd_library::instance());
  CHECK(lib.start_daemon != nullptr);
  CHECK(lib.destroy_response != nullptr);
  CHECK(mapped("libmicrohttpd"));
}
