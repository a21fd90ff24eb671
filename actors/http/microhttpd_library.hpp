#pragma once

// libmicrohttpd, loaded with dlopen the first time an HTTP server starts.
// Linked, it would be mapped and relocated in every process that links the
// HTTP subsystem, with GnuTLS and its libraries (nettle, hogweed, gmp,
// p11-kit, tasn1, idn2, unistring...): about 2.4 MiB of startup RSS for a
// runtime whose `[http] listen` is empty (docs/embedding.md, "What embedding
// costs"). The header still gives the types, constants and each function's
// exact type; only the calls go through this table. Plain C++, no CAF.

#include <string>

#include <microhttpd.h>

namespace p21::http_detail {

class microhttpd_library {
public:
  // -- constants ---------------------------------------------------------------

  /// The file dlopen looks for: the SONAME of Debian's libmicrohttpd12.
  static constexpr const char* default_file = "libmicrohttpd.so.12";

  // -- constructors ------------------------------------------------------------

  /// The library loaded from `default_file`: loaded on the first call
  /// (thread-safe), then kept for the life of the process. Throws
  /// `std::runtime_error` naming the file and what is missing when it
  /// cannot be loaded; a later call tries again.
  static const microhttpd_library& instance();

  /// Loads `file` (RTLD_NOW | RTLD_LOCAL) and looks up every function below;
  /// throws `std::runtime_error` naming `file` and the library or function
  /// that is missing.
  explicit microhttpd_library(const std::string& file);
  ~microhttpd_library();

  microhttpd_library(const microhttpd_library&) = delete;
  microhttpd_library& operator=(const microhttpd_library&) = delete;

  // -- the functions http_server.cpp calls (their types from the header) -------

  decltype(&::MHD_start_daemon) start_daemon = nullptr;
  decltype(&::MHD_quiesce_daemon) quiesce_daemon = nullptr;
  decltype(&::MHD_stop_daemon) stop_daemon = nullptr;
  decltype(&::MHD_get_connection_info) get_connection_info = nullptr;
  decltype(&::MHD_get_connection_values) get_connection_values = nullptr;
  decltype(&::MHD_lookup_connection_value) lookup_connection_value = nullptr;
  decltype(&::MHD_create_response_from_buffer) create_response_from_buffer = nullptr;
  decltype(&::MHD_add_response_header) add_response_header = nullptr;
  decltype(&::MHD_queue_response) queue_response = nullptr;
  decltype(&::MHD_destroy_response) destroy_response = nullptr;

private:
  void* handle_ = nullptr;
};

} // namespace p21::http_detail
