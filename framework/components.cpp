#include <algorithm>
#include <map>

#include "p21/supervisor.hpp"

namespace p21 {

std::vector<size_t> start_order(const std::vector<child_spec>& specs,
                                const std::string& config_file) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!index.emplace(specs[i].name, i).second)
      throw config_error(config_file, 0, 0, "components." + specs[i].name,
                         "two components share this name");
  }
  for (auto& s : specs)
    for (auto& dep : s.depends_on)
      if (index.count(dep) == 0)
        throw config_error(config_file, 0, 0, "components." + s.name + ".depends_on",
                           "depends on '" + dep + "', which is not a component");
  // Depth-first topological sort; visiting in priority order makes critical
  // components come first wherever dependencies allow.
  std::vector<size_t> by_priority(specs.size());
  for (size_t i = 0; i < specs.size(); ++i)
    by_priority[i] = i;
  std::stable_sort(by_priority.begin(), by_priority.end(),
                   [&](size_t a, size_t b) { return specs[a].prio < specs[b].prio; });
  enum mark { unvisited, active, done };
  std::vector<mark> marks(specs.size(), unvisited);
  std::vector<size_t> order;
  std::vector<size_t> path;
  auto visit = [&](auto& self, size_t i) -> void {
    if (marks[i] == done)
      return;
    if (marks[i] == active) {
      auto from = std::find(path.begin(), path.end(), i);
      std::string cycle;
      for (auto j = from; j != path.end(); ++j)
        cycle += specs[*j].name + " -> ";
      cycle += specs[i].name;
      throw config_error(config_file, 0, 0, "components." + specs[i].name + ".depends_on",
                         "dependency cycle: " + cycle);
    }
    marks[i] = active;
    path.push_back(i);
    for (auto& dep : specs[i].depends_on)
      self(self, index[dep]);
    path.pop_back();
    marks[i] = done;
    order.push_back(i);
  };
  for (auto i : by_priority)
    visit(visit, i);
  return order;
}

} // namespace p21
