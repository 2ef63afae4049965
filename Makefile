# The two commands: `make run` and `make test`. Both install what is missing
# (Debian 12, as root), configure and build first.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
DATA_DIR ?= ./data
LISTEN ?= 127.0.0.1:4566
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan run dev test unit-test asan-test fuzz-test integration-test bench clean

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/build.ninja: | deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DRAMPART_SANITIZE=ON -DRAMPART_FUZZ=ON -DRAMPART_BENCH=OFF $(CMAKE_FLAGS)

build-asan: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Starts the server on the embedded default (SQLite under $(DATA_DIR)).
run: build
	$(BUILD)/bin/rampart server --data-dir $(DATA_DIR) --listen $(LISTEN)

# Insecure local development mode (fixed account, test/test credentials).
dev: build
	$(BUILD)/bin/rampart server --data-dir $(DATA_DIR)-dev --listen $(LISTEN) --dev

test: build build-asan
	@./scripts/run-tests.sh $(BUILD) $(ASAN_BUILD)

bench: build
	@./bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
