#!/bin/sh
# For each target mmkit supports, compile layout_dump.c as C11 and as C++17
# with clang and compare the two arrays of sizes, alignments and offsets:
# the public structs are laid out alike by C and C++ on every ABI, not
# only on the host (test_cxx asserts it there at compile time).  i386 is
# not a target of mmkit; it is here because its _Atomic uint64_t is more
# aligned than a plain uint64_t, which MMK_ATOMIC must reproduce in C++.
# Usage: tests/cxx/cross-layout.sh <outdir>
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-/tmp/mmk-cross-layout}
mkdir -p "$out"
fail=0
for t in x86_64 riscv64 aarch64 loongarch64 i386; do
	cc=clang
	objcopy=llvm-objcopy
	case $t in
	x86_64) flags="--target=x86_64-unknown-elf -mcmodel=kernel -mno-red-zone" ;;
	riscv64) flags="--target=riscv64-unknown-elf -march=rv64imac -mabi=lp64" ;;
	aarch64) flags="--target=aarch64-unknown-elf" ;;
	i386) flags="--target=i386-unknown-elf" ;;
	loongarch64)
		cc=clang-16
		flags="--target=loongarch64-unknown-elf -march=loongarch64 -mabi=lp64s"
		;;
	esac
	if ! command -v $cc >/dev/null || ! command -v $objcopy >/dev/null; then
		echo "cross-layout: $cc or $objcopy missing, $t skipped"
		continue
	fi
	for lang in c c++; do
		std=c11
		[ $lang = c++ ] && std=c++17
		# shellcheck disable=SC2086
		$cc $flags -x $lang -std=$std -ffreestanding -nostdlibinc -O2 \
			-Wall -Wextra -Werror -I"$root/include" -I"$here" \
			-c "$here/layout_dump.c" -o "$out/$t.$lang.o"
		$objcopy -O binary --only-section=.mmk_layout "$out/$t.$lang.o" "$out/$t.$lang.bin"
	done
	if [ ! -s "$out/$t.c.bin" ] || ! cmp -s "$out/$t.c.bin" "$out/$t.c++.bin"; then
		echo "FAIL: $t: C and C++ lay the public structs out differently"
		fail=1
	else
		echo "cross-layout $t: $(($(wc -c <"$out/$t.c.bin") / 8 - 1)) sizes, alignments and offsets, C = C++"
	fi
done
exit $fail
