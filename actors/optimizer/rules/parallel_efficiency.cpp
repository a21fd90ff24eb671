// Rule 8, parallel_efficiency: move max_processes toward what the load keeps
// busy (waits while rule 6 moved it this interval).

#include <algorithm>
#include <cmath>

#include "common.hpp"

namespace p21 {

namespace {

class parallel_efficiency final : public engine_rule {
public:
  parallel_efficiency()
    : engine_rule(rule_id::parallel_efficiency) {}

  std::optional<std::string> gate_target(const decision&) const override {
    return std::string{"subprocess"};
  }

  std::vector<decision> evaluate(rule_context& ctx) override {
    using rules::diff;
    std::vector<decision> out;
    auto& s = ctx.snapshot;
    auto* prev = ctx.previous;
    auto& st = ctx.state;
    st.procs_moved = st.cpu_moved;
    if (!s.proc || !prev || !prev->proc || st.cpu_moved)
      return out;
    auto busy = std::chrono::duration<double>(diff(s.proc->busy_time, prev->proc->busy_time));
    auto slots = std::chrono::duration<double>(diff(s.proc->slot_time, prev->proc->slot_time));
    auto wall = std::chrono::duration<double>(s.now - prev->now);
    if (busy.count() <= 0 || slots.count() <= 0 || wall.count() <= 0)
      return out;
    auto efficiency = 100 * busy.count() / slots.count();
    auto& g = ctx.gate("subprocess");
    if (g.observe(efficiency, ctx.now()) && s.proc->queued == 0) {
      auto used = busy.count() / wall.count(); // average commands running
      auto target = std::max(1.0, std::ceil(used * 1.25));
      auto cur = double(st.max_processes);
      auto next = uint64_t(std::llround(cur + (target - cur) * ctx.settings().step));
      next = std::clamp<uint64_t>(next, 1, 4096);
      if (next != st.max_processes) {
        st.max_processes = next;
        st.restore_target = next;
        out.push_back(
            ctx.decide(decision::set_max_processes, "subprocess", double(next), efficiency));
        g.acted(ctx.now());
        st.procs_moved = true;
      }
    }
    return out;
  }
};

} // namespace

std::unique_ptr<engine_rule> make_parallel_efficiency_rule() {
  return std::make_unique<parallel_efficiency>();
}

} // namespace p21
