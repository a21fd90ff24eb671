#include "detail/state_dir.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <caf/sec.hpp>

namespace p21::detail {

namespace {

caf::error os_error(const std::string& what, const std::string& path, int err) {
  return caf::make_error(caf::sec::runtime_error, what + " '" + path + "': " + std::strerror(err));
}

/// Closes a descriptor and removes a temporary file unless `keep` was called.
class temp_file {
public:
  temp_file(int fd, std::string path)
    : fd_(fd)
    , path_(std::move(path)) {}
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  ~temp_file() {
    close();
    if (!kept_)
      ::unlink(path_.c_str());
  }

  int fd() const noexcept { return fd_; }
  const std::string& path() const noexcept { return path_; }

  /// Closes the descriptor; errors of close itself count (NFS reports
  /// write-back failures there).
  int close() {
    if (fd_ < 0)
      return 0;
    auto rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

  void keep() { kept_ = true; }

private:
  int fd_;
  std::string path_;
  bool kept_ = false;
};

std::string parent_of(const std::string& path) {
  auto dir = std::filesystem::path{path}.parent_path().string();
  return dir.empty() ? "." : dir;
}

caf::error make_dirs(const std::string& dir, const char* what) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return caf::make_error(caf::sec::runtime_error, std::string{"cannot create the "} + what +
                                                        " '" + dir + "': " + ec.message());
  return {};
}

} // namespace

std::vector<std::string> data_directories(const config& cfg,
                                          const std::vector<subsystem>& subsystems) {
  std::vector<std::string> out;
  for (auto& sub : subsystems)
    if (sub.data_directories)
      for (auto& dir : sub.data_directories(cfg))
        if (!dir.empty())
          out.push_back(dir);
  return out;
}

std::string state_dir(const config& cfg, const std::vector<std::string>& data_dirs) {
  if (!cfg.runtime.state_dir.empty())
    return cfg.runtime.state_dir;
  return data_dirs.empty() ? std::string{} : data_dirs.front();
}

std::string preload_file(const std::string& dir) {
  return (std::filesystem::path{dir} / "preload.list").string();
}

caf::error make_run_dirs(const config& cfg, const std::vector<std::string>& data_dirs) {
  for (auto& dir : data_dirs)
    if (auto err = make_dirs(dir, "data directory"))
      return err;
  if (!cfg.runtime.state_dir.empty())
    return make_dirs(cfg.runtime.state_dir, "state directory");
  return {};
}

caf::error replace_file(const std::string& path, const std::function<caf::error(int fd)>& write) {
  auto dir = parent_of(path);
  // In the target's directory: rename() is atomic only within a file system.
  auto name = std::filesystem::path{path}.filename().string();
  std::string tmpl = (std::filesystem::path{dir} / ("." + name + ".XXXXXX")).string();
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0)
    return os_error("cannot create a temporary file beside", path, errno);
  temp_file tmp{fd, tmpl};
  try {
    if (auto err = write(tmp.fd()))
      return err;
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error,
                           "writing '" + path + "' failed: " + std::string{e.what()});
  }
  // The data must be on disk before the new name points at it, or a crash
  // after the rename could leave an empty file under the old name.
  if (::fsync(tmp.fd()) != 0)
    return os_error("cannot sync", tmp.path(), errno);
  if (tmp.close() != 0)
    return os_error("cannot close", tmp.path(), errno);
  // rename() replaces a symlink at `path` itself; it never writes through it.
  if (::rename(tmp.path().c_str(), path.c_str()) != 0)
    return os_error("cannot rename a temporary file to", path, errno);
  tmp.keep();
  // The rename is durable once the directory entry is.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return os_error("cannot open directory", dir, errno);
  auto rc = ::fsync(dfd);
  auto err = errno;
  ::close(dfd);
  if (rc != 0)
    return os_error("cannot sync directory", dir, err);
  return {};
}

caf::error replace_file(const std::string& path, std::string_view content) {
  return replace_file(path, [&](int fd) -> caf::error {
    auto rest = content;
    while (!rest.empty()) {
      auto n = ::write(fd, rest.data(), rest.size());
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return os_error("cannot write a temporary file for", path, errno);
      rest.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  });
}

caf::error save_preload_list(const std::string& dir, const std::vector<std::string>& names) {
  std::string text;
  for (auto& name : names) {
    // One name per line: a name with a line break would read back as two.
    if (name.find_first_of("\n\r") != std::string::npos)
      return caf::make_error(caf::sec::invalid_argument,
                             "a component name with a line break cannot be preloaded");
    text += name;
    text += '\n';
  }
  return replace_file(preload_file(dir), text);
}

std::vector<std::string> load_preload_list(const std::string& dir) {
  std::vector<std::string> out;
  auto path = preload_file(dir);
  // O_NOFOLLOW: a symlink planted at the list's name is not read through.
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return out;
  struct stat st;
  std::string text;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
      if (n > 0)
        text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t begin = 0;
  while (begin < text.size()) {
    auto end = text.find('\n', begin);
    if (end == std::string::npos)
      end = text.size();
    if (end > begin)
      out.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return out;
}

} // namespace p21::detail
