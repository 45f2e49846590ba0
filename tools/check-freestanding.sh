#!/bin/sh
# Freestanding proof for the core: compile every file under src/ for one
# target with -ffreestanding and no system headers, then check
#  1. every header it includes is mmkit's own or one of the C11
#     freestanding headers from the compiler itself;
#  2. every undefined symbol left in the objects is a HAL hook (mmk_hal_*)
#     or one of memset/memcpy/memmove/memcmp, which GCC and clang require
#     of every freestanding environment.
# Usage: tools/check-freestanding.sh <arch> [outdir]
#   arch: x86_64 | riscv64 | aarch64 | loongarch64
set -eu
arch=$1
root=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$root/build/freestanding}/$arch
mkdir -p "$out"
cc=clang
nm=llvm-nm
case "$arch" in
x86_64) flags="--target=x86_64-unknown-elf -mno-red-zone -mgeneral-regs-only -mcmodel=kernel" ;;
riscv64) flags="--target=riscv64-unknown-elf -march=rv64imac -mabi=lp64 -mcmodel=medany" ;;
aarch64) flags="--target=aarch64-unknown-elf -mgeneral-regs-only" ;;
loongarch64)
	cc=clang-16
	nm=llvm-nm-16
	flags="--target=loongarch64-unknown-elf -march=loongarch64 -mabi=lp64s"
	;;
*) echo "unknown arch $arch" >&2; exit 2 ;;
esac
command -v $cc >/dev/null || { echo "check-freestanding: $cc missing (tools/install-deps.sh test)" >&2; exit 1; }
resdir=$($cc -print-resource-dir)/include
allowed_headers="float.h iso646.h limits.h stdalign.h stdarg.h stdatomic.h stdbool.h stddef.h stdint.h stdnoreturn.h"

fail=0
objs=""
for src in $(find "$root/src" -name '*.c' | sort); do
	rel=${src#$root/}
	obj=$out/$(echo "$rel" | tr / _).o
	dep=$obj.d
	# -nostdlibinc: no system include directories, only the compiler's
	# own (freestanding) headers and ours.
	$cc $flags -std=c11 -ffreestanding -nostdlibinc -fno-pic -O2 \
		-Wall -Wextra -Werror -Wno-unused-parameter \
		-I"$root/include" -I"$root/src" -MD -MF "$dep" -c "$src" -o "$obj" || {
		echo "FAIL: $rel does not compile freestanding for $arch"
		fail=1
		continue
	}
	objs="$objs $obj"
	for h in $(sed -e 's/\\$//' -e 's/^[^:]*://' "$dep" | tr ' ' '\n' | grep '\.h$' || true); do
		case "$h" in
		"$root"/include/* | "$root"/src/*) continue ;;
		"$resdir"/*)
			b=${h#$resdir/}
			# the compiler's own pieces of those headers (__stddef_*.h)
			case "$b" in __*) continue ;; esac
			echo " $allowed_headers " | grep -q " $b " && continue ;;
		esac
		echo "FAIL: $rel includes $h, outside the freestanding set"
		fail=1
	done
done
[ -n "$objs" ] || { echo "no sources"; exit 1; }
# Symbols defined anywhere in the core, and those still undefined.
$nm --defined-only -j $objs 2>/dev/null | grep -v ':$' | sort -u >"$out/defined.txt"
$nm --undefined-only -j $objs 2>/dev/null | grep -v ':$' | sort -u >"$out/undef.txt"
bad=$(comm -23 "$out/undef.txt" "$out/defined.txt" |
	grep -v -E '^(mmk_hal_[a-z0-9_]+|memset|memcpy|memmove|memcmp)$' || true)
if [ -n "$bad" ]; then
	echo "FAIL: undefined symbols that are not HAL hooks on $arch:"
	echo "$bad" | sed 's/^/  /'
	fail=1
fi
n=$(echo $objs | wc -w)
hal=$(comm -23 "$out/undef.txt" "$out/defined.txt" | grep -c '^mmk_hal_' || true)
if [ $fail = 0 ]; then
	echo "freestanding $arch: $n files compiled, only freestanding headers, $hal HAL hooks + mem* left undefined: OK"
fi
exit $fail
