#pragma once

// Forward declarations of Perfect21's public types, so that a header which
// only names them (in a signature, a pointer or a reference) includes nothing
// heavy. CAF's own are in <caf/fwd.hpp>.

#include <functional>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

namespace p21 {

// -- framework ----------------------------------------------------------------

class runtime;
class config_error;
class config_schema;
class metrics_registry;
class resource_manager;
class histogram;
class counter;
class gauge;

struct config;
struct child_spec;
struct component_stats;
struct node_view;
class actor_profile;
/// The profile of a component by name, or null (profiling off).
using profile_factory = std::function<std::shared_ptr<actor_profile>(const std::string&)>;
/// The node's config as the latest reload left it (`node_view::settings`):
/// a start function calls it when it runs, so that a component first
/// started, or restarted, after a reload starts from the reloaded values.
using config_source = std::function<std::shared_ptr<const config>()>;
struct subsystem;
struct metric_sample;
struct metric_set;
struct histogram_summary;

// -- subsystem handles ----------------------------------------------------------

class cache;
class db;
class subprocess;
class monitor;

// -- messages -------------------------------------------------------------------

struct cache_stats;
struct db_value;
struct db_statement;
struct db_result;
struct db_pool_stats;
struct command_request;
struct command_result;
struct subprocess_stats;
struct event;
struct performance_summary;
struct optimizer_action;

} // namespace p21
