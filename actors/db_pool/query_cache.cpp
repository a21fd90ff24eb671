#include "query_cache.hpp"

#include "connection.hpp"

namespace p21::db_detail {

namespace {

cache_detail::tagged_cache_config config_for(uint64_t entries, timespan ttl) {
  cache_detail::tagged_cache_config cfg;
  cfg.name = "query";
  cfg.max_entries = entries;
  cfg.ttl = ttl; // the results' bytes are bounded by the tagged cache (`max_bytes`)
  return cfg;
}

} // namespace

query_cache::query_cache(uint64_t entries, timespan ttl, uint64_t max_bytes)
  : max_bytes_(max_bytes)
  , results_(config_for(entries, ttl), max_bytes) {
  // nop
}

std::string query_cache::key(const std::string& sql, const std::vector<db_value>& params) {
  std::string k;
  k.reserve(sql.size() + 16 * params.size() + 8);
  auto append = [&k](const void* p, size_t n) {
    k.append(static_cast<const char*>(p), n);
  };
  auto size = static_cast<uint64_t>(sql.size());
  append(&size, sizeof(size));
  k += sql;
  for (auto& v : params) {
    k += static_cast<char>(v.kind);
    switch (v.kind) {
    case db_value::integer:
      append(&v.i, sizeof(v.i));
      break;
    case db_value::real:
      append(&v.r, sizeof(v.r));
      break;
    case db_value::text:
    case db_value::blob:
      size = v.s.size();
      append(&size, sizeof(size));
      k += v.s;
      break;
    default:
      break;
    }
  }
  return k;
}

std::optional<db_result> query_cache::get(const std::string& key, bool count_miss) {
  std::shared_ptr<const db_result> found;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    found = results_.get<db_result>(key, clock::now());
    if (!found) {
      misses_ += count_miss ? 1 : 0;
      return std::nullopt;
    }
    ++hits_;
  }
  db_result r = *found; // copied outside the lock
  r.cached = true;
  return r;
}

uint64_t query_cache::seq() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return results_.generation();
}

std::pair<uint64_t, uint64_t> query_cache::counts() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return {hits_, misses_};
}

void query_cache::put(const std::string& key, const db_result& r,
                      const std::vector<std::string>& reads, uint64_t seq) {
  auto bytes = key.size() + result_bytes(r);
  if (bytes > max_entry_bytes())
    return;
  auto decoded = std::make_shared<const db_result>(r); // built outside the lock
  std::lock_guard<std::mutex> guard{mtx_};
  results_.put(key, std::move(decoded), reads, seq, clock::now(), bytes);
}

uint64_t query_cache::bytes() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return results_.value_bytes();
}

void query_cache::invalidate(const std::vector<std::string>& tables) {
  if (tables.empty())
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& t : tables) {
    if (t == any_table) {
      results_.clear();
      return;
    }
    results_.invalidate(t);
  }
}

void query_cache::flush() {
  std::lock_guard<std::mutex> guard{mtx_};
  results_.clear();
}

} // namespace p21::db_detail
