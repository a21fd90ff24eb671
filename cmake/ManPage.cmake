# p21(1) from the command's own help (CLI11): help2man on `p21 --help` and
# `p21 --version`, plus a section with each subcommand's --help, so the
# page cannot drift from the options. Run by the build (cmake/Packaging.cmake)
# with -DHELP2MAN=, -DP21=, -DINCLUDE= (packaging/p21.h2m) and -DOUTPUT=.
# An ASan build's p21 runs here too: leak checking is off for it.
set(ENV{ASAN_OPTIONS} "detect_leaks=0")
get_filename_component(dir "${OUTPUT}" DIRECTORY)
file(READ "${INCLUDE}" include_text)
execute_process(COMMAND "${P21}" --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${P21} --help failed (${rc})")
endif()
# The subcommands are the lines after "Subcommands:" in the main help.
string(REGEX REPLACE ".*\nSubcommands:\n" "" listing "${help}")
string(REGEX MATCHALL "(^|\n)  [a-z][a-z-]*" subcommands "${listing}")
set(section "[COMMANDS]\n")
foreach(sub ${subcommands})
  string(STRIP "${sub}" sub)
  execute_process(COMMAND "${P21}" ${sub} --help OUTPUT_VARIABLE sub_help RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${P21} ${sub} --help failed (${rc})")
  endif()
  # roff: a literal block per subcommand; backslashes and leading dots escaped.
  string(REPLACE "\\" "\\e" sub_help "${sub_help}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" sub_help "${sub_help}")
  string(APPEND section ".SS \"p21 ${sub}\"\n.nf\n${sub_help}.fi\n")
endforeach()
file(WRITE "${dir}/p21.h2m" "${include_text}\n${section}")
execute_process(COMMAND "${HELP2MAN}" --no-info --section=1
    "--name=run, check and benchmark Perfect21 nodes"
    --include=${dir}/p21.h2m --output=${OUTPUT} "${P21}"
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man failed (${rc}): ${err}")
endif()
