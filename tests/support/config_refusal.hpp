#pragma once

// Loading a config that must be refused, for the config tests of every
// subsystem: the refusal, or a test failure when the config was accepted.

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include "p21/config.hpp"
#include "p21/config_schema.hpp"
#include "p21/subsystems.hpp"

namespace p21::test {

/// Loads `text` (standard schema) expecting a refusal; returns the error.
inline config_error refusal(const std::string& text) {
  try {
    static_cast<void>(load_config_string(text, "node.toml"));
  } catch (const config_error& e) {
    return e;
  }
  FAIL("the config was accepted:\n" << text);
  throw std::logic_error("unreachable");
}

/// Validates `cfg` (standard schema) expecting a refusal; returns the error.
inline config_error refusal(const config& cfg) {
  try {
    validate(cfg);
  } catch (const config_error& e) {
    return e;
  }
  FAIL("the config was accepted");
  throw std::logic_error("unreachable");
}

} // namespace p21::test
