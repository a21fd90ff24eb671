// `p21 bench --only first_cache_hit,first_query`: what an embedding
// application waits for from `runtime{cfg}` to its first answer. Each side
// constructs a fresh runtime with the base config; the baseline stops the
// clock when the constructor returns, the Perfect21 side at the first
// cache hit (a put, then the get that finds it) or the first db query
// (which starts the lazy pool and its readers).

#include "app/bench_rows.hpp"
#include "app/scratch_dir.hpp"
#include "p21/db_config.hpp"
#include "p21/p21.hpp"

namespace p21::app {

namespace {

/// Times `runs` fresh runtimes: construction alone and up to `first` done.
template <class First>
row_result measure_first(const config& base, size_t runs, const std::string& name,
                         const std::string& label, First first) {
  scratch_dir dir{"p21-bench"};
  auto cfg = quiet(base);
  cfg.get<database_config>().path = dir.file("first_use.db");
  row_result r{name, {"runtime{cfg} constructed", {}}, {label, {}}, std::nullopt};
  for (size_t i = 0; i < runs; ++i) {
    {
      auto t0 = clock::now();
      runtime rt{cfg};
      r.baseline.samples.push_back(seconds_since(t0));
    }
    {
      auto t0 = clock::now();
      runtime rt{cfg};
      if (!first(rt))
        throw std::runtime_error(name + ": the first call failed");
      r.perfect21.samples.push_back(seconds_since(t0));
    }
  }
  return r;
}

} // namespace

row_result measure_first_cache_hit(const config& base, size_t runs) {
  return measure_first(base, runs, "first_cache_hit", "runtime{cfg} to the first cache hit",
                       [](runtime& rt) {
                         auto c = cache::open(rt, "async");
                         if (!c || c->put("k", "v"))
                           return false;
                         auto hit = c->get("k");
                         return hit && *hit && **hit == "v";
                       });
}

row_result measure_first_query(const config& base, size_t runs) {
  return measure_first(base, runs, "first_query", "runtime{cfg} to the first db query",
                       [](runtime& rt) {
                         auto d = db::open(rt);
                         if (!d)
                           return false;
                         auto r = d->query("SELECT 1");
                         return r && r->rows.size() == 1;
                       });
}

} // namespace p21::app
