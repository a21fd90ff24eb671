# The two commands: `make run` starts a node, `make test` builds and passes the
# tests. Both install missing Debian packages first, then configure and build
# through the CMake presets in CMakePresets.json.
PRESET   ?= default
CONFIG   ?= config/perfect21.toml
DURATION ?=
JOBS     ?= $(shell nproc)
BUILD    := build/$(PRESET)

.PHONY: run test build configure p21 deps test-deps check bench plots package clean

# `make run` builds only the p21 command (and the libraries it links).
run: p21
	$(BUILD)/p21 run --config $(CONFIG) $(if $(DURATION),--duration $(DURATION))

test: test-deps build
	ctest --preset $(PRESET) -j $(JOBS)

check: p21
	$(BUILD)/p21 check --config $(CONFIG)

bench: p21
	$(BUILD)/p21 bench

# `make plots`: the full bench with its SVG charts into docs/bench/, then
# the figure tables of README.md and docs/*.md regenerated from its JSON
# (commit them with the numbers they come from).
plots: p21
	$(BUILD)/p21 bench --plots docs/bench --json docs/bench/bench.json
	$(BUILD)/p21 docs --bench-json docs/bench/bench.json README.md docs/*.md

# `make package`: the Debian packages (CPack) in $(BUILD)/, from the same
# build: perfect21 (p21, its manual page, systemd unit, default config, data
# directory), libperfect21-N (the shared library) and libperfect21-dev
# (headers, libraries, CMake and pkg-config files). It builds what they hold
# (target p21_packaged), not the tests. Install with
# `sudo apt install ./$(BUILD)/perfect21_*.deb`.
package: configure
	cmake --build --preset $(PRESET) -j $(JOBS) --target p21_packaged
	cd $(BUILD) && cpack -G DEB

configure: deps
	cmake --preset $(PRESET)

p21: configure
	cmake --build --preset $(PRESET) -j $(JOBS) --target p21

build: configure
	cmake --build --preset $(PRESET) -j $(JOBS)

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

clean:
	rm -rf build
