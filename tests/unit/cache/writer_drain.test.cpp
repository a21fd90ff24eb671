// Writers drain a cache shard's buffers themselves (actors/cache/
// owner_drain.cpp): while the owner ticks, the writer that takes the write
// queue to a quarter of its limit tries the owner lock and drains in its
// own thread, where it used to send the shard actor a message (a scheduler
// thread's wake-up); a writer past the queue's limit drains too, waiting
// for the lock instead of for a reply.
#include <catch2/catch.hpp>

#include <string>

#include "actors/cache/cache_store.hpp"
#include "actors/cache/shard.hpp"
#include "p21/cache.hpp"
#include "p21/cache_config.hpp"
#include "p21/knob.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::cache_detail;
using namespace p21::test;

namespace {

cache_store::queued write(cache_store& store, const std::string& key) {
  return store.write(key, key_hash(key), "v", timespan{0}).value();
}

} // namespace

TEST_CASE("while a cache's owner ticks, the writer that takes the write queue to a quarter of its "
          "limit drains it itself, and a writer past the limit drains before it returns") {
  store_config cfg;
  cfg.max_entries = 64 * 64;
  cache_store store{cfg};
  REQUIRE(store.write_limit() == 64);
  store.keep_draining();
  for (int i = 0; i < 15; ++i)
    CHECK(store.settle(write(store, "k" + std::to_string(i))) ==
          cache_store::next_step::nothing);
  CHECK(store.pending_writes() == 15);
  CHECK(store.size() == 0);
  auto q = write(store, "k15");
  REQUIRE(q.drain);
  CHECK(store.settle(q) == cache_store::next_step::drained);
  CHECK(store.pending_writes() == 0);
  CHECK(store.size() == 16);
  // Not ticking: the owner is asked, as before (a drain in place per write
  // would scan every read stripe per put).
  REQUIRE(store.stop_draining_if_idle());
  q = write(store, "k16");
  CHECK(store.settle(q) == cache_store::next_step::ask_owner);
  CHECK(store.pending_writes() == 1);
  // Past the limit the writer drains whatever the owner does.
  for (int i = 17; i < 17 + 64; ++i)
    q = write(store, "k" + std::to_string(i));
  REQUIRE(q.full);
  CHECK(store.settle(q) == cache_store::next_step::drained);
  CHECK(store.pending_writes() == 0);
  CHECK(store.size() == 17 + 64);
}

TEST_CASE("a cache's writers do not drain while no owner runs: its start drains what they "
          "queued, and a writer past the limit is told to wait for it") {
  store_config cfg;
  cfg.max_entries = 64 * 64;
  cache_store store{cfg};
  store.set_owner_running(false);
  store.keep_draining();
  cache_store::queued q;
  for (int i = 0; i < 16; ++i)
    q = write(store, "k" + std::to_string(i));
  REQUIRE(q.drain);
  CHECK(store.settle(q) == cache_store::next_step::ask_owner);
  for (int i = 16; i < 65; ++i)
    q = write(store, "k" + std::to_string(i));
  REQUIRE(q.full);
  CHECK(store.settle(q) == cache_store::next_step::wait_for_owner);
  CHECK(store.pending_writes() == 65);
  CHECK(store.try_drain() == std::nullopt);
  store.set_owner_running(true);
  CHECK(store.try_drain() == size_t{65});
  CHECK(store.size() == 65);
}

TEST_CASE("a cache handle's put drains the write queue in the writer's thread once a quarter of "
          "its limit waits while the owner ticks, with no message to the shard actor") {
  runtime rt{test_config()};
  named_cache_config nc;
  nc.max_entries = 64 * 64; // a write limit of 64, a quarter of 16
  auto c = cache::create(rt, "writer_drains", nc).value();
  auto shard = rt.shared_object<shard_shared>("cache.writer_drains/0");
  REQUIRE(shard);
  // The owner runs and is idle: its drains found nothing, so it has no
  // tick on its way, and drains only when asked.
  REQUIRE(c.stats());
  REQUIRE_FALSE(shard->store.ticking());
  // As if it ticked: writers below the mark send nothing. No tick comes,
  // so only a writer can drain what waits.
  shard->store.keep_draining();
  // And the actor is busy for a while with messages that leave the policy
  // alone (knob reads take no owner lock): a drain message sent now waits
  // behind them, so the queue is empty right after the put only if the
  // writer drained it. (Without them the old code's message was served
  // before the check in 3 runs of 5.)
  auto owner = shard->owner();
  REQUIRE(owner);
  for (int i = 0; i < 20'000; ++i)
    caf::anon_send(owner, get_knob_atom::value, std::string{"cache.writer_drains.max_entries"});
  for (int i = 0; i < 15; ++i)
    REQUIRE_FALSE(c.put("k" + std::to_string(i), "v"));
  CHECK(shard->store.pending_writes() == 15);
  REQUIRE_FALSE(c.put("k15", "v"));
  // Drained by the put itself: before, the put sent the shard a drain
  // message and returned, and the queue was still full here.
  CHECK(shard->store.pending_writes() == 0);
  CHECK(shard->store.size() == 16);
  auto s = c.stats().value();
  CHECK(s.entries == 16);
  CHECK(s.puts == 16);
}
