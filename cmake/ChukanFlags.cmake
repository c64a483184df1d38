# Compiler warnings, hardening and the ccache launcher for every chukan target.
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_C_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
  set(CMAKE_CXX_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
endif()

# LLVM's lld links (Debian's lld, installed by scripts/install-deps) several times faster than
# GNU ld: a tree links some forty test executables with debug information, and with ld that took
# a fifth of a clean build. CHUKAN_LINKER=default keeps the compiler's own choice.
set(CHUKAN_LINKER "lld" CACHE STRING "Linker for -fuse-ld= (lld, gold, default)")
if(NOT CHUKAN_LINKER STREQUAL "default")
  find_program(CHUKAN_LINKER_PROGRAM ld.${CHUKAN_LINKER})
  if(CHUKAN_LINKER_PROGRAM)
    add_link_options(-fuse-ld=${CHUKAN_LINKER})
  else()
    message(STATUS "ld.${CHUKAN_LINKER} not found: linking with the compiler's default linker")
  endif()
endif()

# Unity builds of the test executables (CMake's UNITY_BUILD): their translation units share the
# same heavy headers (GoogleTest, the store, the server), so compiling a few of them as one
# saves about 40 % of the tests' compile time in a clean build (docs/architecture.md, "Tests: what
# `make test` runs").
option(CHUKAN_UNITY_TESTS "Compile each test executable's sources in unity batches" ON)

include(CheckPIESupported)
check_pie_supported()
set(CMAKE_POSITION_INDEPENDENT_CODE ON)

add_library(chukan_flags INTERFACE)
target_compile_options(chukan_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
  -Wold-style-cast -Wformat=2
  -fstack-protector-strong)
if(CHUKAN_WERROR)
  target_compile_options(chukan_flags INTERFACE -Werror)
  # GCC 12's flow-sensitive warnings misfire at -O2 on libstdc++'s own inlined code
  # (std::string's small buffer "maybe uninitialized", vector::insert "array bounds"): the
  # release tree (-O2) stopped on them with no defect in chukan. They stay warnings there.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_BUILD_TYPE STREQUAL "Release")
    target_compile_options(chukan_flags INTERFACE -Wno-error=maybe-uninitialized
                           -Wno-error=array-bounds -Wno-error=stringop-overflow
                           -Wno-error=stringop-overread)
  endif()
endif()
# _FORTIFY_SOURCE needs optimisation; it is meaningless (and warns) at -O0.
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
  target_compile_definitions(chukan_flags INTERFACE _FORTIFY_SOURCE=2)
endif()
target_link_options(chukan_flags INTERFACE -Wl,-z,relro,-z,now)
if(CHUKAN_SANITIZE)
  target_compile_options(chukan_flags INTERFACE -fsanitize=address,undefined
                         -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(chukan_flags INTERFACE -fsanitize=address,undefined)
endif()
# libFuzzer's coverage instrumentation in every library when the fuzz binaries are built (clang
# only; fuzz/CMakeLists.txt).
if(CHUKAN_BUILD_FUZZ AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  target_compile_options(chukan_flags INTERFACE -fsanitize=fuzzer-no-link)
endif()
# ThreadSanitizer (the tsan preset): -O1 keeps it fast enough, line tables (-g1) and frame
# pointers keep its stacks readable; full debug information would only make the tree slower to
# build. It cannot be combined with AddressSanitizer.
if(CHUKAN_SANITIZE_THREAD)
  if(CHUKAN_SANITIZE)
    message(FATAL_ERROR "CHUKAN_SANITIZE_THREAD and CHUKAN_SANITIZE cannot be combined")
  endif()
  target_compile_options(chukan_flags INTERFACE -fsanitize=thread -O1 -g1 -fno-omit-frame-pointer)
  # GCC 12 warns that TSan does not model std::atomic_thread_fence, which Asio's fenced blocks
  # use; nothing in chukan can change that, and with -Werror the warning would stop the build.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 11)
    target_compile_options(chukan_flags INTERFACE -Wno-tsan)
  endif()
  target_link_options(chukan_flags INTERFACE -fsanitize=thread)
endif()

# chukan_test(NAME SOURCES... LIBS ... [LABELS ...] [TIMEOUT seconds]) — one GoogleTest executable
# registered with ctest; each test may run TIMEOUT seconds (300).
function(chukan_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} chukan_flags GTest::gtest GTest::gmock GTest::gtest_main)
  if(CHUKAN_UNITY_TESTS)
    set_target_properties(${name} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 6)
  endif()
  set(labels unit)
  if(T_LABELS)
    set(labels ${T_LABELS})
  endif()
  if("unit" IN_LIST labels)
    set_property(GLOBAL APPEND PROPERTY CHUKAN_UNIT_TEST_TARGETS ${name})
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${labels}"
                       TIMEOUT ${T_TIMEOUT})
endfunction()
