#pragma once

// SQLite 3.40 (Debian bookworm's) repeats a `%c` conversion's character
// once per unit of its precision, one append at a time, whatever
// SQLITE_LIMIT_LENGTH says: `printf('%.*c', 1010000000, 'x')` runs for about
// 40 s inside one VM step, out of reach of the statement deadline (SQLite's
// progress handler runs between steps), and returns NULL. A fuzzer found it.
// The guard checks the format first, then runs SQLite's own printf.
//
// A second fuzzer input: `printf(X'FF' x 47 || '%.*c', 1000000, 'x')` under
// a 1 MiB limit took 21 s under AddressSanitizer (7 ms without). SQLite
// grows its text by doubling only while twice the text fits under the
// limit; past half the limit it grows each append by what that append
// needs, one realloc each, and a realloc that copies (ASan's, or any
// allocator's that cannot grow in place) makes the repeat quadratic: a
// 600 000-byte prefix and a 1 000 000 repeat took 54 s under a 2 MiB limit.
// So the guard's own connection allows twice the largest value, the guard
// refuses a format whose literal text and `%c` repeats alone pass the
// largest value (its result would be refused anyway), and it refuses a
// result longer than the largest value itself.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

struct sqlite3;

namespace p21::db_detail {

/// The bytes `format` makes at least: its literal text (`%%` is one byte)
/// and, for each `%c` with a precision above 1, that many characters;
/// with `int_arg(i)` the i-th argument after the format as an integer (for
/// `*`). Other conversions count nothing (their output is appended in one
/// piece). Saturates at INT64_MAX. Follows SQLite's printf grammar: flags,
/// width (a number or `*`), `.` precision (a number or `*`), `l`/`ll`,
/// conversion.
int64_t least_printf_bytes(std::string_view format,
                           const std::function<int64_t(size_t)>& int_arg);

/// Replaces `printf` and `format` on `db` by the guard: a format that makes
/// more than `max_value_bytes` (`least_printf_bytes`) is an error
/// ("printf(): ..."), as is a result longer than that; any other call is
/// answered by SQLite's own printf, run on a private in-memory connection.
/// Returns an empty string, or what SQLite refused.
std::string install_printf_guard(sqlite3* db, int64_t max_value_bytes);

} // namespace p21::db_detail
