#include "git_parse.hpp"

#include <set>

namespace p21::subprocess_detail {

namespace {

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

/// `git branch` that only lists.
bool lists_branches(const std::vector<std::string>& args) {
  static const std::set<std::string> changing = {"-d",
                                                 "-D",
                                                 "--delete",
                                                 "-m",
                                                 "-M",
                                                 "--move",
                                                 "-c",
                                                 "-C",
                                                 "--copy",
                                                 "-f",
                                                 "--force",
                                                 "-u",
                                                 "--unset-upstream",
                                                 "--edit-description",
                                                 "-t",
                                                 "--track",
                                                 "--no-track",
                                                 "--set-upstream",
                                                 "--create-reflog"};
  bool list = false;
  bool positional = false;
  for (size_t i = 1; i < args.size(); ++i) {
    auto& a = args[i];
    if (changing.count(a) || starts_with(a, "--set-upstream-to") || starts_with(a, "--track="))
      return false;
    if (a == "--list" || a == "-l")
      list = true;
    else if (!starts_with(a, "-"))
      positional = true;
  }
  return list || !positional;
}

} // namespace

std::string gitdir_from_file(const std::string& root, std::string_view content) {
  constexpr std::string_view prefix = "gitdir: ";
  if (content.substr(0, prefix.size()) != prefix)
    return {};
  auto path = content.substr(prefix.size());
  if (auto eol = path.find_first_of("\r\n"); eol != std::string_view::npos)
    path = path.substr(0, eol);
  // An empty or NUL-holding path names nothing (path.front() of an empty
  // path was undefined behaviour here).
  if (path.empty() || path.find('\0') != std::string_view::npos)
    return {};
  return path.front() == '/' ? std::string{path} : root + "/" + std::string{path};
}

git_kind classify(const std::vector<std::string>& args) {
  if (args.empty())
    return git_kind::write;
  for (auto& a : args)
    if (starts_with(a, "--output") || a == "-o")
      return git_kind::write;
  auto& sub = args[0];
  if (sub == "status" || sub == "diff" || sub == "ls-files")
    return git_kind::tree;
  if (sub == "rev-parse" || sub == "log" || sub == "show")
    return git_kind::refs;
  if (sub == "branch" && lists_branches(args))
    return git_kind::refs;
  return git_kind::write;
}

} // namespace p21::subprocess_detail
