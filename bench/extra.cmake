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
