// The walk of a BASP payload before CAF deserializes it
// (`check_basp_payload`), on bytes that CAF 0.17.6's own binary serializer
// wrote: the layouts are checked against the real thing, not a copy of it.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/cluster/basp_payload.hpp"
#include "actors/cluster/frame_guard.hpp"
#include "p21/p21.hpp"
#include "p21/types.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::cluster_detail;

namespace {

constexpr uint8_t direct_message = 2;

/// A type that no published protocol carries.
struct alien {
  std::string payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, alien& x) {
  return f(caf::meta::type_name("test.alien"), x.payload);
}

/// Bytes as a peer's CAF writes them, with the node's message types.
struct wire {
  caf::actor_system_config cfg;
  std::optional<caf::actor_system> sys;

  wire() {
    add_message_types(cfg);
    cfg.add_message_type<alien>("test.alien");
    sys.emplace(cfg);
  }

  template <class... Ts>
  std::string bytes(Ts&... xs) {
    std::vector<char> buf;
    caf::binary_serializer sink{*sys, buf};
    auto err = sink(xs...);
    REQUIRE_FALSE(err);
    return {buf.begin(), buf.end()};
  }

  /// A direct message's payload: no forwarding stages, then `msg`.
  std::string direct(caf::message msg) {
    std::vector<caf::strong_actor_ptr> stages;
    return bytes(stages, msg);
  }
};

std::string check(const std::string& payload, frame_refusal* kind = nullptr,
                  uint8_t op = direct_message) {
  return check_basp_payload(op, payload.data(), payload.size(), kind);
}

/// `payload` with its first `from` replaced by `to`.
std::string rewrite(std::string payload, const std::string& from, const std::string& to) {
  auto at = payload.find(from);
  REQUIRE(at != std::string::npos);
  return payload.replace(at, from.size(), to);
}

/// The varbyte CAF writes for a length of 2^32 - 1.
const std::string four_gib = "\xff\xff\xff\xff\x0f";

/// Where the fuzz target's seeds are: each file one operation byte, then a
/// payload CAF 0.17.6 wrote.
const std::string corpus = std::string{P21_SOURCE_DIR} + "/tests/fuzz/basp/corpus";

} // namespace

TEST_CASE("a request whose inner length says 4 GiB is refused before CAF allocates",
          "[basp_payload]") {
  wire w;
  // A put to a published cache, as a peer sends it.
  auto put = w.direct(caf::make_message(put_atom::value, std::string{"key"}, std::string{"VALUE"},
                                        caf::timespan{0}));
  CHECK(check(put).empty());
  frame_refusal kind{};
  auto lying = rewrite(put, "\x05VALUE", four_gib + "VALUE");
  CHECK_THAT(check(lying, &kind), Catch::Contains("a length of 4294967295"));
  CHECK(kind == frame_refusal::length);
  // The finding's form: a std::vector<char> argument (55 bytes with the
  // frame header).
  auto charbuf = w.direct(caf::make_message(std::vector<char>{'a', 'b'}));
  CHECK(check(charbuf).empty());
  auto small = rewrite(charbuf,
                       std::string{"\x02"
                                   "ab"},
                       four_gib + "ab");
  kind = {};
  CHECK_FALSE(check(small, &kind).empty());
  CHECK(kind == frame_refusal::length);
  // The type names' own length lies the same way.
  auto names = put.find("@<>+");
  REQUIRE(names != std::string::npos);
  kind = {};
  CHECK_FALSE(check(put.substr(0, names - 1) + four_gib + put.substr(names), &kind).empty());
  CHECK(kind == frame_refusal::length);
}

TEST_CASE("basp payload: every message of the published protocols passes as CAF writes it, and "
          "one byte less or more does not",
          "[basp_payload]") {
  wire w;
  caf::scoped_actor self{*w.sys};
  auto me = caf::actor_cast<caf::actor>(self);
  cache_stats cs;
  cs.name = "shared";
  cs.hits = 7;
  cs.ghost_hit_depths = {1, 2, 3};
  db_statement st{"select ?", {db_value::of(int64_t{1}), db_value::of(2.5), db_value::of("x")}};
  db_result res;
  res.columns = {"a", "b"};
  res.rows = {{db_value::of(int64_t{1}), db_value::of("y")}, {}};
  db_pool_stats ps;
  ps.acquire_time.labels = {{"k", "v"}};
  ps.acquire_time.bounds = {0.1, 1};
  ps.acquire_time.cumulative = {1, 2};
  auto oops = caf::make_error(caf::sec::runtime_error, "why");
  std::vector<caf::message> msgs = {
      caf::make_message(get_atom::value, std::string{"k"}),
      caf::make_message(get_atom::value, std::vector<std::string>{"a", "b"}),
      caf::make_message(put_atom::value, std::string{"k"}, std::string{"v"}, caf::timespan{5}),
      caf::make_message(load_failed_atom::value, std::string{"k"}, oops),
      caf::make_message(caf::optional<std::string>{"v"}),
      caf::make_message(caf::optional<std::string>{}),
      caf::make_message(std::vector<caf::optional<std::string>>{std::string{"v"}, caf::none}),
      caf::make_message(load_reply{true, "v"}),
      caf::make_message(shrink_result{1, 2}),
      caf::make_message(cs),
      caf::make_message(query_atom::value, std::string{"select 1"}, st.params),
      caf::make_message(st),
      caf::make_message(res),
      caf::make_message(ps),
      caf::make_message(true, 1.5, 2.5f, int8_t{1}, int16_t{2}, int32_t{3}, int64_t{4},
                        uint64_t{5}),
      caf::make_message(std::map<std::string, std::string>{{"a", "b"}}, std::set<std::string>{"c"}),
      caf::make_message(me),
      caf::make_message(caf::exit_msg{me.address(), caf::exit_reason::kill}),
      caf::make_message(caf::down_msg{me.address(), oops}),
      caf::make_message(oops),
      caf::make_message(),
  };
  // P21_BASP_CORPUS=DIR writes them as seeds of the fuzz target `basp`.
  auto* seeds = std::getenv("P21_BASP_CORPUS");
  int n = 0;
  for (auto& m : msgs) {
    INFO(caf::to_string(m));
    auto payload = w.direct(m);
    if (seeds)
      std::ofstream{std::string{seeds} + "/protocol-" + std::to_string(n++), std::ios::binary}
          << char{direct_message} << payload;
    CHECK(check(payload) == "");
    CHECK_FALSE(check(payload.substr(0, payload.size() - 1)).empty());
    CHECK_FALSE(check(payload + '\0').empty());
  }
}

TEST_CASE("basp payload: a type the public interface does not accept is refused",
          "[basp_payload]") {
  wire w;
  frame_refusal kind{};
  CHECK_THAT(check(w.direct(caf::make_message(alien{"from outer space"})), &kind),
             Catch::Contains("test.alien"));
  CHECK(kind == frame_refusal::type);
  // CAF's own types that no protocol here uses: refused the same way.
  kind = {};
  CHECK_FALSE(check(w.direct(caf::make_message(std::u16string{u"x"})), &kind).empty());
  CHECK(kind == frame_refusal::type);
  // A peer's bytes in a type name are not logged as they are.
  auto garbled = rewrite(w.direct(caf::make_message(alien{"x"})), "test.alien", "te\x1b[2Jlien");
  CHECK_THAT(check(garbled), Catch::Contains("te?[2Jlien"));
}

TEST_CASE("basp payload: values nested deeper than the bound are refused", "[basp_payload]") {
  wire w;
  auto nest = [](int levels) {
    auto e = caf::make_error(caf::sec::runtime_error, "bottom");
    for (int i = 1; i < levels; ++i)
      e = caf::make_error(caf::sec::runtime_error, e);
    return e;
  };
  CHECK(check(w.direct(caf::make_message(nest(2)))).empty());
  frame_refusal kind{};
  CHECK_THAT(check(w.direct(caf::make_message(nest(int(basp_payload_max_depth)))), &kind),
             Catch::Contains("nested deeper"));
  CHECK(kind == frame_refusal::depth);
}

TEST_CASE("basp payload: many small values that would decode far larger than the frame are "
          "refused",
          "[basp_payload]") {
  wire w;
  // 10 000 misses of a multi-key get: a normal reply.
  std::vector<caf::optional<std::string>> misses(10'000);
  CHECK(check(w.direct(caf::make_message(misses))).empty());
  // A million: 1 MB on the wire, 40 MB in memory.
  misses.resize(1'000'000);
  frame_refusal kind{};
  CHECK_FALSE(check(w.direct(caf::make_message(misses)), &kind).empty());
  CHECK(kind == frame_refusal::amplification);
  // More actor handles than any protocol carries: each one is a proxy.
  std::vector<caf::strong_actor_ptr> stages(basp_payload_max_actors + 1);
  auto m = caf::make_message();
  kind = {};
  CHECK_FALSE(check(w.bytes(stages, m), &kind).empty());
  CHECK(kind == frame_refusal::amplification);
}

TEST_CASE("basp payload: node ids are what caf::atom and CAF's node_id write", "[basp_payload]") {
  wire w;
  // A client handshake is a node's id (its class atom, a process id and a
  // host id); an invalid id is the atom alone.
  caf::node_id::default_data::host_id_type host;
  host.fill(0x11);
  auto node = caf::make_node_id(42, host);
  REQUIRE(w.bytes(node).size() == 8 + 4 + 20);
  CHECK(check(w.bytes(node), nullptr, 1).empty());
  caf::node_id none;
  CHECK(check(w.bytes(none), nullptr, 1).empty());
  frame_refusal kind{};
  CHECK_FALSE(check(w.bytes(node).substr(0, 20), &kind, 1).empty());
  CHECK(kind == frame_refusal::malformed);
  // A heartbeat has no payload; an unknown operation none either.
  CHECK_FALSE(check("x", nullptr, 6).empty());
  CHECK_FALSE(check("x", nullptr, 7).empty());
}

TEST_CASE("basp payload: every frame of a recorded CAF 0.17.6 session passes (the fuzz seeds)",
          "[basp_payload]") {
  // Handshakes, CAF's own queries, monitor and down messages, requests and
  // replies of the published protocols (a routed message, which needs three
  // nodes, made of a recorded direct message and two recorded node ids).
  auto* dir = ::opendir(corpus.c_str());
  REQUIRE(dir != nullptr);
  size_t seen = 0;
  std::vector<bool> ops(6);
  while (auto* e = ::readdir(dir)) {
    if (e->d_name[0] == '.')
      continue;
    auto bytes = test::read_file(corpus + "/" + e->d_name);
    REQUIRE(bytes.size() >= 1);
    INFO(e->d_name);
    auto op = static_cast<uint8_t>(bytes[0]);
    CHECK(check(bytes.substr(1), nullptr, op) == "");
    if (op < ops.size())
      ops[op] = true;
    ++seen;
  }
  ::closedir(dir);
  CHECK(seen >= 10);
  for (size_t op = 0; op < ops.size(); ++op) {
    INFO("operation " << op);
    CHECK(ops[op]);
  }
}

// -- the guard holds a frame until its payload passed ---------------------------

TEST_CASE("frame checker: a frame is passed on only whole and after its payload passed",
          "[basp_payload]") {
  wire w;
  auto payload = w.direct(caf::make_message(get_atom::value, std::string{"k"}));
  std::string header(frame_checker::header_size, '\0');
  header[0] = direct_message;
  header[7] = static_cast<char>(payload.size());
  auto frame = header + payload;
  frame_checker c{1000};
  std::string out;
  // Cut anywhere: nothing is passed on until the frame is complete.
  for (size_t cut = 1; cut < frame.size(); ++cut) {
    INFO("cut at " << cut);
    out.clear();
    frame_checker fresh{1000};
    CHECK(fresh.feed(frame.data(), cut, &out).empty());
    CHECK(out.empty());
    CHECK(fresh.feed(frame.data() + cut, frame.size() - cut, &out).empty());
    CHECK(out == frame);
    CHECK(fresh.at_boundary());
  }
  // Two frames in one read, the second lying: the first passes, then the refusal.
  auto lying = rewrite(frame, std::string{"\x01k"}, four_gib + "k");
  lying[7] = static_cast<char>(lying.size() - frame_checker::header_size);
  out.clear();
  CHECK_FALSE(c.feed((frame + lying).data(), frame.size() + lying.size(), &out).empty());
  CHECK(c.refusal() == frame_refusal::length);
  CHECK(out == frame);
}
