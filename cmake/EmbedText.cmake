# Writes OUTPUT, a C++ source defining `extern const char NAME[]` in
# namespace p21 with the bytes of INPUT (a raw string literal), so that a
# page ships inside the binary. Run at build time:
#   cmake -DINPUT=x.html -DOUTPUT=x.cpp -DNAME=x_html -P EmbedText.cmake
file(READ "${INPUT}" text)
set(delim "p21embed")
string(FIND "${text}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string delimiter )${delim}\"")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by cmake/EmbedText.cmake; do not edit.\n"
  "namespace p21 {\nextern const char ${NAME}[];\nconst char ${NAME}[] = R\"${delim}(${text})${delim}\";\n}\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
