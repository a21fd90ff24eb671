#include "app/soak_memory.hpp"

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <malloc.h>

#include "p21/metrics.hpp"

namespace p21::app {

namespace fs = std::filesystem;

resources measure_resources() {
  ::malloc_trim(0); // what free() kept is not growth
  resources r;
  auto p = read_process();
  r.rss_bytes = p.resident_memory_bytes;
  r.fds = p.open_fds;
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0)
      r.threads = std::stod(line.substr(8));
  std::error_code ec;
  for (auto& task : fs::directory_iterator{"/proc/self/task", ec}) {
    std::string name;
    std::getline(std::ifstream{task.path() / "comm"}, name);
    ++r.thread_names[name];
  }
  for (auto& fd : fs::directory_iterator{"/proc/self/fd", ec}) {
    auto target = fs::read_symlink(fd.path(), ec).string();
    ++r.fd_kinds[target.substr(0, target.find(':'))];
  }
  return r;
}

memory_sampler::memory_sampler(std::function<uint64_t()> calls, std::chrono::milliseconds period)
  : calls_(std::move(calls))
  , period_(period) {
  thread_ = std::thread{[this] {
    while (!stop_) {
      auto m = ::mallinfo2();
      memory_sample s;
      s.calls = calls_();
      s.rss_bytes = static_cast<uint64_t>(read_process().resident_memory_bytes);
      s.heap_in_use_bytes = m.uordblks + m.hblkhd;
      s.heap_held_bytes = m.arena + m.hblkhd;
      std::ifstream status{"/proc/self/status"};
      for (std::string line; std::getline(status, line);) {
        if (line.rfind("RssAnon:", 0) == 0)
          s.rss_anon_bytes = std::stoull(line.substr(8)) * 1024;
        else if (line.rfind("RssFile:", 0) == 0)
          s.rss_file_bytes = std::stoull(line.substr(8)) * 1024;
      }
      {
        std::lock_guard<std::mutex> guard{mtx_};
        samples_.push_back(s);
      }
      // The sampling period, not a wait for a result.
      for (auto slept = std::chrono::milliseconds{0}; slept < period_ && !stop_;
           slept += std::chrono::milliseconds{10})
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
  }};
}

memory_sampler::~memory_sampler() {
  stop();
}

void memory_sampler::stop() {
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
}

std::vector<memory_sample> memory_sampler::samples() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return samples_;
}

nlohmann::json memory_sampler::to_json() const {
  nlohmann::json calls = nlohmann::json::array(), rss = nlohmann::json::array(),
                 anon = nlohmann::json::array(), file = nlohmann::json::array(),
                 in_use = nlohmann::json::array(), held = nlohmann::json::array();
  for (auto& s : samples()) {
    calls.push_back(s.calls);
    rss.push_back(s.rss_bytes);
    anon.push_back(s.rss_anon_bytes);
    file.push_back(s.rss_file_bytes);
    in_use.push_back(s.heap_in_use_bytes);
    held.push_back(s.heap_held_bytes);
  }
  return {{"calls", calls},           {"rss_bytes", rss},       {"rss_anon_bytes", anon},
          {"rss_file_bytes", file},   {"heap_in_use_bytes", in_use},
          {"heap_held_bytes", held}};
}

std::string memory_sampler::chart(size_t points) const {
  auto all = samples();
  std::ostringstream out;
  if (all.empty() || points == 0)
    return out.str();
  auto mib = [](uint64_t b) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(1) << double(b) / (1 << 20);
    return s.str();
  };
  out << "  " << std::setw(10) << "calls" << std::setw(10) << "RSS MiB" << std::setw(10)
      << "anon" << std::setw(10) << "file" << std::setw(12) << "heap used" << std::setw(12)
      << "heap held" << "\n";
  for (size_t i = 0; i < points; ++i) {
    auto& s = all[points == 1 ? all.size() - 1 : i * (all.size() - 1) / (points - 1)];
    out << "  " << std::setw(10) << s.calls << std::setw(10) << mib(s.rss_bytes) << std::setw(10)
        << mib(s.rss_anon_bytes) << std::setw(10) << mib(s.rss_file_bytes) << std::setw(12)
        << mib(s.heap_in_use_bytes) << std::setw(12) << mib(s.heap_held_bytes) << "\n";
  }
  return out.str();
}

} // namespace p21::app
