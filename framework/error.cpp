#include "p21/error.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/make_message.hpp>
#include <caf/sec.hpp>

namespace p21 {

std::string to_string(errc x) {
  switch (x) {
  case errc::none:
    return "none";
  case errc::pool_timeout:
    return "pool_timeout";
  case errc::bad_query:
    return "bad_query";
  case errc::command_failed:
    return "command_failed";
  case errc::timeout:
    return "timeout";
  case errc::overloaded:
    return "overloaded";
  case errc::invalid_argument:
    return "invalid_argument";
  case errc::unavailable:
    return "unavailable";
  case errc::not_found:
    return "not_found";
  case errc::config_error:
    return "config_error";
  case errc::escalated:
    return "escalated";
  case errc::shutdown_timeout:
    return "shutdown_timeout";
  case errc::dependency_cycle:
    return "dependency_cycle";
  case errc::forbidden:
    return "forbidden";
  case errc::cancelled:
    return "cancelled";
  }
  return "unknown(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(errc x) {
  return caf::error{static_cast<uint8_t>(x), error_category};
}

caf::error make_error(errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), error_category, caf::make_message(std::move(context))};
}

bool is(const caf::error& e, errc x) {
  return e && e.category() == error_category && e.code() == static_cast<uint8_t>(x);
}

namespace {

std::string context_text(const caf::message& ctx) {
  if (ctx.empty())
    return {};
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return caf::to_string(ctx);
}

std::string render_parts(const std::string& name, const caf::message& ctx) {
  auto text = context_text(ctx);
  return text.empty() ? name : name + ": " + text;
}

} // namespace

std::string render(const caf::error& e) {
  if (!e)
    return "none";
  if (e.category() == error_category)
    return render_parts("p21::" + to_string(static_cast<errc>(e.code())), e.context());
  if (e.category() == caf::atom("system"))
    return render_parts("caf::" + caf::to_string(static_cast<caf::sec>(e.code())), e.context());
  return caf::to_string(e);
}

caf::error normalize(caf::error e) {
  if (e.category() != caf::atom("system"))
    return e;
  switch (static_cast<caf::sec>(e.code())) {
  case caf::sec::request_receiver_down:
    return make_error(errc::unavailable, "the receiver is down");
  case caf::sec::request_timeout:
    return make_error(errc::timeout, "no reply within the request timeout");
  default:
    return e;
  }
}

void add_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(error_category,
                         [](uint8_t code, caf::atom_value, const caf::message& ctx) {
                           return render_parts("p21::" + to_string(static_cast<errc>(code)), ctx);
                         });
}

} // namespace p21
