// `[http]`: the keys of the metrics and health endpoint.

#include "p21/config_schema.hpp"

namespace p21 {

namespace {

std::string listen_problem(const key_value& v) {
  auto& listen = std::get<std::string>(v);
  if (listen.empty())
    return {};
  auto colon = listen.rfind(':');
  auto port = colon == std::string::npos ? std::string{} : listen.substr(colon + 1);
  if (colon == 0 || port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) > 65535)
    return "expected \"HOST:PORT\" such as \"127.0.0.1:9121\"";
  return {};
}

} // namespace

void declare_http_keys(config_schema& schema) {
  schema
      .section<http_config>(
          "http", [](config & c) -> auto& { return c.http; }, "The metrics and health endpoint.")
      .string("listen", &http_config::listen,
              "`\"HOST:PORT\"` to listen on; empty keeps HTTP off; port 0 picks a free one")
      .refine(listen_problem);
}

} // namespace p21
