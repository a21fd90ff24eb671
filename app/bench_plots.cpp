// SVG charts of `p21 bench` (see bench_plots.hpp).

#include "app/bench_plots.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

namespace p21::app {

namespace {

std::string num(double x, int precision = 1) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(precision) << x;
  return out.str();
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '&':
      out += "&amp;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

std::string header(int w, int h, const std::string& title) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(w) + "\" height=\"" +
         std::to_string(h) + "\" viewBox=\"0 0 " + std::to_string(w) + " " + std::to_string(h) +
         "\" font-family=\"DejaVu Sans, Verdana, sans-serif\" font-size=\"12\">\n"
         "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n<text x=\"10\" y=\"20\" "
         "font-size=\"14\" font-weight=\"bold\">" +
         escape(title) + "</text>\n";
}

} // namespace

std::string ratio_chart(const nlohmann::json& rows) {
  const int left = 170, right = 90, top = 50, bar_h = 18, gap = 8;
  const int width = 760;
  int height = top + static_cast<int>(rows.size()) * (bar_h + gap) + 40;
  // Log scale from 0.5x to the largest ratio or claim.
  double hi = 2;
  for (auto& r : rows) {
    hi = std::max(hi, r.value("ratio", 1.0));
    if (r.contains("claim") && r["claim"].is_number())
      hi = std::max(hi, r["claim"].get<double>());
  }
  double lo = 0.5;
  for (auto& r : rows)
    lo = std::min(lo, std::max(r.value("ratio", 1.0), 1e-3) / 1.5);
  auto x = [&](double v) {
    v = std::max(v, lo);
    return left + (width - left - right) * (std::log10(v) - std::log10(lo)) /
                      (std::log10(hi * 1.3) - std::log10(lo));
  };
  std::ostringstream out;
  out << header(width, height,
                "p21 bench: measured speed-up (baseline median / Perfect21 median), log scale");
  out << "<text x=\"10\" y=\"38\" fill=\"#555\">bars: measured; black tick: the report's "
         "claim; dashed: 1x (no change)</text>\n";
  out << "<line x1=\"" << num(x(1)) << "\" x2=\"" << num(x(1)) << "\" y1=\"" << top - 4
      << "\" y2=\"" << height - 30 << "\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\n";
  int y = top;
  for (auto& r : rows) {
    auto ratio = r.value("ratio", 1.0);
    auto name = r.value("name", std::string{"?"});
    auto color = ratio >= 1 ? "#2563eb" : "#c62828";
    out << "<text x=\"" << left - 8 << "\" y=\"" << y + 13 << "\" text-anchor=\"end\">"
        << escape(name) << "</text>\n";
    auto x0 = x(1), x1 = x(ratio);
    out << "<rect x=\"" << num(std::min(x0, x1)) << "\" y=\"" << y << "\" width=\""
        << num(std::max(1.0, std::abs(x1 - x0))) << "\" height=\"" << bar_h << "\" fill=\"" << color
        << "\"><title>" << escape(name) << ": " << num(ratio, 2) << "x</title></rect>\n";
    out << "<text x=\"" << num(std::max(x0, x1) + 4) << "\" y=\"" << y + 13 << "\">"
        << num(ratio, ratio < 10 ? 2 : 0) << "x</text>\n";
    if (r.contains("claim") && r["claim"].is_number()) {
      auto c = x(r["claim"].get<double>());
      out << "<line class=\"claim\" x1=\"" << num(c) << "\" x2=\"" << num(c) << "\" y1=\"" << y - 3
          << "\" y2=\"" << y + bar_h + 3 << "\" stroke=\"#000\" stroke-width=\"3\"><title>"
          << "report claims " << num(r["claim"].get<double>(), 2) << "x</title></line>\n";
    }
    y += bar_h + gap;
  }
  for (double t : {0.5, 1.0, 2.0, 5.0, 10.0, 100.0, 1000.0, 10000.0})
    if (t >= lo && t <= hi * 1.3)
      out << "<text x=\"" << num(x(t)) << "\" y=\"" << height - 14
          << "\" text-anchor=\"middle\" fill=\"#555\">" << num(t, t < 1 ? 1 : 0) << "x</text>\n";
  out << "</svg>\n";
  return out.str();
}

std::string phase_chart(const nlohmann::json& phase) {
  const int width = 560, height = 300, left = 60, right = 20, top = 50, bottom = 40;
  std::vector<double> on, fixed, off;
  // "model" (models + forecasts) is today's "on"; a JSON from before issue
  // 18 has only "on" and "off".
  for (auto key : {"model", "on"})
    if (on.empty() && phase.contains(key) && phase[key].contains("series"))
      on = phase[key]["series"].get<std::vector<double>>();
  if (phase.contains("fixed") && phase["fixed"].contains("series"))
    fixed = phase["fixed"]["series"].get<std::vector<double>>();
  if (phase.contains("off") && phase["off"].contains("series"))
    off = phase["off"]["series"].get<std::vector<double>>();
  auto target = phase.value("target", 0.0);
  bool at_most = phase.value("target_is", std::string{}) == "at most";
  double hi = target * 1.2, lo = 0;
  for (auto* s : {&on, &fixed, &off})
    for (auto v : *s)
      hi = std::max(hi, v * 1.1);
  if (hi <= lo)
    hi = lo + 1;
  size_t n = std::max<size_t>(2, std::max({on.size(), fixed.size(), off.size()}));
  auto x = [&](size_t i) {
    return left + (width - left - right) * double(i) / double(n - 1);
  };
  auto y = [&](double v) {
    return top + (height - top - bottom) * (1 - (v - lo) / (hi - lo));
  };
  auto name = phase.value("phase", std::string{"phase"});
  auto metric = phase.value("metric", std::string{"metric"});
  std::ostringstream out;
  out << header(width, height, "self_tuning: " + name + " (" + metric + " per interval)");
  out << "<text x=\"10\" y=\"38\" fill=\"#555\">blue: optimizer on"
      << (fixed.empty() ? "" : " (models + forecasts); orange: fixed steps")
      << "; grey: off; green band: target (" << (at_most ? "at most " : "at least ")
      << num(target, 2) << ")</text>\n";
  auto band_top = at_most ? y(target) : y(hi);
  auto band_bottom = at_most ? y(lo) : y(target);
  out << "<rect class=\"target-band\" x=\"" << left << "\" y=\"" << num(band_top) << "\" width=\""
      << width - left - right << "\" height=\"" << num(band_bottom - band_top)
      << "\" fill=\"#1a7f37\" fill-opacity=\"0.12\"/>\n";
  out << "<line x1=\"" << left << "\" x2=\"" << width - right << "\" y1=\"" << num(y(target))
      << "\" y2=\"" << num(y(target)) << "\" stroke=\"#1a7f37\" stroke-dasharray=\"5 3\"/>\n";
  out << "<line x1=\"" << left << "\" x2=\"" << left << "\" y1=\"" << top << "\" y2=\""
      << height - bottom << "\" stroke=\"#888\"/>\n<line x1=\"" << left << "\" x2=\""
      << width - right << "\" y1=\"" << height - bottom << "\" y2=\"" << height - bottom
      << "\" stroke=\"#888\"/>\n";
  for (int k = 0; k <= 4; ++k) {
    auto v = lo + (hi - lo) * k / 4;
    out << "<text x=\"" << left - 6 << "\" y=\"" << num(y(v) + 4)
        << "\" text-anchor=\"end\" fill=\"#555\">" << num(v, hi < 10 ? 2 : 0) << "</text>\n";
  }
  for (size_t i = 0; i < n; ++i)
    out << "<text x=\"" << num(x(i)) << "\" y=\"" << height - bottom + 16
        << "\" text-anchor=\"middle\" fill=\"#555\">" << i + 1 << "</text>\n";
  out << "<text x=\"" << (left + width - right) / 2 << "\" y=\"" << height - 6
      << "\" text-anchor=\"middle\" fill=\"#555\">interval</text>\n";
  auto line = [&](const std::vector<double>& s, const char* color, const char* cls) {
    if (s.empty())
      return;
    out << "<polyline class=\"" << cls << "\" fill=\"none\" stroke=\"" << color
        << "\" stroke-width=\"2\" points=\"";
    for (size_t i = 0; i < s.size(); ++i)
      out << (i ? " " : "") << num(x(i)) << "," << num(y(s[i]));
    out << "\"/>\n";
    for (size_t i = 0; i < s.size(); ++i)
      out << "<circle cx=\"" << num(x(i)) << "\" cy=\"" << num(y(s[i])) << "\" r=\"3\" fill=\""
          << color << "\"><title>" << num(s[i], 2) << "</title></circle>\n";
  };
  line(off, "#888", "off");
  line(fixed, "#d97706", "fixed");
  line(on, "#2563eb", "on");
  out << "</svg>\n";
  return out.str();
}

std::string contention_chart(const nlohmann::json& rows) {
  // (threads, mutex LRU ops/s, p21 ops/s) from cache_contended (4) and
  // cache_contended_N; a row's median is seconds per operation.
  std::vector<std::array<double, 3>> points;
  for (auto& r : rows) {
    auto name = r.value("name", std::string{});
    double threads = 0;
    if (name == "cache_contended")
      threads = 4;
    else if (name.rfind("cache_contended_", 0) == 0)
      threads = std::atof(name.c_str() + 16);
    if (threads <= 0 || !r.contains("baseline") || !r["baseline"].is_object() ||
        !r.contains("perfect21") || !r["perfect21"].is_object())
      continue;
    auto b = r["baseline"].value("median_s", 0.0);
    auto p = r["perfect21"].value("median_s", 0.0);
    if (b > 0 && p > 0)
      points.push_back({threads, 1e-6 / b, 1e-6 / p});
  }
  if (points.empty())
    return {};
  std::sort(points.begin(), points.end());
  const int width = 560, height = 300, left = 60, right = 20, top = 50, bottom = 40;
  double hi = 0;
  for (auto& pt : points)
    hi = std::max({hi, pt[1] * 1.15, pt[2] * 1.15});
  auto max_threads = points.back()[0];
  // Threads on a log2 axis: 1, 2, 4, 8 evenly apart.
  auto x = [&](double t) {
    auto span = std::max(1.0, std::log2(max_threads));
    return left + (width - left - right) * std::log2(t) / span;
  };
  auto y = [&](double v) {
    return top + (height - top - bottom) * (1 - v / hi);
  };
  std::ostringstream out;
  out << header(width, height, "cache_contended: throughput by client threads");
  out << "<text x=\"10\" y=\"38\" fill=\"#555\">M ops/s (Zipf 0.99, 90 % get); blue: "
         "p21::cache; grey: std::mutex + LRU</text>\n";
  out << "<line x1=\"" << left << "\" x2=\"" << left << "\" y1=\"" << top << "\" y2=\""
      << height - bottom << "\" stroke=\"#888\"/>\n<line x1=\"" << left << "\" x2=\""
      << width - right << "\" y1=\"" << height - bottom << "\" y2=\"" << height - bottom
      << "\" stroke=\"#888\"/>\n";
  for (int k = 0; k <= 4; ++k) {
    auto v = hi * k / 4;
    out << "<text x=\"" << left - 6 << "\" y=\"" << num(y(v) + 4)
        << "\" text-anchor=\"end\" fill=\"#555\">" << num(v, 1) << "</text>\n";
  }
  for (auto& pt : points)
    out << "<text x=\"" << num(x(pt[0])) << "\" y=\"" << height - bottom + 16
        << "\" text-anchor=\"middle\" fill=\"#555\">" << num(pt[0], 0) << "</text>\n";
  out << "<text x=\"" << (left + width - right) / 2 << "\" y=\"" << height - 6
      << "\" text-anchor=\"middle\" fill=\"#555\">client threads</text>\n";
  auto line = [&](size_t col, const char* color, const char* cls) {
    out << "<polyline class=\"" << cls << "\" fill=\"none\" stroke=\"" << color
        << "\" stroke-width=\"2\" points=\"";
    for (size_t i = 0; i < points.size(); ++i)
      out << (i ? " " : "") << num(x(points[i][0])) << "," << num(y(points[i][col]));
    out << "\"/>\n";
    for (auto& pt : points)
      out << "<circle cx=\"" << num(x(pt[0])) << "\" cy=\"" << num(y(pt[col])) << "\" r=\"3\" fill=\""
          << color << "\"><title>" << num(pt[col], 2) << " M ops/s</title></circle>\n";
  };
  line(1, "#888", "mutex");
  line(2, "#2563eb", "p21");
  out << "</svg>\n";
  return out.str();
}

std::vector<std::string> write_plots(const std::string& dir, const nlohmann::json& doc) {
  std::filesystem::create_directories(dir);
  std::vector<std::string> written;
  auto write = [&](const std::string& name, const std::string& svg) {
    auto path = (std::filesystem::path{dir} / name).string();
    std::ofstream out{path};
    out << svg;
    if (!out)
      throw std::runtime_error("cannot write " + path);
    written.push_back(path);
  };
  if (doc.contains("rows") && !doc["rows"].empty())
    write("ratios.svg", ratio_chart(doc["rows"]));
  if (doc.contains("rows"))
    if (auto svg = contention_chart(doc["rows"]); !svg.empty())
      write("cache_contended.svg", svg);
  if (doc.contains("self_tuning") && doc["self_tuning"].is_array())
    for (auto& p : doc["self_tuning"]) {
      auto name = p.value("phase", std::string{"phase"});
      for (auto& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-')
          c = '_';
      write("self_tuning_" + name + ".svg", phase_chart(p));
    }
  return written;
}

} // namespace p21::app
