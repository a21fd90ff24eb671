// Actor profiling: the per-type counters behind `actor_profile`.

#include "p21/profiling.hpp"

#include <caf/atom.hpp>
#include <caf/uniform_type_info_map.hpp>

#include "detail/type_names.hpp"

namespace p21 {

std::string detail::readable_type_name(const std::string& portable) {
  // CAF 0.17.6's `numbered_type_names` (caf/type_nr.hpp), in its order.
  static const std::pair<const char*, const char*> builtin[] = {
      {"@actor", "actor"},
      {"@actorvec", "std::vector<actor>"},
      {"@addr", "actor_addr"},
      {"@addrvec", "std::vector<actor_addr>"},
      {"@atom", "atom"},
      {"@charbuf", "std::vector<char>"},
      {"@config_value", "config_value"},
      {"@down", "down_msg"},
      {"@downstream_msg", "downstream_msg"},
      {"@duration", "duration"},
      {"@error", "error"},
      {"@exit", "exit_msg"},
      {"@group", "group"},
      {"@group_down", "group_down_msg"},
      {"@i16", "int16"},
      {"@i32", "int32"},
      {"@i64", "int64"},
      {"@i8", "int8"},
      {"@ldouble", "long double"},
      {"@message", "message"},
      {"@message_id", "message_id"},
      {"@node", "node_id"},
      {"@open_stream_msg", "open_stream_msg"},
      {"@str", "string"},
      {"@strmap", "std::map<string, string>"},
      {"@strong_actor_ptr", "strong_actor_ptr"},
      {"@strset", "std::set<string>"},
      {"@strvec", "std::vector<string>"},
      {"@timeout", "timeout_msg"},
      {"@timespan", "timespan"},
      {"@timestamp", "timestamp"},
      {"@u16", "uint16"},
      {"@u16_str", "u16string"},
      {"@u32", "uint32"},
      {"@u32_str", "u32string"},
      {"@u64", "uint64"},
      {"@u8", "uint8"},
      {"@unit", "unit"},
      {"@upstream_msg", "upstream_msg"},
      {"@weak_actor_ptr", "weak_actor_ptr"},
  };
  if (portable == "???")
    return "unannounced";
  for (auto& [from, to] : builtin)
    if (portable == from)
      return to;
  return portable;
}

actor_profile::actor_profile(metrics_registry& registry, std::string component)
  : registry_(registry)
  , component_(std::move(component))
  , depth_(registry.make_gauge(profiling_metrics::mailbox_depth, {{"component", component_}}))
  , handler_time_(
        registry.make_histogram(profiling_metrics::handler_seconds, {{"component", component_}})) {}

void actor_profile::handled(const caf::mailbox_element& x, uint64_t ns,
                            const caf::uniform_type_info_map& types) {
  depth_.add(-1);
  handler_time_.record(ns);
  messages_of(x, types).inc();
}

counter& actor_profile::messages_of(const caf::mailbox_element& x,
                                    const caf::uniform_type_info_map& types) {
  auto& content = x.content();
  // Atoms name a request ("get", "query"); other messages go by type.
  uint64_t key = 0;
  if (content.size() > 0) {
    if (content.type(0).first == caf::type_nr<caf::atom_value>::value)
      key = static_cast<uint64_t>(content.get_as<caf::atom_value>(0));
    else
      key = reinterpret_cast<uintptr_t>(content.type(0).second) ^ content.type(0).first;
  }
  auto i = by_type_.find(key);
  if (i != by_type_.end())
    return *i->second;
  if (by_type_.size() >= max_types) {
    if (other_ == nullptr)
      other_ = &registry_.make_counter(profiling_metrics::messages,
                                       {{"component", component_},
                                        {"type", metrics_registry::overflow_value}});
    return *other_;
  }
  std::string type = "empty";
  if (content.size() > 0) {
    if (content.type(0).first == caf::type_nr<caf::atom_value>::value)
      type = caf::to_string(content.get_as<caf::atom_value>(0));
    else if (auto& name = types.portable_name(content.type(0)); !name.empty())
      type = detail::readable_type_name(name);
    else
      type = "unnamed";
  }
  auto& c = registry_.make_counter(profiling_metrics::messages,
                                   {{"component", component_}, {"type", type}});
  by_type_.emplace(key, &c);
  return c;
}

} // namespace p21
