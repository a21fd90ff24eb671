#pragma once

// systemd's service notification protocol (sd_notify(3)), spoken directly:
// one datagram per state change to the unix socket in $NOTIFY_SOCKET. A few
// lines here instead of linking libsystemd, which a node outside systemd
// would not need.

#include <chrono>
#include <optional>
#include <string>

namespace p21::app {

/// Tells the service manager that started this process how it is doing:
/// ready, reloading, alive (watchdog) and stopping. Does nothing when no
/// manager asked for it (no NOTIFY_SOCKET).
class service_notifier {
public:
  // -- constructors, destructors ------------------------------------------------

  /// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, then removes them
  /// from the environment so that the commands the node runs do not talk to
  /// the manager in its name. Call before other threads exist.
  static service_notifier from_environment();

  /// Sends to `socket_path` (a leading '@' names an abstract socket);
  /// empty: disabled. `watchdog`: how often the manager expects WATCHDOG=1.
  explicit service_notifier(std::string socket_path = {},
                            std::optional<std::chrono::microseconds> watchdog = std::nullopt);

  ~service_notifier();

  service_notifier(service_notifier&& other) noexcept;
  service_notifier& operator=(service_notifier&&) = delete;
  service_notifier(const service_notifier&) = delete;

  // -- properties ---------------------------------------------------------------

  bool enabled() const noexcept { return fd_ >= 0; }

  /// Half the manager's watchdog timeout (its recommended period), if it
  /// set one.
  std::optional<std::chrono::microseconds> watchdog_period() const noexcept;

  // -- notifications ------------------------------------------------------------

  /// Sends `state` ("READY=1", "STATUS=...", several joined by '\n');
  /// false when disabled or the datagram was not sent.
  bool notify(const std::string& state);

  bool ready() { return notify("READY=1"); }
  /// RELOADING=1 with the CLOCK_MONOTONIC time systemd 253+ asks for.
  bool reloading();
  bool watchdog() { return notify("WATCHDOG=1"); }
  bool stopping() { return notify("STOPPING=1"); }

private:
  int fd_ = -1;
  std::string path_;
  std::optional<std::chrono::microseconds> watchdog_;
};

} // namespace p21::app
