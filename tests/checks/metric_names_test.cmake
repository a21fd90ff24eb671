# Fails when code in actors/ or app/ spells a metric's name as a string where
# it compares a sample's name (`c.name == "cache_hits"`), builds a sample
# (`{"cache_hits", labels, ...}`) or registers a metric
# (`make_counter("cache_hits", ...)`): metric names are declared once, as the
# `metric_def` constants of the protocol headers, and used through them.
# Usage: cmake -DSOURCE_DIR=<repo> -P metric_names_test.cmake
cmake_minimum_required(VERSION 3.16)

# -- the declared names -----------------------------------------------------------
# A definition may break after its brace: `metric_def hits{\n    "cache_hits", ...`,
# or declare roles: `metric_def hits =\n    metric_def{"cache_hits", ...}.with(...)`.
set(def_regex "metric_def [a-z0-9_]+( *=[ \n]*metric_def)?\\{[ \n]*\"([a-z0-9_]+)\"")
file(GLOB_RECURSE headers "${SOURCE_DIR}/include/*.hpp" "${SOURCE_DIR}/actors/*.hpp")
set(names "")
foreach(h IN LISTS headers)
  file(READ "${h}" text)
  string(REGEX MATCHALL "${def_regex}" defs "${text}")
  foreach(d IN LISTS defs)
    string(REGEX MATCH "${def_regex}" _ "${d}")
    list(APPEND names "${CMAKE_MATCH_2}")
  endforeach()
endforeach()
list(LENGTH names count)
if(count LESS 50)
  message(FATAL_ERROR "found only ${count} metric definitions: the pattern is stale")
endif()

# -- the uses that must go through the constants ----------------------------------
set(use_regex
  "name *[!=]= *\"[a-z0-9_]+\"|\"[a-z0-9_]+\" *[!=]= *[A-Za-z_.>-]*name|\\{\"[a-z0-9_]+\", *(\\{|labels)|make_(counter|gauge|histogram)\\(\"[a-z0-9_]+\"|summary\\(\"[a-z0-9_]+\"")

function(offending_uses text out)
  set(found "")
  string(REGEX MATCHALL "${use_regex}" hits "${text}")
  foreach(hit IN LISTS hits)
    string(REGEX MATCH "\"([a-z0-9_]+)\"" _ "${hit}")
    if(CMAKE_MATCH_1 IN_LIST names)
      list(APPEND found "${hit}")
    endif()
  endforeach()
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

# The patterns must catch what they are for (else this test proves nothing).
foreach(probe
    "if (c.name == \"cache_hits\")"
    "m.counters = {{\"db_queries\", {}, 1.0}}"
    "r.make_gauge(\"cluster_peer_connected\", \"help\", labels)"
    "acquire.summary(\"db_acquire_seconds\", 1e-9)")
  offending_uses("${probe}" hits)
  if(NOT hits)
    message(FATAL_ERROR "the check misses: ${probe}")
  endif()
endforeach()
offending_uses("if (e.kind == \"alert_firing\") x = {\"cpu_percent\", 1};" hits)
if(hits)
  message(FATAL_ERROR "the check flags what is no metric use: ${hits}")
endif()

file(GLOB_RECURSE sources "${SOURCE_DIR}/actors/*.cpp" "${SOURCE_DIR}/actors/*.hpp"
  "${SOURCE_DIR}/app/*.cpp" "${SOURCE_DIR}/app/*.hpp")
set(bad "")
foreach(src IN LISTS sources)
  file(STRINGS "${src}" lines REGEX "\"[a-z0-9_]+\"")
  foreach(l IN LISTS lines)
    offending_uses("${l}" hits)
    if(hits)
      file(RELATIVE_PATH rel "${SOURCE_DIR}" "${src}")
      string(APPEND bad "\n  ${rel}: ${l}")
    endif()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "metric names spelled as strings (use the metric_def constants):${bad}")
endif()
list(LENGTH sources files)
message(STATUS "${count} metric definitions; no metric name spelled as a string in ${files} files")
