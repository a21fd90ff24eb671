// Every parser of command output and system files: /proc and cgroup files,
// a `.git` file, and git arguments (split at NUL bytes). The first byte
// picks the parser.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "actors/monitor/system_metrics.hpp"
#include "actors/subprocess/git_parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1)
    return 0;
  std::string text{reinterpret_cast<const char*>(data + 1), size - 1};
  auto which = data[0] % 11;
  if (which < 9) {
    p21::system_reading r;
    p21::parse_system_file(static_cast<p21::system_file>(which), text, r);
  } else if (which == 9) {
    static_cast<void>(p21::subprocess_detail::gitdir_from_file("/w", text));
  } else {
    std::vector<std::string> args;
    std::string arg;
    for (char c : text) {
      if (c == '\0') {
        args.push_back(arg);
        arg.clear();
      } else {
        arg += c;
      }
    }
    args.push_back(arg);
    static_cast<void>(p21::subprocess_detail::classify(args));
  }
  return 0;
}
