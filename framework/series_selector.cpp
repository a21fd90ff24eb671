#include "p21/series_selector.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

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

namespace {

[[noreturn]] void refuse(const std::string& what, size_t at) {
  throw std::invalid_argument(what + " at offset " + std::to_string(at));
}

} // namespace

series_selector read_series_selector(std::string_view text, size_t& pos) {
  auto peek = [&] { return pos < text.size() ? text[pos] : '\0'; };
  auto skip = [&] {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos])))
      ++pos;
  };
  auto word = [&](bool colon) {
    std::string out;
    while (pos < text.size() && name_char(text[pos], out.empty()) && (colon || text[pos] != ':'))
      out += text[pos++];
    return out;
  };
  series_selector out;
  skip();
  auto at = pos;
  out.name = word(true);
  if (out.name.empty())
    refuse("expected a metric name", at);
  skip();
  if (peek() != '{')
    return out;
  ++pos;
  for (;;) {
    skip();
    if (peek() == '}')
      break;
    at = pos;
    auto label = word(false);
    if (label.empty())
      refuse("expected a label name", pos);
    skip();
    if (peek() != '=')
      refuse("expected '=' after label '" + label + "' (only exact matchers)", pos);
    ++pos;
    if (peek() == '~')
      refuse("label '" + label + "': only exact matchers (=) are supported", pos);
    skip();
    if (peek() != '"')
      refuse("expected a quoted value for label '" + label + "'", pos);
    auto quote = pos++;
    std::string value;
    while (pos < text.size() && text[pos] != '"') {
      if (text[pos] == '\\' && pos + 1 < text.size())
        ++pos;
      value += text[pos++];
    }
    if (pos >= text.size())
      refuse("unterminated label value", quote);
    ++pos;
    if (!out.labels.emplace(label, value).second)
      refuse("label '" + label + "' given twice", at);
    skip();
    if (peek() == ',') {
      ++pos;
      continue;
    }
    if (peek() != '}')
      refuse("expected ',' or '}'", pos);
    break;
  }
  ++pos;
  skip();
  return out;
}

std::optional<series_selector> parse_series_selector(std::string_view text, std::string& problem) {
  try {
    size_t pos = 0;
    auto out = read_series_selector(text, pos);
    if (pos != text.size())
      refuse("unexpected '" + std::string(1, text[pos]) + "'", pos);
    return out;
  } catch (const std::invalid_argument& e) {
    problem = std::string{e.what()} + " in '" + std::string{text} + "'";
    return std::nullopt;
  }
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
