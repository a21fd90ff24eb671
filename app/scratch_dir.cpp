#include "app/scratch_dir.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <stdlib.h>

namespace fs = std::filesystem;

namespace p21::app {

scratch_dir::scratch_dir(const std::string& prefix) {
  std::error_code ec;
  auto base = fs::temp_directory_path(ec);
  auto tmpl = ((ec ? fs::path{"/tmp"} : base) / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error("cannot create a scratch directory " + tmpl + ": " +
                             std::strerror(errno));
  path_ = tmpl;
}

scratch_dir::~scratch_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

} // namespace p21::app
