#include "series_selector.hpp"

#include <algorithm>
#include <cctype>

#include "p21/protocol/metrics.hpp"

namespace p21 {

namespace {

bool name_char(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

/// Whether every matcher (but `quantile`, which picks a histogram's value)
/// holds for `labels`.
bool matches(const series_selector& sel, const std::map<std::string, std::string>& labels) {
  for (auto& [k, v] : sel.labels) {
    if (k == "quantile")
      continue;
    auto i = labels.find(k);
    if (i == labels.end() || i->second != v)
      return false;
  }
  return true;
}

} // namespace

std::optional<series_selector> parse_series_selector(std::string_view text, std::string& problem) {
  series_selector out;
  size_t i = 0;
  auto fail = [&](const std::string& why) {
    problem = why + " in '" + std::string{text} + "'";
    return std::nullopt;
  };
  while (i < text.size() && name_char(text[i], i == 0))
    out.name += text[i++];
  if (out.name.empty())
    return fail("expected a metric name");
  if (i == text.size())
    return out;
  if (text[i] != '{')
    return fail("unexpected '" + std::string(1, text[i]) + "' after the name");
  ++i;
  auto skip_space = [&] {
    while (i < text.size() && text[i] == ' ')
      ++i;
  };
  for (;;) {
    skip_space();
    if (i < text.size() && text[i] == '}')
      break;
    std::string label;
    while (i < text.size() && name_char(text[i], label.empty()) && text[i] != ':')
      label += text[i++];
    if (label.empty())
      return fail("expected a label name");
    skip_space();
    if (i >= text.size() || text[i] != '=')
      return fail("expected '=' after label '" + label + "' (only exact matchers)");
    ++i;
    if (i < text.size() && text[i] == '~')
      return fail("label '" + label + "': only exact matchers (=) are supported");
    skip_space();
    if (i >= text.size() || text[i] != '"')
      return fail("expected a quoted value for label '" + label + "'");
    ++i;
    std::string value;
    while (i < text.size() && text[i] != '"') {
      if (text[i] == '\\' && i + 1 < text.size())
        ++i;
      value += text[i++];
    }
    if (i >= text.size())
      return fail("unterminated value of label '" + label + "'");
    ++i;
    if (!out.labels.emplace(label, value).second)
      return fail("label '" + label + "' twice");
    skip_space();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (i < text.size() && text[i] == '}')
      break;
    return fail("expected ',' or '}'");
  }
  ++i;
  if (i != text.size())
    return fail("unexpected text after '}'");
  return out;
}

std::optional<double> resolve_series(const series_selector& sel, const metric_set& m) {
  std::optional<double> sum;
  auto add = [&](double v) {
    sum = sum.value_or(0) + v;
  };
  auto is = [&](const std::string& base, const std::string& exported) {
    return sel.name == exported || sel.name == base;
  };
  for (auto& c : m.counters)
    if (is(c.name, "p21_" + c.name + "_total") && matches(sel, c.labels))
      add(c.value);
  // Ratios (a cache's shards each report one) are averaged, not summed.
  double ratio_sum = 0;
  size_t ratios = 0;
  for (auto& g : m.gauges)
    if (is(g.name, "p21_" + g.name) && matches(sel, g.labels)) {
      if (g.name.size() > 6 && g.name.compare(g.name.size() - 6, 6, "_ratio") == 0) {
        ratio_sum += g.value;
        ++ratios;
      } else {
        add(g.value);
      }
    }
  if (ratios > 0)
    add(ratio_sum / double(ratios));
  auto q = sel.labels.find("quantile");
  std::optional<double> quantile;
  for (auto& h : m.histograms) {
    if (!matches(sel, h.labels))
      continue;
    auto exported = "p21_" + h.name;
    if (sel.name == exported + "_count")
      add(double(h.count));
    else if (sel.name == exported + "_sum")
      add(h.sum);
    else if (q != sel.labels.end() && (sel.name == exported || sel.name == h.name)) {
      auto v = q->second == "0.5" ? h.p50 : q->second == "0.99" ? h.p99 : h.p95;
      quantile = std::max(quantile.value_or(v), v);
    }
  }
  if (quantile)
    return quantile;
  return sum;
}

} // namespace p21
