// The owner's flat index of evicted keys against std::unordered_map, on the
// same random inserts, lookups and erasures: an open-addressed table's
// deletion (backward shift) is where such a table loses entries.
#include <catch2/catch.hpp>

#include <random>
#include <unordered_map>

#include "actors/cache/ghost_index.hpp"

using namespace p21::cache_detail;

TEST_CASE("the cache's ghost index finds what std::unordered_map finds through inserts, "
          "replacements and erasures") {
  ghost_index index;
  std::unordered_map<uint64_t, uint64_t> reference;
  std::mt19937_64 rng{42};
  // Few distinct hashes (many collide on their home slot, runs wrap around
  // the end of the table), and hash 0, stored as 1.
  auto pick = [&] {
    auto r = rng() % 5000;
    return r == 0 ? uint64_t{0} : (r << 40) | (r & 7);
  };
  for (uint64_t seq = 1; seq <= 200'000; ++seq) {
    auto h = pick();
    switch (rng() % 3) {
    case 0:
      index.set(h, seq);
      reference[h == 0 ? 1 : h] = seq;
      break;
    case 1: {
      auto* s = index.find(h);
      auto r = reference.find(h == 0 ? 1 : h);
      REQUIRE((s != nullptr) == (r != reference.end()));
      if (s != nullptr) {
        REQUIRE(s->seq == r->second);
        index.erase(s);
        reference.erase(r);
      }
      break;
    }
    default: {
      auto* s = index.find(h);
      auto r = reference.find(h == 0 ? 1 : h);
      REQUIRE((s != nullptr) == (r != reference.end()));
      if (s != nullptr)
        REQUIRE(s->seq == r->second);
    }
    }
    REQUIRE(index.size() == reference.size());
  }
  for (auto& [h, seq] : reference) {
    auto* s = index.find(h);
    REQUIRE(s != nullptr);
    REQUIRE(s->seq == seq);
  }
  index.clear();
  REQUIRE(index.empty());
  REQUIRE(index.find(5) == nullptr);
}
