#!/bin/sh
# SPDX-License-Identifier: MIT
#
# tools/pt-callgrind.sh A B
#
# Instructions per operation of the page-table hot paths at commits A and
# B, counted by callgrind (exact where timing on a shared machine is not):
# single map with and without a cursor, query, query_many (64 addresses
# a call; commits without it count nothing), map/protect/unmap region
# (and unmap with a callback, the address space's form), 16,384 pages each
# (map1: 16,384 region maps of one page; huge: 32 maps of 512 huge pages,
# counted per huge page... divided by 16,384 like the rest: x 512 / 16),
# on x86_64-4level, riscv64-sv39, aarch64-48 and loongarch64-4k.  Reuses
# the source and build folders of tools/bench-compare.sh (build-compare/).
set -eu
[ $# -eq 2 ] || { echo "usage: $0 A B" >&2; exit 2; }
root=$(git rev-parse --show-toplevel)
out="$root/build-compare"
drv="$out/pt-callgrind.c"
mkdir -p "$out"
sed -n '/^#if DRIVER$/,/^#endif DRIVER$/p' "$0" | sed '1d;$d' >"$drv"

prep() { # commit -> $out/pt-callgrind-<commit>
	src="$out/src-$1" bld="$out/build-$1"
	if [ ! -f "$src/CMakeLists.txt" ]; then
		rm -rf "$src" && mkdir -p "$src"
		git -C "$root" archive "$1" | tar -x -C "$src"
	fi
	cmake -S "$src" -B "$bld" -G Ninja -DCMAKE_C_COMPILER=gcc >/dev/null
	cmake --build "$bld" --target mmkit-bench >/dev/null
	libs=""
	for l in pt tlb frame lib hosted; do
		[ -f "$bld/libmmkitfast_$l.a" ] && libs="$libs $bld/libmmkitfast_$l.a"
	done
	# shellcheck disable=SC2086
	gcc -O2 -I"$src/include" -I"$src/hosted" "$drv" -o "$out/pt-callgrind-$1" \
		-Wl,--start-group $libs -Wl,--end-group -lpthread
}
a=$(git -C "$root" rev-parse --short=12 "$1^{commit}")
b=$(git -C "$root" rev-parse --short=12 "$2^{commit}")
prep "$a"
prep "$b"
printf '%-8s %-14s %10s %10s %7s\n' op format "$a" "$b" B/A
for op in ${MMK_CG_OPS:-single cursor query many map map1 huge protect unmap unmapfn}; do
	for id in 0:x86_64-4l 2:riscv-sv39 6:aarch64-48 8:la64-4k; do
		line=""
		for c in "$a" "$b"; do
			f="$out/cg.$$"
			valgrind --tool=callgrind --instr-atstart=no \
				--callgrind-out-file="$f" "$out/pt-callgrind-$c" \
				"$op" "${id%%:*}" >/dev/null 2>&1
			ir=$(grep '^totals:' "$f" | awk '{s += $2} END {print s}')
			rm -f "$f"
			line="$line $ir"
		done
		echo "$op ${id#*:}$line" | awk '{printf "%-8s %-14s %10.2f %10.2f %7.3f\n",
			$1, $2, $3 / 16384, $4 / 16384, $4 / $3}'
	done
done
exit 0

#if DRIVER
/* The driver: one operation kind per run (argv[1]) on one format
 * (argv[2]), N operations counted between CALLGRIND_START/STOP; builds
 * against the struct mmk_pt_batch API of older commits too. */
#include <mmk_hosted.h>
#include <mmkit/pt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>
#if __has_include(<mmkit/tlb.h>)
#define G struct mmk_tlb_gather
#define GINIT mmk_tlb_gather_init
#define GFIN mmk_tlb_gather_finish
#else
#define G struct mmk_pt_batch
#define GINIT mmk_pt_batch_init
#define GFIN mmk_pt_batch_finish
#endif
#define N 16384u
static unsigned long runs;
static void note(void *ctx, const struct mmk_pt_leaf *r) { (void)ctx; runs += r->size >> 12; }
#define VA 0x1000000000ull
#define PA 0x80000000ull
int main(int argc, char **argv)
{
	const char *op = argv[1];
	int id = argc > 2 ? atoi(argv[2]) : MMK_PT_X86_64_4L;
	mmk_hosted_init(MMK_GIB);
	struct mmk_frames *fa = mmk_hosted_frames_new();
	static mmk_cpumask_t cpus;
	mmk_cpumask_set(&cpus, 0);
	struct mmk_pt pt;
	if (mmk_pt_create(&pt, id, 0, fa)) abort();
	G b;
	GINIT(&b, &cpus, 1);
	uint64_t page = 4096, size = (uint64_t)N * page;
	if (id == MMK_PT_LA64_16K_3L) page = 16384, size = (uint64_t)N * page;
	uint64_t va = VA;
	struct mmk_pt_info in; mmk_pt_info(&pt, &in);
	if (!in.low_end) va = in.high_start + VA;
	int r = 0;
	bool premap = !strcmp(op, "query") || !strcmp(op, "many") || !strcmp(op, "protect") || !strcmp(op, "unmap") || !strcmp(op, "unmapfn");
	if (premap && mmk_pt_map_region(&pt, va, mmk_pa(PA), size, MMK_PT_RW, 0, &b)) abort();
	struct mmk_pt_cursor c; mmk_pt_cursor_init(&c, &pt);
	uint64_t sum = 0;
	CALLGRIND_START_INSTRUMENTATION;
	if (!strcmp(op, "map")) r = mmk_pt_map_region(&pt, va, mmk_pa(PA), size, MMK_PT_RW, 0, &b);
	else if (!strcmp(op, "protect")) r = mmk_pt_protect_region(&pt, va, size, MMK_PT_READ, &b);
	else if (!strcmp(op, "unmap")) r = mmk_pt_unmap_region(&pt, va, size, &b, NULL, NULL);
	else if (!strcmp(op, "map1")) { for (unsigned i = 0; i < N; i++) r |= mmk_pt_map_region(&pt, va + 2 * i * page, mmk_pa(PA + i * page), page, MMK_PT_RW, 0, &b); }
	else if (!strcmp(op, "huge")) { for (unsigned i = 0; i < N / 512; i++) r |= mmk_pt_map_region(&pt, va + (uint64_t)i * 1024 * 512 * page + 512 * page, mmk_pa(PA + 512 * page), 512 * 512 * page, MMK_PT_RW, MMK_PT_MAP_HUGE, &b); }
	else if (!strcmp(op, "unmapfn")) r = mmk_pt_unmap_region(&pt, va, size, &b, note, NULL);
	else if (!strcmp(op, "single")) { for (unsigned i = 0; i < N; i++) r |= mmk_pt_map(&pt, va + i * page, mmk_pa(PA + i * page), page, MMK_PT_RW, &b); }
	else if (!strcmp(op, "cursor")) { for (unsigned i = 0; i < N; i++) r |= mmk_pt_map_cursor(&c, va + i * page, mmk_pa(PA + i * page), MMK_PT_RW, &b); }
#ifdef MMK_PT_QUERY_NONE
	else if (!strcmp(op, "many")) { static mmk_vaddr_t v[N]; static mmk_paddr_t p[64]; CALLGRIND_STOP_INSTRUMENTATION; for (unsigned i = 0; i < N; i++) v[i] = va + ((i * 7919u) % N) * page; CALLGRIND_START_INSTRUMENTATION; for (unsigned i = 0; i < N; i += 64) { r |= mmk_pt_query_many(&pt, 64, v + i, p, NULL) != 64; sum += p[63].v; } }
#endif
	else if (!strcmp(op, "query")) { for (unsigned i = 0; i < N; i++) { mmk_paddr_t p; r |= mmk_pt_query(&pt, va + ((i * 7919u) % N) * page, &p, NULL, NULL); sum += p.v; } }
	CALLGRIND_STOP_INSTRUMENTATION;
	GFIN(&b);
	if (r) { fprintf(stderr, "op failed %d\n", r); return 1; }
	printf("%llu\n", (unsigned long long)sum);
	return 0;
}
#endif DRIVER
