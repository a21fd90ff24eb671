# The Debian packages (`make package`, or `cpack -G DEB` in a build
# directory), split the Debian way, one per install component group:
#   perfect21         p21, its manual page, the systemd unit, the default
#                     config (a conffile) and the data directory
#   libperfect21-N    the shared library (N: its SONAME version)
#   libperfect21-dev  headers, static libraries, the .so link, CMake package
#                     config and perfect21.pc
# Each has its /usr/share/doc/PKG/copyright (machine-readable) and
# changelog.gz. ELF files are stripped the way dh_strip does
# (cmake/StripPackage.cmake); run-time dependencies come from
# dpkg-shlibdeps. `lintian` finds no error or warning in them: test
# package.lintian_is_clean.

# Maintainer of the packages; a distributor building their own sets theirs.
set(P21_PACKAGE_MAINTAINER
  "Perfect21 maintainers <maintainers@users.noreply.r-seed-91f52f46.example>"
  CACHE STRING "Maintainer field of the Debian packages")
# A native package: upstream builds it from its own tree, so its version is
# the project's (no Debian revision) and its Debian changelog is
# /usr/share/doc/PKG/changelog.gz (lintian wants that name for a native
# package; changelog.Debian.gz is for a -N revision of someone else's code).
set(p21_deb_version "${PROJECT_VERSION}")
set(p21_lib_package "libperfect21-${P21_SOVERSION}")

# -- deployment files (component "deployment") ---------------------------------
# Left out of a plain `cmake --install`, whose prefix need not be writable
# at /etc.
install(FILES packaging/perfect21.service
  DESTINATION lib/systemd/system COMPONENT deployment EXCLUDE_FROM_ALL)
# 0644 in the archive as Debian wants (the default file holds no secret);
# postinst makes it 0640 root:perfect21 before the node can read it, since
# an operator may add a Redis password.
install(FILES packaging/perfect21.toml
  DESTINATION /etc/perfect21 COMPONENT deployment EXCLUDE_FROM_ALL)
install(DIRECTORY DESTINATION /var/lib/perfect21 COMPONENT deployment EXCLUDE_FROM_ALL)
install(FILES README.md docs/config.md
  DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/perfect21 COMPONENT deployment EXCLUDE_FROM_ALL)

# -- per-package documentation: copyright and changelog.gz ---------------
set(p21_pkgdoc "${PROJECT_BINARY_DIR}/packaging")
configure_file(packaging/changelog.in "${p21_pkgdoc}/changelog" @ONLY)
# gzip -n: no name or time stamp in the header, so the file is reproducible.
add_custom_command(OUTPUT "${p21_pkgdoc}/changelog.gz"
  COMMAND gzip -n -9 -c changelog > changelog.gz
  DEPENDS "${p21_pkgdoc}/changelog"
  WORKING_DIRECTORY "${p21_pkgdoc}" VERBATIM)
set(p21_package_files "${p21_pkgdoc}/changelog.gz")
foreach(pair "perfect21;deployment" "${p21_lib_package};runtime" "libperfect21-dev;development")
  list(GET pair 0 package)
  list(GET pair 1 component)
  set(optional "")
  if(component STREQUAL deployment)
    set(optional EXCLUDE_FROM_ALL)
  endif()
  install(FILES packaging/copyright "${p21_pkgdoc}/changelog.gz"
    DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${package} COMPONENT ${component} ${optional})
endforeach()

# -- the manual page of p21, from its --help -----------------------------------
if(TARGET p21)
  # Not stripped by CPack's own CPACK_STRIP_FILES (StripPackage.cmake does
  # it); bind everything at start (lintian: hardening-no-bindnow).
  target_link_options(p21 PRIVATE "LINKER:-z,relro,-z,now")
  target_link_options(perfect21_shared PRIVATE "LINKER:-z,relro,-z,now")
  find_program(HELP2MAN_EXECUTABLE help2man)
  if(HELP2MAN_EXECUTABLE)
    set(p21_man "${p21_pkgdoc}/p21.1")
    add_custom_command(OUTPUT "${p21_man}.gz"
      COMMAND ${CMAKE_COMMAND} -DHELP2MAN=${HELP2MAN_EXECUTABLE} -DP21=$<TARGET_FILE:p21>
        -DINCLUDE=${PROJECT_SOURCE_DIR}/packaging/p21.h2m -DOUTPUT=${p21_man}
        -P ${PROJECT_SOURCE_DIR}/cmake/ManPage.cmake
      COMMAND gzip -n -9 -f p21.1
      DEPENDS p21 packaging/p21.h2m cmake/ManPage.cmake
      WORKING_DIRECTORY "${p21_pkgdoc}"
      COMMENT "Generating the p21(1) manual page from p21 --help" VERBATIM)
    list(APPEND p21_package_files "${p21_man}.gz")
    install(FILES "${p21_man}.gz" DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT server)
  else()
    message(WARNING "help2man not found: no p21(1) manual page (scripts/install-deps.sh installs it)")
  endif()
endif()
add_custom_target(p21_package_files ALL DEPENDS ${p21_package_files})

# What `make package` builds before cpack: what the packages hold, and no
# test or benchmark. cpack builds the `preinstall` target, which would
# build `all` (the test suite) first: not with this set. `cmake --install`
# never builds anyway.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
get_property(p21_libraries GLOBAL PROPERTY P21_LIBRARIES)
add_custom_target(p21_packaged DEPENDS ${p21_libraries} perfect21_shared p21_package_files)
if(TARGET p21)
  add_dependencies(p21_packaged p21)
endif()

# -- CPack ---------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME perfect21)
set(CPACK_PACKAGE_VENDOR "Perfect21")
set(CPACK_PACKAGE_CONTACT "${P21_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Stripped by StripPackage.cmake, as dh_strip would (CPack's own strip keeps
# .comment and leaves static libraries' debug info: 71 MB of them).
set(CPACK_STRIP_FILES OFF)
set(CPACK_PRE_BUILD_SCRIPTS "${PROJECT_SOURCE_DIR}/cmake/StripPackage.cmake")

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ONE_PER_GROUP)
set(CPACK_COMPONENTS_ALL server deployment runtime development)
set(CPACK_COMPONENT_SERVER_GROUP server)
set(CPACK_COMPONENT_DEPLOYMENT_GROUP server)
set(CPACK_COMPONENT_RUNTIME_GROUP runtime)
set(CPACK_COMPONENT_DEVELOPMENT_GROUP development)
# Run-time dependencies of the ELF files, from dpkg-shlibdeps (libc, CAF,
# SQLite, spdlog...); the shared library's package gets a shlibs file.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME perfect21)
set(CPACK_DEBIAN_SERVER_PACKAGE_SECTION net)
# libmicrohttpd12: the HTTP server loads it with dlopen when `[http] listen`
# is set (actors/http/microhttpd_library.hpp), so dpkg-shlibdeps cannot see
# it; the version is the one its symbols file gives the functions used.
set(p21_microhttpd_depends "libmicrohttpd12 (>= 0.9.50)")
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS "adduser, ${p21_microhttpd_depends}")
set(CPACK_DEBIAN_SERVER_DESCRIPTION "self-tuning runtime of CAF actors: cache, SQLite pool, subprocesses
Perfect21 runs a node of supervised C++ actors (CAF 0.17): a sharded cache
with an optional Redis tier, a pool of SQLite connections, a subprocess pool,
a monitor with alerts and an optimizer that tunes them while they run, with
HTTP metrics and a dashboard.

This package holds the p21 command (run, check, reload, bench, cache), a
systemd unit (not enabled at installation), the default configuration in
/etc/perfect21 and the data directory /var/lib/perfect21.")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
  "${PROJECT_SOURCE_DIR}/packaging/conffiles;${PROJECT_SOURCE_DIR}/packaging/postinst;${PROJECT_SOURCE_DIR}/packaging/prerm;${PROJECT_SOURCE_DIR}/packaging/postrm")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME ${p21_lib_package})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "${p21_microhttpd_depends}")
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "self-tuning runtime of CAF actors - shared library
Perfect21 runs a node of supervised C++ actors (CAF 0.17): a sharded cache
with an optional Redis tier, a pool of SQLite connections, a subprocess pool,
a monitor with alerts and an optimizer that tunes them while they run.

This package holds the shared library that programs embedding a node link.")
# ldconfig through a dpkg trigger; the ldconfig calls CPack writes into
# postinst and postrm are dropped after the build (DropLdconfigScripts.cmake).
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA "${PROJECT_SOURCE_DIR}/packaging/lib/triggers")
set(CPACK_POST_BUILD_SCRIPTS "${PROJECT_SOURCE_DIR}/cmake/DropLdconfigScripts.cmake")

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libperfect21-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
# The CMake package config finds every library the static ones need.
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
  "${p21_lib_package} (= ${p21_deb_version}), libcaf-dev, libsqlite3-dev, libspdlog-dev, libtomlplusplus-dev, libhiredis-dev, liburcu-dev, libxxhash-dev, libssl-dev, pkg-config")
set(CPACK_DEBIAN_DEVELOPMENT_DESCRIPTION "self-tuning runtime of CAF actors - development files
Perfect21 runs a node of supervised C++ actors (CAF 0.17): a sharded cache
with an optional Redis tier, a pool of SQLite connections, a subprocess pool,
a monitor with alerts and an optimizer that tunes them while they run.

This package holds the C++ headers, the static libraries, the CMake package
configuration (find_package(Perfect21)) and the pkg-config file
(pkg-config --cflags --libs perfect21) for programs that embed a node.")
include(CPack)
