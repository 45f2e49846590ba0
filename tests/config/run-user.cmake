# Configure and build the project in user/ (a kernel's use of mmkit) and
# check what happens.  cmake -P with:
#   WORK      build directory (emptied first)
#   SRC       the user project
#   GEN, CC   generator and C compiler
#   ARGS      '|'-separated -D options for the user project
#   EXPECT    "run": it must build, run and print MATCH
#             "no-link": its build must fail with an output matching MATCH
#   MATCH     a regular expression
foreach(v WORK SRC GEN CC EXPECT MATCH)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run-user.cmake: ${v} not given")
  endif()
endforeach()
string(REPLACE "|" ";" args "${ARGS}")
file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SRC} -B ${WORK} -G ${GEN}
                        -DCMAKE_C_COMPILER=${CC} ${args}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the user project does not configure:\n${out}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(EXPECT STREQUAL "no-link")
  if(rc EQUAL 0)
    message(FATAL_ERROR "built, although configured unlike the core:\n${out}")
  endif()
  if(NOT out MATCHES "${MATCH}")
    message(FATAL_ERROR "the build failed, but not with '${MATCH}':\n${out}")
  endif()
  # and for that reason only: every undefined symbol is the check's
  string(REGEX MATCHALL "undefined (reference to|symbol:)[^\n]*" undef "${out}")
  foreach(u ${undef})
    if(NOT u MATCHES "mmk__cfg_")
      message(FATAL_ERROR "the link failed for another reason too (${u}):\n${out}")
    endif()
  endforeach()
  string(REGEX MATCH "[^\n]*${MATCH}[^\n]*" line "${out}")
  message("caught at link time, as it must be:\n  ${line}")
  return()
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the user project does not build:\n${out}")
endif()
execute_process(COMMAND ${WORK}/user RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "${MATCH}")
  message(FATAL_ERROR "the user program failed (${rc}) or did not print '${MATCH}':\n${out}")
endif()
message("${out}")
