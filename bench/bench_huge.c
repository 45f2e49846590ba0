/* SPDX-License-Identifier: MIT */
/*
 * Huge-page figures, each beside its bound measured in the same run.
 *
 *   aspace.cow_fault_huge  after a fork of 256 MiB of populated 2 MiB
 *                          pages, a write fault on every huge page in
 *                          the child (a copy of the whole page each):
 *                          ns per 2 MiB
 *                          bound memcpy of 2 MiB cold, goal <= 1.3x
 *   aspace.fault_huge      first-touch faults of 2 MiB pages (a zeroed
 *                          block each): ns per 2 MiB
 *                          bound memset of 2 MiB cold (no goal)
 *
 * The fork is mmk_aspace_clone; the faults are the child's (as
 * aspace.cow_fault), so every one copies.  Run: mmkit-bench -f huge.
 */
#include "bench.h"

#include <mmk_hosted.h>
#include <mmkit/aspace.h>

#include <stdlib.h>
#include <string.h>

#define HP     (2ull * 1024 * 1024)
#define HSIZE  (256ull * 1024 * 1024)
#define HPAGES (HSIZE / HP)
#define HBASE  0x100000000ull

static struct mmk_frames *fa;
static struct mmk_aspace as, child;

static double per_page(uint64_t t0)
{
	return (double)(mmk_bench_now_ns() - t0) / (double)HPAGES;
}

/* ns per 2 MiB memcpy (or memset) over the cold buffer, chunk after
 * chunk, as many chunks as the benchmark's pages. */
static double bound(bool copy, int r)
{
	size_t size;
	char *buf = mmk_bench_cold(&size);
	size_t half = size / 2;
	/* a different part of the buffer each repetition: cold */
	size_t at = ((size_t)r * HSIZE) % (half - HSIZE);
	uint64_t t0 = mmk_bench_now_ns();
	for (uint64_t i = 0; i < HPAGES; i++) {
		if (copy)
			memcpy(buf + half + at + i * HP, buf + at + i * HP, HP);
		else
			memset(buf + at + i * HP, 0, HP);
	}
	MMK_BENCH_SINK(buf);
	return per_page(t0);
}

static void report(const char *metric, double v, double b, double goal)
{
	struct mmk_bench_result res = {.metric = metric,
				       .arch = "x86_64",
				       .n = (long)HPAGES,
				       .value = v,
				       .unit = "ns/2MiB",
				       .bound = b,
				       .goal = goal,
				       .goal_dir = -1};
	mmk_bench_report(&res);
}

MMK_BENCH(bench_aspace_huge, 45)
{
	mmk_hosted_init(0);
	mmk_hosted_prefault();
	fa = mmk_hosted_frames_new();
	(void)mmk_bench_cold(NULL);
	int reps = mmk_bench_reps();
	double cow[8], flt[8], mc[8], ms[8];
	for (int r = 0; r < reps; r++) {
		if (mmk_aspace_create(&as, HBASE, 4 * HSIZE, MMK_PT_X86_64_4L,
				      0, fa) ||
		    mmk_aspace_map_huge(&as, HBASE, HSIZE, MMK_PT_RW, HP,
					false))
			abort();
		ms[r] = bound(false, r);
		uint64_t t0 = mmk_bench_now_ns();
		for (uint64_t i = 0; i < HPAGES; i++)
			if (mmk_aspace_fault(&as, HBASE + i * HP,
					     MMK_ACCESS_WRITE))
				abort();
		flt[r] = per_page(t0);
		if (mmk_aspace_create(&child, HBASE, 4 * HSIZE,
				      MMK_PT_X86_64_4L, 0, fa) ||
		    mmk_aspace_clone(&as, &child))
			abort();
		mc[r] = bound(true, r);
		t0 = mmk_bench_now_ns();
		for (uint64_t i = 0; i < HPAGES; i++)
			if (mmk_aspace_fault(&child, HBASE + i * HP + 64,
					     MMK_ACCESS_WRITE))
				abort();
		cow[r] = per_page(t0);
		mmk_aspace_destroy(&child);
		mmk_aspace_destroy(&as);
	}
	report("aspace.cow_fault_huge", mmk_bench_median(cow, reps),
	       mmk_bench_median(mc, reps), 1.3);
	report("aspace.fault_huge", mmk_bench_median(flt, reps),
	       mmk_bench_median(ms, reps), 0);
	mmk_hosted_frames_destroy(fa);
}
