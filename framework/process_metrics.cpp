// The standard process collector of Prometheus' client libraries, read from
// /proc at scrape time, and the OpenMetrics rendering of the text format.

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "p21/metrics.hpp"

namespace p21 {

process_reading read_process(const std::string& proc_root) {
  process_reading out;
  auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  auto page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  std::ifstream stat_file{proc_root + "/self/stat"};
  std::string stat{std::istreambuf_iterator<char>{stat_file}, std::istreambuf_iterator<char>{}};
  // The command name (field 2) may hold spaces: fields count from after ')'.
  auto close = stat.rfind(')');
  double boot_time = 0;
  {
    std::ifstream proc_stat{proc_root + "/stat"};
    std::string key;
    while (proc_stat >> key)
      if (key == "btime") {
        proc_stat >> boot_time;
        break;
      }
  }
  if (close != std::string::npos && ticks > 0) {
    std::istringstream in{stat.substr(close + 2)};
    std::vector<std::string> f{std::istream_iterator<std::string>{in},
                               std::istream_iterator<std::string>{}};
    // f[0] is field 3 (state): field N is f[N - 3].
    if (f.size() > 21) {
      out.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
      out.start_time_seconds = boot_time + std::stod(f[19]) / ticks;
      out.virtual_memory_bytes = std::stod(f[20]);
      out.resident_memory_bytes = std::stod(f[21]) * page;
    }
  }
  if (auto* dir = ::opendir((proc_root + "/self/fd").c_str())) {
    double n = 0;
    while (auto* e = ::readdir(dir))
      if (e->d_name[0] != '.')
        ++n;
    ::closedir(dir);
    out.open_fds = n - 1; // the directory stream itself
  }
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0)
    out.max_fds = static_cast<double>(lim.rlim_cur);
  return out;
}

std::string render_process_metrics(const process_reading& r) {
  std::ostringstream out;
  out.precision(15); // what a double holds exactly in decimal
  auto family = [&](const char* name, const char* type, const char* help, double value) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
        << name << " " << value << "\n";
  };
  family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
         r.cpu_seconds);
  family("process_max_fds", "gauge", "Maximum number of open file descriptors.", r.max_fds);
  family("process_open_fds", "gauge", "Number of open file descriptors.", r.open_fds);
  family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
         r.resident_memory_bytes);
  family("process_start_time_seconds", "gauge",
         "Start time of the process since unix epoch in seconds.", r.start_time_seconds);
  family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
         r.virtual_memory_bytes);
  return out.str();
}

std::string to_openmetrics(const std::string& text) {
  // The same samples; OpenMetrics names a counter's family without its
  // `_total` suffix and ends the exposition with `# EOF`.
  std::istringstream in{text};
  std::ostringstream out;
  std::string line;
  std::map<std::string, std::string> counter_family; // "x_total" -> "x"
  std::vector<std::string> lines;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0 && line.size() > 8 &&
        line.compare(line.size() - 8, 8, " counter") == 0) {
      auto name = line.substr(7, line.size() - 15);
      if (name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0)
        counter_family[name] = name.substr(0, name.size() - 6);
    }
    lines.push_back(line);
  }
  for (auto& l : lines) {
    if (l.rfind("# HELP ", 0) == 0 || l.rfind("# TYPE ", 0) == 0) {
      auto space = l.find(' ', 7);
      auto name = l.substr(7, space == std::string::npos ? std::string::npos : space - 7);
      auto i = counter_family.find(name);
      if (i != counter_family.end()) {
        out << l.substr(0, 7) << i->second << l.substr(7 + name.size()) << "\n";
        continue;
      }
    }
    out << l << "\n";
  }
  out << "# EOF\n";
  return out.str();
}

bool wants_openmetrics(const std::string& accept) {
  // Prometheus asks `application/openmetrics-text;version=1.0.0,...;q=0.5`;
  // any mention with a non-zero weight counts.
  auto pos = accept.find("application/openmetrics-text");
  if (pos == std::string::npos)
    return false;
  auto end = accept.find(',', pos);
  auto part = accept.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
  auto q = part.find("q=");
  return q == std::string::npos || std::strtod(part.c_str() + q + 2, nullptr) > 0;
}

} // namespace p21
