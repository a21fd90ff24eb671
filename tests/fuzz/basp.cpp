// The walk of a BASP payload before CAF sees it (`check_basp_payload`), and
// for every payload it accepts, CAF 0.17.6's own deserializer into what its
// BASP instance builds from that operation: a payload the walk lets through
// that makes CAF allocate hugely or crash is a finding (run with
// -rss_limit_mb=2048 -malloc_limit_mb=512). The first byte is the operation.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/cluster/basp_payload.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/db_pool.hpp"
#include "p21/protocol/metrics.hpp"

namespace {

/// An actor system that knows the node's message types (as
/// p21::add_message_types announces them), made once.
caf::actor_system& node_types() {
  static auto* sys = [] {
    auto* cfg = new caf::actor_system_config;
    cfg->set("scheduler.max-threads", 1);
    cfg->add_message_type<p21::cache_stats>("p21.cache_stats");
    cfg->add_message_type<p21::shrink_result>("p21.shrink_result");
    cfg->add_message_type<p21::load_reply>("p21.load_reply");
    cfg->add_message_type<caf::optional<std::string>>("p21.optional_string");
    cfg->add_message_type<std::vector<caf::optional<std::string>>>("p21.optional_strings");
    cfg->add_message_type<p21::db_value>("p21.db_value");
    cfg->add_message_type<p21::db_row>("p21.db_row");
    cfg->add_message_type<p21::db_statement>("p21.db_statement");
    cfg->add_message_type<p21::db_result>("p21.db_result");
    cfg->add_message_type<p21::db_pool_stats>("p21.db_pool_stats");
    cfg->add_message_type<p21::histogram_summary>("p21.histogram_summary");
    return new caf::actor_system{*cfg};
  }();
  return *sys;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1)
    return 0;
  auto op = static_cast<uint8_t>(data[0] % 8);
  auto* payload = reinterpret_cast<const char*>(data + 1);
  auto n = size - 1;
  if (!p21::cluster_detail::check_basp_payload(op, payload, n).empty())
    return 0;
  // Accepted: deserialize it as caf/io/basp/instance.cpp and
  // remote_message_handler.hpp do for `op`.
  caf::binary_deserializer source{node_types(), payload, n};
  caf::node_id a, b;
  std::vector<caf::strong_actor_ptr> stages;
  caf::message msg;
  caf::error err;
  switch (op) {
  case 0: {
    std::vector<std::string> app_ids;
    caf::actor_id aid = 0;
    std::set<std::string> sigs;
    err = source(a, app_ids, aid, sigs);
    break;
  }
  case 1:
    err = source(a);
    break;
  case 2:
    err = source(stages, msg);
    break;
  case 3:
    err = source(a, b, stages, msg);
    break;
  case 4:
    err = source(a, b);
    break;
  case 5: {
    caf::error reason;
    err = source(a, b, reason);
    break;
  }
  default:
    break;
  }
  static_cast<void>(err);
  return 0;
}
