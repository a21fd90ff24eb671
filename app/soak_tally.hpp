#pragma once

// The fault soak's account of its calls: what each subsystem answered, and
// the first error and the first lost call of each, for the report.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace p21::app {

/// Every call's outcome, by subsystem.
class tally {
public:
  /// `lost`: no reply within the call's timeout (a `timeout` error, or a
  /// reply later than the timeout allows).
  void record(const std::string& area, bool ok, bool lost, const std::string& error = {}) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto& a = areas_[area];
    ++a.calls;
    if (ok)
      ++a.ok;
    else if (lost) {
      ++a.lost;
      if (a.first_lost.empty())
        a.first_lost = error.empty() ? "a reply later than the timeout" : error;
    } else {
      ++a.errors;
      if (a.first_error.empty())
        a.first_error = error;
    }
  }

  uint64_t calls() const { return sum(&area::calls); }
  uint64_t lost() const { return sum(&area::lost); }

  nlohmann::json to_json() const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto out = nlohmann::json::object();
    for (auto& [name, a] : areas_)
      out[name] = {{"calls", a.calls},
                   {"ok", a.ok},
                   {"errors", a.errors},
                   {"lost", a.lost},
                   {"first_error", a.first_error},
                   {"first_lost", a.first_lost}};
    return out;
  }

private:
  struct area {
    uint64_t calls = 0, ok = 0, errors = 0, lost = 0;
    std::string first_error;
    std::string first_lost;
  };
  uint64_t sum(uint64_t area::*field) const {
    std::lock_guard<std::mutex> guard{mtx_};
    uint64_t n = 0;
    for (auto& [name, a] : areas_)
      n += a.*field;
    return n;
  }
  mutable std::mutex mtx_;
  std::map<std::string, area> areas_;
};

} // namespace p21::app
