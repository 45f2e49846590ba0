# mmkit — the commands people type.  CMake and ctest do the work underneath.
#   make test    configure, build and run every test (normal build, then
#                ASan+UBSan build, plus a gcc build-only check)
#   make demo    boot the riscv64 demo kernel under QEMU (ARCH=aarch64,
#                x86_64, loongarch64 for the others, ARCH=hosted for the
#                Linux user-space demo)
#   make bench   build and run mmkit-bench, writing build/bench.json
#   make lint    cppcheck over src/, clang-format check of every C file
CMAKE_GEN := -G Ninja
JOBS ?= $(shell nproc)

.PHONY: all build test test-normal test-asan test-tsan test-clang demo bench lint clean deps-%

all: build

deps-%:
	@tools/install-deps.sh $*

build/build.ninja: | deps-test
	cmake -S . -B build $(CMAKE_GEN) -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: build/build.ninja
	cmake --build build -j $(JOBS)

test-normal: build
	ctest --test-dir build --output-on-failure -j $(JOBS) --timeout 900

build-asan/build.ninja: | deps-test
	cmake -S . -B build-asan $(CMAKE_GEN) -DCMAKE_C_COMPILER=clang -DMMK_SANITIZE=ON

test-asan: build-asan/build.ninja
	cmake --build build-asan -j $(JOBS)
	ctest --test-dir build-asan --output-on-failure -j $(JOBS) --timeout 900 -LE "build|qemu|bench"

# gcc builds the normal tree and clang the sanitizer trees; this proves clang
# also builds everything warning-free without sanitizers.
build-clang/build.ninja: | deps-test
	cmake -S . -B build-clang $(CMAKE_GEN) -DCMAKE_C_COMPILER=clang

test-clang: build-clang/build.ninja
	cmake --build build-clang -j $(JOBS)

# Tests labelled `tsan` (threads playing CPUs) again under ThreadSanitizer.
build-tsan/build.ninja: | deps-test
	cmake -S . -B build-tsan $(CMAKE_GEN) -DCMAKE_C_COMPILER=clang -DMMK_TSAN=ON

test-tsan: build-tsan/build.ninja
	cmake --build build-tsan -j $(JOBS)
	ctest --test-dir build-tsan --output-on-failure -j $(JOBS) --timeout 900 -L tsan

test: test-normal test-asan test-tsan test-clang
	@echo "make test: all builds and suites passed"

# ARCH=riscv64 (default) | aarch64 | x86_64 | loongarch64 boots that QEMU
# demo kernel (tools/demo.sh builds it and installs what it needs);
# ARCH=hosted runs the hosted demo of the CMake build.
ARCH ?= riscv64
demo:
	@if [ "$(ARCH)" = hosted ]; then $(MAKE) --no-print-directory build; fi
	tools/demo.sh $(ARCH)

bench: deps-bench build
	cd build && ./mmkit-bench -o bench.json

lint: deps-lint
	cppcheck --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --std=c11 -I include -I src -q \
	  -DMMK_CFG_DEBUG_HOOKS=0 src/
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')
	@echo "make lint: cppcheck and clang-format clean"

clean:
	rm -rf build build-asan build-clang build-tsan
