# Extra benchmark executables (included by bench/CMakeLists.txt).
# chukan_http_bench_server: a standalone server with one trivial endpoint, for wrk against
# nginx (scripts/bench-http-vs-nginx).
if(TARGET chukan_http)
  add_executable(chukan_http_bench_server http_bench_server.cc)
  target_link_libraries(chukan_http_bench_server PRIVATE chukan_http chukan_flags)
endif()
# The round-trip benchmark makes its own throwaway CA for the TLS case.
if(TARGET chukan_http_bench AND TARGET chukan_pki)
  target_link_libraries(chukan_http_bench PRIVATE chukan_pki)
endif()
# The hub's permits/s load generator (scripts/bench-hub): a real `chukan hub` process and a test
# node (tests/hub/test_node.h) on loopback.
if(TARGET chukan_hub AND TARGET chukan_pki)
  add_executable(chukan_hub_load hub_load.cc)
  target_link_libraries(chukan_hub_load PRIVATE chukan_http chukan_pki chukan_linkage chukan_crypto
                        chukan_flags CLI11::CLI11)
  target_include_directories(chukan_hub_load PRIVATE ${PROJECT_SOURCE_DIR}/tests/hub
                             ${PROJECT_SOURCE_DIR}/tests/server)
  target_compile_definitions(chukan_hub_load PRIVATE CHUKAN_BINARY="$<TARGET_FILE:chukan>")
endif()
# The console's page times, asset sizes and import progress (issue 12 goals), in process through
# the router over a Platform on SQLite (docs/performance.md, "Console").
if(TARGET chukan_console)
  add_executable(chukan_console_bench console_bench.cc)
  target_link_libraries(chukan_console_bench PRIVATE chukan_console chukan_server chukan_replica
                        chukan_audit chukan_crypto chukan_layout chukan_store chukan_http
                        chukan_flags CLI11::CLI11)
  target_compile_definitions(chukan_console_bench PRIVATE
                             CHUKAN_LAYOUT_DIR="${PROJECT_SOURCE_DIR}/data/layout")
endif()
# The data-key rotation's re-encryption rate with no pacing (docs/performance.md, "Data-key
# rotation"), over a Platform on SQLite and, with CHUKAN_TEST_PG_DSN, PostgreSQL.
if(TARGET chukan_server)
  add_executable(chukan_rekey_bench rekey_bench.cc)
  target_link_libraries(chukan_rekey_bench PRIVATE chukan_server chukan_store chukan_crypto
                        chukan_flags benchmark::benchmark)
endif()
# The crypto benchmark also times ParseJsonObject beside CanonicalizeJson (the two JSON reads of
# every signed document).
if(TARGET chukan_crypto_bench AND TARGET chukan_json)
  target_link_libraries(chukan_crypto_bench PRIVATE chukan_json)
endif()
