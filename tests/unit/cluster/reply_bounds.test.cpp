#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "actors/cluster/reply_bounds.hpp"
#include "p21/error.hpp"

using namespace p21;
using namespace p21::cluster_detail;
using opt = caf::optional<std::string>;

TEST_CASE("a peer's repeated keys are asked for once and answered in the order asked") {
  auto folded = fold_duplicates({"a", "b", "a", "c", "b", "a"});
  CHECK(folded.keys == std::vector<std::string>{"a", "b", "c"});
  CHECK(folded.index == std::vector<size_t>{0, 1, 0, 2, 1, 0});
  auto reply = unfold(folded, {opt{"A"}, opt{}, opt{"C"}}, 1024);
  REQUIRE(reply);
  CHECK(*reply == std::vector<opt>{opt{"A"}, opt{}, opt{"A"}, opt{"C"}, opt{}, opt{"A"}});
}

TEST_CASE("1 000 copies of a 1 MiB value's key are refused before the reply is built") {
  std::vector<std::string> keys(1000, "big");
  auto folded = fold_duplicates(keys);
  REQUIRE(folded.keys.size() == 1);
  auto reply = unfold(folded, {opt{std::string(1 << 20, 'x')}}, 16 << 20);
  REQUIRE_FALSE(reply);
  CHECK(reply.error() == errc::invalid_argument);
  CHECK_THAT(render(reply.error()), Catch::Contains("a reply of 1048576000 bytes (at most 16777216"));
  // Up to the bound it goes out.
  std::vector<std::string> sixteen(16, "big");
  auto fits = unfold(fold_duplicates(sixteen), {opt{std::string(1 << 20, 'x')}}, 16 << 20);
  REQUIRE(fits);
  CHECK(fits->size() == 16);
}

TEST_CASE("a component that answers the wrong number of values is an error, not a crash") {
  auto folded = fold_duplicates({"a", "b"});
  CHECK_FALSE(unfold(folded, {opt{"A"}}, 1024));
}

TEST_CASE("a query's reply counts its column names, texts, blobs and 8 bytes per value") {
  db_result r;
  r.columns = {"k", "v"};
  r.rows = {{db_value::of("abc"), db_value::of(int64_t{1})},
            {db_value::of_blob(std::string(100, 'b')), db_value::of_null()}};
  CHECK(reply_bytes(r) == 2 + (3 + 8) + 8 + (100 + 8) + 8);
  CHECK(reply_bytes(std::vector<db_result>{r, r}) == 2 * reply_bytes(r));
  CHECK(check_reply(reply_bytes(r), 1024).empty());
  CHECK_FALSE(check_reply(reply_bytes(r), 100).empty());
}
