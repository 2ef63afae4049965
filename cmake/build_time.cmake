# Build-time measures (issue 2: a clean Release build on 2 cores in at most
# 10 minutes). The measured numbers are in docs/benchmarks.md, "Clean build
# time".
#
# Unit-test code is a third of the translation units, and each of them spent
# most of its time parsing <gtest/gtest.h> and optimising GoogleTest's macro
# expansions at -O3. So each unit-test binary gets
#   - a precompiled header with GoogleTest and the standard headers the tests
#     use most, built once per test binary of four or more files;
#   - -O1 for its own code only. The rampart_<room> libraries it links, the
#     server, the benchmarks and the fuzz targets keep the build type's
#     optimisation (-O3 in Release), so nothing benchmarked gets slower.

# ccache and precompiled headers: ccache only caches a compilation that uses a
# precompiled header when it may ignore the header's defines and time macros
# and the fresh modification times of the .gch it has just been built from.
# The sloppiness is set here, through the launcher's environment, so that every
# build dir gets it without editing ccache.conf. Two consequences: ccache
# takes CCACHE_SLOPPINESS from the environment in place of (not in addition
# to) any sloppiness the user configured, and the launcher runs every C++
# compile of the build, so the relaxed checks apply to all of them, not only
# to the test binaries that use a precompiled header. C compiles go through
# plain ccache and keep the user's settings.
#
# CCACHE_BASEDIR is the source tree, for C and C++ alike: ccache then hashes
# paths inside the tree relative to it, and CCACHE_NOHASHDIR leaves the
# working directory out of the hash of builds with debug information (the
# ASan build), so a clone at another path (a fresh CI checkout) reuses what
# an earlier clone compiled instead of starting cold. What that costs:
# __FILE__ in check messages is relative to the build directory
# (../src/...), and a cached object's debug information names the
# directories of the clone that compiled it first.
function(rampart_use_ccache)
  find_program(CCACHE_PROGRAM ccache)
  if(NOT CCACHE_PROGRAM)
    return()
  endif()
  find_program(RAMPART_ENV_PROGRAM env REQUIRED)
  set(CMAKE_C_COMPILER_LAUNCHER ${RAMPART_ENV_PROGRAM} CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}
      CCACHE_NOHASHDIR=1 ${CCACHE_PROGRAM} PARENT_SCOPE)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${RAMPART_ENV_PROGRAM} CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}
      CCACHE_NOHASHDIR=1 CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      ${CCACHE_PROGRAM} PARENT_SCOPE)
endfunction()

# Applies the unit-test measures above to one GoogleTest binary built from
# `source_count` files. Building the header costs about as much as compiling
# three of its users without it, so small test binaries go without.
function(rampart_fast_unit_test target source_count)
  if(source_count GREATER_EQUAL 4)
    target_precompile_headers(${target} PRIVATE
      <gtest/gtest.h> <string> <string_view> <vector> <map> <set> <memory>
      <optional> <chrono> <thread> <atomic> <filesystem> <functional>)
  endif()
  # After the build type's -O3, so it wins; Debug stays -O0.
  target_compile_options(${target} PRIVATE $<$<NOT:$<CONFIG:Debug>>:-O1>)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 at -O1 reports false -Warray-bounds and -Wstringop-overflow
    # overflows inside std::string's operator+ (the same family of GCC 12
    # false positives as -Wrestrict in CMakeLists.txt); off in test code
    # only, and the clang build keeps its own checks.
    target_compile_options(${target} PRIVATE -Wno-array-bounds -Wno-stringop-overflow)
  endif()
endfunction()
