/* SPDX-License-Identifier: MIT */
/*
 * The memory system calls (src/syscalls) beside the real ones of the host
 * kernel, measured in the same run:
 *   sys.mmap_munmap   a 4 KiB anonymous mmap and its munmap, ns per pair
 *                     (bound linux.mmap_munmap; goal <= 0.1 x)
 *   sys.mremap_move   1 GiB of populated 4 KiB pages, 2 MiB aligned, moved
 *                     to a new address, ns per GiB (bound linux.mremap_move;
 *                     goal <= 0.5 x)
 *   sys.brk_grow      the break grown by 4 KiB 100,000 times, ns per call
 *                     (bound linux.brk_grow)
 */
#include "bench.h"

#include <mmk_hosted.h>
#include <mmkit/syscalls.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PG    4096ull
#define GIB   (1ull << 30)
#define BASE  0x100000000ull
#define PAIRS 100000
#define BRKS  100000

static struct mmk_frames *fa;
static struct mmk_aspace as;
static struct mmk_sys_mm mm;

static void space_up(uint64_t arena)
{
	mmk_hosted_init(arena);
	mmk_hosted_prefault();
	fa = mmk_hosted_frames_new();
	if (mmk_aspace_create(&as, BASE, 8 * GIB, MMK_PT_X86_64_4L, 0, fa))
		abort();
	mmk_aspace_activate(&as);
	mmk_sys_mm_init(&mm, &as);
}

static void space_down(void)
{
	mmk_aspace_destroy(&as);
	mmk_hosted_frames_destroy(fa);
	fa = NULL;
	mmk_hosted_init(0); /* back to the default arena for the others */
	mmk_hosted_prefault();
}

static void report(const char *metric, double v, const char *unit, double bound,
		   double goal)
{
	struct mmk_bench_result r = {.metric = metric,
				     .arch = "x86_64",
				     .value = v,
				     .unit = unit,
				     .bound = bound,
				     .goal = goal,
				     .goal_dir = goal ? -1 : 0};
	mmk_bench_report(&r);
}

static void report_linux(const char *metric, double v, const char *unit)
{
	struct mmk_bench_result r = {
		.metric = metric, .value = v, .unit = unit};
	mmk_bench_report(&r);
}

#define PROT_RW	  (MMK_SYS_PROT_READ | MMK_SYS_PROT_WRITE)
#define MAP_ANONP (MMK_SYS_MAP_PRIVATE | MMK_SYS_MAP_ANONYMOUS)

MMK_BENCH(bench_sys_mmap_munmap, 95)
{
	int reps = mmk_bench_reps();
	double mk[8], lx[8];
	space_up(64 * MMK_MIB);
	for (int r = 0; r < reps; r++) {
		uint64_t t0 = mmk_bench_now_ns();
		for (int i = 0; i < PAIRS; i++) {
			int64_t a = mmk_sys_mmap(&mm, 0, PG, PROT_RW, MAP_ANONP,
						 -1, 0);
			if (a < 0 || mmk_sys_munmap(&mm, (uint64_t)a, PG))
				abort();
		}
		mk[r] = (double)(mmk_bench_now_ns() - t0) / PAIRS;
		t0 = mmk_bench_now_ns();
		for (int i = 0; i < PAIRS; i++) {
			void *p = mmap(NULL, PG, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED || munmap(p, PG))
				abort();
		}
		lx[r] = (double)(mmk_bench_now_ns() - t0) / PAIRS;
	}
	space_down();
	double l = mmk_bench_median(lx, reps);
	report_linux("linux.mmap_munmap", l, "ns/pair");
	report("sys.mmap_munmap", mmk_bench_median(mk, reps), "ns/pair", l,
	       0.1);
}

/* Linux: 1 GiB populated (no huge pages) moved between two 2 MiB aligned
 * places of a reservation, back and forth. */
static double linux_mremap_ns(int reps)
{
	double v[8];
	size_t span = 2 * GIB + 2 * MMK_MIB;
	char *res = mmap(NULL, span, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		abort();
	char *a = (char *)MMK_ALIGN_UP((uintptr_t)res, 2 * MMK_MIB);
	char *b = a + GIB;
	if (mmap(a, GIB, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		abort();
	madvise(a, GIB, MADV_NOHUGEPAGE);
	for (uint64_t off = 0; off < GIB; off += PG)
		a[off] = 1;
	for (int r = 0; r < reps; r++) {
		char *from = r % 2 ? b : a, *to = r % 2 ? a : b;
		uint64_t t0 = mmk_bench_now_ns();
		void *p = mremap(from, GIB, GIB, MREMAP_MAYMOVE | MREMAP_FIXED,
				 to);
		v[r] = (double)(mmk_bench_now_ns() - t0);
		if (p != to)
			abort();
	}
	munmap(res, span);
	return mmk_bench_median(v, reps);
}

MMK_BENCH(bench_sys_mremap_move, 96)
{
	int reps = mmk_bench_reps();
	double mk[8];
	space_up(1536 * MMK_MIB);
	uint64_t a = BASE + 2 * MMK_MIB, b = a + 2 * GIB;
	if (mmk_sys_mmap(&mm, a, GIB, PROT_RW,
			 MAP_ANONP | MMK_SYS_MAP_FIXED | MMK_SYS_MAP_POPULATE,
			 -1, 0) != (int64_t)a)
		abort();
	for (int r = 0; r < reps; r++) {
		uint64_t from = r % 2 ? b : a, to = r % 2 ? a : b;
		uint64_t t0 = mmk_bench_now_ns();
		int64_t p = mmk_sys_mremap(
			&mm, from, GIB, GIB,
			MMK_SYS_MREMAP_MAYMOVE | MMK_SYS_MREMAP_FIXED, to);
		mk[r] = (double)(mmk_bench_now_ns() - t0);
		if (p != (int64_t)to)
			abort();
	}
	space_down();
	double l = linux_mremap_ns(reps);
	report_linux("linux.mremap_move", l, "ns/GiB");
	report("sys.mremap_move", mmk_bench_median(mk, reps), "ns/GiB", l, 0.5);
}

MMK_BENCH(bench_sys_brk_grow, 97)
{
	int reps = mmk_bench_reps();
	double mk[8], lx[8];
	space_up(512 * MMK_MIB);
	for (int r = 0; r < reps; r++) {
		mm.start_brk = mm.brk = BASE + 4 * GIB;
		uint64_t t0 = mmk_bench_now_ns();
		for (int i = 1; i <= BRKS; i++)
			if (mmk_sys_brk(&mm, BASE + 4 * GIB + i * PG) !=
			    (int64_t)(BASE + 4 * GIB + i * PG))
				abort();
		mk[r] = (double)(mmk_bench_now_ns() - t0) / BRKS;
		if (mmk_sys_brk(&mm, BASE + 4 * GIB) !=
		    (int64_t)(BASE + 4 * GIB))
			abort();
		/* Linux: the process's own break, raw (no malloc meanwhile),
		 * given back afterwards */
		long start = syscall(SYS_brk, 0);
		t0 = mmk_bench_now_ns();
		for (int i = 1; i <= BRKS; i++)
			if (syscall(SYS_brk, start + (long)(i * PG)) !=
			    start + (long)(i * PG))
				abort();
		lx[r] = (double)(mmk_bench_now_ns() - t0) / BRKS;
		syscall(SYS_brk, start);
	}
	space_down();
	double l = mmk_bench_median(lx, reps);
	report_linux("linux.brk_grow", l, "ns/call");
	report("sys.brk_grow", mmk_bench_median(mk, reps), "ns/call", l, 0);
}
