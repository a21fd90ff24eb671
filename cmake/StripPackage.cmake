# CPACK_PRE_BUILD_SCRIPTS: strips the staged files as dh_strip does, before
# CPack builds the packages. Executables and shared libraries lose their
# symbol tables' debug part and the .comment/.note sections; static
# libraries lose their debug info (they kept it: 71 MB of the old package),
# with deterministic archive headers. Debug info stays in the build tree.
find_program(STRIP_EXECUTABLE NAMES strip REQUIRED)
file(GLOB_RECURSE staged LIST_DIRECTORIES false "${CPACK_TEMPORARY_DIRECTORY}/*")
foreach(file ${staged})
  if(IS_SYMLINK "${file}")
    continue()
  endif()
  set(args "")
  if(file MATCHES "\\.a$")
    set(args --strip-debug --remove-section=.comment --remove-section=.note
      --enable-deterministic-archives)
  else()
    file(READ "${file}" magic LIMIT 4 HEX)
    if(NOT magic STREQUAL "7f454c46")
      continue()
    endif()
    if(file MATCHES "\\.so(\\.[0-9]+)*$")
      set(args --remove-section=.comment --remove-section=.note --strip-unneeded)
    else()
      set(args --remove-section=.comment --remove-section=.note)
    endif()
  endif()
  execute_process(COMMAND "${STRIP_EXECUTABLE}" ${args} "${file}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "strip failed on ${file}")
  endif()
endforeach()
