// /proc and cgroup text that does not parse leaves a reading's fields unset
// (issue 16: a non-numeric field of /proc/self/stat or cpu.max threw out of
// read_system, and so out of the monitor's sample).

#include <catch2/catch.hpp>

#include "actors/monitor/system_metrics.hpp"

using namespace p21;

TEST_CASE("malformed /proc and cgroup text leaves the reading's fields unset") {
  system_reading r;
  std::string stat = "1 (p21) S";
  for (int i = 0; i < 30; ++i)
    stat += " x";
  parse_system_file(system_file::self_stat, stat, r);
  CHECK_FALSE(r.process_ticks);
  CHECK_FALSE(r.threads);
  parse_system_file(system_file::self_stat, ")", r);
  parse_system_file(system_file::cgroup_cpu_max, "lots 100000", r);
  CHECK_FALSE(r.cgroup_cpus);
  parse_system_file(system_file::cgroup_mem_max, "max\n", r);
  CHECK_FALSE(r.cgroup_mem_max);
  parse_system_file(system_file::meminfo, "MemTotal:", r);
  CHECK_FALSE(r.mem_total);
}

TEST_CASE("well-formed /proc and cgroup text is read") {
  system_reading r;
  std::string stat = "1 (a) b) S";
  for (int i = 4; i <= 30; ++i)
    stat += " " + std::to_string(i);
  parse_system_file(system_file::self_stat, stat, r);
  CHECK(r.process_ticks == 14u + 15u);
  CHECK(r.threads == 20u);
  parse_system_file(system_file::cgroup_cpu_max, "150000 100000\n", r);
  CHECK(r.cgroup_cpus == Approx(1.5));
}
