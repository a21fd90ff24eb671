#include "server.hpp"

#include <algorithm>
#include <sstream>

namespace asio_example {

using asio::ip::tcp;

// -- stall_meter --------------------------------------------------------------

stall_meter::stall_meter(asio::io_context& io, std::chrono::milliseconds period)
  : timer_(io)
  , period_(period) {}

void stall_meter::start() {
  running_ = true;
  arm();
}

void stall_meter::stop() {
  running_ = false;
  timer_.cancel();
}

std::vector<int64_t> stall_meter::samples() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return samples_;
}

void stall_meter::arm() {
  due_ = std::chrono::steady_clock::now() + period_;
  timer_.expires_at(due_);
  timer_.async_wait([this](const asio::error_code& ec) {
    if (ec || !running_)
      return;
    auto late = std::chrono::steady_clock::now() - due_;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      samples_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(late).count());
    }
    arm();
  });
}

// -- session ------------------------------------------------------------------

namespace {

/// One client connection: one request at a time, read, answer, read.
class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket sock, server& srv)
    : sock_(std::move(sock))
    , srv_(srv) {}

  void read() {
    auto self = shared_from_this();
    asio::async_read_until(sock_, in_, '\n', [self](const asio::error_code& ec, size_t) {
      if (ec)
        return; // the client went away
      std::istream is{&self->in_};
      std::string line;
      std::getline(is, line);
      self->srv_.handle(line, [self](std::string reply) { self->write(std::move(reply)); });
    });
  }

private:
  void write(std::string reply) {
    out_ = std::move(reply) + "\n";
    auto self = shared_from_this();
    asio::async_write(sock_, asio::buffer(out_), [self](const asio::error_code& ec, size_t) {
      if (!ec)
        self->read();
    });
  }

  tcp::socket sock_;
  asio::streambuf in_;
  std::string out_;
  server& srv_;
};

/// Runs `fn(result)` on `io`'s thread, whichever thread completes `f`.
template <class T, class F>
void on_loop(asio::io_context& io, p21::future<T> f, F fn) {
  f.then([&io, fn](caf::expected<T> x) mutable {
    asio::post(io, [fn, x = std::move(x)]() mutable { fn(std::move(x)); });
  });
}

std::string error_line(const caf::error& e) {
  return "ERR " + p21::render(e);
}

} // namespace

// -- server -------------------------------------------------------------------

server::server(asio::io_context& io, p21::runtime& rt, uint16_t port)
  : io_(io)
  , acceptor_(io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), port})
  , db_(p21::db::open(rt).value())
  , cache_(p21::cache::open(rt, "async").value())
  , commands_(p21::subprocess::open(rt).value()) {
  // The first use of a lazy component starts it on the calling thread:
  // done here, before the loop runs, never inside it.
  static_cast<void>(db_.query("SELECT 1"));
  static_cast<void>(commands_.stats());
  static_cast<void>(cache_.get("warm-up"));
  accept();
}

uint16_t server::port() const {
  return acceptor_.local_endpoint().port();
}

void server::accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, tcp::socket sock) {
    if (ec)
      return; // closed
    std::make_shared<session>(std::move(sock), *this)->read();
    accept();
  });
}

p21::future<std::string> server::load(const std::string& key) {
  auto out = std::make_shared<p21::promise<std::string>>();
  p21::future<std::string> f{*out};
  db_.async_query("SELECT v FROM kv WHERE k = ?", {p21::db_value::of(key)})
      .then([out, key](caf::expected<p21::db_result> r) {
        if (!r)
          out->set(r.error());
        else if (r->rows.empty())
          out->set(p21::make_error(p21::errc::not_found, "no key " + key));
        else
          out->set(r->rows[0][0].s);
      });
  return f;
}

void server::handle(const std::string& line, std::function<void(std::string)> reply) {
  std::istringstream words{line};
  std::string verb;
  std::string arg;
  words >> verb >> arg;
  if (verb == "GET" && !arg.empty()) {
    auto f = cache_.async_get_or_load("kv:" + arg, [this, arg] { return load(arg); });
    on_loop(io_, std::move(f), [reply](caf::expected<std::string> v) {
      reply(v ? "VALUE " + *v : error_line(v.error()));
    });
  } else if (verb == "SUM" && !arg.empty()) {
    auto f = db_.async_query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                             "WHERE x < ?) SELECT sum(x) FROM c",
                             {p21::db_value::of(static_cast<int64_t>(std::stoll(arg)))});
    on_loop(io_, std::move(f), [reply](caf::expected<p21::db_result> r) {
      reply(r ? "SUM " + std::to_string(r->rows[0][0].i) : error_line(r.error()));
    });
  } else if (verb == "RUN" && !arg.empty()) {
    p21::command_request req;
    req.argv = {"sleep", arg};
    on_loop(io_, commands_.async_run(std::move(req)),
            [reply](caf::expected<p21::command_result> r) {
              reply(r ? "RAN " + std::to_string(r->exit_code) : error_line(r.error()));
            });
  } else {
    reply("ERR usage: GET key | SUM n | RUN secs");
  }
}

} // namespace asio_example
