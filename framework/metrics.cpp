#include "p21/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace p21 {

// -- registry -------------------------------------------------------------------------

bool valid_metric_name(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])))
    return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
      return false;
  return true;
}

namespace {

/// A label set as one string, for the family's hash map: each label name
/// and value preceded by its length, so that no two sets spell the same.
std::string series_key(const metric_labels& labels) {
  std::string out;
  for (auto& [k, v] : labels) {
    out += std::to_string(k.size()) + ':' + k;
    out += std::to_string(v.size()) + ':' + v;
  }
  return out;
}

} // namespace

template <class T>
T& metrics_registry::find_or_add(store<T>& xs, const std::string& name, const std::string& help,
                                 const metric_labels& labels, double scale,
                                 const family_bounds& bounds) {
  if (!valid_metric_name(name))
    throw std::invalid_argument("invalid metric name '" + name + "'");
  for (auto& [k, v] : labels)
    if (!valid_metric_name(k))
      throw std::invalid_argument("invalid label name '" + k + "' of metric '" + name + "'");
  auto key = series_key(labels);
  std::lock_guard<std::mutex> guard{mtx_};
  auto& family = xs.families[name];
  if (auto i = family.find(key); i != family.end())
    return *i->second;
  auto add = [&](const metric_labels& ls, std::string k) -> T& {
    help_.emplace(name, help);
    xs.entries.push_back(entry<T>{name, ls, scale, std::make_unique<T>(), bounds.roles});
    auto* metric = xs.entries.back().metric.get();
    family.emplace(std::move(k), metric);
    return *metric;
  };
  if (family.size() < std::max<size_t>(bounds.limit, 1))
    return add(labels, std::move(key));
  // Full: fold into the family's overflow series.
  if (folding_.insert(name).second)
    spdlog::warn("metrics: {} reached its limit of {} series; further label sets count as "
                 "\"{}\"",
                 name, bounds.limit, overflow_value);
  auto folded = labels;
  if (auto i = folded.find(bounds.overflow_label); i != folded.end()) {
    i->second = overflow_value;
    if (auto j = family.find(series_key(folded)); j != family.end())
      return *j->second;
  }
  for (auto& [k, v] : folded)
    v = overflow_value;
  auto folded_key = series_key(folded);
  if (auto j = family.find(folded_key); j != family.end())
    return *j->second;
  return add(folded, std::move(folded_key));
}

counter& metrics_registry::make_counter(const std::string& name, const std::string& help,
                                        const metric_labels& labels) {
  return find_or_add(counters_, name, help, labels, 1.0, family_bounds{});
}

gauge& metrics_registry::make_gauge(const std::string& name, const std::string& help,
                                    const metric_labels& labels) {
  return find_or_add(gauges_, name, help, labels, 1.0, family_bounds{});
}

histogram& metrics_registry::make_histogram(const std::string& name, const std::string& help,
                                            const metric_labels& labels, double scale) {
  return find_or_add(histograms_, name, help, labels, scale, family_bounds{});
}

metrics_registry::family_bounds metrics_registry::bounds_of(const metric_def& def) {
  return {def.series_limit > 0 ? size_t{def.series_limit} : default_series_limit,
          def.overflow_label, def.roles};
}

counter& metrics_registry::make_counter(const metric_def& def, const metric_labels& labels) {
  return find_or_add(counters_, def.name, def.help, labels, 1.0, bounds_of(def));
}

gauge& metrics_registry::make_gauge(const metric_def& def, const metric_labels& labels) {
  return find_or_add(gauges_, def.name, def.help, labels, 1.0, bounds_of(def));
}

histogram& metrics_registry::make_histogram(const metric_def& def, const metric_labels& labels,
                                            double scale) {
  return find_or_add(histograms_, def.name, def.help, labels, scale, bounds_of(def));
}

size_t metrics_registry::series_count(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  size_t n = 0;
  auto count = [&](auto& xs) {
    if (auto i = xs.families.find(name); i != xs.families.end())
      n += i->second.size();
  };
  count(counters_);
  count(gauges_);
  count(histograms_);
  return n;
}

metric_set metrics_registry::collect() const {
  std::lock_guard<std::mutex> guard{mtx_};
  metric_set out;
  for (auto& e : counters_.entries)
    out.counters.push_back({e.name, e.labels, double(e.metric->value()), e.roles});
  for (auto& e : gauges_.entries)
    out.gauges.push_back({e.name, e.labels, e.metric->value(), e.roles});
  for (auto& e : histograms_.entries) {
    auto s = e.metric->summary(e.name, e.scale);
    s.labels = e.labels;
    s.roles = e.roles;
    out.histograms.push_back(std::move(s));
  }
  return out;
}

std::map<std::string, std::string> metrics_registry::help() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return help_;
}

// -- Prometheus text format ----------------------------------------------------------

namespace {

std::string escape_label(const std::string& x) {
  std::string out;
  for (char c : x) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string escape_help(const std::string& x) {
  std::string out;
  for (char c : x) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string number(double x) {
  if (std::isnan(x))
    return "NaN";
  if (std::isinf(x))
    return x > 0 ? "+Inf" : "-Inf";
  if (x == std::floor(x) && std::fabs(x) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f", x);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.10g", x);
  return buf;
}

std::string label_text(const metric_labels& labels, const std::string& extra_key = {},
                       const std::string& extra_value = {}) {
  if (labels.empty() && extra_key.empty())
    return {};
  std::string out = "{";
  bool first = true;
  for (auto& [k, v] : labels) {
    if (!valid_metric_name(k) || k == extra_key)
      continue;
    out += first ? "" : ",";
    out += k + "=\"" + escape_label(v) + "\"";
    first = false;
  }
  if (!extra_key.empty()) {
    out += first ? "" : ",";
    out += extra_key + "=\"" + escape_label(extra_value) + "\"";
  }
  return out + "}";
}

/// A family: its samples in arrival order, one TYPE.
struct family {
  std::string type;
  std::vector<std::string> lines;
  std::set<std::string> series; // label texts seen, to drop duplicates
};

} // namespace

std::string render_prometheus(const std::vector<metric_set>& sets,
                              const std::map<std::string, std::string>& help) {
  std::map<std::string, family> families; // by exported name, sorted
  std::map<std::string, std::string> base_of;
  auto add = [&](const std::string& base, const std::string& exported, const char* type,
                 const std::string& series, std::vector<std::string> lines) {
    if (!valid_metric_name(base))
      return;
    auto& f = families[exported];
    if (!f.type.empty() && f.type != type)
      return; // the same name as two types: keep the first
    f.type = type;
    base_of[exported] = base;
    if (!f.series.insert(series).second)
      return; // the same series twice: keep the first
    for (auto& l : lines)
      f.lines.push_back(std::move(l));
  };
  for (auto& set : sets) {
    for (auto& c : set.counters) {
      auto name = "p21_" + c.name + "_total";
      auto labels = label_text(c.labels);
      add(c.name, name, "counter", labels, {name + labels + " " + number(c.value)});
    }
    for (auto& g : set.gauges) {
      auto name = "p21_" + g.name;
      auto labels = label_text(g.labels);
      add(g.name, name, "gauge", labels, {name + labels + " " + number(g.value)});
    }
    for (auto& h : set.histograms) {
      auto name = "p21_" + h.name;
      std::vector<std::string> lines;
      for (size_t i = 0; i < h.bounds.size() && i < h.cumulative.size(); ++i)
        lines.push_back(name + "_bucket" + label_text(h.labels, "le", number(h.bounds[i])) + " " +
                        number(double(h.cumulative[i])));
      lines.push_back(name + "_bucket" + label_text(h.labels, "le", "+Inf") + " " +
                      number(double(h.count)));
      lines.push_back(name + "_sum" + label_text(h.labels) + " " + number(h.sum));
      lines.push_back(name + "_count" + label_text(h.labels) + " " + number(double(h.count)));
      add(h.name, name, "histogram", label_text(h.labels), std::move(lines));
    }
  }
  std::ostringstream out;
  for (auto& [name, f] : families) {
    auto& base = base_of[name];
    auto i = help.find(base);
    auto text = i != help.end() && !i->second.empty() ? i->second : "Perfect21 metric " + base;
    out << "# HELP " << name << " " << escape_help(text) << "\n";
    out << "# TYPE " << name << " " << f.type << "\n";
    for (auto& l : f.lines)
      out << l << "\n";
  }
  return out.str();
}

} // namespace p21
