#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <thread>

#include "p21/histogram.hpp"

using namespace p21;

TEST_CASE("histogram buckets keep values within 1.6 percent") {
  std::mt19937_64 rng{1};
  for (int i = 0; i < 100'000; ++i) {
    uint64_t v = rng() >> (rng() % 60);
    auto b = histogram::bucket_of(v);
    REQUIRE(b < histogram::bucket_count);
    auto back = histogram::value_of(b);
    INFO("value " << v << " bucket " << b << " back " << back);
    REQUIRE(std::abs(double(back) - double(v)) <= std::max(1.0, double(v) / 64.0));
  }
  CHECK(histogram::bucket_of(UINT64_MAX) == histogram::bucket_count - 1);
}

TEST_CASE("histogram percentiles match exact percentiles of generated data") {
  std::mt19937_64 rng{2};
  std::lognormal_distribution<double> latency{11.0, 1.0}; // ~60 us median in ns
  std::vector<uint64_t> xs(200'000);
  histogram h;
  for (auto& x : xs) {
    x = static_cast<uint64_t>(latency(rng));
    h.record(x);
  }
  std::sort(xs.begin(), xs.end());
  for (double q : {0.5, 0.95, 0.99, 0.999}) {
    auto exact = double(xs[static_cast<size_t>(q * double(xs.size())) - 1]);
    auto approx = double(h.quantile(q));
    INFO("q " << q << " exact " << exact << " approx " << approx);
    CHECK(std::abs(approx - exact) / exact < 0.02);
  }
  CHECK(h.count() == xs.size());
  CHECK(h.max() == xs.back());
}

TEST_CASE("histograms merge across shards and record from many threads") {
  histogram a;
  histogram b;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (uint64_t i = 1; i <= 10'000; ++i)
        (t % 2 ? a : b).record(i);
    });
  for (auto& t : threads)
    t.join();
  a.merge(b);
  CHECK(a.count() == 40'000);
  CHECK(a.sum() == 4 * (10'000ull * 10'001 / 2));
  CHECK(a.max() == 10'000);
  auto p50 = double(a.quantile(0.5));
  CHECK(std::abs(p50 - 5'000) / 5'000 < 0.02);
  auto s = a.summary("x_seconds", 1e-9);
  CHECK(s.count == 40'000);
  CHECK(s.p99 > s.p50);
}

TEST_CASE("an empty histogram answers zeros") {
  histogram h;
  CHECK(h.quantile(0.99) == 0);
  CHECK(h.count() == 0);
}
