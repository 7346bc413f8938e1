# Build helpers: one static library per component (src/<name>/), one test binary per component.
# The `pulse` target is the union of the components; binaries link it.

# pulse_require(<find_package args> PACKAGE <debian package>): find_package that names the Debian
# package to install when the dependency is missing.
macro(pulse_require name)
  cmake_parse_arguments(PR "" "PACKAGE" "" ${ARGN})
  find_package(${name} ${PR_UNPARSED_ARGUMENTS} QUIET)
  if(NOT ${name}_FOUND)
    message(FATAL_ERROR "Pulse needs ${name}: install the Debian package '${PR_PACKAGE}' "
                        "(`make setup` installs every dependency).")
  endif()
endmacro()

function(pulse_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wnon-virtual-dtor
                                           -Wno-missing-field-initializers)
  if(PULSE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

set(PULSE_COMPONENTS "" CACHE INTERNAL "")

# Every test's temp dirs go to <build>/test-tmp (TempDir honours TMPDIR), and the ctest fixture
# pulse_test_tmp (tests/CMakeLists.txt, cmake/TestTmpCheck.cmake) fails the run when a test left
# one behind.
set(PULSE_TEST_TMPDIR ${CMAKE_BINARY_DIR}/test-tmp)
set(PULSE_TEST_TMP_PROPERTIES ENVIRONMENT_MODIFICATION "TMPDIR=set:${PULSE_TEST_TMPDIR}"
                              FIXTURES_REQUIRED pulse_test_tmp)

# pulse_component(<name> [DEPS <component>...] [LIBS <target>...] [TEST_LIBS <target>...])
# Sources: src/<name>/*.cc minus *_test.cc. Tests: src/<name>/*_test.cc minus *_fuzz_test.cc,
# built into <name>_test and registered with ctest one test case at a time.
function(pulse_component name)
  cmake_parse_arguments(PC "" "" "DEPS;LIBS;TEST_LIBS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cc)
  list(FILTER srcs EXCLUDE REGEX "(_test|_main)\\.cc$")
  set(deps "")
  foreach(d IN LISTS PC_DEPS)
    list(APPEND deps pulse_${d})
  endforeach()
  if(srcs)
    add_library(pulse_${name} STATIC ${srcs})
    target_include_directories(pulse_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(pulse_${name} PUBLIC ${deps} ${PC_LIBS})
    pulse_warnings(pulse_${name})
  else()
    add_library(pulse_${name} INTERFACE)
    target_include_directories(pulse_${name} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(pulse_${name} INTERFACE ${deps} ${PC_LIBS})
  endif()
  set(PULSE_COMPONENTS ${PULSE_COMPONENTS} pulse_${name} CACHE INTERNAL "")

  file(GLOB tests CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*_test.cc)
  list(FILTER tests EXCLUDE REGEX "_fuzz_test\\.cc$")
  if(tests AND PULSE_BUILD_TESTS)
    add_executable(${name}_test ${tests})
    target_link_libraries(${name}_test PRIVATE pulse_${name} pulse_testing ${PC_TEST_LIBS}
                                               GTest::gmock GTest::gtest_main)
    pulse_warnings(${name}_test)
    gtest_discover_tests(${name}_test DISCOVERY_MODE PRE_TEST
                         WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
                         PROPERTIES ENVIRONMENT "PULSE_BINARY=$<TARGET_FILE:pulse_bin>"
                                    ${PULSE_TEST_TMP_PROPERTIES})
  endif()

  # Fuzz targets: in normal builds a driver replays src/<name>/<target>_corpus/ as a ctest;
  # under the `fuzz` preset they link libFuzzer.
  file(GLOB fuzzers CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*_fuzz_test.cc)
  if(PULSE_BUILD_TESTS)
    foreach(f IN LISTS fuzzers)
      get_filename_component(fname ${f} NAME_WE)
      string(REGEX REPLACE "_test$" "" corpus_base ${fname})
      add_executable(${fname} ${f})
      target_link_libraries(${fname} PRIVATE pulse_${name})
      if(PULSE_FUZZ)
        target_compile_options(${fname} PRIVATE -fsanitize=fuzzer)
        target_link_options(${fname} PRIVATE -fsanitize=fuzzer)
      else()
        target_sources(${fname} PRIVATE ${PROJECT_SOURCE_DIR}/src/testing/fuzz_replay_main.cc)
        add_test(NAME ${fname}_corpus
                 COMMAND ${fname} ${PROJECT_SOURCE_DIR}/src/${name}/${corpus_base}_corpus)
      endif()
    endforeach()
  endif()
endfunction()
