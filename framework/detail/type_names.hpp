#pragma once

#include <string>

namespace p21::detail {

/// The name a metric label and the dashboard show for a message type: CAF
/// 0.17's portable names of its built-in types read as C++ does (`@i64` ->
/// `int64`, `@error` -> `error`, `@down` -> `down_msg`, `@str` -> `string`),
/// a type CAF does not know (`???`) as `unannounced`; others unchanged.
std::string readable_type_name(const std::string& portable);

} // namespace p21::detail
