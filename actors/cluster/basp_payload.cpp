#include "basp_payload.hpp"

#include <iterator>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace p21::cluster_detail {

namespace {

// -- layouts ----------------------------------------------------------------------

// What one value looks like on the wire. CAF 0.17.6's binary serializer
// writes integers big-endian at their size (bool and enums as their 1-byte
// underlying type, floating point as IEEE 754 bits, atoms and durations as 8
// bytes), lengths of strings and containers as a varbyte of at most 32 bits,
// and each field of a struct in the order of its `inspect`.
enum class kind : uint8_t {
  fixed,   // `size` bytes
  bytes,   // std::string, std::vector<char>: length, then the bytes
  seq,     // length, then that many times `elem` (vector, set, map)
  opt,     // caf::optional: a bool, then `elem` when it is true
  node,    // caf::node_id: its class atom, then that class's data
  actor,   // strong_actor_ptr, actor, actor_addr: actor id, then node_id
  error,   // caf::error: code (u8), category (atom), context (a message)
  message, // caf::message: type number (u16), type names, then each value
};

struct item {
  kind k = kind::fixed;
  uint8_t size = 0;
  std::vector<item> elem;
  /// seq: what one element takes inside its container (the estimate below).
  uint64_t elem_inline = 0;
};

using layout = std::vector<item>;

// Estimated in-memory sizes of what CAF builds (x86-64 libstdc++), for the
// amplification bound. Inline: what a value takes inside its container or
// struct; out of line: what it allocates besides (a string's bytes, a
// node_id's data, a proxy, a message's type-erased values).
constexpr uint64_t string_inline = 32;
constexpr uint64_t vector_inline = 24;
constexpr uint64_t pointer_inline = 8;
constexpr uint64_t element_cost = 32;
constexpr uint64_t node_cost = 48;
constexpr uint64_t actor_cost = 64;
constexpr uint64_t error_cost = 24;

uint64_t inline_size(const layout& xs) {
  uint64_t n = 0;
  for (auto& x : xs) {
    switch (x.k) {
    case kind::fixed:
      n += 8; // members are padded to 8 bytes at most
      break;
    case kind::bytes:
      n += string_inline;
      break;
    case kind::seq:
      n += vector_inline;
      break;
    case kind::opt:
      n += 8 + inline_size(x.elem);
      break;
    case kind::node:
    case kind::actor:
    case kind::error:
    case kind::message:
      n += pointer_inline;
      break;
    }
  }
  return n;
}

/// The allow-list: what the published protocols (include/p21/protocol/,
/// actors/cluster/public_interface.hpp) and CAF's own traffic between nodes
/// (handshakes, link, exit, down, its "info"/spawn-server queries) carry, by
/// the portable names CAF writes into a message. Everything else is refused:
/// a peer has no business sending it, and a walker must know a layout to
/// bound it. A `p21.` name is the one its subsystem announces with
/// `add_message_type`; its layout follows that type's `inspect`.
/// (`u64*17`: 17 times; `[...]`: a sequence of what is inside; `?x`: an
/// optional x; a known name: that name's layout.)
constexpr std::pair<std::string_view, std::string_view> allowed[] = {
    // CAF's built-in types (caf/type_nr.hpp)
    {"bool", "u8"},
    {"float", "u32"},
    {"double", "u64"},
    {"@i8", "u8"},
    {"@u8", "u8"},
    {"@i16", "u16"},
    {"@u16", "u16"},
    {"@i32", "u32"},
    {"@u32", "u32"},
    {"@i64", "u64"},
    {"@u64", "u64"},
    {"@atom", "u64"},
    {"@timespan", "u64"},
    {"@timestamp", "u64"},
    {"@message_id", "u64"},
    {"@unit", ""},
    {"@str", "str"},
    {"@charbuf", "str"},
    {"@strvec", "[str]"},
    {"@strset", "[str]"},
    {"@strmap", "[str str]"},
    {"@node", "node"},
    {"@actor", "actor"},
    {"@addr", "actor"},
    {"@strong_actor_ptr", "actor"},
    {"@error", "error"},
    {"@down", "actor error"},
    {"@exit", "actor error"},
    // the published protocols: cache
    {"p21.optional_string", "?str"},
    {"p21.optional_strings", "[?str]"},
    {"p21.load_reply", "u8 str"},
    {"p21.shrink_result", "u64 u64"},
    {"p21.cache_stats", "str u64*17 [u64]"},
    // db_pool
    {"p21.db_value", "u8 u64 u64 str"},
    {"p21.db_row", "[p21.db_value]"},
    {"p21.db_statement", "str [p21.db_value]"},
    {"p21.db_result", "[str] [[p21.db_value]] u64 u64 u8"},
    {"p21.histogram_summary", "str [str str] u64*6 [u64] [u64] u8"}, // u8: its roles
    {"p21.db_pool_stats", "u64*13 p21.histogram_summary p21.histogram_summary"},
};

using table = std::unordered_map<std::string_view, layout>;

/// Compiles `text` (the notation above) into items, names expanded inline
/// from `known` (entries earlier in `allowed`). A typo is a programming
/// error that the unit tests catch (every entry is walked there).
void compile(std::string_view& text, const table& known, layout& out, char until) {
  while (!text.empty()) {
    auto c = text.front();
    if (c == ' ') {
      text.remove_prefix(1);
      continue;
    }
    if (c == until) {
      text.remove_prefix(1);
      return;
    }
    item x;
    if (c == '[' || c == '?') {
      text.remove_prefix(1);
      x.k = c == '[' ? kind::seq : kind::opt;
      if (c == '[') {
        compile(text, known, x.elem, ']');
        x.elem_inline = inline_size(x.elem);
      } else {
        // `?` takes the next single item.
        layout one;
        auto rest = text.substr(text.find_first_of(" ]") == std::string_view::npos
                                    ? text.size()
                                    : text.find_first_of(" ]"));
        auto token = text.substr(0, text.size() - rest.size());
        compile(token, known, one, '\0');
        x.elem = std::move(one);
        text = rest;
      }
      out.push_back(std::move(x));
      continue;
    }
    auto end = text.find_first_of(" ]");
    auto token = text.substr(0, end);
    text.remove_prefix(token.size());
    size_t times = 1;
    if (auto star = token.find('*'); star != std::string_view::npos) {
      times = std::stoul(std::string{token.substr(star + 1)});
      token = token.substr(0, star);
    }
    layout one;
    if (token == "u8" || token == "u16" || token == "u32" || token == "u64") {
      x.size = static_cast<uint8_t>(token == "u8"    ? 1
                                    : token == "u16" ? 2
                                    : token == "u32" ? 4
                                                     : 8);
      one.push_back(x);
    } else if (token == "str" || token == "node" || token == "actor" || token == "error") {
      x.k = token == "str"     ? kind::bytes
            : token == "node"  ? kind::node
            : token == "actor" ? kind::actor
                               : kind::error;
      one.push_back(x);
    } else {
      one = known.at(token);
    }
    for (size_t i = 0; i < times; ++i)
      out.insert(out.end(), one.begin(), one.end());
  }
}

/// Owns the names made up at run time ("std::vector<p21.db_value>").
std::vector<std::string>& made_names() {
  static std::vector<std::string> names;
  return names;
}

const table& allow_list() {
  static const table t = [] {
    table result;
    auto& names = made_names();
    names.reserve(std::size(allowed));
    for (auto& [name, text] : allowed) {
      auto rest = text;
      compile(rest, result, result[name], '\0');
      // `add_message_type<T>("N")` announces std::vector<T> as
      // "std::vector<N>" too, and CAF writes that name for one (a
      // transaction's statements, a multi-key get's reply).
      if (name.substr(0, 4) == "p21.") {
        names.push_back("std::vector<" + std::string{name} + ">");
        item seq;
        seq.k = kind::seq;
        seq.elem = result[name];
        seq.elem_inline = inline_size(seq.elem);
        result[names.back()] = layout{seq};
      }
    }
    return result;
  }();
  return t;
}

// The class atoms of node_id's data, as caf::atom() encodes them (checked
// against caf::atom in the unit tests): none (an invalid node id) and the
// default data (process id, 20-byte host id).
constexpr uint64_t node_class_none = 0xf;
constexpr uint64_t node_class_default = 0x00003e9aab9bac79;
constexpr size_t node_default_data_size = 4 + 20;

/// At most 64 bytes of a peer's text, fit for a log line.
std::string printable(std::string_view text) {
  std::string result{text.substr(0, 64)};
  for (auto& c : result)
    if (c < 0x20 || c > 0x7e)
      c = '?';
  return result;
}

// -- the walker -------------------------------------------------------------------

class walker {
public:
  walker(const char* data, size_t n)
    : p_(reinterpret_cast<const unsigned char*>(data))
    , end_(p_ + n)
    , budget_(n * basp_payload_decoded_factor + basp_payload_decoded_slack) {}

  bool items(const layout& xs, unsigned depth) {
    for (auto& x : xs)
      if (!one(x, depth))
        return false;
    return true;
  }

  bool message(unsigned depth) {
    if (depth > basp_payload_max_depth)
      return fail(frame_refusal::depth,
                  "values nested deeper than " + std::to_string(basp_payload_max_depth));
    uint64_t typenr = 0;
    if (!fixed(2, &typenr))
      return false;
    if (typenr != 0)
      return fail(frame_refusal::malformed, "a message with type number " + std::to_string(typenr));
    uint32_t len = 0;
    if (!length(len) || !spend(element_cost + len))
      return false;
    std::string_view names{reinterpret_cast<const char*>(p_), len};
    p_ += len;
    constexpr std::string_view empty = "@<>";
    if (names == empty)
      return true;
    if (names.substr(0, 4) != "@<>+")
      return fail(frame_refusal::malformed, "a message without type names");
    names.remove_prefix(4);
    auto& known = allow_list();
    for (;;) {
      auto plus = names.find('+');
      auto name = names.substr(0, plus);
      auto i = known.find(name);
      if (i == known.end())
        return fail(frame_refusal::type, "a value of type '" + printable(name) + "', not accepted");
      if (!spend(element_cost + inline_size(i->second)) || !items(i->second, depth + 1))
        return false;
      if (plus == std::string_view::npos)
        return true;
      names.remove_prefix(plus + 1);
    }
  }

  /// True when every byte was walked.
  bool finish() {
    if (p_ != end_)
      return fail(frame_refusal::malformed,
                  std::to_string(end_ - p_) + " bytes after the last value");
    return true;
  }

  std::string why;
  frame_refusal kind = frame_refusal::malformed;

private:
  bool one(const item& x, unsigned depth) {
    switch (x.k) {
    case kind::fixed:
      return fixed(x.size);
    case kind::bytes: {
      uint32_t len = 0;
      if (!length(len) || !spend(len))
        return false;
      p_ += len;
      return true;
    }
    case kind::seq: {
      if (depth + 1 > basp_payload_max_depth)
        return fail(frame_refusal::depth,
                    "values nested deeper than " + std::to_string(basp_payload_max_depth));
      uint32_t count = 0;
      // Every element takes at least one byte, so a count above what is
      // left is a lie (and what CAF would size a container by).
      if (!length(count) || !spend(count * x.elem_inline))
        return false;
      for (uint32_t i = 0; i < count; ++i)
        if (!items(x.elem, depth + 1))
          return false;
      return true;
    }
    case kind::opt: {
      uint64_t flag = 0;
      if (!fixed(1, &flag))
        return false;
      return flag == 0 || items(x.elem, depth + 1);
    }
    case kind::node: {
      uint64_t cls = 0;
      if (!fixed(8, &cls) || !spend(node_cost))
        return false;
      if (cls == node_class_none)
        return true;
      if (cls != node_class_default)
        return fail(frame_refusal::malformed, "a node id of an unknown kind");
      return fixed(node_default_data_size);
    }
    case kind::actor:
      if (++actors_ > basp_payload_max_actors)
        return fail(frame_refusal::amplification,
                    "more than " + std::to_string(basp_payload_max_actors) + " actor handles");
      return fixed(8) && spend(actor_cost) && one(item{kind::node, 0, {}}, depth);
    case kind::error:
      return fixed(1) && fixed(8) && spend(error_cost) && message(depth + 1);
    case kind::message:
      return message(depth + 1);
    }
    return fail(frame_refusal::malformed, "an unknown layout");
  }

  bool fail(frame_refusal k, std::string text) {
    kind = k;
    why = std::move(text);
    return false;
  }

  size_t left() const noexcept { return static_cast<size_t>(end_ - p_); }

  /// Reads `n` bytes (big-endian into `out` when given).
  bool fixed(size_t n, uint64_t* out = nullptr) {
    if (n > left())
      return fail(frame_refusal::malformed, "the payload ends inside a value");
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i)
      v = (v << 8) | p_[i];
    p_ += n;
    if (out)
      *out = v;
    return true;
  }

  /// Reads a length as CAF 0.17.6's `begin_sequence` does (a varbyte
  /// truncated to 32 bits) and refuses one above the bytes left.
  bool length(uint32_t& out) {
    uint32_t x = 0;
    for (int i = 0;; ++i) {
      if (i == 5)
        return fail(frame_refusal::malformed, "a length of more than 5 bytes");
      if (p_ == end_)
        return fail(frame_refusal::malformed, "the payload ends inside a length");
      auto b = *p_++;
      x |= static_cast<uint32_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0)
        break;
    }
    if (x > left())
      return fail(frame_refusal::length, "a length of " + std::to_string(x) + " with " +
                                             std::to_string(left()) + " bytes left in the frame");
    out = x;
    return true;
  }

  /// Counts `n` more bytes of what CAF would build.
  bool spend(uint64_t n) {
    if (n > budget_)
      return fail(frame_refusal::amplification, "it would decode to more than " +
                                                    std::to_string(basp_payload_decoded_factor) +
                                                    " times its size");
    budget_ -= n;
    return true;
  }

  const unsigned char* p_;
  const unsigned char* end_;
  uint64_t budget_;
  unsigned actors_ = 0;
};

// What each BASP operation's payload holds (caf/io/basp/instance.cpp,
// remote_message_handler.hpp of CAF 0.17.6).
const layout* operation_layout(uint8_t op) {
  static const std::vector<layout> ops = [] {
    table none;
    std::vector<layout> result(6);
    const std::string_view text[] = {
        "node [str] u64 [str]", // server handshake: node, app ids, actor, interface
        "node",                 // client handshake
        "[actor]",              // direct message: stages, then the message
        "node node [actor]",    // routed message: source, destination, stages, message
        "node node",            // monitor: source, destination
        "node node error",      // down: source, destination, reason
    };
    for (size_t i = 0; i < result.size(); ++i) {
      auto rest = text[i];
      compile(rest, none, result[i], '\0');
    }
    return result;
  }();
  return op < ops.size() ? &ops[op] : nullptr;
}

} // namespace

const char* to_label(frame_refusal x) noexcept {
  switch (x) {
  case frame_refusal::header:
    return "header";
  case frame_refusal::inflight:
    return "inflight";
  case frame_refusal::length:
    return "length";
  case frame_refusal::type:
    return "type";
  case frame_refusal::depth:
    return "depth";
  case frame_refusal::malformed:
    return "malformed";
  case frame_refusal::amplification:
    return "amplification";
  }
  return "malformed";
}

std::string check_basp_payload(uint8_t operation, const char* data, size_t n, frame_refusal* kind) {
  auto* ops = operation_layout(operation);
  walker w{data, n};
  bool ok = false;
  if (!ops) {
    // Heartbeats carry nothing; CAF never writes a payload for one.
    w.kind = frame_refusal::malformed;
    w.why = "a payload for operation " + std::to_string(operation);
  } else {
    bool has_message = operation == 2 || operation == 3;
    ok = w.items(*ops, 0) && (!has_message || w.message(0)) && w.finish();
  }
  if (ok)
    return {};
  if (kind)
    *kind = w.kind;
  return "refused payload: " + w.why;
}

} // namespace p21::cluster_detail
