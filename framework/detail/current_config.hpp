#pragma once

// The node's current config as start functions read it (`node_view::settings`),
// from any thread, while a reload replaces it.

#include <memory>
#include <mutex>

#include "p21/config.hpp"

namespace p21::detail {

class current_config {
public:
  /// What the latest `set` stored (null before the first).
  std::shared_ptr<const config> get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return cfg_;
  }

  /// Replaces it whole: a reader holds either the old one or the new one.
  void set(config cfg) {
    auto next = std::make_shared<const config>(std::move(cfg));
    std::lock_guard<std::mutex> guard{mtx_};
    cfg_.swap(next);
  }

private:
  mutable std::mutex mtx_;
  std::shared_ptr<const config> cfg_;
};

} // namespace p21::detail
