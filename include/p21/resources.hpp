#pragma once

// The resource manager: a registry of what a node holds (name, kind, bytes
// or count, owner, origin) with lifecycle events, memory-pressure handlers
// that the optimizer's rule 1 reaches at once, a `managed` RAII scope (the
// report's `managed_perfect21()`), and a leak report at shutdown.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace p21 {

/// One registered resource.
struct resource_info {
  uint64_t id = 0;
  std::string name;
  /// What it is: "memory", "connection", "file", "process", ...
  std::string kind;
  /// Bytes, or a count.
  uint64_t amount = 0;
  /// Who holds it (an actor's name, a thread, a scope); free text.
  std::string owner;
  std::chrono::steady_clock::time_point acquired;
  /// A pool's holding (`resource_manager::track`): `amount` was measured
  /// when it was listed, and the pool stays registered as it varies.
  bool pool = false;
};

/// Acquired and released resources, in order (bounded).
struct resource_event {
  enum kind_t { acquired, released } kind;
  resource_info resource;
};

class resource_manager {
public:
  using release_fn = std::function<void()>;
  /// Measures what a pool holds now; any thread, cheap, no lock of the
  /// manager's.
  using measure_fn = std::function<uint64_t()>;
  /// Called with the fraction to give back under memory pressure.
  using pressure_fn = std::function<void(double fraction)>;

  resource_manager() = default;
  resource_manager(const resource_manager&) = delete;
  resource_manager& operator=(const resource_manager&) = delete;

  /// Registers a resource; `release` (if any) runs once when it is released.
  uint64_t acquire(std::string name, std::string kind, uint64_t amount, release_fn release = {},
                   std::string owner = {});

  /// Releases `id` (running its release function); false when unknown or
  /// already released.
  bool release(uint64_t id);

  /// Registers a pool whose holding varies (the db pool's connections, the
  /// subprocess pool's processes, a cache's bytes): `amount` is measured
  /// whenever `live`, `total` or `leak_report` asks. `stranded` measures
  /// what it still holds that its component should have given back once it
  /// stopped (empty: `amount`); the leak report at shutdown lists the pool
  /// when that is not zero. Returns an id for `untrack`.
  uint64_t track(std::string name, std::string kind, measure_fn amount, std::string owner = {},
                 measure_fn stranded = {});

  /// Forgets pool `id`; false when unknown.
  bool untrack(uint64_t id);

  /// What is held now, oldest first.
  std::vector<resource_info> live() const;

  /// Sum of `amount` over live resources of `kind`.
  uint64_t total(const std::string& kind) const;

  /// The last lifecycle events (at most 1000), oldest first.
  std::vector<resource_event> events() const;

  /// Registers a memory-pressure handler (a cache's shrink, an object
  /// pool's trim); returns its id for `remove_pressure_handler`.
  uint64_t on_pressure(std::string name, pressure_fn fn);
  void remove_pressure_handler(uint64_t id);

  /// Calls every pressure handler with `fraction`; returns how many ran.
  size_t signal_pressure(double fraction);

  /// One line per resource never released: name, kind, amount, owner, age;
  /// and one per tracked pool that still holds what it should have given
  /// back (call it once the components stopped, as the runtime does).
  std::vector<std::string> leak_report() const;

private:
  struct entry {
    resource_info info;
    release_fn release;
  };

  struct tracked {
    resource_info info;
    measure_fn amount;
    measure_fn stranded;
  };

  /// The tracked pools, copied out of the lock so that measuring them
  /// takes none of the manager's.
  std::vector<tracked> pools() const;

  void record(resource_event::kind_t kind, const resource_info& info);

  mutable std::mutex mtx_;
  uint64_t next_id_ = 0;
  std::map<uint64_t, entry> live_;
  std::map<uint64_t, tracked> pools_;
  std::deque<resource_event> events_;
  std::map<uint64_t, std::pair<std::string, pressure_fn>> handlers_;
};

/// An RAII scope: whatever is acquired through it is released when the
/// scope ends, by return or by exception, newest first.
class managed {
public:
  explicit managed(resource_manager& rm, std::string owner = "managed scope")
    : rm_(&rm)
    , owner_(std::move(owner)) {}

  managed(const managed&) = delete;
  managed& operator=(const managed&) = delete;

  ~managed() {
    for (auto i = ids_.rbegin(); i != ids_.rend(); ++i)
      rm_->release(*i);
  }

  /// Registers a resource owned by this scope.
  uint64_t acquire(std::string name, std::string kind, uint64_t amount,
                   resource_manager::release_fn release = {}) {
    auto id = rm_->acquire(std::move(name), std::move(kind), amount, std::move(release), owner_);
    ids_.push_back(id);
    return id;
  }

  resource_manager& manager() noexcept { return *rm_; }

private:
  resource_manager* rm_;
  std::string owner_;
  std::vector<uint64_t> ids_;
};

} // namespace p21
