// The status line and the exit summary of `p21 run`.

#include "app/node_status.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "app/demo.hpp"
#include "p21/cache_config.hpp"
#include "p21/cluster_config.hpp"
#include "p21/http_config.hpp"

namespace p21::app {

namespace {

constexpr auto answer_within = std::chrono::seconds{1};

std::string percent(uint64_t part, uint64_t total) {
  if (total == 0)
    return "-";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * double(part) / double(total));
  return buf;
}

/// 12345678 -> "12 345 678".
std::string count(uint64_t n) {
  auto digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ' ';
    out += digits[i];
  }
  return out;
}

uint64_t delta(uint64_t now, uint64_t prev) {
  return now >= prev ? now - prev : now; // a restarted component starts from 0
}

} // namespace

node_status::node_status(runtime& rt)
  : rt_(rt) {}

bool node_status::running(const std::string& component) const {
  auto c = rt_.component(component);
  return c && c->running;
}

std::string node_status::http_endpoint() {
  auto listen = rt_.settings().get<http_config>().listen;
  auto c = rt_.component("http");
  if (listen.empty() || !c || !c->running)
    return listen;
  // The bound port differs from the configured one for 0 (any free port)
  // and stays until a restart: asked once per start, not at every reading.
  if (c->starts != http_asked_at_start_)
    if (auto h = rt_.actor_of("http"))
      if (auto port = rt_.request<int>(*h, answer_within, get_atom::value); port && *port > 0) {
        http_bound_ = listen.substr(0, listen.rfind(':') + 1) + std::to_string(*port);
        http_asked_at_start_ = c->starts;
      }
  return http_bound_.empty() ? listen : http_bound_;
}

node_reading node_status::read() {
  node_reading r;
  r.at = std::chrono::steady_clock::now();
  r.http = http_endpoint();
  if (running("monitor")) {
    auto mon = monitor::open(rt_);
    auto h = mon ? mon->actor() : caf::expected<monitor_actor>{caf::error{}};
    if (mon && h) {
      if (auto s = rt_.request<performance_summary>(*h, answer_within, summary_atom::value)) {
        r.health = s->health_score;
        r.status = s->status;
        r.monitor_samples = s->samples;
        r.firing = s->active_alerts;
      }
      if (auto evs = rt_.request<std::vector<event>>(*h, answer_within, events_atom::value,
                                                     events_seen_)) {
        for (auto& e : *evs) {
          events_seen_ = std::max(events_seen_, e.seq);
          if (e.kind == "alert_firing")
            ++alerts_fired_;
        }
      }
    }
  }
  r.alerts_fired = alerts_fired_;
  for (auto& [name, nc] : rt_.settings().get<cache_config>().all()) {
    r.caches.push_back(name);
    auto c = cache::open(rt_, name);
    if (!c)
      continue;
    c->timeout(answer_within);
    bool up = true;
    for (size_t i = 0; i < c->shards(); ++i)
      up = up && running(c->component(i));
    if (!up)
      continue;
    r.caches_running.push_back(name);
    if (auto s = c->stats()) {
      r.cache_hits += s->hits;
      r.cache_misses += s->misses;
      r.cache_entries += s->entries;
      r.cache_capacity += s->max_entries;
    }
  }
  if (running("db_pool")) {
    if (auto db = db::open(rt_)) {
      db->timeout(answer_within);
      if (auto s = db->stats()) {
        r.db = true;
        r.db_queries = s->queries;
        r.db_cache_hits = s->cache_hits;
        r.db_cache_misses = s->cache_misses;
        r.db_in_use = s->peak_in_use;
        r.db_open = s->size;
        r.db_timeouts = s->timeouts;
        r.db_errors = s->errors;
      }
    }
  }
  if (running("subprocess")) {
    if (auto sp = subprocess::open(rt_)) {
      sp->timeout(answer_within);
      if (auto s = sp->stats()) {
        r.subprocess = true;
        r.commands = s->finished;
        r.commands_failed = s->failed;
        r.running = s->running;
        r.max_processes = s->max_processes;
        r.git_hits = s->git_hits;
        r.git_misses = s->git_misses;
        r.git_invalidations = s->git_invalidations;
        max_running_ = std::max(max_running_, s->running);
      }
    }
  }
  r.max_running = max_running_;
  if (running("optimizer")) {
    if (auto opt = rt_.actor_of<optimizer_actor>("optimizer")) {
      if (auto m = rt_.request<metric_set>(*opt, answer_within, metrics_atom::value)) {
        r.optimizer = true;
        for (auto& c : m->counters)
          if (optimizer_metrics::evaluations.names(c.name))
            r.evaluations = static_cast<uint64_t>(c.value);
      }
      if (auto acts = rt_.request<std::vector<optimizer_action>>(
              *opt, answer_within, events_atom::value, actions_seen_)) {
        actions_seen_ += acts->size();
        if (!acts->empty()) {
          auto& a = acts->back();
          last_action_ = a.rule + ": " + a.action + (a.applied ? "" : " (dry run)");
        }
      }
    }
  }
  if (running("redis")) {
    if (auto m = rt_.call_for<metric_set>("redis", answer_within, metrics_atom::value)) {
      namespace d = cache_metrics;
      r.redis = true;
      for (auto& c : m->counters) {
        auto v = static_cast<uint64_t>(c.value);
        if (d::redis_near_hits.names(c.name))
          r.redis_near_hits = v;
        else if (d::redis_near_misses.names(c.name))
          r.redis_near_misses = v;
        else if (d::redis_round_trips.names(c.name))
          r.redis_round_trips = v;
        else if (d::redis_invalidations.names(c.name))
          r.redis_invalidations = v;
        else if (d::redis_flushes.names(c.name))
          r.redis_flushes = v;
        else if (d::redis_reconnects.names(c.name))
          r.redis_reconnects = v;
        else if (d::redis_errors.names(c.name))
          r.redis_errors = v;
      }
      for (auto& g : m->gauges)
        if (d::redis_connected.names(g.name))
          r.redis_connected = g.value > 0;
      for (auto& h : m->histograms)
        if (d::redis_latency.names(h.name))
          r.redis_p99_s = h.p99;
    }
  }
  r.actions = actions_seen_;
  r.last_action = last_action_;
  auto& cl = rt_.settings().get<cluster_config>();
  if (!cl.publish_actors.empty()) {
    std::string names;
    for (auto& a : cl.publish_actors)
      names += (names.empty() ? "" : ", ") + a;
    r.cluster.push_back("publishing " + names + " on " + cl.publish_host + ":" +
                        std::to_string(cl.publish_port) + (cl.tls() ? " (TLS)" : ""));
  }
  auto m = rt_.metrics().collect();
  for (auto& g : m.gauges)
    if (cluster_metrics::peer_connected.names(g.name)) {
      uint64_t errors = 0, reconnects = 0;
      for (auto& c : m.counters)
        if (c.labels == g.labels && cluster_metrics::peer_errors.names(c.name))
          errors = static_cast<uint64_t>(c.value);
        else if (c.labels == g.labels && cluster_metrics::peer_reconnects.names(c.name))
          reconnects = static_cast<uint64_t>(c.value);
      r.cluster.push_back("peer " + g.labels["peer"] + ": " + g.labels["actor"] +
                          (g.value > 0 ? " connected" : " not connected") + ", " +
                          count(reconnects) + " reconnects, " + count(errors) + " errors");
    }
  return r;
}

std::string node_status::line(const node_reading& prev, const node_reading& now,
                              const std::string& phase) {
  auto dt = std::chrono::duration<double>(now.at - prev.at).count();
  auto hits = delta(now.cache_hits, prev.cache_hits);
  auto misses = delta(now.cache_misses, prev.cache_misses);
  auto qhits = delta(now.db_cache_hits, prev.db_cache_hits);
  auto qmisses = delta(now.db_cache_misses, prev.db_cache_misses);
  auto ghits = delta(now.git_hits, prev.git_hits);
  auto gmisses = delta(now.git_misses, prev.git_misses);
  auto requests = hits + misses + delta(now.db_queries, prev.db_queries) +
                  delta(now.commands, prev.commands) + ghits;
  std::ostringstream out;
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.0f", dt > 0 ? double(requests) / dt : 0.0);
  out << "health " << static_cast<int>(now.health + 0.5) << " " << now.status << " | " << rate
      << " req/s | cache " << percent(hits, hits + misses) << " (" << now.cache_entries << "/"
      << now.cache_capacity << ")";
  if (now.db)
    out << " | query cache " << percent(qhits, qhits + qmisses) << " | pool " << now.db_in_use
        << "/" << now.db_open;
  if (now.subprocess)
    out << " | git " << percent(ghits, ghits + gmisses) << " | procs " << now.running << "/"
        << now.max_processes;
  if (!phase.empty())
    out << " | phase " << phase;
  if (!now.firing.empty()) {
    out << " | alerts:";
    for (auto& a : now.firing)
      out << " " << a;
  }
  out << " | last action: " << (now.last_action.empty() ? "none" : now.last_action);
  return out.str();
}

std::string node_status::summary(const node_reading& first, const node_reading& last,
                                 const demo* workload) {
  auto seconds = std::chrono::duration<double>(last.at - first.at).count();
  std::ostringstream out;
  char head[64];
  std::snprintf(head, sizeof head, "%.1f s", seconds);
  out << "p21 run summary (" << head;
  if (workload) {
    // The phases entered, in order: "steady, shift, writes, processes, steady".
    auto n = workload->phases_run();
    out << ", demo phases: ";
    for (uint64_t i = 0; i < std::min<uint64_t>(n, 8); ++i)
      out << (i ? ", " : "") << demo::phases()[i % demo::phases().size()];
    if (n > 8)
      out << ", ... (" << n << " in all)";
  }
  out << ")\n";
  auto lookups = last.cache_hits + last.cache_misses;
  auto names = [](const std::vector<std::string>& xs) {
    std::string out;
    for (auto& x : xs)
      out += (out.empty() ? "" : ", ") + x;
    return out;
  };
  out << "  cache      " << last.caches.size() << " configured (" << names(last.caches) << "), ";
  if (last.caches_running.empty())
    out << "none started\n";
  else
    out << last.caches_running.size() << " running: " << count(lookups) << " lookups, "
        << percent(last.cache_hits, lookups) << " hits; " << count(last.cache_entries) << " of "
        << count(last.cache_capacity) << " entries held\n";
  if (last.db)
    out << "  sqlite     " << count(last.db_queries) << " statements, query cache "
        << percent(last.db_cache_hits, last.db_cache_hits + last.db_cache_misses) << " hits, "
        << last.db_open << " connections open, " << last.db_timeouts << " timeouts, "
        << last.db_errors << " errors\n";
  else
    out << "  sqlite     not started\n";
  if (last.subprocess) {
    auto git = last.git_hits + last.git_misses;
    out << "  git        " << count(git) << " status checks, " << percent(last.git_hits, git)
        << " from the git cache, " << count(last.git_invalidations) << " invalidations\n";
    out << "  commands   " << count(last.commands) << " run, " << count(last.commands_failed)
        << " failed, " << last.max_running << " at once at most (limit " << last.max_processes
        << ")\n";
  } else {
    out << "  commands   not started\n";
  }
  if (last.redis) {
    char p99[32];
    std::snprintf(p99, sizeof p99, "%.0f us", last.redis_p99_s * 1e6);
    out << "  redis      " << (last.redis_connected ? "connected" : "not connected")
        << ", near tier "
        << percent(last.redis_near_hits, last.redis_near_hits + last.redis_near_misses) << " hits, "
        << count(last.redis_round_trips) << " round trips (p99 " << p99 << "), "
        << count(last.redis_invalidations) << " invalidations, " << count(last.redis_flushes)
        << " flushes, " << count(last.redis_reconnects) << " reconnects, "
        << count(last.redis_errors) << " errors\n";
  }
  out << "  monitor    " << count(last.monitor_samples) << " samples, health "
      << static_cast<int>(last.health + 0.5) << " (" << last.status << "), "
      << count(last.alerts_fired) << (last.alerts_fired == 1 ? " alert" : " alerts") << " fired";
  if (!last.firing.empty()) {
    out << ", firing now:";
    for (auto& a : last.firing)
      out << " " << a;
  }
  out << "\n";
  if (last.optimizer)
    out << "  optimizer  " << count(last.evaluations) << " evaluations, " << count(last.actions)
        << " actions" << (last.last_action.empty() ? "" : ", last: " + last.last_action) << "\n";
  else
    out << "  optimizer  not started\n";
  out << "  http       " << (last.http.empty() ? "off" : "listening on " + last.http) << "\n";
  for (auto& line : last.cluster)
    out << "  cluster    " << line << "\n";
  if (workload) {
    auto& c = workload->counts();
    out << "  demo       " << count(c.lookups) << " lookups (" << count(c.loads)
        << " loaded from SQLite), " << count(c.reads) << " reads, " << count(c.writes)
        << " writes, " << count(c.git_checks) << " git checks, " << count(c.repo_edits)
        << " repository edits, " << count(c.commands) << " commands, " << count(c.errors)
        << " errors";
    if (!workload->git_note().empty())
      out << "; " << workload->git_note();
    out << "\n";
  }
  return out.str();
}

} // namespace p21::app
