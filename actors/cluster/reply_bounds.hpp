#pragma once

// What one reply to a peer may weigh. A peer's request is small and bounded
// (public_interface.hpp); its reply need not be: 1 000 copies of the key of
// a 1 MiB value asked for 1 GiB, which the node built, copied and
// serialized (2.1 GB of RSS). These keep a reply within
// `[cluster.publish] max_reply_bytes` and count before they copy.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/optional.hpp>

#include "p21/protocol/db_pool.hpp"

namespace p21::cluster_detail {

/// A peer's keys with duplicates folded: the component is asked for each key
/// once, so what it builds is bounded by what it holds.
struct distinct_keys {
  /// Each key once, in the order first asked for.
  std::vector<std::string> keys;
  /// For each key asked for, its position in `keys`.
  std::vector<size_t> index;
};

distinct_keys fold_duplicates(const std::vector<std::string>& requested);

/// The reply to the keys asked for, from the values of `folded.keys`, or
/// `invalid_argument` when it would exceed `max_bytes` (counted before
/// anything is copied).
caf::expected<std::vector<caf::optional<std::string>>>
unfold(const distinct_keys& folded, std::vector<caf::optional<std::string>> values,
       uint64_t max_bytes);

/// Bytes a reply carries: values, texts and blobs, 8 per number, and the
/// column names.
uint64_t reply_bytes(const db_result& x);
uint64_t reply_bytes(const std::vector<db_result>& xs);

/// Why a reply of `bytes` is refused (empty: it is not).
std::string check_reply(uint64_t bytes, uint64_t max_bytes);

} // namespace p21::cluster_detail
