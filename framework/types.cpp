#include "p21/types.hpp"

#include <caf/actor_system_config.hpp>

#include "p21/error.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/db_pool.hpp"
#include "p21/protocol/monitor.hpp"
#include "p21/protocol/node.hpp"
#include "p21/protocol/optimizer.hpp"
#include "p21/protocol/subprocess.hpp"

namespace p21 {

void add_message_types(caf::actor_system_config& cfg) {
  add_error_category(cfg);
  // Each call also registers std::vector<T> of the type.
  cfg.add_message_type<metric_sample>("p21.metric_sample");
  cfg.add_message_type<histogram_summary>("p21.histogram_summary");
  cfg.add_message_type<metric_set>("p21.metric_set");
  cfg.add_message_type<cache_stats>("p21.cache_stats");
  cfg.add_message_type<shrink_result>("p21.shrink_result");
  cfg.add_message_type<load_reply>("p21.load_reply");
  cfg.add_message_type<caf::optional<std::string>>("p21.optional_string");
  cfg.add_message_type<std::vector<caf::optional<std::string>>>("p21.optional_strings");
  cfg.add_message_type<db_value>("p21.db_value");
  cfg.add_message_type<db_row>("p21.db_row");
  cfg.add_message_type<db_statement>("p21.db_statement");
  cfg.add_message_type<db_result>("p21.db_result");
  cfg.add_message_type<db_pool_stats>("p21.db_pool_stats");
  cfg.add_message_type<command_request>("p21.command_request");
  cfg.add_message_type<command_result>("p21.command_result");
  cfg.add_message_type<git_request>("p21.git_request");
  cfg.add_message_type<subprocess_stats>("p21.subprocess_stats");
  cfg.add_message_type<event>("p21.event");
  cfg.add_message_type<performance_summary>("p21.performance_summary");
  cfg.add_message_type<optimizer_action>("p21.optimizer_action");
  cfg.add_message_type<rule_settings>("p21.rule_settings");
  cfg.add_message_type<pressure_relief>("p21.pressure_relief");
}

} // namespace p21
