#pragma once

// The git operation cache: results of read-only git commands, per repository,
// dropped the moment the repository changes. Changes are seen through
// inotify (the work tree recursively, `.git` itself for HEAD, refs and the
// index), drained before every lookup, so an edit that returned before the
// lookup began is always seen. Where inotify is unavailable or out of
// watches, a fingerprint of the tree (inode, size, mtime, ctime of every
// entry) is compared instead.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "git_parse.hpp"
#include "p21/config.hpp"
#include "p21/protocol/subprocess.hpp"
#include "p21/subprocess_config.hpp"
#include "tagged_cache.hpp" // p21_tagged_cache

namespace p21::subprocess_detail {

/// How the cache notices changes (`[subprocess] git_watch`).
using watch_mode = git_watch_mode;

class git_cache {
public:
  git_cache(size_t entries, timespan ttl, watch_mode mode);
  ~git_cache();

  git_cache(const git_cache&) = delete;
  git_cache& operator=(const git_cache&) = delete;

  /// The key of a command in a repository (`repo` canonical).
  static std::string key(const std::string& repo, const std::vector<std::string>& args);

  /// A cached result still true of the repository; counts a hit, and a miss
  /// when `count_miss` (a handle that misses asks the pool, which counts it).
  std::optional<command_result> lookup(const std::string& repo, const std::string& key,
                                       bool count_miss = true);

  /// Call before running a cacheable command: the repository's generation.
  uint64_t begin(const std::string& repo);

  /// Caches `r` unless the repository changed since `begin` returned `gen`.
  void store(const std::string& repo, const std::string& key, git_kind kind,
             const command_result& r, uint64_t gen);

  /// Drops every result of `repo` (a write command ran in it).
  void invalidate(const std::string& repo);

  /// Drops everything (the pool restarted).
  void flush();

  /// Sets the capacity in entries; returns it.
  uint64_t resize(uint64_t entries);

  uint64_t capacity() const;

  struct counts {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t invalidations = 0;
    uint64_t watches = 0;
    uint64_t fingerprint_repos = 0;
    /// The result store's ghost hits by depth (a miss-ratio curve).
    std::vector<uint64_t> ghost_hit_depths;
  };

  counts stats() const;

  /// How a repository is watched: "inotify", "fingerprint", "none" (strict
  /// inotify mode without watches: not cached) or "" when unknown.
  std::string watch_of(const std::string& repo) const;

private:
  struct repo_state;
  struct watch;

  repo_state& repo(const std::string& root);
  void sync(repo_state& r);
  void drain_events();
  bool watch_tree(repo_state& r, const std::string& dir, bool git);
  void drop_watches(repo_state& r);
  void invalidate(repo_state& r, bool tree_only);

  mutable std::mutex mtx_;
  /// Tagged with the repository's root (every result) and its tree tag
  /// (results that read the work tree, too).
  cache_detail::tagged_cache results_;
  watch_mode mode_;
  int inotify_fd_ = -1;
  std::map<std::string, std::unique_ptr<repo_state>> repos_;
  std::map<int, std::unique_ptr<watch>> watches_;
  /// Read without the lock (the pool actor asks for stats on a scheduler
  /// thread while a lookup may hold the lock for a fingerprint walk).
  struct atomic_counts {
    std::atomic<uint64_t> hits{0};
    std::atomic<uint64_t> misses{0};
    std::atomic<uint64_t> invalidations{0};
    std::atomic<uint64_t> watches{0};
    std::atomic<uint64_t> fingerprint_repos{0};
    std::atomic<uint64_t> capacity{0};
  };
  atomic_counts counts_;
  /// Copied from the store after each miss, under its own lock (stats() does
  /// not take `mtx_`); a git miss runs a process, a copy is nothing beside it.
  mutable std::mutex depths_mtx_;
  std::vector<uint64_t> ghost_hit_depths_;
};

/// `repo` resolved to its canonical path (the git cache's keys use it), or
/// an error naming why it cannot be.
caf::expected<std::string> canonical_repo(const std::string& repo);

} // namespace p21::subprocess_detail
