# CPACK_POST_BUILD_SCRIPTS: CPack writes a postinst and postrm calling
# ldconfig into any package holding a shared library under /usr/lib, and
# offers no switch against it. Debian runs ldconfig through a dpkg trigger
# instead (packaging/lib/triggers, `activate-noawait ldconfig`; lintian
# warns maintscript-calls-ldconfig otherwise), so the runtime library's
# package is rebuilt here without those two scripts. Nothing else changes:
# dpkg-deb -R keeps the control files, md5sums and file modes.
foreach(deb ${CPACK_PACKAGE_FILES})
  get_filename_component(name "${deb}" NAME)
  if(NOT name MATCHES "^libperfect21-[0-9][^_]*_.*\\.deb$")
    continue()
  endif()
  set(tree "${CPACK_TOPLEVEL_DIRECTORY}/ldconfig-free")
  file(REMOVE_RECURSE "${tree}")
  execute_process(COMMAND dpkg-deb -R "${deb}" "${tree}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "dpkg-deb -R ${deb} failed")
  endif()
  foreach(script postinst postrm)
    file(READ "${tree}/DEBIAN/${script}" text)
    if(NOT text MATCHES "^#!/bin/sh\n+set -e\n+if \\[ \"\\$1\" = \"[a-z]+\" \\]; then\n\tldconfig\nfi\n*$")
      message(FATAL_ERROR "${name}: ${script} is not CPack's ldconfig call:\n${text}")
    endif()
    file(REMOVE "${tree}/DEBIAN/${script}")
  endforeach()
  execute_process(COMMAND dpkg-deb --root-owner-group --build "${tree}" "${deb}"
    RESULT_VARIABLE rc OUTPUT_QUIET)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "dpkg-deb --build ${deb} failed")
  endif()
  file(REMOVE_RECURSE "${tree}")
endforeach()
