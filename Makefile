# chukan — the two commands of the quick start, and a few more.
#   make demo   run the demonstration scenario (builds first)
#   make test   every test: unit, integration, SQLite + PostgreSQL, the browser tests, sanitizers,
#               the Debian package installed into a clean root and the demo run from it,
#               the clang thread-safety analysis, a short libFuzzer run of every parser (runs
#               one after another; `make -j3 test` runs the dev, asan and tsan runs side by
#               side on a machine with room for it)
#   make build  configure and build the development tree
#   make bench  build the release tree and run the benchmarks
#   make package  build the release tree and its Debian package (build/package/chukan_*.deb)
SHELL := /bin/bash
.DEFAULT_GOAL := build
JOBS ?= $(shell nproc)
DEPS_STAMP := build/.deps-ok

.PHONY: deps build build-asan build-tsan build-release test test-dev test-browser test-asan \
        test-tsan test-fuzz test-package test-ha check-thread-safety demo bench package clean format

$(DEPS_STAMP): scripts/install-deps
	scripts/install-deps
	@mkdir -p build && touch $@

deps: $(DEPS_STAMP)

build: deps
	cmake --preset dev >/dev/null
	cmake --build --preset dev -j $(JOBS)

# Sanitizer tree: only what its tests run (the executables of the tests labelled unit or fuzz,
# the target chukan_unit_tests).
build-asan: deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS) --target chukan_unit_tests

# ThreadSanitizer tree: only the unit tests of the libraries that run threads and the linkage,
# and the in-process HTTP server tests (io threads, workers, streams on loopback); a whole TSan
# tree would cost the 2-core machine far more than it finds.
TSAN_TESTS := chukan_common_test chukan_store_test chukan_http_unit_test chukan_audit_test \
              chukan_linkage_test chukan_hub_test chukan_server_test \
              chukan_http_server_test chukan_http_stream_test chukan_http_server_core_test \
              chukan_console_test chukan_replica_test

build-tsan: deps
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan -j $(JOBS) --target $(TSAN_TESTS)

build-release: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

# Development tree: every test, with a private PostgreSQL started (and stopped) around the run.
# Within `make test` only the integration tests run here (DEV_TESTS): the unit and fuzz-replay
# tests run in the sanitizer tree (test-asan), which checks strictly more.
DEV_TESTS ?=
test-dev: build
	scripts/with-postgres ctest --preset dev -j $(JOBS) --timeout 600 $(DEV_TESTS)

# The web console in Debian's chromium (tests/browser, playwright-core), against the dev tree's
# chukan binary; each test file starts its own throwaway server.
test-browser: build
	scripts/test-browser

# Sanitizer tree: the unit tests and the fuzz targets' corpus replays (also against the
# private PostgreSQL).
test-asan: build-asan
	scripts/with-postgres ctest --preset asan -L 'unit|fuzz' -j $(JOBS) --timeout 900

# ThreadSanitizer tree: the unit tests built by build-tsan (also against the private
# PostgreSQL: its connection pool is concurrent code too). The tests of libraries not built
# there register as *_NOT_BUILT without a label, so -L unit leaves them out.
test-tsan: build-tsan
	scripts/with-postgres ctest --preset tsan -L unit -j $(JOBS) --timeout 900

# libFuzzer: every target of fuzz/ built with clang, ASan and UBSan (build/fuzz) and fuzzed from
# its seed corpus for the executions fuzz/short-runs gives it (~20 s each), with a fixed seed, so
# a run explores nearly the same inputs on every machine, however fast (FUZZ_SECONDS only caps a
# slow one); a failing input is kept in build/fuzz/crashes/<name>/. Long random runs before a
# release: docs/operations.md.
FUZZ_SECONDS ?= 120
test-fuzz: deps
	rm -rf build/fuzz/corpus build/fuzz/crashes
	FUZZ_SEED=1 FUZZ_RUNS_FILE=fuzz/short-runs scripts/fuzz $(FUZZ_SECONDS)

# The Debian package (CPack, cmake/ChukanPackage.cmake) of the dev tree: control data, files, the
# systemd units (systemd-analyze verify), the example configurations and the demo network run
# from a clean root it was unpacked into (scripts/test-package).
test-package: build
	scripts/test-package build/dev

# The database's failover: a Patroni cluster on loopback (etcd, a primary and a synchronous
# standby; scripts/with-patroni), the primary's node killed while the dev tree's tests write:
# the store's group committer, then the whole linkage (hub and two servers as processes) with a
# replica import (docs/operations.md, "High availability of the database (Patroni)"). Each kill
# needs a cluster of its own (a standby to promote). They cannot skip here.
test-ha: build
	CHUKAN_REQUIRE_PATRONI=1 scripts/with-patroni build/dev/src/store/chukan_store_test \
	  --gtest_filter='PostgresFailover*'
	CHUKAN_REQUIRE_PATRONI=1 scripts/with-patroni build/dev/tests/network/chukan_failover_test

# The release package: docs/operations.md, "Installing from the Debian package".
package: build-release
	cd build/release && cpack -G DEB -B $(CURDIR)/build/package
	@ls -1 build/package/chukan_*.deb

# clang's -Wthread-safety over every translation unit of src/ (GUARDED_BY, REQUIRES, …).
check-thread-safety: build
	scripts/check-thread-safety

test: DEV_TESTS = -LE '^(unit|fuzz)$$'
test: test-dev test-package test-ha test-browser check-thread-safety test-fuzz test-asan test-tsan
	@echo "make test: all test runs passed / すべてのテストに合格しました"

demo: build
	scripts/demo

bench: build-release
	scripts/bench

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf build
