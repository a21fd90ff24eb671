#include "app/reload_target.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

namespace p21::app {

namespace {

/// The real uid in /proc/PID/status, or -1.
long long real_uid_of(const std::string& proc) {
  std::ifstream status{proc + "/status"};
  std::string line;
  while (std::getline(status, line))
    if (line.compare(0, 4, "Uid:") == 0) {
      std::istringstream in{line.substr(4)};
      long long uid = -1;
      in >> uid;
      return uid;
    }
  return -1;
}

std::string basename_of(std::string path) {
  // The running file of an upgraded node is gone: "/usr/bin/p21 (deleted)".
  static const std::string deleted = " (deleted)";
  if (path.size() > deleted.size() &&
      path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0)
    path.resize(path.size() - deleted.size());
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

} // namespace

std::string why_not_reloadable(pid_t pid) {
  auto proc = "/proc/" + std::to_string(pid);
  auto name = "process " + std::to_string(pid);
  struct stat st;
  if (pid <= 0 || ::stat(proc.c_str(), &st) != 0)
    return "no " + name;
  // The owner first: another user's executable is not ours to read.
  auto uid = real_uid_of(proc);
  auto me = ::getuid();
  if (uid < 0)
    return "cannot read the owner of " + name;
  if (me != 0 && uid != static_cast<long long>(me))
    return name + " runs as uid " + std::to_string(uid) + ", not as you (uid " +
           std::to_string(me) + "); only its user or root may reload it";
  char buf[4096];
  auto n = ::readlink((proc + "/exe").c_str(), buf, sizeof buf - 1);
  if (n < 0)
    return "cannot read the executable of " + name + ": " + std::strerror(errno);
  std::string exe{buf, static_cast<size_t>(n)};
  struct stat theirs, mine;
  bool same = ::stat((proc + "/exe").c_str(), &theirs) == 0 &&
              ::stat("/proc/self/exe", &mine) == 0 && theirs.st_dev == mine.st_dev &&
              theirs.st_ino == mine.st_ino;
  if (!same && basename_of(exe) != "p21")
    return name + " runs " + exe + ", not a p21 node";
  return {};
}

} // namespace p21::app
