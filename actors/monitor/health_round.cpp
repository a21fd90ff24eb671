#include "health_round.hpp"

#include <algorithm>

namespace p21 {

namespace {

bool ends_with(const std::string& x, const char* suffix) {
  auto n = std::char_traits<char>::length(suffix);
  return x.size() > n && x.compare(x.size() - n, n, suffix) == 0;
}

std::string series_key(const std::string& name, const std::map<std::string, std::string>& labels) {
  std::string k = name;
  for (auto& [l, v] : labels)
    k += "|" + l + "=" + v;
  return k;
}

/// The q-quantile of samples spread over Prometheus buckets (linear within a
/// bucket, as Prometheus' histogram_quantile does).
std::optional<double> bucket_quantile(const std::vector<double>& bounds,
                                      const std::vector<double>& counts, double total, double q) {
  if (total <= 0)
    return std::nullopt;
  auto rank = q * total;
  double prev_bound = 0;
  double prev_count = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (counts[i] >= rank) {
      auto in_bucket = counts[i] - prev_count;
      auto frac = in_bucket > 0 ? (rank - prev_count) / in_bucket : 1.0;
      return prev_bound + (bounds[i] - prev_bound) * frac;
    }
    prev_bound = bounds[i];
    prev_count = counts[i];
  }
  return bounds.empty() ? std::nullopt : std::optional<double>{bounds.back()};
}

} // namespace

// -- the rules ------------------------------------------------------------------------

bool health_round::counts_requests(const metric_sample& c) {
  return has_role(c.roles, metric_role::request) || ends_with(c.name, "_requests");
}

bool health_round::counts_errors(const metric_sample& c) {
  return has_role(c.roles, metric_role::error) || ends_with(c.name, "_errors");
}

bool health_round::counts_latency(const histogram_summary& h) {
  return has_role(h.roles, metric_role::latency) || ends_with(h.name, "_response_seconds");
}

// -- one round ------------------------------------------------------------------------

std::map<std::string, metric_set>
health_round::by_component(std::map<std::string, metric_set> collected) {
  std::map<std::string, metric_set> out;
  for (auto& [name, m] : collected) {
    for (auto& c : m.counters)
      c.labels["component"] = name;
    for (auto& g : m.gauges)
      g.labels["component"] = name;
    for (auto& h : m.histograms)
      h.labels["component"] = name;
    // A subsystem files its own typed stats under "".
    std::map<std::string, caf::message> stats;
    for (auto& [key, msg] : m.stats)
      stats[key.empty() ? name : name + "." + key] = std::move(msg);
    m.stats = std::move(stats);
    out[name] = std::move(m);
  }
  return out;
}

void health_round::measure(const std::vector<const metric_set*>& sources, health_inputs& in) {
  double hits = 0, misses = 0, requests = 0, errors = 0;
  std::vector<double> bounds;
  std::vector<double> window;
  double window_total = 0;
  for (auto* m : sources) {
    for (auto& c : m->counters) {
      auto key = series_key(c.name, c.labels);
      auto i = prev_counters_.find(key);
      auto prev = i != prev_counters_.end() ? i->second : 0.0;
      auto delta = std::max(0.0, c.value - prev); // a restart resets a counter
      prev_counters_[key] = c.value;
      if (has_role(c.roles, metric_role::hit))
        hits += delta;
      if (has_role(c.roles, metric_role::miss))
        misses += delta;
      if (counts_requests(c))
        requests += delta;
      if (counts_errors(c))
        errors += delta;
    }
    for (auto& h : m->histograms) {
      if (!counts_latency(h))
        continue;
      auto key = series_key(h.name, h.labels);
      auto& prev = prev_buckets_[key];
      auto prev_count = prev_counts_[key];
      if (prev.size() != h.cumulative.size())
        prev.assign(h.cumulative.size(), 0);
      if (bounds.empty()) {
        bounds = h.bounds;
        window.assign(bounds.size(), 0);
      }
      if (h.bounds == bounds && h.count >= prev_count) {
        for (size_t i = 0; i < bounds.size(); ++i)
          window[i] += double(h.cumulative[i] - std::min(h.cumulative[i], prev[i]));
        window_total += double(h.count - prev_count);
      }
      prev = h.cumulative;
      prev_counts_[key] = h.count;
    }
  }
  in.cache_hit_rate.reset();
  in.p95_seconds.reset();
  in.error_rate.reset();
  if (hits + misses > 0)
    in.cache_hit_rate = hits / (hits + misses);
  if (auto p95 = bucket_quantile(bounds, window, window_total, 0.95))
    in.p95_seconds = *p95;
  if (requests > 0)
    in.error_rate = std::min(1.0, errors / requests);
}

health_targets health_round::targets_of(const health_inputs& in) {
  return {
      {"cpu_percent", in.cpu_percent},       {"memory_percent", in.memory_percent},
      {"cache_hit_rate", in.cache_hit_rate}, {"p95_seconds", in.p95_seconds},
      {"error_rate", in.error_rate},
  };
}

void health_round::summarize(performance_summary& s, const health_inputs& in,
                             const health_targets& targets, const system_sample& sys,
                             const std::map<std::string, metric_set>& components,
                             const metric_set& user, clock::time_point now) {
  s.targets.clear();
  for (auto& [k, v] : targets)
    if (v) {
      trends_[k].observe(*v, now);
      s.targets[k] = *v;
    }
  trends_["rss_bytes"].observe(double(sys.rss_bytes), now);
  s.baselines.clear();
  s.trends.clear();
  for (auto& [k, t] : trends_) {
    if (t.baseline())
      s.baselines[k] = *t.baseline();
    s.trends[k] = t.percent_per_minute();
  }
  s.health_score = health_score(in);
  s.status = health_status(s.health_score);
  fill_system(s, sys);
  s.subsystems.clear();
  auto label_suffix = [](const std::map<std::string, std::string>& labels) {
    std::string x;
    for (auto& [k, v] : labels)
      if (k != "component")
        x += "." + v;
    return x;
  };
  // What the runtime's registry records about a component (its actor
  // profile) goes under that component too.
  auto component_of = [&](const std::map<std::string, std::string>& labels) -> std::string {
    auto i = labels.find("component");
    return i != labels.end() && components.count(i->second) ? i->second : std::string{};
  };
  auto add_histogram = [&](std::map<std::string, double>& out, const histogram_summary& h) {
    auto base = h.name + label_suffix(h.labels);
    out[base + ".count"] = double(h.count);
    out[base + ".p50"] = h.p50;
    out[base + ".p95"] = h.p95;
    out[base + ".p99"] = h.p99;
  };
  for (auto& c : user.counters)
    if (auto name = component_of(c.labels); !name.empty())
      s.subsystems[name][c.name + label_suffix(c.labels)] = c.value;
  for (auto& g : user.gauges)
    if (auto name = component_of(g.labels); !name.empty())
      s.subsystems[name][g.name + label_suffix(g.labels)] = g.value;
  for (auto& h : user.histograms)
    if (auto name = component_of(h.labels); !name.empty())
      add_histogram(s.subsystems[name], h);
  for (auto& [name, m] : components) {
    auto& out = s.subsystems[name];
    for (auto& c : m.counters)
      out[c.name + label_suffix(c.labels)] = c.value;
    for (auto& g : m.gauges)
      out[g.name + label_suffix(g.labels)] = g.value;
    for (auto& h : m.histograms)
      add_histogram(out, h);
  }
  ++s.samples;
}

void fill_system(performance_summary& s, const system_sample& sys) {
  s.system = {{"cpu_percent", sys.cpu_percent},
              {"process_cpu_percent", sys.process_cpu_percent},
              {"children_cpu_percent", sys.children_cpu_percent},
              {"memory_percent", sys.memory_percent},
              {"rss_bytes", double(sys.rss_bytes)},
              {"threads", double(sys.threads)},
              {"open_fds", double(sys.open_fds)},
              {"load1", sys.load1},
              {"cpus", sys.cpus}};
  for (auto& [path, pct] : sys.disk_percent)
    s.system["disk_percent:" + path] = pct;
}

} // namespace p21
