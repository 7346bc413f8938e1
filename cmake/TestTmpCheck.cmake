# The ctest fixture `pulse_test_tmp` (tests/CMakeLists.txt). Every test runs with
# TMPDIR=<build>/test-tmp, where pulse::testing::TempDir makes its pulse-test-* directories.
#   MODE=setup  before the run: empties DIR (it belongs to this build tree only).
#   MODE=check  after the run: fails when a test left a pulse-test-* directory behind — a TempDir
#               never destroyed (leaked, or its process _exit()ed or was killed holding one).
# Usage: cmake -DMODE=setup|check -DDIR=<dir> -P TestTmpCheck.cmake
if(NOT DIR)
  message(FATAL_ERROR "DIR is required")
endif()
if(MODE STREQUAL "setup")
  file(REMOVE_RECURSE "${DIR}")
  file(MAKE_DIRECTORY "${DIR}")
elseif(MODE STREQUAL "check")
  file(GLOB left LIST_DIRECTORIES true "${DIR}/pulse-test-*")
  if(left)
    list(LENGTH left count)
    string(REPLACE ";" "\n  " shown "${left}")
    message(FATAL_ERROR "${count} temp dir(s) left behind by tests (a TempDir never destroyed; "
                        "run the tests one by one with TMPDIR set to find which):\n  ${shown}")
  endif()
  message(STATUS "no pulse-test-* directories left in ${DIR}")
else()
  message(FATAL_ERROR "MODE must be setup or check")
endif()
