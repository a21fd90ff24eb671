# The layers, checked: nothing in framework/ includes from actors/ or a
# subsystem's public header, and no framework public header includes one.
# Run: cmake -DSOURCE_DIR=. -P tests/layers_test.cmake
set(subsystem_headers
  "p21/(cache|db|subprocess|monitor|optimizer|cluster|subsystems|p21)\\.hpp"
  "p21/protocol/(cache|db_pool|subprocess|monitor|optimizer)\\.hpp")
get_filename_component(SOURCE_DIR "${SOURCE_DIR}" ABSOLUTE)
string(JOIN "|" subsystem_regex ${subsystem_headers})
string(JOIN "|" forbidden "actors/" ${subsystem_headers})

file(GLOB_RECURSE framework_files "${SOURCE_DIR}/framework/*.cpp" "${SOURCE_DIR}/framework/*.hpp")
file(GLOB_RECURSE public_headers "${SOURCE_DIR}/include/p21/*.hpp")
set(framework_headers "")
foreach(h ${public_headers})
  file(RELATIVE_PATH rel "${SOURCE_DIR}/include" "${h}")
  if(NOT rel MATCHES "^(${subsystem_regex})$")
    list(APPEND framework_headers "${h}")
  endif()
endforeach()

set(bad "")
set(checked 0)
foreach(f ${framework_files} ${framework_headers})
  math(EXPR checked "${checked} + 1")
  file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include")
  foreach(line ${lines})
    if(line MATCHES "${forbidden}")
      file(RELATIVE_PATH rel "${SOURCE_DIR}" "${f}")
      string(APPEND bad "  ${rel}: ${line}\n")
    endif()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "the framework includes subsystem code (register it through "
                      "p21::subsystem instead):\n${bad}")
endif()
message("framework layer clean: ${checked} files include no subsystem code")
