#include "system_metrics.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

#include <dirent.h>
#include <sys/statvfs.h>

namespace p21 {

namespace {

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// `Key:   1234 kB` from /proc/meminfo, in bytes.
std::optional<uint64_t> meminfo_field(const std::string& text, const std::string& key) {
  auto at = text.find("\n" + key + ":");
  if (at == std::string::npos) {
    if (text.rfind(key + ":", 0) != 0)
      return std::nullopt;
    at = 0;
  } else {
    ++at;
  }
  std::istringstream in{text.substr(at + key.size() + 1)};
  uint64_t kb = 0;
  if (!(in >> kb))
    return std::nullopt;
  return kb * 1024;
}

/// The first word of `text` as a number; none for "max" or anything else.
std::optional<uint64_t> cgroup_number(const std::string& text) {
  std::istringstream in{text};
  uint64_t x = 0;
  if (!(in >> x))
    return std::nullopt;
  return x;
}

/// A whole decimal number, or none (std::stoull would throw).
std::optional<uint64_t> whole(const std::string& word) {
  if (word.empty() || word.size() > 19 || word.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(word);
}

void parse_or_throw(system_file file, const std::string& text, system_reading& r) {
  std::istringstream in{text};
  switch (file) {
  case system_file::stat: {
    std::string cpu;
    in >> cpu;
    if (cpu == "cpu") {
      uint64_t total = 0, idle = 0, x;
      for (int i = 0; i < 8 && in >> x; ++i) { // user nice system idle iowait irq softirq steal
        total += x;
        if (i == 3 || i == 4)
          idle += x;
      }
      r.cpu_total = total;
      r.cpu_idle = idle;
    }
    break;
  }
  case system_file::self_stat: {
    // Fields after the parenthesized command: state is field 3.
    auto close = text.rfind(')');
    if (close == std::string::npos || close + 2 > text.size())
      break;
    std::istringstream rest{text.substr(close + 2)};
    std::vector<std::string> f{std::istream_iterator<std::string>{rest}, {}};
    // f[0] is field 3; utime 14, stime 15, cutime 16, cstime 17,
    // num_threads 20, rss 24 (pages).
    if (f.size() > 21) {
      auto utime = whole(f[11]), stime = whole(f[12]), threads = whole(f[17]);
      if (utime && stime && threads) {
        r.process_ticks = *utime + *stime;
        r.threads = *threads;
      }
      auto cutime = whole(f[13]), cstime = whole(f[14]);
      if (cutime && cstime)
        r.children_ticks = *cutime + *cstime;
    }
    break;
  }
  case system_file::self_status:
    r.rss_bytes = meminfo_field(text, "VmRSS");
    break;
  case system_file::meminfo:
    r.mem_total = meminfo_field(text, "MemTotal");
    r.mem_available = meminfo_field(text, "MemAvailable");
    break;
  case system_file::loadavg: {
    double l1;
    if (in >> l1)
      r.load1 = l1;
    break;
  }
  case system_file::cgroup_mem_max:
    r.cgroup_mem_max = cgroup_number(text);
    break;
  case system_file::cgroup_mem_current:
    r.cgroup_mem_current = cgroup_number(text);
    break;
  case system_file::cgroup_cpu_max: {
    double quota = 0, period = 0;
    if (in >> quota >> period && period > 0 && quota > 0)
      r.cgroup_cpus = quota / period;
    break;
  }
  case system_file::cgroup_cpu_stat: {
    std::string key;
    uint64_t value;
    while (in >> key >> value)
      if (key == "usage_usec")
        r.cgroup_cpu_usec = value;
    break;
  }
  }
}

} // namespace

void parse_system_file(system_file file, const std::string& text, system_reading& r) noexcept {
  try {
    parse_or_throw(file, text, r);
  } catch (...) {
    // bad_alloc at worst: the reading stays without these fields
  }
}

system_reading read_system(const std::string& proc_root, const std::string& cgroup_root) {
  system_reading r;
  auto parse = [&r](system_file file, const std::string& path) {
    if (auto text = slurp(path))
      parse_system_file(file, *text, r);
  };
  parse(system_file::stat, proc_root + "/stat");
  parse(system_file::self_stat, proc_root + "/self/stat");
  parse(system_file::self_status, proc_root + "/self/status");
  parse(system_file::meminfo, proc_root + "/meminfo");
  parse(system_file::loadavg, proc_root + "/loadavg");
  if (DIR* d = ::opendir((proc_root + "/self/fd").c_str())) {
    uint64_t n = 0;
    while (auto* e = ::readdir(d))
      n += e->d_name[0] != '.' ? 1 : 0;
    ::closedir(d);
    r.open_fds = n;
  }
  parse(system_file::cgroup_mem_max, cgroup_root + "/memory.max");
  parse(system_file::cgroup_mem_current, cgroup_root + "/memory.current");
  parse(system_file::cgroup_cpu_max, cgroup_root + "/cpu.max");
  parse(system_file::cgroup_cpu_stat, cgroup_root + "/cpu.stat");
  return r;
}

std::optional<double> disk_percent(const std::string& path) {
  struct statvfs st;
  if (::statvfs(path.c_str(), &st) != 0 || st.f_blocks == 0)
    return std::nullopt;
  // As df computes it: used / (used + available to unprivileged users).
  double used = double(st.f_blocks - st.f_bfree);
  double avail = double(st.f_bavail);
  return used + avail > 0 ? 100.0 * used / (used + avail) : 0.0;
}

system_sampler::system_sampler(double cpus_online, long ticks_per_second)
  : cpus_online_(std::max(1.0, cpus_online))
  , ticks_per_second_(ticks_per_second > 0 ? ticks_per_second : 100) {
  // nop
}

system_sample system_sampler::sample(const system_reading& r, clock::time_point now) {
  system_sample s;
  s.cpus = r.cgroup_cpus ? std::min(*r.cgroup_cpus, cpus_online_) : cpus_online_;
  s.rss_bytes = r.rss_bytes.value_or(0);
  s.threads = r.threads.value_or(0);
  s.open_fds = r.open_fds.value_or(0);
  s.load1 = r.load1.value_or(0);
  if (r.cgroup_mem_max && r.cgroup_mem_current && *r.cgroup_mem_max > 0) {
    s.memory_percent = 100.0 * double(*r.cgroup_mem_current) / double(*r.cgroup_mem_max);
  } else if (r.mem_total && r.mem_available && *r.mem_total > 0) {
    s.memory_percent = 100.0 * double(*r.mem_total - std::min(*r.mem_available, *r.mem_total)) /
                       double(*r.mem_total);
  }
  if (last_ && now - last_time_ < min_cpu_window) {
    // Jiffies over a few milliseconds say 0 % or 100 %: keep the last figures.
    s.cpu_percent = last_cpu_percent_;
    s.process_cpu_percent = last_process_cpu_percent_;
    s.children_cpu_percent = last_children_cpu_percent_;
    s.memory_percent = std::clamp(s.memory_percent, 0.0, 100.0);
    return s;
  }
  if (last_) {
    auto wall = std::chrono::duration<double>(now - last_time_).count();
    if (r.cgroup_cpus && r.cgroup_cpu_usec && last_->cgroup_cpu_usec && wall > 0) {
      auto used =
          double(*r.cgroup_cpu_usec - std::min(*r.cgroup_cpu_usec, *last_->cgroup_cpu_usec)) / 1e6;
      s.cpu_percent = 100.0 * used / (wall * s.cpus);
    } else if (r.cpu_total && r.cpu_idle && last_->cpu_total && last_->cpu_idle &&
               *r.cpu_total > *last_->cpu_total) {
      auto total = double(*r.cpu_total - *last_->cpu_total);
      auto idle = double(*r.cpu_idle - std::min(*r.cpu_idle, *last_->cpu_idle));
      s.cpu_percent = 100.0 * (total - std::min(idle, total)) / total;
    }
    if (r.process_ticks && last_->process_ticks && wall > 0) {
      auto used = double(*r.process_ticks - std::min(*r.process_ticks, *last_->process_ticks)) /
                  double(ticks_per_second_);
      s.process_cpu_percent = 100.0 * used / (wall * s.cpus);
    }
    if (r.children_ticks && last_->children_ticks && wall > 0) {
      auto used = double(*r.children_ticks - std::min(*r.children_ticks, *last_->children_ticks)) /
                  double(ticks_per_second_);
      s.children_cpu_percent = 100.0 * used / (wall * s.cpus);
    }
  }
  s.cpu_percent = std::clamp(s.cpu_percent, 0.0, 100.0);
  s.process_cpu_percent = std::clamp(s.process_cpu_percent, 0.0, 100.0);
  s.children_cpu_percent = std::clamp(s.children_cpu_percent, 0.0, 100.0);
  s.memory_percent = std::clamp(s.memory_percent, 0.0, 100.0);
  last_ = r;
  last_time_ = now;
  last_cpu_percent_ = s.cpu_percent;
  last_process_cpu_percent_ = s.process_cpu_percent;
  last_children_cpu_percent_ = s.children_cpu_percent;
  return s;
}

} // namespace p21
