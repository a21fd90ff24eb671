// The reload report and context that subsystems' `reload` hooks work with.

#include <algorithm>

#include "p21/subsystem.hpp"

namespace p21 {

namespace {

bool take(std::vector<std::string>& xs, const std::string& x) {
  auto i = std::find(xs.begin(), xs.end(), x);
  if (i == xs.end())
    return false;
  xs.erase(i);
  return true;
}

std::string joined(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : ", ") + x;
  return out;
}

} // namespace

void reload_report::defer(const std::string& key) {
  if (take(applied, key))
    restart_needed.push_back(key);
}

void reload_report::fail(const std::string& key, const std::string& why) {
  if (take(applied, key))
    failed.push_back(key + ": " + why);
}

bool reload_report::touches(const std::string& prefix) const {
  return std::any_of(applied.begin(), applied.end(), [&](const std::string& k) {
    return k == prefix || k.compare(0, prefix.size() + 1, prefix + ".") == 0;
  });
}

std::string reload_report::describe() const {
  std::string out = applied.empty() ? "nothing applied" : "applied " + joined(applied);
  if (!restart_needed.empty())
    out += "; restart needed for " + joined(restart_needed);
  if (!failed.empty())
    out += "; failed: " + joined(failed);
  return out;
}

caf::actor reload_context::running(const std::string& name) const {
  if (view && view->running)
    for (auto& [n, h] : view->running())
      if (n == name)
        return h;
  return {};
}

} // namespace p21
