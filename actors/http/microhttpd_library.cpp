#include "microhttpd_library.hpp"

#include <stdexcept>
#include <type_traits>

#include <dlfcn.h>

namespace p21::http_detail {

namespace {

std::string last_dl_error() {
  auto* text = ::dlerror();
  return text != nullptr ? text : "unknown error";
}

} // namespace

const microhttpd_library& microhttpd_library::instance() {
  // A static whose construction throws is constructed again on the next
  // call: an HTTP server started after the package was installed loads it.
  // Never unloaded (never destroyed): a server left running at exit keeps
  // its code.
  static const microhttpd_library* lib = new microhttpd_library{default_file};
  return *lib;
}

microhttpd_library::microhttpd_library(const std::string& file) {
  // RTLD_NOW: a missing symbol of the library itself fails here, not in a
  // request; RTLD_LOCAL: its symbols (and GnuTLS's) never bind to others.
  handle_ = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr)
    throw std::runtime_error("cannot load " + file + " for the HTTP server (" + last_dl_error() +
                             "); on Debian it is in the package libmicrohttpd12");
  auto find = [&](auto& fn, const char* name) {
    ::dlerror();
    auto* sym = ::dlsym(handle_, name);
    if (sym == nullptr) {
      auto why = last_dl_error();
      ::dlclose(handle_);
      handle_ = nullptr;
      throw std::runtime_error(file + " has no function " + name + " (" + why + ")");
    }
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(sym);
  };
  find(start_daemon, "MHD_start_daemon");
  find(quiesce_daemon, "MHD_quiesce_daemon");
  find(stop_daemon, "MHD_stop_daemon");
  find(get_connection_info, "MHD_get_connection_info");
  find(get_connection_values, "MHD_get_connection_values");
  find(lookup_connection_value, "MHD_lookup_connection_value");
  find(create_response_from_buffer, "MHD_create_response_from_buffer");
  find(add_response_header, "MHD_add_response_header");
  find(queue_response, "MHD_queue_response");
  find(destroy_response, "MHD_destroy_response");
}

microhttpd_library::~microhttpd_library() {
  if (handle_ != nullptr)
    ::dlclose(handle_);
}

} // namespace p21::http_detail
