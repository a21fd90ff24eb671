#pragma once

// SQLite 3.40 (Debian bookworm's) repeats a `%c` conversion's character
// once per unit of its precision, one append at a time, whatever
// SQLITE_LIMIT_LENGTH says: `printf('%.*c', 1010000000, 'x')` runs for about
// 40 s inside one VM step, out of reach of the statement deadline (SQLite's
// progress handler runs between steps), and returns NULL. A fuzzer found it.
// The guard checks the format first, then runs SQLite's own printf.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

struct sqlite3;

namespace p21::db_detail {

/// The largest precision any `%c` conversion of `format` asks for, with
/// `int_arg(i)` the i-th argument after the format as an integer (for `*`);
/// 0 when there is none. Follows SQLite's printf grammar: flags, width (a
/// number or `*`), `.` precision (a number or `*`), `l`/`ll`, conversion.
int64_t largest_char_repeat(std::string_view format,
                            const std::function<int64_t(size_t)>& int_arg);

/// Replaces `printf` and `format` on `db` by the guard: a format whose `%c`
/// precision exceeds `max_value_bytes` is an error ("printf(): ..."), any
/// other call is answered by SQLite's own printf, run on a private
/// in-memory connection with the same length limit. Returns an empty
/// string, or what SQLite refused.
std::string install_printf_guard(sqlite3* db, int64_t max_value_bytes);

} // namespace p21::db_detail
