#pragma once

// The dashboard's routes on the HTTP endpoint (dashboard.cpp).

#include <memory>

#include <caf/fwd.hpp>

#include "p21/fwd.hpp"

namespace p21::http_detail {
class server;
}

namespace p21 {

/// Adds GET / (the page), /history and /components to `srv`.
void dashboard_routes(http_detail::server& srv, caf::actor_system& sys,
                      std::shared_ptr<const node_view> view);

} // namespace p21
