#pragma once

// File descriptors for a published port. Each connection a guard relays
// holds three: the client's, the guard's to CAF's listener, and CAF's end
// of that. CAF 0.17's TLS listener also opens the certificate, key and CA
// files for every connection it accepts (it builds an OpenSSL context per
// session) and, when that fails, throws on its network thread, which ends
// the process (`terminate`): measured with 1 100 idle TCP connections to a
// TLS port at the default limit of 1 024 descriptors. So the guard's
// connection cap must leave the node descriptors of its own.

#include <cstddef>
#include <cstdint>

namespace p21::cluster_detail {

/// Descriptors one relayed connection holds.
inline constexpr size_t descriptors_per_connection = 3;

/// Descriptors kept for everything else the node opens (its database
/// connections, HTTP clients, subprocess pipes, logs, CAF's own sockets and
/// the certificate loads of TLS sessions).
inline constexpr size_t reserved_descriptors = 384;

/// Raises the soft RLIMIT_NOFILE to the hard one (once is enough; harmless
/// again); returns the soft limit now in force, 0 when unknown.
uint64_t raise_descriptor_limit() noexcept;

/// Connections a guard may relay so that the node stays below `limit`
/// descriptors: `configured`, or fewer (at least 1). `limit` 0: unknown,
/// `configured` as it is.
size_t connections_within(size_t configured, uint64_t limit) noexcept;

} // namespace p21::cluster_detail
