#include "p21/resources.hpp"

#include <sstream>

namespace p21 {

void resource_manager::record(resource_event::kind_t kind, const resource_info& info) {
  events_.push_back({kind, info});
  while (events_.size() > 1000)
    events_.pop_front();
}

uint64_t resource_manager::acquire(std::string name, std::string kind, uint64_t amount,
                                   release_fn release, std::string owner) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto id = ++next_id_;
  resource_info info{id,     std::move(name),  std::move(kind),
                     amount, std::move(owner), std::chrono::steady_clock::now()};
  record(resource_event::acquired, info);
  live_.emplace(id, entry{std::move(info), std::move(release)});
  return id;
}

bool resource_manager::release(uint64_t id) {
  release_fn fn;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = live_.find(id);
    if (i == live_.end())
      return false;
    record(resource_event::released, i->second.info);
    fn = std::move(i->second.release);
    live_.erase(i);
  }
  if (fn)
    fn(); // outside the lock: it may touch the manager again
  return true;
}

uint64_t resource_manager::track(std::string name, std::string kind, measure_fn amount,
                                 std::string owner, measure_fn stranded) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto id = ++next_id_;
  tracked t;
  t.info = resource_info{id,        std::move(name),  std::move(kind),
                         0,         std::move(owner), std::chrono::steady_clock::now()};
  t.info.pool = true;
  t.amount = std::move(amount);
  t.stranded = std::move(stranded);
  pools_.emplace(id, std::move(t));
  return id;
}

bool resource_manager::untrack(uint64_t id) {
  std::lock_guard<std::mutex> guard{mtx_};
  return pools_.erase(id) > 0;
}

std::vector<resource_manager::tracked> resource_manager::pools() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<tracked> out;
  for (auto& [id, t] : pools_)
    out.push_back(t);
  return out;
}

std::vector<resource_info> resource_manager::live() const {
  std::vector<resource_info> out;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [id, e] : live_)
      out.push_back(e.info);
  }
  // Measured outside the lock: a measure takes the pool's own locks.
  for (auto& t : pools()) {
    out.push_back(t.info);
    out.back().amount = t.amount ? t.amount() : 0;
  }
  return out;
}

uint64_t resource_manager::total(const std::string& kind) const {
  uint64_t sum = 0;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [id, e] : live_)
      sum += e.info.kind == kind ? e.info.amount : 0;
  }
  for (auto& t : pools())
    if (t.info.kind == kind && t.amount)
      sum += t.amount();
  return sum;
}

std::vector<resource_event> resource_manager::events() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return {events_.begin(), events_.end()};
}

uint64_t resource_manager::on_pressure(std::string name, pressure_fn fn) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto id = ++next_id_;
  handlers_.emplace(id, std::make_pair(std::move(name), std::move(fn)));
  return id;
}

void resource_manager::remove_pressure_handler(uint64_t id) {
  std::lock_guard<std::mutex> guard{mtx_};
  handlers_.erase(id);
}

size_t resource_manager::signal_pressure(double fraction) {
  std::vector<pressure_fn> fns;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [id, h] : handlers_)
      fns.push_back(h.second);
  }
  for (auto& f : fns)
    f(fraction);
  return fns.size();
}

std::vector<std::string> resource_manager::leak_report() const {
  std::vector<std::string> out;
  for (auto& t : pools()) {
    auto& m = t.stranded ? t.stranded : t.amount;
    auto n = m ? m() : 0;
    if (n == 0)
      continue;
    std::ostringstream line;
    line << "'" << t.info.name << "' (" << t.info.kind << ", " << n << ") still held by "
         << (t.info.owner.empty() ? "unknown" : t.info.owner) << " after it stopped";
    out.push_back(line.str());
  }
  std::lock_guard<std::mutex> guard{mtx_};
  auto now = std::chrono::steady_clock::now();
  for (auto& [id, e] : live_) {
    auto& r = e.info;
    std::ostringstream line;
    line << "'" << r.name << "' (" << r.kind << ", " << r.amount << ") held by "
         << (r.owner.empty() ? "unknown" : r.owner) << " for "
         << std::chrono::duration_cast<std::chrono::milliseconds>(now - r.acquired).count()
         << " ms, never released";
    out.push_back(line.str());
  }
  return out;
}

} // namespace p21
