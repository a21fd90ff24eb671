// Cost of the metrics core on hot paths: a counter increment and a histogram
// sample against a plain atomic increment; a full sampling read of /proc;
// rendering /metrics with 1000 series.

#include <atomic>

#include <benchmark/benchmark.h>

#include "p21/metrics.hpp"
#include "actors/monitor/system_metrics.hpp"

namespace {

void atomic_increment(benchmark::State& state) {
  std::atomic<uint64_t> x{0};
  for (auto _ : state)
    x.fetch_add(1, std::memory_order_relaxed);
  benchmark::DoNotOptimize(x.load());
}
BENCHMARK(atomic_increment);

void counter_inc(benchmark::State& state) {
  p21::metrics_registry reg;
  auto& c = reg.make_counter("requests", "Requests.");
  for (auto _ : state)
    c.inc();
  benchmark::DoNotOptimize(c.value());
}
BENCHMARK(counter_inc);

void histogram_record(benchmark::State& state) {
  p21::metrics_registry reg;
  auto& h = reg.make_histogram("request_response_seconds", "Latency.");
  uint64_t v = 1000;
  for (auto _ : state) {
    h.record(v);
    v = v * 6364136223846793005ull + 1442695040888963407ull;
    v = (v >> 40) + 1000;
  }
  benchmark::DoNotOptimize(h.count());
}
BENCHMARK(histogram_record);

void sampling_tick(benchmark::State& state) {
  p21::system_sampler sampler{2, 100};
  for (auto _ : state) {
    auto r = p21::read_system();
    benchmark::DoNotOptimize(sampler.sample(r, std::chrono::steady_clock::now()));
    benchmark::DoNotOptimize(p21::disk_percent("/"));
  }
}
BENCHMARK(sampling_tick);

void render_1000_series(benchmark::State& state) {
  p21::metric_set m;
  for (int i = 0; i < 800; ++i)
    m.counters.push_back({"requests", {{"route", "r" + std::to_string(i)}}, double(i)});
  for (int i = 0; i < 190; ++i)
    m.gauges.push_back({"depth", {{"queue", "q" + std::to_string(i)}}, double(i)});
  p21::histogram h;
  for (uint64_t v = 1000; v < 100'000'000; v *= 3)
    h.record(v);
  for (int i = 0; i < 10; ++i) {
    auto s = h.summary("request_response_seconds", 1e-9);
    s.labels = {{"route", "r" + std::to_string(i)}};
    m.histograms.push_back(s);
  }
  for (auto _ : state)
    benchmark::DoNotOptimize(p21::render_prometheus({m}));
}
BENCHMARK(render_1000_series);

} // namespace

BENCHMARK_MAIN();
