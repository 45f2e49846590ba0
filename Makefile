# mmkit — the commands people type.  CMake and ctest do the work underneath.
#   make test    configure, build and run every test, stage by stage
#                (tools/make-test.sh: gcc + ctest, the build tests, clang
#                ASan+UBSan, clang TSan, clang build-only), then a summary
#                of what failed and how to rerun it
#   make demo    boot the riscv64 demo kernel under QEMU (ARCH=aarch64,
#                x86_64, loongarch64 for the others, ARCH=hosted for the
#                Linux user-space demo)
#   make bench   build and run mmkit-bench, writing build/bench.json
#   make lint    cppcheck over src/, clang-format check of every C file
#   make docs    the API reference from include/mmkit (Doxygen) in build/docs
# Missing Debian packages are installed first (tools/install-deps.sh says
# which and why); MMK_NO_INSTALL=1 installs nothing and names what is missing.
CMAKE_GEN := -G Ninja
JOBS ?= $(shell nproc)

.PHONY: all build test test-normal test-build test-asan test-tsan test-clang demo bench lint docs clean deps-%

all: build

deps-%:
	@tools/install-deps.sh $*

build/build.ninja: | deps-test
	cmake -S . -B build $(CMAKE_GEN) -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: build/build.ninja
	cmake --build build -j $(JOBS)

test-normal: build
	ctest --test-dir build --output-on-failure -j $(JOBS) --timeout 900 -LE build

# How the core is built and consumed (label build): tools/check-freestanding.sh
# with clang and GCC, mmkit.mk, add_subdirectory, install, stack depth.
test-build: build
	ctest --test-dir build --output-on-failure -j $(JOBS) --timeout 900 -L build

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

# Every stage runs even when one fails; the summary names what failed.
test:
	@MAKE="$(MAKE)" tools/make-test.sh

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

docs: deps-docs
	@rm -rf build/docs && mkdir -p build/docs
	MMK_VERSION=$$(sed -n 's/^#define MMK_VERSION_STRING "\(.*\)"/\1/p' include/mmkit/version.h) doxygen Doxyfile
	@echo "make docs: build/docs/html/index.html ($$(grep -c warning: build/docs/warnings.log) Doxygen warnings in build/docs/warnings.log)"

clean:
	rm -rf build build-asan build-clang build-tsan
