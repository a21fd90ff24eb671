#include "app/arc.hpp"

#include <algorithm>

namespace p21::app {

arc_reference::arc_reference(size_t capacity)
  : capacity_(std::max<size_t>(capacity, 1)) {
  where_.reserve(2 * capacity_ + 1);
}

arc_reference::order& arc_reference::list(list_id id) {
  switch (id) {
  case t1:
    return t1_;
  case t2:
    return t2_;
  case b1:
    return b1_;
  default:
    return b2_;
  }
}

void arc_reference::move(slot& s, list_id to) {
  auto& dst = list(to);
  dst.splice(dst.begin(), list(s.in), s.at);
  s.in = to;
  s.at = dst.begin();
}

void arc_reference::drop_lru(list_id from) {
  auto& l = list(from);
  where_.erase(l.back());
  l.pop_back();
}

void arc_reference::replace(bool in_b2) {
  auto t1_size = static_cast<double>(t1_.size());
  bool from_t1 = !t1_.empty() && (t1_size > p_ || (in_b2 && t1_size == p_) || t2_.empty());
  if (from_t1)
    move(where_.at(t1_.back()), b1);
  else if (!t2_.empty())
    move(where_.at(t2_.back()), b2);
}

bool arc_reference::access(const std::string& key) {
  auto c = static_cast<double>(capacity_);
  auto found = where_.find(key);
  if (found != where_.end()) {
    auto& s = found->second;
    switch (s.in) {
    case t1:
    case t2:
      move(s, t2);
      return true;
    case b1: {
      // A key evicted from T1 too early: T1 deserved more room.
      auto delta = std::max(1.0, static_cast<double>(b2_.size()) / static_cast<double>(b1_.size()));
      p_ = std::min(c, p_ + delta);
      replace(false);
      move(s, t2);
      return false;
    }
    case b2: {
      auto delta = std::max(1.0, static_cast<double>(b1_.size()) / static_cast<double>(b2_.size()));
      p_ = std::max(0.0, p_ - delta);
      replace(true);
      move(s, t2);
      return false;
    }
    }
  }
  // Not in the directory at all.
  auto l1 = t1_.size() + b1_.size();
  auto total = l1 + t2_.size() + b2_.size();
  if (l1 == capacity_) {
    if (t1_.size() < capacity_) {
      drop_lru(b1);
      replace(false);
    } else {
      drop_lru(t1); // B1 is empty: T1's oldest leaves without a ghost
    }
  } else if (total >= capacity_) {
    if (total == 2 * capacity_)
      drop_lru(b2);
    replace(false);
  }
  t1_.push_front(key);
  where_[key] = slot{t1, t1_.begin()};
  return false;
}

} // namespace p21::app
