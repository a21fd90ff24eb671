// examples/asio_server: a TCP service on one Asio thread over Perfect21.
//   asio_server [PORT]   then e.g.: printf 'GET a\nSUM 1000\n' | nc 127.0.0.1 PORT

#include <csignal>
#include <iostream>

#include "p21/db_config.hpp"
#include "p21/p21.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
  p21::config cfg;
  cfg.get<p21::database_config>().path = "asio_example.db";
  p21::runtime rt{cfg};
  auto db = p21::db::open(rt).value();
  static_cast<void>(db.execute("CREATE TABLE IF NOT EXISTS kv(k TEXT PRIMARY KEY, v TEXT)"));
  static_cast<void>(db.execute("INSERT OR IGNORE INTO kv VALUES ('a', 'alpha'), ('b', 'beta')"));
  asio::io_context io;
  asio_example::server srv{io, rt, static_cast<uint16_t>(argc > 1 ? std::stoi(argv[1]) : 0)};
  asio::signal_set signals{io, SIGINT, SIGTERM};
  signals.async_wait([&](const asio::error_code&, int) { io.stop(); });
  std::cout << "listening on 127.0.0.1:" << srv.port() << std::endl;
  io.run(); // the one loop thread
  rt.stop(); // before io and srv go: no callback after this
  return 0;
}
