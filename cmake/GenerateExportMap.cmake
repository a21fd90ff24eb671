# Writes the version script of libperfect21.so (-DOUTPUT=) from
# cmake/libperfect21.map (-DTEMPLATE=): its global patterns (namespace p21)
# and, as exact local names, every symbol the static parts (-DARCHIVES=,
# separated by '|') define in a subsystem's implementation namespace
# p21::NAME_detail. ld ranks an exact name above any glob, so those stay
# local although `_ZN3p21*` matches them; a namespace cannot be hidden by a
# glob, hence this list. Run by the build (cmake/SharedLibrary.cmake).
string(REPLACE "|" ";" archives "${ARCHIVES}")
set(names "")
foreach(archive ${archives})
  execute_process(COMMAND nm --defined-only --extern-only "${archive}"
    OUTPUT_VARIABLE listing RESULT_VARIABLE rc ERROR_QUIET)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nm failed on ${archive}")
  endif()
  # A symbol's own name, its typeinfo, vtable, thunks and static locals,
  # all in namespace p21::*_detail.
  string(REGEX MATCHALL
    "[ \n]_Z(N|NK|TIN|TSN|TVN|TTN|ZN|ZNK|GVN|GVZN|GVZNK|Thn[0-9]+_N|Thn[0-9]+_NK|Tv0_n[0-9]+_NK?)3p21[0-9]+[a-z_]+_detail[A-Za-z0-9_]*"
    found "${listing}")
  list(APPEND names ${found})
endforeach()
list(TRANSFORM names STRIP)
list(REMOVE_DUPLICATES names)
list(SORT names)
list(LENGTH names count)
list(JOIN names ";\n    " local_names)
file(READ "${TEMPLATE}" map)
string(REPLACE "@P21_DETAIL_SYMBOLS@" "${local_names};" map "${map}")
file(WRITE "${OUTPUT}.tmp" "${map}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUTPUT}.tmp" "${OUTPUT}")
message(STATUS "libperfect21.map: ${count} symbols of p21::*_detail kept local")
