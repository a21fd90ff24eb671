#pragma once

// What a caller's SQL may do, as pure functions of text (no SQLite): the
// one-statement rule and the PRAGMA allow-list. The connection's authorizer
// applies them; they stand alone so that a fuzz target can reach them.

#include <string_view>

namespace p21::db_detail {

/// Whether what SQLite left after the first statement is blank: only
/// whitespace, `;` and complete comments. Anything else (a second
/// statement, even after `;;`, or an unterminated comment) is not.
bool sql_tail_is_blank(std::string_view tail) noexcept;

/// Whether a caller may run `PRAGMA name` (`argument` empty) or `PRAGMA
/// name = argument` / `PRAGMA name(argument)`. Reading schema and status
/// pragmas is allowed; changing a setting is not, except `user_version` and
/// `optimize` on the writer (`writer`). Names compare case-insensitively.
bool pragma_allowed(std::string_view name, std::string_view argument, bool writer) noexcept;

} // namespace p21::db_detail
