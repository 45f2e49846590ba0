#!/bin/sh
# Test build_install: `cmake --install` of the build tree into a fresh
# prefix, then two consumers of what was installed, each linking the
# kernel-like program of kmake/ (its own HAL) and running it:
#  1. a CMake project with find_package(mmkit CONFIG)   (consumer/)
#  2. a plain compiler command line from pkg-config --cflags --libs mmkit
# and a check that the prefix holds no HAL (libmmkit.a defines no mmk_hal_*).
# Usage: install-test.sh <mmkit build dir> <scratch dir> <C compiler>
set -eu
build=$1
work=$2
cc=${3:-cc}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

echo "== cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
for f in include/mmkit/types.h include/mmkit/version.h lib/libmmkit.a \
	lib/cmake/mmkit/mmkitConfig.cmake lib/cmake/mmkit/mmkitConfigVersion.cmake \
	lib/cmake/mmkit/mmkitTargets.cmake lib/pkgconfig/mmkit.pc; do
	[ -e "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
if nm --defined-only "$prefix/lib/libmmkit.a" | grep -q ' [TDBR] mmk_hal_'; then
	echo "FAIL: libmmkit.a defines HAL hooks:"
	nm --defined-only "$prefix/lib/libmmkit.a" | grep ' [TDBR] mmk_hal_'
	exit 1
fi

echo "== find_package(mmkit CONFIG) consumer"
cmake -S "$here/consumer" -B "$work/consumer" -G Ninja -DCMAKE_C_COMPILER="$cc" \
	-DCMAKE_PREFIX_PATH="$prefix" >"$work/consumer.log"
grep "mmkit " "$work/consumer.log" || true
cmake --build "$work/consumer" >>"$work/consumer.log" || { cat "$work/consumer.log"; exit 1; }
"$work/consumer/kernel"

echo "== pkg-config consumer"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
echo "pkg-config: mmkit $(pkg-config --modversion mmkit): $(pkg-config --cflags --libs mmkit)"
# shellcheck disable=SC2046
$cc -std=c11 -O2 -Wall -Wextra -Werror -Wno-unused-parameter \
	-DKM_HAVE_X86_64=1 -DKM_HAVE_RISCV64=1 -DKM_HAVE_AARCH64=1 -DKM_HAVE_LOONGARCH64=1 \
	$(pkg-config --cflags mmkit) "$here/kmake/kmain.c" "$here/kmake/hal.c" \
	$(pkg-config --libs mmkit) -o "$work/kernel-pc"
"$work/kernel-pc"
echo "build_install: PASS"
