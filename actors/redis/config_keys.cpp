// `[redis]`: the server behind caches with `backend = "redis"`.

#include "p21/config_schema.hpp"
#include "p21/redis_config.hpp"
#include "redis_component.hpp"
#include "redis_url.hpp"

namespace p21::redis_detail {

using namespace std::chrono_literals;

void declare_redis_keys(config_schema& schema) {
  using R = redis_config;
  schema
      .section<R>("redis", "The Redis server behind caches with `backend = \"redis\"`.")
      .string("url", &R::url, "`redis://[user:password@]host:port/db` or `unix:///path`")
      .refine([](const key_value& v) {
        std::string why;
        redis_detail::parse_redis_url(std::get<std::string>(v), &why);
        return why;
      })
      .duration("connect_timeout", &R::connect_timeout, 1ms, "bound of one connection attempt")
      .duration("command_timeout", &R::command_timeout, 1ms,
                "deadline of one command, from sending it to the end of its reply (however "
                "slowly the server sends it); gets and puts fail with `unavailable` past it")
      .size("max_reply_bytes", &R::max_reply_bytes, 1024,
            "largest Redis reply accepted: its bytes plus 64 per array element; a longer "
            "bulk string or array fails the command with `unavailable` as soon as its length "
            "arrives, before anything is buffered, and the connection is dropped")
      .count("pool_size", &R::pool_size, 1, 1024, "data connections per node")
      .string("key_prefix", &R::key_prefix,
              "prepended to every key in Redis (then the cache's name and a colon)");
}

} // namespace p21::redis_detail
