# The Debian packages, as an operator gets them: the three .deb files of
# cpack on this build tree (DEB_DIR) unpacked into a scratch root with
# `dpkg -x` (no root needed), then the installed p21 checks the installed
# default config, and examples/embed builds against the installed headers
# and CMake package config.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()
function(expect what text pattern)
  if(NOT text MATCHES "${pattern}")
    message(FATAL_ERROR "${what} does not match '${pattern}':\n${text}")
  endif()
endfunction()

# The three packages (fixture package.cpack_builds_the_debs), installed
# together as apt would.
file(GLOB debs "${DEB_DIR}/*.deb")
list(LENGTH debs n)
if(NOT n EQUAL 3)
  message(FATAL_ERROR "expected perfect21, libperfect21-N and libperfect21-dev, found: ${debs}")
endif()
set(root "${WORK_DIR}/root")
foreach(deb ${debs})
  get_filename_component(name "${deb}" NAME)
  string(REGEX REPLACE "_.*" "" package "${name}")
  run(dpkg-deb -x "${deb}" "${root}")
  run(dpkg-deb -e "${deb}" "${WORK_DIR}/control-${package}")
  # Each package has its copyright and Debian changelog.
  foreach(doc copyright changelog.gz)
    if(NOT EXISTS "${root}/usr/share/doc/${package}/${doc}")
      message(FATAL_ERROR "${name} lacks /usr/share/doc/${package}/${doc}")
    endif()
  endforeach()
  if(package STREQUAL perfect21)
    set(server_deb "${deb}")
  elseif(package STREQUAL libperfect21-dev)
    set(dev_deb "${deb}")
  else()
    set(lib_deb "${deb}")
    set(lib_package "${package}")
  endif()
endforeach()
if(NOT server_deb OR NOT dev_deb OR NOT lib_deb)
  message(FATAL_ERROR "not the three expected packages: ${debs}")
endif()

# What each package holds: the command, its manual page and the deployment
# files in perfect21; the shared library in libperfect21-N; headers, static
# libraries, the .so link, CMake and pkg-config files in libperfect21-dev.
function(holds deb)
  run(dpkg-deb -c "${deb}")
  foreach(path ${ARGN})
    string(REPLACE "." "\\." pattern "${path}")
    if(NOT last_output MATCHES " \\./${pattern}( |\n)")
      message(FATAL_ERROR "${deb} lacks /${path}:\n${last_output}")
    endif()
  endforeach()
endfunction()
holds("${server_deb}" usr/bin/p21 usr/share/man/man1/p21.1.gz usr/lib/systemd/system/perfect21.service
  etc/perfect21/perfect21.toml usr/share/doc/perfect21/config.md var/lib/perfect21/)
set(lib "usr/${LIBDIR}")
holds("${lib_deb}" ${lib}/libperfect21.so.0)
holds("${dev_deb}" usr/include/p21/runtime.hpp ${lib}/cmake/Perfect21/Perfect21Config.cmake
  ${lib}/pkgconfig/perfect21.pc ${lib}/libperfect21.so ${lib}/libp21_framework.a)
# Stripped: no debug info left in the static libraries (they made the old
# single package 71 MB).
run(readelf -S --wide "${root}/${lib}/libp21_framework.a")
if(last_output MATCHES "\\.debug_info")
  message(FATAL_ERROR "libp21_framework.a keeps its debug info")
endif()
# The config may hold a Redis password: postinst makes it 0640 root:perfect21
# (the archive holds it 0644, as Debian wants; the default file has no secret).
file(READ "${WORK_DIR}/control-perfect21/postinst" postinst)
expect("postinst" "${postinst}" "chgrp perfect21 /etc/perfect21/perfect21.toml")
expect("postinst" "${postinst}" "chmod 0640 /etc/perfect21/perfect21.toml")
# Units through deb-systemd-helper/-invoke, never a bare systemctl but
# daemon-reload.
foreach(script postinst prerm postrm)
  file(READ "${WORK_DIR}/control-perfect21/${script}" text)
  expect("${script}" "${text}" "deb-systemd-(helper|invoke) [a-z-]+ perfect21.service")
  string(REGEX REPLACE "systemctl --system daemon-reload" "" text "${text}")
  if(text MATCHES "\n[^#\n]*systemctl")
    message(FATAL_ERROR "${script} calls systemctl:\n${text}")
  endif()
endforeach()
file(READ "${WORK_DIR}/control-perfect21/conffiles" conffiles)
expect("conffiles" "${conffiles}" "^/etc/perfect21/perfect21.toml\n$")
# Dependencies from dpkg-shlibdeps: libc and CAF among them.
file(READ "${WORK_DIR}/control-perfect21/control" control)
expect("control" "${control}" "Depends: [^\n]*libc6 \\(>= ")
expect("control" "${control}" "Depends: [^\n]*libcaf-core0.17")
# Loaded with dlopen, so declared by hand (cmake/Packaging.cmake): both
# packages that hold the HTTP server need it.
expect("control" "${control}" "Depends: [^\n]*libmicrohttpd12 \\(>= ")
file(READ "${WORK_DIR}/control-${lib_package}/control" control)
expect("the library's control" "${control}" "Depends: [^\n]*libmicrohttpd12 \\(>= ")
file(READ "${WORK_DIR}/control-${lib_package}/shlibs" shlibs)
expect("shlibs" "${shlibs}" "^libperfect21 [0-9]+ ${lib_package} ")
file(READ "${WORK_DIR}/control-libperfect21-dev/control" control)
expect("the -dev control" "${control}" "Depends: [^\n]*${lib_package} \\(= ")
file(READ "${root}/usr/lib/systemd/system/perfect21.service" unit)
foreach(line "Type=notify" "ExecStart=/usr/bin/p21 run --config /etc/perfect21/perfect21.toml"
        "ExecReload=/bin/kill -HUP \\$MAINPID" "WatchdogSec=" "RestartPreventExitStatus=2"
        "StateDirectory=perfect21" "StateDirectoryMode=0750" "UMask=0027")
  expect("the unit file" "${unit}" "${line}")
endforeach()

# The installed p21 accepts the installed config, whose data lives under
# /var/lib/perfect21.
run("${root}/usr/bin/p21" check --config "${root}/etc/perfect21/perfect21.toml")
expect("p21 check" "${last_output}" "valid")
expect("p21 check" "${last_output}" "path = \"/var/lib/perfect21/perfect21.db\"")
expect("p21 check" "${last_output}" "state_dir = \"/var/lib/perfect21\"")

# An embedder builds against the installed headers and package config.
run(${CMAKE_COMMAND} -DSOURCE_DIR=${SOURCE_DIR} -DWORK_DIR=${WORK_DIR}/embed
    -DPREFIX=${root}/usr "-DEXTRA_FLAGS=${EXTRA_FLAGS}"
    -P "${CMAKE_CURRENT_LIST_DIR}/install_test.cmake")
message("${last_output}")
message("packages ${debs}: contents, scripts, dependencies, conffile, unit, installed config and embed build all fine")
# Passed: the unpacked root goes (the suite's disk use stays bounded); a
# failure above leaves it to read.
file(REMOVE_RECURSE "${WORK_DIR}")
