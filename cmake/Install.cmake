# What `cmake --install` puts under a prefix, by component (the Debian
# packages of cmake/Packaging.cmake follow them):
#   server       the p21 command and its manual page      -> perfect21
#   runtime      libperfect21.so.N                        -> libperfect21-N
#   development  headers, static libraries, the .so link,
#                CMake package config, perfect21.pc      -> libperfect21-dev
# The deployment files (systemd unit, /etc config, data directory) are
# component "deployment", left out of a plain install (Packaging.cmake).
include(CMakePackageConfigHelpers)
get_property(p21_libraries GLOBAL PROPERTY P21_LIBRARIES)
install(TARGETS ${p21_libraries} EXPORT Perfect21Targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS perfect21_shared EXPORT Perfect21Targets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
    NAMELINK_COMPONENT development)
if(TARGET p21)
  install(TARGETS p21 RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
endif()
install(DIRECTORY include/p21 DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development)
install(EXPORT Perfect21Targets NAMESPACE Perfect21::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Perfect21 COMPONENT development)
configure_package_config_file(cmake/Perfect21Config.cmake.in
  "${PROJECT_BINARY_DIR}/Perfect21Config.cmake"
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Perfect21)
write_basic_package_version_file("${PROJECT_BINARY_DIR}/Perfect21ConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/Perfect21Config.cmake"
  "${PROJECT_BINARY_DIR}/Perfect21ConfigVersion.cmake"
  cmake/FindCAF.cmake
  cmake/Findhttplib.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Perfect21 COMPONENT development)

# perfect21.pc: `pkg-config --cflags --libs perfect21` links the shared
# library. The public headers use CAF's types and inline code, so the flags
# carry CAF's too (Debian's libcaf-dev has no .pc of its own): -lcaf_core,
# and CAF's -I/-L when it is not in a compiler default directory. The
# prefix is the install's own (written at install time), so a
# `cmake --install --prefix DIR` tree and the /usr of the package are both
# right; DESTDIR only stages. Static linking goes through CMake
# (find_package(Perfect21), Perfect21::perfect21).
set(p21_pc_cflags "")
set(p21_pc_libs "-lcaf_core")
if(NOT CAF_INCLUDE_DIR IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
  set(p21_pc_cflags " -I${CAF_INCLUDE_DIR}")
endif()
get_filename_component(p21_caf_libdir "${CAF_CORE_LIBRARY}" DIRECTORY)
if(NOT p21_caf_libdir IN_LIST CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES)
  set(p21_pc_libs "-L${p21_caf_libdir} -lcaf_core")
endif()
set(pc_prefix "@pc_prefix@") # filled in at install time, below
configure_file(packaging/perfect21.pc.in "${PROJECT_BINARY_DIR}/perfect21.pc.in" @ONLY)
install(CODE "
  set(pc_prefix \"\${CMAKE_INSTALL_PREFIX}\")
  set(pc_file \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig/perfect21.pc\")
  message(STATUS \"Installing: \${pc_file}\")
  configure_file(\"${PROJECT_BINARY_DIR}/perfect21.pc.in\" \"\${pc_file}\" @ONLY)
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${pc_file}\")
" COMPONENT development)
