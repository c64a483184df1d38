# Compiler warnings, hardening and the ccache launcher for every chukan target.
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_C_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
  set(CMAKE_CXX_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
endif()

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
# ThreadSanitizer (the tsan preset): -O1 keeps it fast enough, -g and frame pointers keep its
# stacks readable. It cannot be combined with AddressSanitizer.
if(CHUKAN_SANITIZE_THREAD)
  if(CHUKAN_SANITIZE)
    message(FATAL_ERROR "CHUKAN_SANITIZE_THREAD and CHUKAN_SANITIZE cannot be combined")
  endif()
  target_compile_options(chukan_flags INTERFACE -fsanitize=thread -O1 -g -fno-omit-frame-pointer)
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
  set(labels unit)
  if(T_LABELS)
    set(labels ${T_LABELS})
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${labels}"
                       TIMEOUT ${T_TIMEOUT})
endfunction()
