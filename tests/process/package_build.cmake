# Fixture of the package.* tests: the Debian packages, built once by cpack
# from this build tree into DEB_DIR (cpack builds nothing itself: the test
# suite's build already made what they hold).
file(REMOVE_RECURSE "${DEB_DIR}")
execute_process(COMMAND ${CMAKE_CPACK_COMMAND} -G DEB -B "${DEB_DIR}" --config "${BUILD_DIR}/CPackConfig.cmake"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cpack failed (${rc}):\n${out}\n${err}")
endif()
# cpack's staging tree (every file unpacked, 1.5 GB under ASan) is not
# needed once the .deb files exist.
file(REMOVE_RECURSE "${DEB_DIR}/_CPack_Packages")
file(GLOB debs "${DEB_DIR}/*.deb")
foreach(deb ${debs})
  file(SIZE "${deb}" size)
  message("${deb}: ${size} bytes")
endforeach()
