#include "git_cache.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p21/error.hpp"

namespace p21::subprocess_detail {

namespace {

using clock = std::chrono::steady_clock;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

constexpr uint32_t tree_events = IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                 IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR |
                                 IN_DONT_FOLLOW | IN_EXCL_UNLINK;

/// FNV-1a over the bytes of `x`.
template <class T>
void mix(uint64_t& h, const T& x) {
  auto p = reinterpret_cast<const unsigned char*>(&x);
  for (size_t i = 0; i < sizeof(T); ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
}

void mix(uint64_t& h, const std::string& s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
}

/// Inode, size, mtime and ctime of everything under `dir` (not `.git`
/// below the top unless `git`), plus the newest timestamp seen.
void fingerprint_dir(const std::string& dir, bool skip_dot_git, uint64_t& h, timespec& newest) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    mix(h, errno);
    return;
  }
  std::vector<std::string> names;
  while (auto* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || (skip_dot_git && name == ".git"))
      continue;
    names.push_back(std::move(name));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (auto& name : names) {
    auto path = dir + "/" + name;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0)
      continue;
    mix(h, name);
    mix(h, st.st_ino);
    mix(h, st.st_size);
    mix(h, st.st_mode);
    mix(h, st.st_mtim.tv_sec);
    mix(h, st.st_mtim.tv_nsec);
    mix(h, st.st_ctim.tv_sec);
    mix(h, st.st_ctim.tv_nsec);
    for (auto& t : {st.st_mtim, st.st_ctim})
      if (t.tv_sec > newest.tv_sec || (t.tv_sec == newest.tv_sec && t.tv_nsec > newest.tv_nsec))
        newest = t;
    if (S_ISDIR(st.st_mode))
      fingerprint_dir(path, true, h, newest);
  }
}

/// The git directory of a work tree (`.git`, or where a `.git` file points).
std::string git_dir_of(const std::string& root) {
  auto dot_git = root + "/.git";
  struct stat st;
  if (::stat(dot_git.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    FILE* f = std::fopen(dot_git.c_str(), "r");
    if (f) {
      char buf[4096] = {};
      auto n = std::fread(buf, 1, sizeof(buf) - 1, f);
      std::fclose(f);
      auto dir = gitdir_from_file(root, std::string_view{buf, n});
      if (!dir.empty())
        return dir;
    }
  }
  return dot_git;
}

/// The tag of a repository's results that read its work tree; every result
/// is also tagged with the root itself (a change in `.git` drops all).
std::string tree_tag(const std::string& root) {
  return root + std::string{"\0tree", 5};
}

cache_detail::tagged_cache_config config_for(size_t entries, timespan ttl) {
  cache_detail::tagged_cache_config cfg;
  cfg.name = "git";
  cfg.max_entries = entries; // bounded by entries, as the report's git_maxsize
  cfg.ttl = ttl;
  return cfg;
}

/// Timestamps are as coarse as the kernel's clock tick: a change this close
/// to a fingerprint may not have moved any timestamp yet.
constexpr int64_t racy_window_ns = 100'000'000;

} // namespace

struct git_cache::repo_state {
  std::string root;
  std::string git_dir;
  /// How it is watched: inotify, fingerprint, or none (not cacheable).
  std::string how;
  std::set<int> wds;
  uint64_t fingerprint = 0;
  bool racy = true;
};

struct git_cache::watch {
  repo_state* repo;
  std::string path;
  bool git;
};

git_cache::git_cache(size_t entries, timespan ttl, watch_mode mode)
  : results_(config_for(entries, ttl))
  , mode_(mode) {
  counts_.capacity = entries;
  if (mode_ != watch_mode::fingerprint) {
    inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd_ < 0)
      spdlog::warn("git cache: inotify unavailable ({}); {}", std::strerror(errno),
                   mode_ == watch_mode::inotify ? "git results will not be cached"
                                                : "using tree fingerprints");
  }
}

git_cache::~git_cache() {
  if (inotify_fd_ >= 0)
    ::close(inotify_fd_);
}

std::string git_cache::key(const std::string& repo, const std::vector<std::string>& args) {
  std::string k = repo;
  for (auto& a : args) {
    k += '\0';
    k += a;
  }
  return k;
}

git_cache::repo_state& git_cache::repo(const std::string& root) {
  auto& slot = repos_[root];
  if (slot)
    return *slot;
  slot = std::make_unique<repo_state>();
  auto& r = *slot;
  r.root = root;
  r.git_dir = git_dir_of(root);
  if (inotify_fd_ >= 0) {
    r.how = "inotify";
    // The git dir itself (HEAD, index, packed-refs) and its refs; not the
    // objects or logs, which change without changing any answer alone.
    bool ok = watch_tree(r, r.git_dir, true) && watch_tree(r, r.git_dir + "/refs", true) &&
              watch_tree(r, root, false);
    if (!ok) {
      drop_watches(r);
      r.how = mode_ == watch_mode::inotify ? "none" : "fingerprint";
      spdlog::warn("git cache: cannot watch all of '{}' with inotify ({}); {}", root,
                   std::strerror(errno),
                   r.how == "none" ? "its results will not be cached" : "using tree fingerprints");
    }
  } else {
    r.how = mode_ == watch_mode::inotify ? "none" : "fingerprint";
  }
  if (r.how == "fingerprint")
    ++counts_.fingerprint_repos;
  return r;
}

bool git_cache::watch_tree(repo_state& r, const std::string& dir, bool git) {
  int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(), tree_events);
  if (wd < 0)
    return errno == ENOENT || errno == ENOTDIR; // vanished meanwhile: nothing to watch
  r.wds.insert(wd);
  auto& w = watches_[wd];
  counts_.watches = watches_.size();
  w = std::make_unique<watch>(watch{&r, dir, git});
  if (git && dir == r.git_dir)
    return true; // refs/ is watched separately; objects/ and logs/ are not
  DIR* d = ::opendir(dir.c_str());
  if (!d)
    return true;
  std::vector<std::string> subdirs;
  while (auto* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || (!git && name == ".git"))
      continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      is_dir = ::lstat((dir + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (is_dir)
      subdirs.push_back(dir + "/" + name);
  }
  ::closedir(d);
  for (auto& sub : subdirs)
    if (!watch_tree(r, sub, git))
      return false;
  return true;
}

void git_cache::drop_watches(repo_state& r) {
  for (int wd : r.wds) {
    ::inotify_rm_watch(inotify_fd_, wd);
    watches_.erase(wd);
    counts_.watches = watches_.size();
  }
  r.wds.clear();
}

void git_cache::invalidate(repo_state& r, bool tree_only) {
  // Recorded even when nothing is cached: a result computed meanwhile must
  // not be stored.
  auto dropped = results_.invalidate(tree_tag(r.root));
  if (!tree_only)
    dropped += results_.invalidate(r.root);
  if (dropped > 0)
    ++counts_.invalidations;
}

void git_cache::drain_events() {
  if (inotify_fd_ < 0)
    return;
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    auto n = ::read(inotify_fd_, buf, sizeof(buf));
    if (n <= 0)
      return; // EAGAIN: nothing (more) pending
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      std::string name = ev->len > 0 ? std::string{ev->name} : std::string{};
      if (ev->mask & IN_Q_OVERFLOW) {
        for (auto& [root, r] : repos_)
          invalidate(*r, false);
        continue;
      }
      auto i = watches_.find(ev->wd);
      if (i == watches_.end())
        continue;
      auto& w = *i->second;
      auto& r = *w.repo;
      if (ev->mask & IN_IGNORED) {
        r.wds.erase(ev->wd);
        watches_.erase(i);
        counts_.watches = watches_.size();
        continue;
      }
      if (w.git) {
        // Git writes `X.lock` and renames it over `X`: the rename counts.
        if (ends_with(name, ".lock"))
          continue;
        invalidate(r, false);
        if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
            w.path != r.git_dir && !watch_tree(r, w.path + "/" + name, true))
          r.how = "lost";
        continue;
      }
      if (name == ".git" && w.path == r.root)
        continue;
      invalidate(r, true);
      if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
          !watch_tree(r, w.path + "/" + name, false))
        r.how = "lost";
    }
  }
}

void git_cache::sync(repo_state& r) {
  if (r.how == "inotify" || r.how == "lost") {
    drain_events();
    if (r.how == "lost") {
      // Out of watches for a new directory: fall back for this repository.
      drop_watches(r);
      invalidate(r, false);
      r.how = mode_ == watch_mode::inotify ? "none" : "fingerprint";
      if (r.how == "fingerprint")
        ++counts_.fingerprint_repos;
      spdlog::warn("git cache: out of inotify watches in '{}'; {}", r.root,
                   r.how == "none" ? "its results are no longer cached"
                                   : "using tree fingerprints");
    } else {
      return;
    }
  }
  if (r.how != "fingerprint")
    return;
  uint64_t h = 14695981039346656037ull;
  timespec newest{0, 0};
  fingerprint_dir(r.root, true, h, newest);
  mix(h, std::string{"\0git", 4});
  for (auto f : {"/HEAD", "/index", "/packed-refs"}) {
    struct stat st;
    if (::stat((r.git_dir + f).c_str(), &st) == 0) {
      mix(h, st.st_ino);
      mix(h, st.st_size);
      mix(h, st.st_mtim.tv_nsec);
      mix(h, st.st_mtim.tv_sec);
      mix(h, st.st_ctim.tv_nsec);
      if (st.st_mtim.tv_sec > newest.tv_sec ||
          (st.st_mtim.tv_sec == newest.tv_sec && st.st_mtim.tv_nsec > newest.tv_nsec))
        newest = st.st_mtim;
    }
  }
  fingerprint_dir(r.git_dir + "/refs", false, h, newest);
  timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  auto age_ns =
      (int64_t{now.tv_sec} - newest.tv_sec) * 1'000'000'000 + (now.tv_nsec - newest.tv_nsec);
  bool racy = age_ns < racy_window_ns;
  if (h != r.fingerprint || racy || r.racy)
    invalidate(r, false);
  r.fingerprint = h;
  r.racy = racy;
}

std::optional<command_result> git_cache::lookup(const std::string& repo_root, const std::string& k,
                                                bool count_miss) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& r = repo(repo_root);
  sync(r);
  auto v = results_.get<command_result>(k, clock::now());
  if (!v) {
    counts_.misses += count_miss ? 1 : 0;
    auto depths = results_.ghost_hit_depths();
    std::lock_guard<std::mutex> depths_guard{depths_mtx_};
    ghost_hit_depths_ = std::move(depths);
    return std::nullopt;
  }
  ++counts_.hits;
  command_result result = *v;
  result.cached = true;
  return result;
}

uint64_t git_cache::begin(const std::string& repo_root) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& r = repo(repo_root);
  sync(r);
  return results_.generation();
}

void git_cache::store(const std::string& repo_root, const std::string& k, git_kind kind,
                      const command_result& result, uint64_t gen) {
  if (kind == git_kind::write || result.timed_out || result.stdout_truncated ||
      result.stderr_truncated)
    return;
  auto value = std::make_shared<const command_result>(result); // built outside the lock
  std::lock_guard<std::mutex> guard{mtx_};
  auto& r = repo(repo_root);
  sync(r); // a change seen only now still rejects the result
  if (r.how != "inotify" && r.how != "fingerprint")
    return;
  std::vector<std::string> tags{repo_root};
  if (kind == git_kind::tree)
    tags.push_back(tree_tag(repo_root));
  results_.put(k, std::move(value), tags, gen, clock::now());
}

void git_cache::invalidate(const std::string& repo_root) {
  std::lock_guard<std::mutex> guard{mtx_};
  invalidate(repo(repo_root), false);
}

void git_cache::flush() {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [root, r] : repos_)
    invalidate(*r, false);
  results_.clear();
}

uint64_t git_cache::resize(uint64_t entries) {
  std::lock_guard<std::mutex> guard{mtx_};
  counts_.capacity = results_.resize(entries);
  return counts_.capacity;
}

uint64_t git_cache::capacity() const {
  return counts_.capacity;
}

git_cache::counts git_cache::stats() const {
  counts c;
  c.hits = counts_.hits;
  c.misses = counts_.misses;
  c.invalidations = counts_.invalidations;
  c.watches = counts_.watches;
  c.fingerprint_repos = counts_.fingerprint_repos;
  std::lock_guard<std::mutex> guard{depths_mtx_};
  c.ghost_hit_depths = ghost_hit_depths_;
  return c;
}

std::string git_cache::watch_of(const std::string& repo_root) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = repos_.find(repo_root);
  return i == repos_.end() ? std::string{} : i->second->how;
}

caf::expected<std::string> canonical_repo(const std::string& repo) {
  if (repo.empty())
    return make_error(errc::invalid_argument, "git: empty repository path");
  char* real = ::realpath(repo.c_str(), nullptr);
  if (!real)
    return make_error(errc::command_failed,
                      "git: repository '" + repo + "': " + std::strerror(errno));
  std::string out{real};
  std::free(real);
  return out;
}

} // namespace p21::subprocess_detail
