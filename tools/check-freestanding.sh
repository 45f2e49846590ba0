#!/bin/sh
# Freestanding proof for the core: compile every file under src/ for one
# target with -ffreestanding and no system headers, then check
#  1. every header it includes is mmkit's own or one of the C11
#     freestanding headers from the compiler itself;
#  2. every undefined symbol left in the objects is a HAL hook (mmk_hal_*)
#     or one of memset/memcpy/memmove/memcmp, which GCC and clang require
#     of every freestanding environment.  Nothing else: in particular no
#     libgcc / compiler-rt helper (__popcountdi2, __ctzdi2, __udivti3...),
#     which many kernels do not link.
# Usage: tools/check-freestanding.sh <target> [outdir]
#   target: x86_64 | riscv64 | aarch64 | loongarch64        (clang)
#           gcc-x86_64 | gcc-riscv64 | gcc-aarch64          (GCC)
# The gcc-* targets use Debian's compilers: the host gcc with x86_64 kernel
# flags, gcc-riscv64-linux-gnu and gcc-aarch64-linux-gnu
# (tools/install-deps.sh test installs them).
set -eu
target=$1
root=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$root/build/freestanding}/$target
mkdir -p "$out"
x86_kernel="-mcmodel=kernel -mno-red-zone -mgeneral-regs-only"
case "$target" in
x86_64 | riscv64 | aarch64 | loongarch64)
	kind=clang
	cc=clang
	nm=llvm-nm
	;;
gcc-x86_64 | gcc-riscv64 | gcc-aarch64) kind=gcc ;;
*) echo "unknown target $target" >&2; exit 2 ;;
esac
case "$target" in
x86_64) flags="--target=x86_64-unknown-elf $x86_kernel" ;;
riscv64) flags="--target=riscv64-unknown-elf -march=rv64imac -mabi=lp64 -mcmodel=medany" ;;
aarch64) flags="--target=aarch64-unknown-elf -mgeneral-regs-only" ;;
loongarch64)
	cc=clang-16
	nm=llvm-nm-16
	flags="--target=loongarch64-unknown-elf -march=loongarch64 -mabi=lp64s"
	;;
gcc-x86_64)
	cc=gcc
	nm=nm
	flags="-m64 $x86_kernel"
	;;
gcc-riscv64)
	cc=riscv64-linux-gnu-gcc
	nm=riscv64-linux-gnu-nm
	flags="-march=rv64imac -mabi=lp64 -mcmodel=medany"
	;;
gcc-aarch64)
	cc=aarch64-linux-gnu-gcc
	nm=aarch64-linux-gnu-nm
	flags="-mgeneral-regs-only -mno-outline-atomics"
	;;
esac
command -v $cc >/dev/null || { echo "check-freestanding: $cc missing (tools/install-deps.sh test)" >&2; exit 1; }
# Any nm reading the target's ELF will do (llvm-nm reads them all); a
# missing one must fail the check, never leave the symbol lists empty.
command -v $nm >/dev/null || nm=llvm-nm
command -v $nm >/dev/null || { echo "check-freestanding: no nm for $target (tools/install-deps.sh test)" >&2; exit 1; }
if [ $kind = clang ]; then
	resdir=$($cc -print-resource-dir)/include
	# -nostdlibinc: no system include directories, only the compiler's
	# own (freestanding) headers and ours.
	noinc=-nostdlibinc
else
	resdir=$($cc -print-file-name=include)
	# GCC: drop every include directory, then give back only its own.
	noinc="-nostdinc -isystem $resdir"
fi
allowed_headers="float.h iso646.h limits.h stdalign.h stdarg.h stdatomic.h stdbool.h stddef.h stdint.h stdnoreturn.h"

fail=0
objs=""
for src in $(find "$root/src" -name '*.c' | sort); do
	rel=${src#$root/}
	obj=$out/$(echo "$rel" | tr / _).o
	dep=$obj.d
	# shellcheck disable=SC2086
	$cc $flags -std=c11 -ffreestanding $noinc -fno-pic -O2 \
		-Wall -Wextra -Werror -Wno-unused-parameter \
		-I"$root/include" -I"$root/src" -MD -MF "$dep" -c "$src" -o "$obj" || {
		echo "FAIL: $rel does not compile freestanding for $target"
		fail=1
		continue
	}
	objs="$objs $obj"
	for h in $(sed -e 's/\\$//' -e 's/^[^:]*://' "$dep" | tr ' ' '\n' | grep '\.h$' || true); do
		case "$h" in
		"$root"/include/* | "$root"/src/*) continue ;;
		"$resdir"/*)
			b=${h#$resdir/}
			# the compiler's own pieces of those headers: clang's
			# __stddef_*.h, GCC's stdint-gcc.h (its freestanding
			# stdint.h)
			case "$b" in __* | stdint-gcc.h) continue ;; esac
			echo " $allowed_headers " | grep -q " $b " && continue ;;
		esac
		echo "FAIL: $rel includes $h, outside the freestanding set"
		fail=1
	done
done
[ -n "$objs" ] || { echo "no sources"; exit 1; }
# Symbols defined anywhere in the core, and those still undefined.
# shellcheck disable=SC2086
$nm --defined-only -j $objs | grep -v -e ':$' -e '^$' | sort -u >"$out/defined.txt"
# shellcheck disable=SC2086
$nm --undefined-only -j $objs | grep -v -e ':$' -e '^$' | sort -u >"$out/undef.txt"
bad=$(comm -23 "$out/undef.txt" "$out/defined.txt" |
	grep -v -E '^(mmk_hal_[a-z0-9_]+|memset|memcpy|memmove|memcmp)$' || true)
if [ -n "$bad" ]; then
	echo "FAIL: undefined symbols that are not HAL hooks on $target ($cc):"
	for s in $bad; do
		users=""
		for o in $objs; do
			$nm --undefined-only -j "$o" | grep -q -x -F "$s" &&
				users="$users $(basename "$o" .o)"
		done
		echo "  $s, needed by:$users"
	done
	fail=1
fi
n=$(echo $objs | wc -w)
hal=$(comm -23 "$out/undef.txt" "$out/defined.txt" | grep -c '^mmk_hal_' || true)
if [ $fail = 0 ]; then
	echo "freestanding $target ($cc): $n files compiled, only freestanding headers, $hal HAL hooks + mem* left undefined: OK"
fi
exit $fail
