# A framework-only program cannot reach a function only the umbrella library
# defines: builds p21_framework_unreachable (framework_unreachable.cpp, every
# framework header, each such call once) and requires the compiler to refuse
# every one of those calls. A declaration left in a framework header would
# compile and then fail to link; this test names it.
# Run: cmake -DBINARY_DIR=<build dir> -P framework_unreachable.cmake
execute_process(
  COMMAND ${CMAKE_COMMAND} --build "${BINARY_DIR}" --target p21_framework_unreachable
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "framework_unreachable.cpp compiled: a framework header declares a "
                      "function of the umbrella library")
endif()
# Every call marked REFUSED in the program must have an error of its own:
# the compiler names its line ("FILE:LINE:COL: error" or, for the template
# constructor, "FILE:LINE:COL:   required from here").
execute_process(
  COMMAND grep -n "// REFUSED" "${CMAKE_CURRENT_LIST_DIR}/framework_unreachable.cpp"
  OUTPUT_VARIABLE marked OUTPUT_STRIP_TRAILING_WHITESPACE)
string(REPLACE "\n" ";" marked "${marked}")
set(missing "")
set(n 0)
foreach(entry IN LISTS marked)
  if(entry MATCHES "^([0-9]+):(.*)$")
    math(EXPR n "${n} + 1")
    set(line_no ${CMAKE_MATCH_1})
    string(STRIP "${CMAKE_MATCH_2}" call)
    if(NOT out MATCHES "framework_unreachable\\.cpp:${line_no}:[0-9]+: +(error|required from here)")
      list(APPEND missing "line ${line_no}: ${call}")
    endif()
  endif()
endforeach()
if(n EQUAL 0)
  message(FATAL_ERROR "no line of framework_unreachable.cpp is marked REFUSED")
endif()
if(missing)
  message(FATAL_ERROR "reachable from the framework alone (declared in a framework header?): "
                      "${missing}\n--- compiler output ---\n${out}")
endif()
message("framework headers reach none of the ${n} umbrella functions")
