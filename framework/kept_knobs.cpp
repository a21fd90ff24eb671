#include "detail/kept_knobs.hpp"

#include <algorithm>

namespace p21::detail {

uint64_t kept_knobs::begin_set(const std::string& knob) {
  std::lock_guard<std::mutex> guard{mtx_};
  return ++entries_[knob].ticket;
}

bool kept_knobs::accepted(const std::string& knob, uint64_t ticket, double value) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(knob);
  if (i == entries_.end() || i->second.ticket != ticket)
    return false;
  i->second.has_value = true;
  i->second.value = value;
  return true;
}

void kept_knobs::refused(const std::string& knob, uint64_t ticket) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(knob);
  if (i != entries_.end() && i->second.ticket == ticket)
    i->second.has_value = false;
}

void kept_knobs::forget(const std::string& knob) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(knob);
  if (i == entries_.end())
    return;
  // The entry stays, with a new ticket, so that a reply still on its way
  // finds its ticket stale.
  ++i->second.ticket;
  i->second.has_value = false;
}

std::vector<std::string> kept_knobs::forget_reloaded(const knob_specs& knobs,
                                                     const std::vector<std::string>& changed_keys) {
  std::vector<std::string> out;
  for (auto& k : knobs) {
    bool reloaded = std::any_of(k.config_keys.begin(), k.config_keys.end(), [&](auto& key) {
      return std::find(changed_keys.begin(), changed_keys.end(), key) != changed_keys.end();
    });
    if (!reloaded)
      continue;
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = entries_.find(k.name);
    if (i == entries_.end())
      continue;
    ++i->second.ticket;
    if (i->second.has_value)
      out.push_back(k.name);
    i->second.has_value = false;
  }
  return out;
}

std::vector<std::pair<std::string, double>> kept_knobs::values() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<std::string, double>> out;
  for (auto& [name, e] : entries_)
    if (e.has_value)
      out.emplace_back(name, e.value);
  return out;
}

} // namespace p21::detail
