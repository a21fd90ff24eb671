#include "p21/request.hpp"

#include "p21/config.hpp"
#include "p21/error.hpp"

namespace p21 {

caf::error request_failure(caf::error e, caf::timespan timeout) {
  if (e == caf::sec::request_timeout)
    return make_error(errc::timeout, "no reply within " + format_duration(timeout));
  return normalize(std::move(e));
}

} // namespace p21
