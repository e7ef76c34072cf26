# A thin wrapper over CMake: the README's commands.
#   make demo    install what the build lacks, build, run the article demo
#   make test    the same set-up, then the whole suite (plain, ASan+UBSan, TSan, AArch64, valgrind)
#   make bench   the benchmark table against asyncio, uvloop, Go, libuv, Node, Redis
#   make install the library, aw.h, aw.pc and the CMake package (PREFIX=/usr/local)

PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-plain test-asan test-tsan test-port test-valgrind \
        bench bench-quick install clean

all: build

deps:
	@scripts/deps

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j$(JOBS)

demo: build
	@./build/examples/article

test: deps
	@scripts/test

test-plain test-asan test-tsan test-port test-valgrind: deps
	@scripts/test $(patsubst test-%,%,$@)

bench: build
	@bench/run

bench-quick: build
	@bench/run --quick

install: build
	@cmake --install build --prefix $(PREFIX)

clean:
	rm -rf build build-asan build-tsan build-port
