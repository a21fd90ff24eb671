#include "reply_bounds.hpp"

#include <unordered_map>

#include "p21/error.hpp"

namespace p21::cluster_detail {

distinct_keys fold_duplicates(const std::vector<std::string>& requested) {
  distinct_keys out;
  out.index.reserve(requested.size());
  std::unordered_map<std::string, size_t> seen;
  for (auto& k : requested) {
    auto [i, fresh] = seen.emplace(k, out.keys.size());
    if (fresh)
      out.keys.push_back(k);
    out.index.push_back(i->second);
  }
  return out;
}

std::string check_reply(uint64_t bytes, uint64_t max_bytes) {
  if (bytes <= max_bytes)
    return {};
  return "a reply of " + std::to_string(bytes) + " bytes (at most " + std::to_string(max_bytes) +
         ", [cluster.publish] max_reply_bytes)";
}

caf::expected<std::vector<caf::optional<std::string>>>
unfold(const distinct_keys& folded, std::vector<caf::optional<std::string>> values,
       uint64_t max_bytes) {
  if (values.size() != folded.keys.size())
    return make_error(errc::unavailable, "the cache answered " + std::to_string(values.size()) +
                                             " values for " + std::to_string(folded.keys.size()) +
                                             " keys");
  uint64_t bytes = 0;
  for (auto i : folded.index)
    if (values[i])
      bytes += values[i]->size();
  if (auto why = check_reply(bytes, max_bytes); !why.empty())
    return make_error(errc::invalid_argument, "refused from a peer: " + why);
  // Each value moves at its last use; only earlier repeats are copied.
  std::vector<size_t> last_use(values.size(), 0);
  for (size_t n = 0; n < folded.index.size(); ++n)
    last_use[folded.index[n]] = n;
  std::vector<caf::optional<std::string>> out;
  out.reserve(folded.index.size());
  for (size_t n = 0; n < folded.index.size(); ++n) {
    auto i = folded.index[n];
    if (last_use[i] == n)
      out.push_back(std::move(values[i]));
    else
      out.push_back(values[i]);
  }
  return out;
}

uint64_t reply_bytes(const db_result& x) {
  uint64_t bytes = 0;
  for (auto& c : x.columns)
    bytes += c.size();
  for (auto& row : x.rows)
    for (auto& v : row)
      bytes += v.s.size() + 8;
  return bytes;
}

uint64_t reply_bytes(const std::vector<db_result>& xs) {
  uint64_t bytes = 0;
  for (auto& x : xs)
    bytes += reply_bytes(x);
  return bytes;
}

} // namespace p21::cluster_detail
