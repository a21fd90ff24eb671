#pragma once

// The check of a BASP payload before CAF deserializes it. CAF 0.17.6's
// binary deserializer sizes a string or a std::vector<char> from the length
// written inside the payload before it checks that those bytes exist: a
// 33-byte request whose inner length says 4 GiB took a node from 22 MB to
// 4.2 GB RSS (bad_alloc under a memory limit). The guard holds each frame
// until its payload is complete and walks it here, exactly as CAF 0.17.6's
// binary serializer wrote it, before CAF sees a byte of it.

#include <cstddef>
#include <cstdint>
#include <string>

namespace p21::cluster_detail {

/// Why a frame was refused: the `reason` label of `cluster_frames_refused`,
/// a small fixed set.
enum class frame_refusal : uint8_t {
  /// An unknown operation or a payload above `max_frame`.
  header,
  /// The in-flight budget (per address or in all) is spent.
  inflight,
  /// A length inside the payload says more than the frame holds.
  length,
  /// A type outside the allow-list of the published protocols.
  type,
  /// Values nested deeper than `basp_payload_max_depth`.
  depth,
  /// Not what CAF writes: truncated, trailing bytes, a foreign node id.
  malformed,
  /// What CAF would build from it is far larger than the payload, or it
  /// names too many actors.
  amplification,
};

/// Number of `frame_refusal` values (for fixed-size counter tables).
inline constexpr size_t frame_refusal_count = 7;

/// The metric label of `x`.
const char* to_label(frame_refusal x) noexcept;

/// Nesting allowed inside one payload (sequences, optionals, messages
/// inside errors inside messages).
inline constexpr unsigned basp_payload_max_depth = 8;

/// Actor handles one payload may carry (each one makes CAF create a proxy
/// and send a monitor message).
inline constexpr unsigned basp_payload_max_actors = 8;

/// What CAF may build from a payload of `n` bytes (estimated in-memory
/// size of the values): `n` times this plus `basp_payload_decoded_slack`.
inline constexpr uint64_t basp_payload_decoded_factor = 8;
inline constexpr uint64_t basp_payload_decoded_slack = 1 << 20;

/// Checks one complete BASP payload of a frame with `operation` (the
/// header's first byte). Returns the reason to refuse it, or empty; with
/// `kind`, also what kind of refusal. A payload passes only when every
/// length in it fits in what is left of it, every value's type is on the
/// allow-list, nesting stays within `basp_payload_max_depth` and no byte is
/// left over.
[[nodiscard]] std::string check_basp_payload(uint8_t operation, const char* data, size_t n,
                                             frame_refusal* kind = nullptr);

} // namespace p21::cluster_detail
