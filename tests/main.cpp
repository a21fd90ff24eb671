// Catch2 2.13 indents the wrapped lines of a test's name at its first ": ",
// and when that is past the console width (80 by default) its reporter
// throws std::out_of_range while printing a failure, so the failure itself
// is never shown (seen with "visits and gets from 4 threads ... restarted:
// every value ..."). A width past our longest name keeps failures readable.
#define CATCH_CONFIG_CONSOLE_WIDTH 200
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
