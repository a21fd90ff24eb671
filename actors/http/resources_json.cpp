#include "resources_json.hpp"

#include "p21/resources.hpp"

namespace p21::http_detail {

nlohmann::json resources_json(const resource_manager& rm) {
  auto held = nlohmann::json::array();
  auto totals = nlohmann::json::object();
  for (auto& r : rm.live()) {
    held.push_back({{"name", r.name},
                    {"kind", r.kind},
                    {"amount", r.amount},
                    {"owner", r.owner},
                    {"pool", r.pool}});
    auto& sum = totals[r.kind];
    sum = (sum.is_null() ? uint64_t{0} : sum.get<uint64_t>()) + r.amount;
  }
  return {{"held", std::move(held)}, {"totals", std::move(totals)}};
}

} // namespace p21::http_detail
