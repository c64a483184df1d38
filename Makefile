# chukan — the two commands of the quick start, and a few more.
#   make demo   run the demonstration scenario (builds first)
#   make test   every test: unit, integration, SQLite + PostgreSQL, sanitizers
#   make build  configure and build the development tree
#   make bench  build the release tree and run the benchmarks
SHELL := /bin/bash
.DEFAULT_GOAL := build
JOBS ?= $(shell nproc)
DEPS_STAMP := build/.deps-ok

.PHONY: deps build build-asan build-release test test-dev test-asan demo bench clean format

$(DEPS_STAMP): scripts/install-deps
	scripts/install-deps
	@mkdir -p build && touch $@

deps: $(DEPS_STAMP)

build: deps
	cmake --preset dev >/dev/null
	cmake --build --preset dev -j $(JOBS)

build-asan: deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)

build-release: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

# Development tree: every test, with a private PostgreSQL started (and stopped) around the run.
test-dev: build
	scripts/with-postgres ctest --preset dev -j $(JOBS) --timeout 600

# Sanitizer tree: the unit tests (also against the private PostgreSQL).
test-asan: build-asan
	scripts/with-postgres ctest --preset asan -L unit -j $(JOBS) --timeout 900

test: test-dev test-asan
	@echo "make test: all test runs passed / すべてのテストに合格しました"

demo: build
	scripts/demo

bench: build-release
	scripts/bench

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf build
