#pragma once

// Objects a component shares with its handles in the same process (a cache
// a handle reads without a message, a connection pool it leases from). They
// are made when the component's spec is built, outlive the component's
// restarts, and never travel in a message.

#include <map>
#include <memory>
#include <typeindex>

namespace p21 {

/// At most one object per type, set while a `child_spec` is built and read
/// afterwards (`runtime::shared_object<T>`); never changed once the spec is
/// handed to a runtime, so reading it needs no lock.
class shared_objects {
public:
  /// Makes `x` reachable as `get<T>()`.
  template <class T>
  void put(std::shared_ptr<T> x) {
    objects_[std::type_index{typeid(T)}] = std::move(x);
  }

  /// The object of type `T`, or null.
  template <class T>
  std::shared_ptr<T> get() const {
    return std::static_pointer_cast<T>(get(std::type_index{typeid(T)}));
  }

  /// The object of type `type`, or null.
  std::shared_ptr<void> get(std::type_index type) const {
    auto i = objects_.find(type);
    return i == objects_.end() ? nullptr : i->second;
  }

private:
  std::map<std::type_index, std::shared_ptr<void>> objects_;
};

} // namespace p21
