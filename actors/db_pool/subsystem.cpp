// The db pool's registration: the node's SQLite pool, "db_pool", which a
// node may publish to peers.

#include <filesystem>

#include <caf/actor_system_config.hpp>

#include "p21/config_schema.hpp"
#include "p21/resources.hpp"
#include "reader_pool.hpp"
#include "p21/db.hpp"
#include "p21/db_config.hpp"
#include "p21/subsystems.hpp"

namespace p21 {

/// Its config section (db_pool/config_keys.cpp).
void declare_database_keys(config_schema& schema);

namespace {

/// Registers the pool's open connections with the node's resource manager;
/// those not kept idle for its next start are a leak once it stopped.
void track_connections(resource_manager& rm, const child_spec& spec) {
  std::weak_ptr<db_detail::reader_pool> readers = spec.shared.get<db_detail::reader_pool>();
  rm.track(
      spec.name + " connections", "connection",
      [readers] {
        auto r = readers.lock();
        return r ? r->open_connections() : uint64_t{0};
      },
      spec.name,
      [readers] {
        auto r = readers.lock();
        return r ? r->stranded_connections() : uint64_t{0};
      });
}

} // namespace

subsystem db_pool_subsystem() {
  subsystem s;
  s.name = "db_pool";
  s.declare_config = declare_database_keys;
  s.add_message_types = [](caf::actor_system_config& cfg) {
    cfg.add_message_type<db_value>("p21.db_value");
    cfg.add_message_type<db_row>("p21.db_row");
    cfg.add_message_type<db_statement>("p21.db_statement");
    cfg.add_message_type<db_result>("p21.db_result");
    cfg.add_message_type<db_pool_stats>("p21.db_pool_stats");
  };
  s.components = [](const config& cfg, std::shared_ptr<const node_view> view) {
    auto spec = db_pool_component("db_pool", cfg, {}, view ? view->profile : nullptr,
                                  view ? view->settings : nullptr);
    if (view && view->resources)
      track_connections(*view->resources, spec);
    return std::vector<child_spec>{spec};
  };
  s.publishable = [](const config&) {
    return std::vector<std::string>{"db_pool"};
  };
  // The database file's directory; none for an in-memory database.
  s.data_directories = [](const config& cfg) {
    auto& path = cfg.get<database_config>().path;
    if (path.empty() || path == ":memory:")
      return std::vector<std::string>{};
    auto dir = std::filesystem::path{path}.parent_path().string();
    return std::vector<std::string>{dir.empty() ? "." : dir};
  };
  s.reload = [](const config&, const config& now, const reload_context& ctx,
                reload_report& report) {
    report.apply<uint64_t>("database.pool_size", ctx, "db_pool", [&](caf::actor a) {
      return ctx.request<uint64_t>(caf::actor_cast<db_pool_actor>(a), set_pool_size_atom::value,
                                   uint64_t{now.get<database_config>().pool_size});
    });
    report.apply<timespan>("database.pool_timeout", ctx, "db_pool", [&](caf::actor a) {
      return ctx.request<timespan>(caf::actor_cast<db_pool_actor>(a), set_pool_timeout_atom::value,
                                   now.get<database_config>().pool_timeout);
    });
  };
  return s;
}

} // namespace p21
