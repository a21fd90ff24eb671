# libperfect21.so.0: the umbrella Perfect21::perfect21 (framework and every
# standard subsystem) as one shared library, for programs that link it like
# any Debian library (`pkg-config --libs perfect21`, or the CMake target
# Perfect21::perfect21_shared). It is made of the static libraries' own
# objects (compiled once, position-independent), so the two cannot differ.
# The cluster's TLS module stays static-only: it would pull CAF's OpenSSL
# library into every embedder, and only the p21 command uses it.
#
# Visibility policy: the version script cmake/libperfect21.map exports what
# is in namespace p21 (functions, variables, vtables, typeinfo) under the
# version PERFECT21_0, except the subsystems' implementation namespaces
# p21::NAME_detail, and keeps everything else local: the CAF, spdlog, fmt,
# toml++ and standard library template instantiations compiled into our
# objects are not part of the ABI, and a program's own copies never bind to
# ours. No header carries an export macro. p21 and the tests link the static libraries as before (they use
# internals the shared library does not promise).
#
# SONAME: libperfect21.so.${P21_SOVERSION}; raise P21_SOVERSION with any
# release that changes the exported ABI (the Debian runtime package is named
# after it: libperfect21-${P21_SOVERSION}).
set(P21_SOVERSION 0)

get_property(p21_shared_parts GLOBAL PROPERTY P21_LIBRARIES)
list(REMOVE_ITEM p21_shared_parts p21_cluster_tls)
set(p21_shared_objects "")
foreach(part ${p21_shared_parts})
  list(APPEND p21_shared_objects $<TARGET_OBJECTS:${part}>)
endforeach()

# The version script: cmake/libperfect21.map plus the exact names of the
# p21::NAME_detail symbols, listed from the static parts at build time.
set(p21_map "${PROJECT_BINARY_DIR}/libperfect21.map")
set(p21_shared_archives "")
foreach(part ${p21_shared_parts})
  string(APPEND p21_shared_archives "$<TARGET_FILE:${part}>|")
endforeach()
add_custom_command(OUTPUT "${p21_map}"
  COMMAND ${CMAKE_COMMAND} "-DARCHIVES=${p21_shared_archives}"
    -DTEMPLATE=${PROJECT_SOURCE_DIR}/cmake/libperfect21.map -DOUTPUT=${p21_map}
    -P ${PROJECT_SOURCE_DIR}/cmake/GenerateExportMap.cmake
  DEPENDS ${p21_shared_parts} cmake/libperfect21.map cmake/GenerateExportMap.cmake
  COMMENT "Listing the p21::*_detail symbols libperfect21.so keeps local" VERBATIM)
add_custom_target(perfect21_shared_map DEPENDS "${p21_map}")

add_library(perfect21_shared SHARED ${p21_shared_objects})
add_library(Perfect21::perfect21_shared ALIAS perfect21_shared)
add_dependencies(perfect21_shared perfect21_shared_map)
set_target_properties(perfect21_shared PROPERTIES
  OUTPUT_NAME perfect21
  EXPORT_NAME perfect21_shared
  VERSION ${PROJECT_VERSION}
  SOVERSION ${P21_SOVERSION}
  LINK_DEPENDS "${p21_map}")
# The static parts, linked privately, bring their dependencies (CAF, SQLite,
# spdlog, hiredis...; libmicrohttpd is loaded at run time); their members are never pulled, every
# symbol being defined by the objects above. --no-undefined: a dependency
# missing from that list fails here, not in an embedder's link.
target_link_libraries(perfect21_shared
  PUBLIC CAF::core Threads::Threads
  PRIVATE ${p21_shared_parts})
# (Not with sanitizers: clang leaves their run-time out of shared libraries,
# to be found in the executable.)
target_link_options(perfect21_shared PRIVATE "LINKER:--version-script=${p21_map}")
if(NOT P21_SANITIZE)
  target_link_options(perfect21_shared PRIVATE "LINKER:--no-undefined")
endif()
target_include_directories(perfect21_shared INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
