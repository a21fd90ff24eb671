// Sensors (p21/sensor.hpp): the text form, and how a rule's view reads one.

#include "p21/sensor.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "p21/histogram.hpp"
#include "p21/rule.hpp"
#include "p21/series_selector.hpp"

namespace p21 {

sensor sensor::value_of(std::string family, metric_labels labels) {
  sensor s;
  s.family = std::move(family);
  s.labels = std::move(labels);
  return s;
}

sensor sensor::rate_of(std::string family, metric_labels labels) {
  auto s = value_of(std::move(family), std::move(labels));
  s.statistic = sensor_statistic::rate;
  return s;
}

sensor sensor::quantile_of(std::string family, double q, metric_labels labels) {
  auto s = value_of(std::move(family), std::move(labels));
  s.statistic = sensor_statistic::quantile;
  s.quantile = q;
  return s;
}

sensor sensor::mean_of(std::string family, metric_labels labels) {
  auto s = value_of(std::move(family), std::move(labels));
  s.statistic = sensor_statistic::mean;
  return s;
}

sensor sensor::ratio_of(std::string family, metric_labels labels, std::string denominator,
                        metric_labels denominator_labels) {
  auto s = value_of(std::move(family), std::move(labels));
  s.statistic = sensor_statistic::ratio;
  s.denominator = std::move(denominator);
  s.denominator_labels = std::move(denominator_labels);
  return s;
}

bool operator==(const sensor& a, const sensor& b) {
  return a.statistic == b.statistic && a.family == b.family && a.labels == b.labels &&
         a.quantile == b.quantile && a.denominator == b.denominator &&
         a.denominator_labels == b.denominator_labels;
}

namespace {

/// A reader of the grammar in p21/sensor.hpp: a series selector
/// (p21/series_selector.hpp, the grammar alerts use), or a function of one
/// or two.
class sensor_reader {
public:
  explicit sensor_reader(const std::string& text)
    : text_(text) {}

  sensor read() {
    sensor s;
    auto first = selector();
    if (peek() == '(' && first.labels.empty()) {
      auto& word = first.name;
      ++pos_;
      if (word == "rate")
        s.statistic = sensor_statistic::rate;
      else if (word == "mean")
        s.statistic = sensor_statistic::mean;
      else if (word == "ratio")
        s.statistic = sensor_statistic::ratio;
      else
        fail("unknown function '" + word + "' (rate, mean or ratio)", pos_ - 1 - word.size());
      auto inner = selector();
      s.family = std::move(inner.name);
      s.labels = std::move(inner.labels);
      if (s.statistic == sensor_statistic::ratio) {
        expect('/');
        auto den = selector();
        s.denominator = std::move(den.name);
        s.denominator_labels = std::move(den.labels);
      }
      expect(')');
    } else {
      s.family = std::move(first.name);
      s.labels = std::move(first.labels);
    }
    if (pos_ != text_.size())
      fail("unexpected '" + std::string(1, text_[pos_]) + "'", pos_);
    if (auto q = s.labels.find("quantile"); q != s.labels.end()) {
      if (s.statistic != sensor_statistic::value)
        fail("a quantile is read from a histogram itself, not inside " +
                 std::string{s.statistic == sensor_statistic::rate   ? "rate"
                             : s.statistic == sensor_statistic::mean ? "mean"
                                                                     : "ratio"},
             0);
      s.statistic = sensor_statistic::quantile;
      s.quantile = quantile(q->second);
      s.labels.erase(q);
    }
    return s;
  }

private:
  [[noreturn]] void fail(const std::string& what, size_t at) const {
    throw std::invalid_argument("sensor '" + text_ + "': " + what + " at offset " +
                                std::to_string(at));
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  void expect(char c) {
    if (peek() != c)
      fail(std::string{"expected '"} + c + "'", pos_);
    ++pos_;
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_])))
      ++pos_;
  }

  series_selector selector() {
    try {
      return read_series_selector(text_, pos_);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("sensor '" + text_ + "': " + e.what());
    }
  }

  double quantile(const std::string& text) const {
    double q = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), q);
    if (r.ec != std::errc{} || r.ptr != text.data() + text.size() ||
        (q != 0.5 && q != 0.95 && q != 0.99))
      fail("quantile \"" + text + "\": the node keeps 0.5, 0.95 and 0.99", 0);
    return q;
  }

  const std::string& text_;
  size_t pos_ = 0;
};

std::string labels_text(const metric_labels& labels) {
  if (labels.empty())
    return {};
  std::string out = "{";
  for (auto& [k, v] : labels) {
    std::string value;
    for (char c : v) {
      if (c == '"' || c == '\\')
        value += '\\';
      value += c;
    }
    out += (out.size() > 1 ? "," : "") + k + "=\"" + value + "\"";
  }
  return out + "}";
}

std::string quantile_text(double q) {
  return q == 0.5 ? "0.5" : q == 0.95 ? "0.95" : "0.99";
}

} // namespace

sensor parse_sensor(const std::string& text) {
  return sensor_reader{text}.read();
}

std::string to_string(const sensor& s) {
  auto sel = s.family + labels_text(s.labels);
  switch (s.statistic) {
  case sensor_statistic::value:
    return sel;
  case sensor_statistic::rate:
    return "rate(" + sel + ")";
  case sensor_statistic::quantile: {
    auto labels = s.labels;
    labels["quantile"] = quantile_text(s.quantile);
    return s.family + labels_text(labels);
  }
  case sensor_statistic::mean:
    return "mean(" + sel + ")";
  case sensor_statistic::ratio:
    return "ratio(" + sel + " / " + s.denominator + labels_text(s.denominator_labels) + ")";
  }
  return sel;
}

std::optional<double> rule_view::read(const sensor& s) const {
  switch (s.statistic) {
  case sensor_statistic::value:
    return metric(s.family, s.labels);
  case sensor_statistic::rate:
    return rate(s.family, s.labels);
  case sensor_statistic::quantile: {
    auto h = histogram(s.family, s.labels);
    auto before = previous_histogram(s.family, s.labels);
    // Without buckets or a previous evaluation: since the histogram started.
    if (!h || !before || h->bounds.empty() || h->cumulative.size() < h->bounds.size())
      return quantile(s.family, s.quantile, s.labels);
    return window_quantile(*h, *before, s.quantile);
  }
  case sensor_statistic::mean: {
    auto h = histogram(s.family, s.labels);
    if (!h)
      return std::nullopt;
    auto before = previous_histogram(s.family, s.labels);
    auto count = double(h->count) - (before ? double(before->count) : 0.0);
    auto sum = h->sum - (before ? before->sum : 0.0);
    if (count <= 0)
      return std::nullopt;
    return sum / count;
  }
  case sensor_statistic::ratio: {
    auto num = metric(s.family, s.labels);
    auto den = metric(s.denominator, s.denominator_labels);
    if (!num || !den)
      return std::nullopt;
    auto num0 = previous_metric(s.family, s.labels).value_or(0);
    auto den0 = previous_metric(s.denominator, s.denominator_labels).value_or(0);
    auto d = *den - den0;
    if (d <= 0)
      return std::nullopt;
    return (*num - num0) / d;
  }
  }
  return std::nullopt;
}

} // namespace p21
