# Installs the build into a temporary prefix, then configures, builds and runs
# examples/embed against it with find_package(Perfect21), as a user would.
# With -DPREFIX=DIR it uses what is already installed there (the package
# test's unpacked .deb) instead.
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
if(DEFINED PREFIX)
  set(prefix "${PREFIX}")
endif()
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()
if(NOT DEFINED PREFIX)
  run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
endif()
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/examples/embed" -B "${WORK_DIR}/build"
    "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_CXX_FLAGS=${EXTRA_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${EXTRA_FLAGS}")
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/embed")
if(NOT last_output MATCHES "40 \\+ 2 = 42")
  message(FATAL_ERROR "unexpected output: ${last_output}")
endif()
message("installed package works: ${last_output}")

# An embedder that does not use the cluster's TLS needs no OpenSSL: the
# example links Perfect21::perfect21 only, so neither CAF's OpenSSL module
# nor libssl may be among its libraries.
execute_process(COMMAND readelf -d "${WORK_DIR}/build/embed" OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf failed on the embed example")
endif()
if(dynamic MATCHES "caf_openssl|libssl|libcrypto")
  message(FATAL_ERROR "the embed example links OpenSSL although it does not use TLS:\n${dynamic}")
endif()
# Nor libmicrohttpd: the HTTP server loads it when it starts.
if(dynamic MATCHES "microhttpd|gnutls")
  message(FATAL_ERROR "the embed example links libmicrohttpd (loaded only when HTTP starts):\n${dynamic}")
endif()
message("the embed example links no OpenSSL and no libmicrohttpd")
# Passed: the scratch prefix and build (2 GB under ASan) go, so that the
# suite's disk use stays bounded; a failure above leaves them to read.
file(REMOVE_RECURSE "${WORK_DIR}")
