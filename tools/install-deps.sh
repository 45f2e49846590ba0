#!/bin/sh
# Install the Debian packages mmkit's build, tests, benchmark, docs and demos
# need, only those missing, saying which and why before it does.  Runs as
# root without prompting, so that `make test` and `make demo` set everything
# up on a fresh Debian 12; does nothing when all are present.
#
# Usage: tools/install-deps.sh [test|bench|demo|lint|docs]...
# Set MMK_NO_INSTALL=1 to install nothing: the script then names what is
# missing and what will not work without it, and returns 0 so the make
# target goes on (the steps that need a missing package fail on their own).
set -e

# One line per package: name, then what needs it.
base="cmake:the CMake build
ninja-build:the CMake build (Ninja generator)
gcc:the gcc build and the freestanding check with GCC
clang:the sanitizer and clang builds, the freestanding check
lld:linking the demo kernels
libcmocka-dev:the unit tests (cmocka)
python3:tools/*.py (stack depth, benchmark table, QEMU tests)
binutils:nm and objdump for the freestanding and stack checks"
test="clang-16:the loongarch64 freestanding check and demo
lld-16:linking the loongarch64 demo kernel
llvm:llvm-nm for the freestanding check
gcc-riscv64-linux-gnu:the freestanding check with GCC for riscv64
gcc-aarch64-linux-gnu:the freestanding check with GCC for aarch64
pkg-config:the install test (a consumer built with pkg-config)
meson:the Meson build test (mmkit as a Meson subproject)
qemu-system-x86:the QEMU tests (x86_64 demo)
qemu-system-arm:the QEMU tests (aarch64 demo)
qemu-system-misc:the QEMU tests (riscv64 and loongarch64 demos)"
bench="libjemalloc-dev:the benchmark's jemalloc peer
libmimalloc-dev:the benchmark's mimalloc peer"
demo="qemu-system-x86:the x86_64 demo
qemu-system-arm:the aarch64 demo
qemu-system-misc:the riscv64 and loongarch64 demos
clang-16:the loongarch64 demo"
lint="cppcheck:make lint
clang-format:make lint (format check)
clang-tidy:make lint"
docs="doxygen:make docs (the API reference)"

want="$base"
for what in "$@"; do
	case "$what" in
	test) want="$want
$test" ;;
	bench) want="$want
$bench" ;;
	demo) want="$want
$demo" ;;
	lint) want="$want
$lint" ;;
	docs) want="$want
$docs" ;;
	*) echo "install-deps: unknown set '$what'" >&2; exit 2 ;;
	esac
done

missing=""
why=""
for p in $(echo "$want" | cut -d: -f1 | sort -u); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" && continue
	missing="$missing $p"
	why="$why
  $p: $(echo "$want" | grep "^$p:" | cut -d: -f2- | paste -sd ';' | sed 's/;/; /g')"
done
[ -z "$missing" ] && exit 0

if [ "${MMK_NO_INSTALL:-0}" = 1 ]; then
	echo "install-deps: MMK_NO_INSTALL=1, not installing these missing Debian packages:$why" >&2
	echo "install-deps: what needs them will fail; install them yourself with: apt-get install$missing" >&2
	exit 0
fi
echo "install-deps: installing missing Debian packages (set MMK_NO_INSTALL=1 to skip):$why"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: need root to install:$missing (or set MMK_NO_INSTALL=1)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: installed$missing"
