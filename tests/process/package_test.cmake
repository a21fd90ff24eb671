# The Debian package, as an operator gets it: cpack on this build tree, the
# .deb unpacked into a scratch root with `dpkg -x` (no root needed), then
# the installed p21 checks the installed default config, and examples/embed
# builds against the installed headers and CMake package config.
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

run(${CMAKE_CPACK_COMMAND} -G DEB -B "${WORK_DIR}/out" --config "${BUILD_DIR}/CPackConfig.cmake")
file(GLOB debs "${WORK_DIR}/out/perfect21_*.deb")
list(LENGTH debs n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "expected one perfect21 .deb, found: ${debs}")
endif()
set(root "${WORK_DIR}/root")
run(dpkg-deb -x "${debs}" "${root}")
run(dpkg-deb -e "${debs}" "${WORK_DIR}/control")

# What the package holds.
foreach(path usr/bin/p21 usr/include/p21/runtime.hpp usr/lib/cmake/Perfect21/Perfect21Config.cmake
        usr/lib/systemd/system/perfect21.service etc/perfect21/perfect21.toml
        usr/share/doc/perfect21/config.md)
  if(NOT EXISTS "${root}/${path}")
    message(FATAL_ERROR "the package lacks /${path}")
  endif()
endforeach()
if(NOT IS_DIRECTORY "${root}/var/lib/perfect21")
  message(FATAL_ERROR "the package lacks the data directory /var/lib/perfect21")
endif()
# The config may hold a Redis password: not readable by other users.
run(dpkg-deb -c "${debs}")
expect("the package's listing" "${last_output}" "-rw-r----- [^\n]* \\./etc/perfect21/perfect21\\.toml")
file(READ "${WORK_DIR}/control/postinst" postinst)
expect("postinst" "${postinst}" "chgrp perfect21 /etc/perfect21/perfect21.toml")
file(READ "${WORK_DIR}/control/conffiles" conffiles)
expect("conffiles" "${conffiles}" "^/etc/perfect21/perfect21.toml\n$")
file(READ "${WORK_DIR}/control/control" control)
expect("control" "${control}" "Depends: [^\n]*libcaf-core0.17")
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
message("package ${debs}: contents, conffile, unit, installed config and embed build all fine")
