# The Debian package (`make package`, or `cpack -G DEB` in a build
# directory): p21, the libraries, headers and CMake package config, plus the
# deployment files of component "deployment": the systemd unit, the default
# config (a conffile) and the data directory. That component is left out of
# a plain `cmake --install`, whose prefix need not be writable at /etc.

install(FILES packaging/perfect21.service
  DESTINATION lib/systemd/system COMPONENT deployment EXCLUDE_FROM_ALL)
# 0640: the config may hold a Redis password; postinst gives it to group
# perfect21, which the node runs as.
install(FILES packaging/perfect21.toml
  DESTINATION /etc/perfect21 COMPONENT deployment EXCLUDE_FROM_ALL
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(DIRECTORY DESTINATION /var/lib/perfect21 COMPONENT deployment EXCLUDE_FROM_ALL)
install(FILES README.md docs/config.md
  DESTINATION share/doc/perfect21 COMPONENT deployment EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME perfect21)
set(CPACK_PACKAGE_VENDOR "Perfect21")
set(CPACK_PACKAGE_CONTACT "Perfect21 maintainers <perfect21@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "self-tuning performance layer of CAF actors: cache, SQLite pool, subprocess pool, monitor, optimizer")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Debug info stays in the build tree: it would make the package ten times larger.
set(CPACK_STRIP_FILES ON)
# One package holding both components.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified deployment)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# Run-time libraries of p21 (bookworm names); the -dev packages are what an
# embedder builds against the installed headers with.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "adduser, libcaf-core0.17, libcaf-io0.17, libcaf-openssl0.17, libsqlite3-0, libspdlog1.10, libfmt9, libtomlplusplus3, libmicrohttpd12, libssl3, libhiredis0.14")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
  "libcaf-dev, libsqlite3-dev, libspdlog-dev, libtomlplusplus-dev, libmicrohttpd-dev, pkg-config, libssl-dev, libhiredis-dev")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${PROJECT_SOURCE_DIR}/packaging/conffiles;${PROJECT_SOURCE_DIR}/packaging/postinst;${PROJECT_SOURCE_DIR}/packaging/prerm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
