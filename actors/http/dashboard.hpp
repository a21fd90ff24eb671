#pragma once

// The dashboard's routes on the HTTP endpoint (dashboard.cpp).

#include <memory>

#include <caf/fwd.hpp>

#include "p21/fwd.hpp"

namespace httplib {
class Server;
}

namespace p21 {

/// Adds GET / (the page), /history and /components to `srv`.
void dashboard_routes(httplib::Server& srv, caf::actor_system& sys,
                      std::shared_ptr<const node_view> view);

/// The paths `dashboard_routes` serves, for the 405 answer to other methods.
inline constexpr const char* dashboard_paths[] = {"/", "/history", "/components"};

} // namespace p21
