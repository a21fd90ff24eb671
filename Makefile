# The two commands: `make run` starts a node, `make test` builds and passes the
# tests. Both install missing Debian packages first, then configure and build
# through the CMake presets in CMakePresets.json.
PRESET   ?= default
CONFIG   ?= config/perfect21.toml
DURATION ?=
JOBS     ?= $(shell nproc)
BUILD    := build/$(PRESET)

.PHONY: run test build deps test-deps check bench clean

run: build
	$(BUILD)/p21 run --config $(CONFIG) $(if $(DURATION),--duration $(DURATION))

test: test-deps build
	ctest --preset $(PRESET) -j $(JOBS)

check: build
	$(BUILD)/p21 check --config $(CONFIG)

bench: build
	$(BUILD)/p21 bench

build: deps
	cmake --preset $(PRESET)
	cmake --build --preset $(PRESET) -j $(JOBS)

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

clean:
	rm -rf build
