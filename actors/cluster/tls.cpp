// The cluster's TLS module, apart from the cluster itself: only a node that
// links this (Perfect21::cluster_tls) links CAF's OpenSSL library, so an
// application that embeds Perfect21 without TLS needs no OpenSSL at all.

#include <map>
#include <mutex>
#include <stdexcept>

#include <caf/actor_system_config.hpp>
#include <caf/openssl/manager.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "p21/cluster.hpp"
#include "p21/cluster_config.hpp"
#include "p21/subsystems.hpp"
#include "tls_transport.hpp"

namespace p21 {

namespace {

caf::io::middleman_actor openssl_middleman(caf::actor_system& sys) {
  return sys.openssl_manager().actor_handle();
}

std::string openssl_errors() {
  std::string out;
  while (auto e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string{buf};
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

/// OpenSSL's default asks for a key's passphrase on the terminal, which
/// would block CAF's network thread: an encrypted key is refused instead.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

/// A copy of `path`'s content that cannot change or vanish while the node
/// runs (an anonymous memory file, named by /proc/self/fd/N), or `path`
/// itself when no copy can be made. CAF 0.17 loads the files again for each
/// TLS session and ends the process when a load fails; a certificate
/// replaced half-written, or removed, must not do that. Kept for the life
/// of the process, one per path and content.
std::string pinned(const std::string& path) {
  static std::mutex mtx;
  static std::map<std::pair<std::string, std::string>, std::string> pins;
  int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return path;
  std::string content;
  char buf[16384];
  ssize_t n;
  while ((n = ::read(in, buf, sizeof buf)) > 0 && content.size() < (16u << 20))
    content.append(buf, static_cast<size_t>(n));
  ::close(in);
  if (n < 0)
    return path;
  std::lock_guard<std::mutex> guard{mtx};
  auto& pin = pins[{path, content}];
  if (!pin.empty())
    return pin;
  int fd = ::memfd_create("p21-tls", MFD_CLOEXEC);
  if (fd < 0)
    return path;
  size_t done = 0;
  while (done < content.size()) {
    auto w = ::write(fd, content.data() + done, content.size() - done);
    if (w <= 0) {
      ::close(fd);
      return path;
    }
    done += static_cast<size_t>(w);
  }
  pin = "/proc/self/fd/" + std::to_string(fd);
  return pin;
}

} // namespace

std::string tls_files_problem(const std::string& certificate, const std::string& key,
                              const std::string& ca) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{SSL_CTX_new(TLS_method()), SSL_CTX_free};
  if (!ctx)
    return "cannot make an OpenSSL context: " + openssl_errors();
  SSL_CTX_set_default_passwd_cb(ctx.get(), no_passphrase);
  // What CAF 0.17's session loads, in its order.
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), certificate.c_str()) != 1)
    return "certificate '" + certificate + "': cannot load: " + openssl_errors();
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1)
    return "key '" + key +
           "': cannot load (an encrypted key is not supported): " + openssl_errors();
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return "key '" + key + "' does not belong to certificate '" + certificate +
           "': " + openssl_errors();
  if (SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr) != 1)
    return "ca '" + ca + "': cannot load: " + openssl_errors();
  return {};
}

std::string require_tls_names(const std::vector<std::string>& servers,
                              const std::vector<std::string>& clients) {
  // CAF 0.17's session builds its OpenSSL context with
  // SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
  // nullptr) and keeps it private: no callback, no host name. But OpenSSL's
  // chain verification inherits the named parameter table entry "ssl_client"
  // (on the server, for the client's certificate) or "ssl_server" (on the
  // client), host names included, unless the context sets its own (CAF's
  // does not). So the names are replaced there, once, before CAF starts.
  static std::mutex mtx;
  std::lock_guard<std::mutex> guard{mtx};
  X509_VERIFY_PARAM_table_cleanup(); // back to OpenSSL's own entries
  std::pair<const char*, const std::vector<std::string>*> tables[] = {{"ssl_server", &servers},
                                                                      {"ssl_client", &clients}};
  for (auto& [table, names] : tables) {
    if (names->empty())
      continue;
    auto* base = X509_VERIFY_PARAM_lookup(table);
    auto* param = X509_VERIFY_PARAM_new();
    if (!base || !param || X509_VERIFY_PARAM_set1(param, base) != 1 ||
        X509_VERIFY_PARAM_set1_name(param, table) != 1) {
      X509_VERIFY_PARAM_free(param);
      return std::string{"cannot set the names TLS peers must carry: "} + openssl_errors();
    }
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    for (auto& name : *names)
      if (name.empty() || X509_VERIFY_PARAM_add1_host(param, name.data(), name.size()) != 1) {
        X509_VERIFY_PARAM_free(param);
        return "'" + name + "' is not a name a certificate can carry";
      }
    if (X509_VERIFY_PARAM_add0_table(param) != 1) {
      X509_VERIFY_PARAM_free(param);
      return std::string{"cannot set the names TLS peers must carry: "} + openssl_errors();
    }
  }
  return {};
}

void enable_cluster_tls() {
  cluster_detail::set_tls_middleman(openssl_middleman);
}

subsystem cluster_tls_subsystem() {
  enable_cluster_tls();
  subsystem s;
  s.name = "cluster_tls";
  s.configure_system = [](const config& cfg, caf::actor_system_config& caf_cfg) {
    auto& cl = cfg.get<cluster_config>();
    if (!cl.enabled() || !cl.tls())
      return;
    // Checked here, once, so that a bad file fails the start with its key
    // named, instead of every TLS session later (where CAF throws on its
    // network thread).
    if (auto why = tls_files_problem(cl.tls_certificate, cl.tls_key, cl.tls_ca); !why.empty())
      throw std::runtime_error("[cluster.tls] " + why);
    auto cert = pinned(cl.tls_certificate);
    auto key = pinned(cl.tls_key);
    auto ca = pinned(cl.tls_ca);
    if (tls_files_problem(cert, key, ca).empty()) {
      caf_cfg.openssl_certificate = cert;
      caf_cfg.openssl_key = key;
      caf_cfg.openssl_cafile = ca;
    } else {
      spdlog::warn("cluster: cannot keep a copy of the TLS files; CAF reads them again for "
                   "each connection");
      caf_cfg.openssl_certificate = cl.tls_certificate;
      caf_cfg.openssl_key = cl.tls_key;
      caf_cfg.openssl_cafile = cl.tls_ca;
    }
    std::vector<std::string> servers;
    for (auto& peer : cl.peers)
      if (!peer.expected_name.empty())
        servers.push_back(peer.expected_name);
    if (auto why = require_tls_names(servers, cl.tls_accepted_names); !why.empty())
      throw std::runtime_error("[cluster.tls] " + why);
    caf_cfg.load<caf::openssl::manager>();
  };
  return s;
}

} // namespace p21
