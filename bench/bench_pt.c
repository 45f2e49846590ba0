/* SPDX-License-Identifier: MIT */
/*
 * Page-table figures for x86_64 (4-level) and riscv64 (Sv39), each beside
 * its bound measured in the same run:
 *
 *  region bound  zero 512 fresh 4 KiB pages and write 262,144 8-byte
 *                entries into them in one plain loop, / 262,144 (ns/page):
 *                the least work a 1 GiB table of 4 KiB pages needs.
 *  query bound   1,000,000 independent random 8-byte reads from a 2 MiB
 *                array (ns/op).
 *
 * pt.map_4k_single makes 262,144 separate mmk_pt_map_cursor calls in
 * address order (one cursor, as a fault path keeps per CPU);
 * pt.map_4k_single_nocursor the same with plain mmk_pt_map.
 * pt.query_many translates the 1,000,000 addresses of pt.query_random
 * with mmk_pt_query_many, 64 per call (the walks of a group advance
 * together, level by level), against the query bound (ns/address).  Each single
 * map installs its leaf with a compare-and-swap (concurrent faults), which
 * alone costs about 4 times the bound's per-entry store on this machine.
 */
#include "bench.h"

#include <mmk_hosted.h>
#include <mmkit/pt.h>

#include <stdlib.h>
#include <string.h>

#define NPAGES	262144u /* 1 GiB of 4 KiB pages */
#define NTABLES 512u
#define NQUERY	1000000u
#define NMANY	64u	      /* addresses per mmk_pt_query_many call */
#define VA_BASE 0x40000000ull /* 1 GiB aligned */
#define PA_BASE 0x100000000ull

static mmk_cpumask_t bench_cpus;

/* Zero 512 fresh frames and fill them with 262,144 entries. */
static double region_bound_ns(struct mmk_frames *fa)
{
	static uint64_t pas[NTABLES];
	for (unsigned i = 0; i < NTABLES; i++) {
		mmk_paddr_t p;
		if (mmk_frame_alloc(fa, 0, 0, &p) != 0)
			abort();
		pas[i] = p.v;
	}
	uint64_t t0 = mmk_bench_now_ns();
	uint64_t pa = PA_BASE | 0x3;
	for (unsigned i = 0; i < NTABLES; i++) {
		uint64_t *t = mmk_phys_to_virt(mmk_pa(pas[i]));
		memset(t, 0, 4096);
		MMK_BENCH_SINK(t);
		for (unsigned k = 0; k < 512; k++, pa += 4096)
			t[k] = pa;
	}
	double ns = (double)(mmk_bench_now_ns() - t0) / NPAGES;
	for (unsigned i = 0; i < NTABLES; i++)
		mmk_frame_free(fa, mmk_pa(pas[i]));
	return ns;
}

static uint32_t *rand_idx;

static double query_bound_ns(void)
{
	static uint64_t arr[(2u << 20) / 8];
	for (size_t i = 0; i < MMK_ARRAY_SIZE(arr); i++)
		arr[i] = i;
	uint64_t sum = 0;
	uint64_t t0 = mmk_bench_now_ns();
	for (unsigned i = 0; i < NQUERY; i++)
		sum += arr[rand_idx[i] & (MMK_ARRAY_SIZE(arr) - 1)];
	double ns = (double)(mmk_bench_now_ns() - t0) / NQUERY;
	MMK_BENCH_SINK(sum);
	return ns;
}

struct pt_figs {
	double map, protect, unmap, single, single_nc, query, many, huge, bound,
		qbound;
	long tables, tables_after;
};

static void one_rep(struct mmk_frames *fa, enum mmk_pt_format_id id,
		    struct pt_figs *f)
{
	struct mmk_pt pt;
	struct mmk_tlb_gather b;
	if (mmk_pt_create(&pt, id, 0, fa) != 0)
		abort();
	mmk_tlb_gather_init(&b, &bench_cpus, 1);

	f->bound = region_bound_ns(fa);

	uint64_t t0 = mmk_bench_now_ns();
	if (mmk_pt_map_region(&pt, VA_BASE, mmk_pa(PA_BASE), MMK_GIB, MMK_PT_RW,
			      0, &b) != 0)
		abort();
	f->map = (double)(mmk_bench_now_ns() - t0) / NPAGES;
	f->tables = mmk_pt_table_pages(&pt);

	f->qbound = query_bound_ns();
	uint64_t sum = 0;
	t0 = mmk_bench_now_ns();
	for (unsigned i = 0; i < NQUERY; i++) {
		mmk_paddr_t pa;
		mmk_pt_query(&pt,
			     VA_BASE + ((uint64_t)rand_idx[i] << 12) +
				     (rand_idx[i] >> 20),
			     &pa, NULL, NULL);
		sum += pa.v;
	}
	f->query = (double)(mmk_bench_now_ns() - t0) / NQUERY;
	MMK_BENCH_SINK(sum);

	/* The same addresses, NMANY per call (built before the clock). */
	static mmk_vaddr_t qva[NQUERY];
	static mmk_paddr_t qpa[NMANY];
	for (unsigned i = 0; i < NQUERY; i++)
		qva[i] = VA_BASE + ((uint64_t)rand_idx[i] << 12) +
			 (rand_idx[i] >> 20);
	sum = 0;
	t0 = mmk_bench_now_ns();
	for (unsigned i = 0; i < NQUERY; i += NMANY) {
		unsigned n = NQUERY - i < NMANY ? NQUERY - i : NMANY;
		sum += mmk_pt_query_many(&pt, n, qva + i, qpa, NULL);
		sum += qpa[n - 1].v;
	}
	f->many = (double)(mmk_bench_now_ns() - t0) / NQUERY;
	MMK_BENCH_SINK(sum);

	t0 = mmk_bench_now_ns();
	if (mmk_pt_protect_region(&pt, VA_BASE, MMK_GIB, MMK_PT_READ, &b) != 0)
		abort();
	mmk_tlb_gather_finish(&b);
	f->protect = (double)(mmk_bench_now_ns() - t0) / NPAGES;

	t0 = mmk_bench_now_ns();
	if (mmk_pt_unmap_region(&pt, VA_BASE, MMK_GIB, &b, NULL, NULL) != 0)
		abort();
	mmk_tlb_gather_finish(&b);
	f->unmap = (double)(mmk_bench_now_ns() - t0) / NPAGES;
	f->tables_after = mmk_pt_table_pages(&pt);

	/* Separate single-page calls, as the fault path makes them: through a
	 * cursor (what the address-space layer uses), and without one. */
	struct mmk_pt_cursor cur;
	mmk_pt_cursor_init(&cur, &pt);
	t0 = mmk_bench_now_ns();
	for (unsigned i = 0; i < NPAGES; i++)
		if (mmk_pt_map_cursor(&cur, VA_BASE + (uint64_t)i * 4096,
				      mmk_pa(PA_BASE + (uint64_t)i * 4096),
				      MMK_PT_RW, NULL) != 0)
			abort();
	f->single = (double)(mmk_bench_now_ns() - t0) / NPAGES;
	if (mmk_pt_unmap_region(&pt, VA_BASE, MMK_GIB, &b, NULL, NULL) != 0)
		abort();
	mmk_tlb_gather_finish(&b);
	t0 = mmk_bench_now_ns();
	for (unsigned i = 0; i < NPAGES; i++)
		if (mmk_pt_map(&pt, VA_BASE + (uint64_t)i * 4096,
			       mmk_pa(PA_BASE + (uint64_t)i * 4096), 4096,
			       MMK_PT_RW, NULL) != 0)
			abort();
	f->single_nc = (double)(mmk_bench_now_ns() - t0) / NPAGES;
	if (mmk_pt_unmap_region(&pt, VA_BASE, MMK_GIB, &b, NULL, NULL) != 0)
		abort();
	mmk_tlb_gather_finish(&b);

	/* 2 MiB aligned but not 1 GiB aligned: 512 leaves of 2 MiB. */
	t0 = mmk_bench_now_ns();
	if (mmk_pt_map_region(&pt, VA_BASE + 2 * MMK_MIB,
			      mmk_pa(PA_BASE + 2 * MMK_MIB), MMK_GIB, MMK_PT_RW,
			      MMK_PT_MAP_HUGE, &b) != 0)
		abort();
	f->huge = (double)(mmk_bench_now_ns() - t0) / 512;
	if (mmk_pt_unmap_region(&pt, VA_BASE, 2 * MMK_GIB, &b, NULL, NULL) != 0)
		abort();
	mmk_tlb_gather_finish(&b);
	mmk_pt_destroy(&pt);
}

static void bench_format(enum mmk_pt_format_id id, const char *arch)
{
	struct mmk_frames *fa = mmk_hosted_frames_new();
	int reps = mmk_bench_reps();
	double map[8], prot[8], unmap[8], single[8], single_nc[8], query[8],
		many[8], huge[8], bound[8], qbound[8];
	struct pt_figs f = {0};
	mmk_cpumask_clear(&bench_cpus);
	mmk_cpumask_set(&bench_cpus, 0);
	if (!rand_idx) {
		rand_idx = malloc(NQUERY * sizeof(*rand_idx));
		uint64_t s = 0x243f6a8885a308d3ull;
		for (unsigned i = 0; i < NQUERY; i++) {
			s ^= s >> 12;
			s ^= s << 25;
			s ^= s >> 27;
			rand_idx[i] =
				(uint32_t)((s * 0x2545F4914F6CDD1DULL) >> 32) &
				(NPAGES - 1);
		}
	}
	one_rep(fa, id, &f); /* warm up */
	for (int r = 0; r < reps; r++) {
		one_rep(fa, id, &f);
		map[r] = f.map;
		prot[r] = f.protect;
		unmap[r] = f.unmap;
		single[r] = f.single;
		single_nc[r] = f.single_nc;
		query[r] = f.query;
		many[r] = f.many;
		huge[r] = f.huge;
		bound[r] = f.bound;
		qbound[r] = f.qbound;
	}
	double bnd = mmk_bench_median(bound, reps);
	struct mmk_bench_result res[] = {
		{.metric = "pt.map_region_4k",
		 .arch = arch,
		 .n = NPAGES,
		 .value = mmk_bench_median(map, reps),
		 .unit = "ns/page",
		 .bound = bnd,
		 .goal = 3,
		 .goal_dir = -1},
		{.metric = "pt.protect_region",
		 .arch = arch,
		 .n = NPAGES,
		 .value = mmk_bench_median(prot, reps),
		 .unit = "ns/page",
		 .bound = bnd,
		 .goal = 3,
		 .goal_dir = -1},
		{.metric = "pt.unmap_region",
		 .arch = arch,
		 .n = NPAGES,
		 .value = mmk_bench_median(unmap, reps),
		 .unit = "ns/page",
		 .bound = bnd,
		 .goal = 3,
		 .goal_dir = -1},
		{.metric = "pt.map_4k_single",
		 .arch = arch,
		 .n = NPAGES,
		 .value = mmk_bench_median(single, reps),
		 .unit = "ns/page",
		 .bound = bnd,
		 .goal = 10,
		 .goal_dir = -1},
		{.metric = "pt.map_4k_single_nocursor",
		 .arch = arch,
		 .n = NPAGES,
		 .value = mmk_bench_median(single_nc, reps),
		 .unit = "ns/page",
		 .bound = bnd},
		{.metric = "pt.query_random",
		 .arch = arch,
		 .n = NQUERY,
		 .value = mmk_bench_median(query, reps),
		 .unit = "ns/op",
		 .bound = mmk_bench_median(qbound, reps),
		 .goal = 2,
		 .goal_dir = -1},
		{.metric = "pt.query_many",
		 .arch = arch,
		 .n = NQUERY,
		 .value = mmk_bench_median(many, reps),
		 .unit = "ns/op",
		 .bound = mmk_bench_median(qbound, reps),
		 .goal = 2,
		 .goal_dir = -1,
		 .extra = {{"per_call", NMANY}}},
		{.metric = "pt.map_region_huge",
		 .arch = arch,
		 .n = 512,
		 .value = mmk_bench_median(huge, reps),
		 .unit = "ns/2MiB"},
		{.metric = "pt.tables",
		 .arch = arch,
		 .n = NPAGES,
		 .value = (double)f.tables,
		 .unit = "pages",
		 .extra = {{"after_unmap", (double)f.tables_after}}},
		{.metric = "pt.tables_after_unmap",
		 .arch = arch,
		 .n = NPAGES,
		 .value = (double)f.tables_after,
		 .unit = "pages",
		 .goal = 1,
		 .goal_dir = -1,
		 .goal_abs = 1},
	};
	for (size_t i = 0; i < MMK_ARRAY_SIZE(res); i++)
		mmk_bench_report(&res[i]);
	mmk_hosted_frames_destroy(fa);
}

MMK_BENCH(bench_pt_x86_64, 40)
{
	bench_format(MMK_PT_X86_64_4L, "x86_64");
}

MMK_BENCH(bench_pt_riscv64, 41)
{
	bench_format(MMK_PT_RISCV_SV39, "riscv64");
}
