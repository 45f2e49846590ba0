/* SPDX-License-Identifier: MIT */
/*
 * Page tables: the engine's rules, checked for every format compiled in
 * (formats added later get every test here for free).
 *
 * Picture of the randomized test's window (4 KiB formats):
 *
 *        span(2) - 1024 pages      span(2)      span(2) + 1024 pages
 *   ... |-------- 1024 pages -------|-------- 1024 pages --------| ...
 *        ^ level-2 slot n            ^ level-2 slot n+1
 * so tables at every level below the root are created and freed.
 */
#include "pt_fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static int setup(void **state)
{
	pt_fixture_setup(state);
	mmk_hosted_log_reset(true);
	return 0;
}

#define teardown pt_fixture_teardown

static uint64_t span(const struct mmk_pt_info *in, unsigned level)
{
	uint64_t s = in->page_shift;
	for (unsigned l = 0; l < level; l++)
		s += (in->va_bits - in->page_shift) / in->levels;
	return (uint64_t)1 << s;
}

static uint32_t preset(const struct mmk_pt *pt, uint32_t f)
{
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	uint32_t p = 0;
	if (in.ad_preset & MMK_PT_ACCESSED)
		p |= MMK_PT_ACCESSED;
	if ((in.ad_preset & MMK_PT_DIRTY) && (f & MMK_PT_WRITE))
		p |= MMK_PT_DIRTY;
	return f | p;
}

/* Start of the upper canonical range (0 if the format has none). */
static uint64_t upper_half(const struct mmk_pt *pt)
{
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	return in.high_start;
}

/* A region far from the low addresses the tests use: the upper half, or
 * the top half of the lower range for formats without an upper half. */
static uint64_t far_base(const struct mmk_pt *pt)
{
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	return in.high_start ? in.high_start : in.low_end / 2;
}

static uint64_t far_size(const struct mmk_pt *pt)
{
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	return in.high_start ? -in.high_start : in.low_end / 2;
}

/* ------------------------------------------------------- round trips */
static void every_page_size_round_trips_in_both_halves(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		long live = live0;
		struct mmk_pt_info in;
		mmk_pt_info(&pt, &in);
		for (unsigned level = 0; level < in.levels; level++) {
			uint64_t ps = leaf_size(&pt, level);
			if (!ps || ps > ((uint64_t)1 << (in.va_bits - 3)))
				continue;
			uint64_t vas[2] = {ps * 3, upper_half(&pt) + ps * 5};
			for (int h = 0; h < 2; h++) {
				if ((h == 0 && !in.low_end) ||
				    (h == 1 && !in.high_start))
					continue;
				uint64_t va = vas[h], pa = ps * 7;
				uint32_t f = MMK_PT_RW | MMK_PT_USER;
				assert_int_equal(mmk_pt_map(&pt, va, mmk_pa(pa),
							    ps, f, NULL),
						 0);
				uint64_t offs[3] = {0, ps / 2 + 8, ps - 1};
				for (int k = 0; k < 3; k++) {
					mmk_paddr_t qpa;
					uint32_t qf;
					uint64_t qs;
					assert_int_equal(
						mmk_pt_query(&pt, va + offs[k],
							     &qpa, &qf, &qs),
						0);
					assert_int_equal(qpa.v, pa + offs[k]);
					assert_int_equal(qf, preset(&pt, f));
					assert_int_equal(qs, ps);
				}
				assert_int_equal(mmk_pt_query(&pt, va + ps,
							      NULL, NULL, NULL),
						 MMK_ENOENT);
				struct snap s = {0};
				snapshot(&pt, &s);
				assert_int_equal(s.n, 1);
				assert_int_equal(s.v[0].va, va);
				assert_int_equal(s.v[0].level, level);
				free(s.v);
				struct mmk_tlb_gather b;
				struct mmk_pt_leaf out;
				mmk_tlb_gather_init(&b, &cpu0, 1);
				mmk_hosted_flush_reset();
				assert_int_equal(
					mmk_pt_unmap(&pt, va, &b, &out), 0);
				assert_int_equal(out.va, va);
				assert_int_equal(out.pa.v, pa);
				assert_int_equal(out.page_size, ps);
				assert_int_equal(
					mmk_pt_query(&pt, va, NULL, NULL, NULL),
					MMK_ENOENT);
				mmk_tlb_gather_finish(&b);
				assert_true(mmk_hosted_flushed(va));
				assert_int_equal(mmk_pt_table_pages(&pt), 1);
			}
		}
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

static void prot_none_is_a_mapping_that_can_be_restored(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		uint64_t ps = leaf_size(&pt, 0);
		struct mmk_tlb_gather b;
		mmk_tlb_gather_init(&b, &cpu0, 0);
		assert_int_equal(
			mmk_pt_map(&pt, ps, mmk_pa(9 * ps), ps, 0, NULL), 0);
		mmk_paddr_t pa;
		uint32_t f;
		assert_int_equal(mmk_pt_query(&pt, ps, &pa, &f, NULL), 0);
		assert_int_equal(pa.v, 9 * ps);
		assert_int_equal(f & MMK_PT_RWX, 0);
		assert_int_equal(mmk_pt_protect(&pt, ps, MMK_PT_RW, &b), 0);
		assert_int_equal(mmk_pt_query(&pt, ps, &pa, &f, NULL), 0);
		assert_int_equal(f & MMK_PT_RWX, MMK_PT_RW);
		assert_int_equal(mmk_pt_protect(&pt, ps, 0, &b), 0);
		struct mmk_pt_leaf out;
		assert_int_equal(mmk_pt_unmap(&pt, ps, &b, &out), 0);
		assert_int_equal(out.pa.v, 9 * ps);
		mmk_tlb_gather_finish(&b);
		mmk_pt_destroy(&pt);
	}
}

/* ----------------------------------------------------------- splits */
static void partial_unmap_and_protect_split_huge_pages(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		long live = live0;
		uint64_t p0 = leaf_size(&pt, 0), p1 = leaf_size(&pt, 1),
			 p2 = leaf_size(&pt, 2);
		struct mmk_tlb_gather b;
		mmk_tlb_gather_init(&b, &cpu0, 0);
		/* Two level-1 leaves, and one level-2 leaf if the format has
		 * them. */
		assert_int_equal(mmk_pt_map_region(&pt, 4 * p1, mmk_pa(8 * p1),
						   2 * p1, MMK_PT_RW,
						   MMK_PT_MAP_HUGE, &b),
				 0);
		uint64_t ps;
		assert_int_equal(mmk_pt_query(&pt, 4 * p1, NULL, NULL, &ps), 0);
		assert_int_equal(ps, p1);
		/* Punch one base page out of the first. */
		uint64_t hole = 4 * p1 + 3 * p0;
		assert_int_equal(
			mmk_pt_unmap_region(&pt, hole, p0, &b, NULL, NULL), 0);
		assert_int_equal(mmk_pt_query(&pt, hole, NULL, NULL, NULL),
				 MMK_ENOENT);
		for (uint64_t va = 4 * p1; va < 5 * p1; va += p0) {
			mmk_paddr_t pa;
			uint32_t f;
			if (va == hole)
				continue;
			assert_int_equal(mmk_pt_query(&pt, va, &pa, &f, &ps),
					 0);
			assert_int_equal(pa.v, va - 4 * p1 + 8 * p1);
			assert_int_equal(ps, p0);
			assert_int_equal(f, preset(&pt, MMK_PT_RW));
		}
		/* Protect the last base page of the second: split too. */
		assert_int_equal(mmk_pt_protect_region(&pt, 6 * p1 - p0, p0,
						       MMK_PT_READ, &b),
				 0);
		uint32_t f;
		assert_int_equal(mmk_pt_query(&pt, 6 * p1 - p0, NULL, &f, &ps),
				 0);
		assert_int_equal(f & MMK_PT_RWX, MMK_PT_READ);
		assert_int_equal(ps, p0);
		assert_int_equal(mmk_pt_query(&pt, 5 * p1, NULL, &f, &ps), 0);
		assert_int_equal(f & MMK_PT_RWX, MMK_PT_RW);
		/* A level-2 leaf split twice by one small unmap. */
		if (p2) {
			assert_int_equal(mmk_pt_map_region(&pt, 2 * p2,
							   mmk_pa(p2), p2,
							   MMK_PT_RX,
							   MMK_PT_MAP_HUGE, &b),
					 0);
			assert_int_equal(
				mmk_pt_query(&pt, 2 * p2, NULL, NULL, &ps), 0);
			assert_int_equal(ps, p2);
			long t = mmk_pt_table_pages(&pt);
			assert_int_equal(
				mmk_pt_unmap_region(&pt, 2 * p2 + p1 + p0, p0,
						    &b, NULL, NULL),
				0);
			assert_int_equal(mmk_pt_table_pages(&pt), t + 2);
			assert_int_equal(
				mmk_pt_query(&pt, 2 * p2 + p1, NULL, NULL, &ps),
				0);
			assert_int_equal(ps, p0);
			assert_int_equal(mmk_pt_query(&pt, 2 * p2 + 2 * p1,
						      NULL, NULL, &ps),
					 0);
			assert_int_equal(ps, p1);
			assert_int_equal(mmk_pt_unmap_region(&pt, 2 * p2, p2,
							     &b, NULL, NULL),
					 0);
		}
		assert_int_equal(
			mmk_pt_unmap_region(&pt, 0, 8 * p1, &b, NULL, NULL), 0);
		mmk_tlb_gather_finish(&b);
		assert_int_equal(mmk_pt_table_pages(&pt), 1);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

/* -------------------------------------------------------- canonical */
static void canonical_rules_follow_the_va_width(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		struct mmk_pt_info in;
		mmk_pt_info(&pt, &in);
		uint64_t ps = leaf_size(&pt, 0);
		uint64_t low_end = in.low_end, hi = in.high_start;
		struct mmk_tlb_gather b;
		mmk_tlb_gather_init(&b, &cpu0, 0);
		size_t leaves = 0;
		if (low_end) {
			/* Last page of the lower range: fine; next: not. */
			assert_int_equal(mmk_pt_map(&pt, low_end - ps,
						    mmk_pa(0), ps, MMK_PT_READ,
						    NULL),
					 0);
			assert_int_equal(mmk_pt_map(&pt, low_end, mmk_pa(0), ps,
						    MMK_PT_READ, NULL),
					 MMK_ENONCANON);
			assert_int_equal(
				mmk_pt_query(&pt, low_end, NULL, NULL, NULL),
				MMK_ENONCANON);
			leaves++;
		}
		if (hi) {
			/* First page of the upper range: fine; below: not. */
			assert_int_equal(mmk_pt_map(&pt, hi, mmk_pa(0), ps,
						    MMK_PT_READ, NULL),
					 0);
			assert_int_equal(mmk_pt_map(&pt, hi - ps, mmk_pa(0), ps,
						    MMK_PT_READ, NULL),
					 MMK_ENONCANON);
			/* The top page: [2^64 - ps, 2^64) does not wrap. */
			assert_int_equal(mmk_pt_map_region(&pt, -ps, mmk_pa(ps),
							   ps, MMK_PT_READ, 0,
							   &b),
					 0);
			mmk_paddr_t pa;
			assert_int_equal(mmk_pt_query(&pt, -1, &pa, NULL, NULL),
					 0);
			assert_int_equal(pa.v, 2 * ps - 1);
			leaves += 2;
		} else {
			assert_int_equal(mmk_pt_map(&pt, -ps, mmk_pa(0), ps,
						    MMK_PT_READ, NULL),
					 MMK_ENONCANON);
		}
		if (low_end && hi) {
			/* A range from one half into the other crosses the
			 * hole. */
			assert_int_equal(
				mmk_pt_unmap_region(&pt, low_end - ps,
						    hi + ps - (low_end - ps),
						    &b, NULL, NULL),
				MMK_ERANGE);
		}
		struct snap s = {0};
		snapshot(&pt, &s);
		assert_int_equal(s.n, leaves);
		if (hi)
			assert_int_equal(s.v[leaves - 1].va, -ps);
		free(s.v);
		mmk_tlb_gather_finish(&b);
		unmap_all(&pt);
		assert_int_equal(mmk_pt_table_pages(&pt), 1);
		mmk_pt_destroy(&pt);
	}
}

/* -------------------------------------------------------- copy_from */
static void copy_from_shares_the_upper_half(void **state)
{
	(void)state;
	struct mmk_pt k, u;
	FOR_EACH_FORMAT(k, id)
	{
		long live = live0;
		assert_true(pt_new(&u, id));
		struct mmk_pt_info in;
		mmk_pt_info(&k, &in);
		uint64_t hi = far_base(&k), hsz = far_size(&k),
			 ps = leaf_size(&k, 0);
		struct mmk_tlb_gather b;
		mmk_tlb_gather_init(&b, &cpu0, 0);
		assert_int_equal(mmk_pt_map_region(&k, hi, mmk_pa(0), 16 * ps,
						   MMK_PT_RW | MMK_PT_GLOBAL, 0,
						   &b),
				 0);
		assert_int_equal(mmk_pt_copy_from(&u, &k, hi, hsz), 0);
		mmk_paddr_t pa;
		assert_int_equal(mmk_pt_query(&u, hi + 3 * ps, &pa, NULL, NULL),
				 0);
		assert_int_equal(pa.v, 3 * ps);
		/* Later kernel mappings under a shared slot show through. */
		assert_int_equal(mmk_pt_map(&k, hi + 20 * ps, mmk_pa(ps), ps,
					    MMK_PT_READ, NULL),
				 0);
		assert_int_equal(
			mmk_pt_query(&u, hi + 20 * ps, &pa, NULL, NULL), 0);
		/* The user table may not edit the kernel's tables. */
		assert_int_equal(
			mmk_pt_unmap_region(&u, hi, ps, &b, NULL, NULL),
			MMK_EBUSY);
		assert_int_equal(mmk_pt_map(&u, hi + 40 * ps, mmk_pa(0), ps,
					    MMK_PT_READ, NULL),
				 MMK_EBUSY);
		assert_int_equal(mmk_pt_copy_from(&u, &k, hi, hsz), MMK_EEXIST);
		assert_int_equal(mmk_pt_copy_from(&u, &k, hi + ps, hsz - ps),
				 MMK_EALIGN);
		/* Its own lower half is its own. */
		assert_int_equal(
			mmk_pt_map(&u, ps, mmk_pa(0), ps, MMK_PT_READ, NULL),
			0);
		assert_int_equal(mmk_pt_query(&k, ps, NULL, NULL, NULL),
				 MMK_ENOENT);
		/* Emptying a shared slot in the source keeps its table: the
		 * user table still points there. */
		long kt = mmk_pt_table_pages(&k);
		struct mmk_tlb_gather b2;
		mmk_tlb_gather_init(&b2, &cpu0, 0);
		assert_int_equal(
			mmk_pt_unmap_region(&k, hi, 64 * ps, &b2, NULL, NULL),
			0);
		mmk_tlb_gather_finish(&b2);
		assert_int_equal(
			mmk_pt_query(&u, hi + 3 * ps, NULL, NULL, NULL),
			MMK_ENOENT);
		assert_true(mmk_pt_table_pages(&k) >= 2);
		assert_int_equal(mmk_pt_map(&k, hi + 3 * ps, mmk_pa(3 * ps), ps,
					    MMK_PT_RW, NULL),
				 0);
		assert_int_equal(mmk_pt_query(&u, hi + 3 * ps, &pa, NULL, NULL),
				 0);
		assert_int_equal(pa.v, 3 * ps);
		kt = mmk_pt_table_pages(&k);
		mmk_pt_destroy(&u);
		assert_int_equal(mmk_pt_table_pages(&k), kt);
		assert_int_equal(mmk_pt_query(&k, hi + 3 * ps, &pa, NULL, NULL),
				 0);
		if (id == MMK_PT_X86_64_4L) {
			struct mmk_pt other;
			assert_true(pt_new(&other, MMK_PT_RISCV_SV48));
			assert_int_equal(mmk_pt_copy_from(&other, &k, hi, hsz),
					 MMK_EINVAL);
			mmk_pt_destroy(&other);
		}
		assert_int_equal(
			mmk_pt_unmap_region(&k, hi, hsz, &b, NULL, NULL), 0);
		mmk_tlb_gather_finish(&b);
		mmk_pt_destroy(&k);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

/* ------------------------------------------------------------ errors */
static void every_error_code_is_produced(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		struct mmk_pt_info in;
		mmk_pt_info(&pt, &in);
		uint64_t ps = leaf_size(&pt, 0), p1 = leaf_size(&pt, 1);
		struct mmk_tlb_gather b;
		mmk_tlb_gather_init(&b, &cpu0, 0);
		/* EWRAP */
		assert_int_equal(mmk_pt_map_region(&pt, ps, mmk_pa(0), 0,
						   MMK_PT_READ, 0, &b),
				 MMK_EWRAP);
		assert_int_equal(
			mmk_pt_unmap_region(&pt, -ps, 2 * ps, &b, NULL, NULL),
			MMK_EWRAP);
		/* EALIGN: va, pa, size */
		assert_int_equal(mmk_pt_map(&pt, ps + 1, mmk_pa(0), ps,
					    MMK_PT_READ, NULL),
				 MMK_EALIGN);
		assert_int_equal(
			mmk_pt_map(&pt, ps, mmk_pa(8), ps, MMK_PT_READ, NULL),
			MMK_EALIGN);
		assert_int_equal(
			mmk_pt_map(&pt, ps, mmk_pa(ps), p1, MMK_PT_READ, NULL),
			MMK_EALIGN);
		assert_int_equal(
			mmk_pt_protect_region(&pt, 0, ps + 1, MMK_PT_READ, &b),
			MMK_EALIGN);
		/* ENONCANON */
		uint64_t bad = in.low_end ? in.low_end : in.high_start - ps;
		assert_int_equal(mmk_pt_map_region(&pt, bad, mmk_pa(0), ps,
						   MMK_PT_READ, 0, &b),
				 MMK_ENONCANON);
		/* ERANGE: physical address beyond the format */
		if (in.pa_bits < 64)
			assert_int_equal(
				mmk_pt_map(&pt, ps,
					   mmk_pa((uint64_t)1 << in.pa_bits),
					   ps, MMK_PT_READ, NULL),
				MMK_ERANGE);
		/* ENOTSUP: unknown bits, unsupported page size, W-only */
		assert_int_equal(
			mmk_pt_map(&pt, ps, mmk_pa(0), ps, 1u << 20, NULL),
			MMK_ENOTSUP);
		assert_int_equal(mmk_pt_map(&pt, ps, mmk_pa(0), 2 * ps,
					    MMK_PT_READ, NULL),
				 MMK_ENOTSUP);
		if (!strcmp(in.arch, "riscv64") || !strcmp(in.arch, "x86_64"))
			assert_int_equal(mmk_pt_map(&pt, ps, mmk_pa(0), ps,
						    MMK_PT_WRITE, NULL),
					 MMK_ENOTSUP);
		if (!strcmp(in.arch, "x86_64"))
			assert_int_equal(mmk_pt_map(&pt, ps, mmk_pa(0), ps,
						    MMK_PT_EXEC, NULL),
					 MMK_ENOTSUP);
		/* ENOENT */
		assert_int_equal(mmk_pt_unmap(&pt, ps, &b, NULL), MMK_ENOENT);
		assert_int_equal(mmk_pt_protect(&pt, ps, MMK_PT_READ, &b),
				 MMK_ENOENT);
		assert_int_equal(mmk_pt_query(&pt, ps, NULL, NULL, NULL),
				 MMK_ENOENT);
		/* EEXIST: page over page, region over page, huge over table */
		assert_int_equal(
			mmk_pt_map(&pt, ps, mmk_pa(0), ps, MMK_PT_READ, NULL),
			0);
		assert_int_equal(
			mmk_pt_map(&pt, ps, mmk_pa(0), ps, MMK_PT_READ, NULL),
			MMK_EEXIST);
		assert_int_equal(mmk_pt_map_region(&pt, 0, mmk_pa(0), 4 * ps,
						   MMK_PT_READ, 0, &b),
				 MMK_EEXIST);
		assert_int_equal(
			mmk_pt_map(&pt, 0, mmk_pa(0), p1, MMK_PT_READ, NULL),
			MMK_EEXIST);
		assert_int_equal(mmk_pt_query(&pt, 0, NULL, NULL, NULL),
				 MMK_ENOENT);
		/* EALIGN: unmap inside a huge page */
		assert_int_equal(mmk_pt_map(&pt, 2 * p1, mmk_pa(0), p1,
					    MMK_PT_READ, NULL),
				 0);
		assert_int_equal(mmk_pt_unmap(&pt, 2 * p1 + ps, &b, NULL),
				 MMK_EALIGN);
		assert_int_equal(mmk_pt_map(&pt, 2 * p1 + ps, mmk_pa(0), ps,
					    MMK_PT_READ, NULL),
				 MMK_EEXIST);
		/* ENOMEM */
		mmk_hosted_fail_nth(MMK_FAIL_FRAME, 1);
		assert_int_equal(mmk_pt_map(&pt, 8 * p1, mmk_pa(0), ps,
					    MMK_PT_READ, NULL),
				 MMK_ENOMEM);
		mmk_hosted_fail_off();
		/* EINVAL: bad options */
		assert_int_equal(mmk_pt_map_region(&pt, 8 * p1, mmk_pa(0), ps,
						   MMK_PT_READ, 0x80, &b),
				 MMK_EINVAL);
		assert_int_equal(
			mmk_pt_unmap_region(&pt, 0, 4 * p1, &b, NULL, NULL), 0);
		mmk_tlb_gather_finish(&b);
		mmk_pt_destroy(&pt);
	}
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_FORMAT_COUNT, 0, fa),
			 MMK_EINVAL);
	assert_int_equal(
		mmk_pt_create(&pt, MMK_PT_X86_64_4L, MMK_PT_OPT_SVPBMT, fa),
		MMK_ENOTSUP);
	struct mmk_pt_info in;
	assert_int_equal(mmk_pt_format_info(MMK_PT_FORMAT_COUNT, &in),
			 MMK_EINVAL);
	/* riscv64 without Svpbmt cannot express memory types. */
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_RISCV_SV39, 0, fa), 0);
	assert_int_equal(mmk_pt_map(&pt, 0, mmk_pa(0), 4096,
				    MMK_PT_RW | MMK_PT_MT_DEVICE, NULL),
			 MMK_ENOTSUP);
	mmk_pt_destroy(&pt);
}

/* --------------------------------------------------- failure sweeps */
/* A table with some content: small pages, a huge page, a hole. */
static void populate(struct mmk_pt *pt)
{
	uint64_t p0 = leaf_size(pt, 0), p1 = leaf_size(pt, 1);
	struct mmk_tlb_gather b;
	mmk_tlb_gather_init(&b, NULL, 0);
	assert_int_equal(mmk_pt_map_region(pt, p1 - 4 * p0, mmk_pa(p0), 8 * p0,
					   MMK_PT_RW, 0, &b),
			 0);
	assert_int_equal(mmk_pt_map_region(pt, 4 * p1, mmk_pa(p1), 2 * p1,
					   MMK_PT_RX, MMK_PT_MAP_HUGE, &b),
			 0);
	mmk_tlb_gather_finish(&b);
}

typedef int (*op_fn)(struct mmk_pt *pt, struct mmk_tlb_gather *b);

/* Fail the 1st, 2nd, ... frame allocation of @op until it succeeds;
 * after each failure the table and the live frames must be unchanged. */
static void sweep(struct mmk_pt *pt, op_fn op, long min_failures)
{
	struct snap before = {0}, after = {0};
	long failures = 0;
	for (long n = 1;; n++) {
		snapshot(pt, &before);
		long live = mmk_hosted_live_frames();
		long tables = mmk_pt_table_pages(pt);
		struct mmk_tlb_gather b;
		mmk_tlb_gather_init(&b, &cpu0, 0);
		mmk_hosted_fail_nth(MMK_FAIL_FRAME, n);
		int err = op(pt, &b);
		mmk_hosted_fail_off();
		if (err == 0) {
			mmk_tlb_gather_finish(&b);
			break;
		}
		assert_int_equal(err, MMK_ENOMEM);
		assert_true(mmk_tlb_gather_empty(&b));
		snapshot(pt, &after);
		assert_same(&before, &after);
		assert_int_equal(mmk_hosted_live_frames(), live);
		assert_int_equal(mmk_pt_table_pages(pt), tables);
		failures++;
	}
	assert_true(failures >= min_failures);
	free(before.v);
	free(after.v);
}

static int op_map_region_far(struct mmk_pt *pt, struct mmk_tlb_gather *b)
{
	/* Needs a table at every level below the root, several leaf
	 * tables, and crosses into existing ones. */
	uint64_t p1 = leaf_size(pt, 1);
	return mmk_pt_map_region(pt, far_base(pt) + 5 * p1, mmk_pa(0),
				 3 * p1 + 4 * leaf_size(pt, 0), MMK_PT_RW, 0,
				 b);
}

static int op_map_region_near(struct mmk_pt *pt, struct mmk_tlb_gather *b)
{
	uint64_t p0 = leaf_size(pt, 0), p1 = leaf_size(pt, 1);
	return mmk_pt_map_region(pt, p1 + 4 * p0, mmk_pa(0), 2 * p1,
				 MMK_PT_READ, 0, b);
}

static int op_unmap_split(struct mmk_pt *pt, struct mmk_tlb_gather *b)
{
	uint64_t p0 = leaf_size(pt, 0), p1 = leaf_size(pt, 1);
	return mmk_pt_unmap_region(pt, 4 * p1 + 5 * p0, p0, b, NULL, NULL);
}

static int op_protect_split(struct mmk_pt *pt, struct mmk_tlb_gather *b)
{
	uint64_t p0 = leaf_size(pt, 0), p1 = leaf_size(pt, 1);
	return mmk_pt_protect_region(pt, 5 * p1 + 9 * p0, 2 * p0, MMK_PT_READ,
				     b);
}

static int op_unmap_split_2(struct mmk_pt *pt, struct mmk_tlb_gather *b)
{
	uint64_t p0 = leaf_size(pt, 0), p1 = leaf_size(pt, 1),
		 p2 = leaf_size(pt, 2);
	return mmk_pt_unmap_region(pt, 2 * p2 + p1 + p0, p0, b, NULL, NULL);
}

static int op_map_single_far(struct mmk_pt *pt, struct mmk_tlb_gather *b)
{
	(void)b;
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	uint64_t p0 = leaf_size(pt, 0);
	return mmk_pt_map(pt, 3 * span(&in, in.levels - 1) + 77 * p0, mmk_pa(0),
			  p0, MMK_PT_READ, NULL);
}

static void injected_failures_change_nothing(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		struct mmk_pt_info in;
		mmk_pt_info(&pt, &in);
		long live = live0;
		populate(&pt);
		sweep(&pt, op_map_region_far, in.levels);
		sweep(&pt, op_map_region_near, 2);
		sweep(&pt, op_unmap_split, 1);
		sweep(&pt, op_protect_split, 1);
		sweep(&pt, op_map_single_far, in.levels - 1);
		if (leaf_size(&pt, 2)) {
			uint64_t p2 = leaf_size(&pt, 2);
			struct mmk_tlb_gather b;
			mmk_tlb_gather_init(&b, NULL, 0);
			assert_int_equal(mmk_pt_map_region(&pt, 2 * p2,
							   mmk_pa(p2), p2,
							   MMK_PT_RW,
							   MMK_PT_MAP_HUGE, &b),
					 0);
			sweep(&pt, op_unmap_split_2, 2);
		}
		unmap_all(&pt);
		assert_int_equal(mmk_pt_table_pages(&pt), 1);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

/* ------------------------------------------------- randomized model */
#define WIN_PAGES 2048

struct mpage {
	uint64_t pa;	/* 0: unmapped (test pas start above 0) */
	uint32_t flags; /* as the table should read back */
	uint8_t level;	/* leaf level */
};

struct model {
	struct mmk_pt *pt;
	struct mmk_pt_info in;
	uint64_t base; /* va of page 0 */
	uint64_t ps;
	struct mpage pg[WIN_PAGES];
	uint64_t sizes[MMK_PT_MAX_LEVELS];
};

/* Mirror the engine's split: the leaf holding page @i breaks into
 * next-level leaves until page index @i starts a leaf. */
static void model_split_at(struct model *m, long i)
{
	if (i <= 0 || i >= WIN_PAGES || !m->pg[i].pa)
		return;
	for (;;) {
		unsigned l = m->pg[i].level;
		uint64_t np = m->sizes[l] / m->ps;
		uint64_t va = m->base + (uint64_t)i * m->ps;
		if (l == 0 || (va & (m->sizes[l] - 1)) == 0)
			return;
		long first = i - (long)(((va & (m->sizes[l] - 1)) / m->ps));
		(void)np;
		for (long k = first; k < first + (long)np; k++)
			if (k >= 0 && k < WIN_PAGES)
				m->pg[k].level = (uint8_t)(l - 1);
	}
}

struct unmap_seen {
	struct model *m;
	long pages;
	bool bad;
};

static void unmap_seen_fn(void *ctx, const struct mmk_pt_leaf *run)
{
	struct unmap_seen *u = ctx;
	struct model *m = u->m;
	for (uint64_t off = 0; off < run->size; off += m->ps) {
		long i = (long)((run->va + off - m->base) / m->ps);
		if (i < 0 || i >= WIN_PAGES || m->pg[i].pa != run->pa.v + off)
			u->bad = true;
		u->pages++;
	}
}

struct walk_check {
	struct model *m;
	long lo, hi; /* pages checked */
	long next;   /* first page not yet seen */
	bool bad;
};

static int walk_check_fn(void *ctx, const struct mmk_pt_leaf *lf)
{
	struct walk_check *w = ctx;
	struct model *m = w->m;
	long first = (long)((int64_t)(lf->va - m->base) / (int64_t)m->ps);
	long n = (long)(lf->page_size / m->ps);
	for (long k = 0; k < n; k++) {
		long i = first + k;
		if (i < w->lo || i >= w->hi)
			continue;
		while (w->next < i)
			if (m->pg[w->next++].pa)
				w->bad = true; /* model has a page the table
						  lacks */
		const struct mpage *p = &m->pg[i];
		if (p->pa != lf->pa.v + (uint64_t)k * m->ps ||
		    p->flags != lf->flags ||
		    m->sizes[p->level] != lf->page_size)
			w->bad = true;
		w->next = i + 1;
	}
	return 0;
}

/* Compare pages [lo, hi) of the window with the table's walk. */
static void model_check(struct model *m, long lo, long hi)
{
	struct walk_check w = {.m = m, .lo = lo, .hi = hi, .next = lo};
	assert_int_equal(mmk_pt_walk(m->pt, m->base + (uint64_t)lo * m->ps,
				     (uint64_t)(hi - lo) * m->ps, walk_check_fn,
				     &w),
			 0);
	while (w.next < hi)
		if (m->pg[w.next++].pa)
			w.bad = true;
	if (w.bad) {
		fprintf(stderr, "model mismatch in %s\n", m->in.name);
		fail();
	}
}

/* Table pages the model says the engine must hold (checked now and then):
 * one per table that has a leaf at or below it, within the window, plus
 * the root. */
static long model_tables(struct model *m)
{
	long n = 1;
	for (unsigned l = 0; l + 1 < m->in.levels; l++) {
		uint64_t tspan = m->sizes[0];
		for (unsigned k = 0; k <= l; k++)
			tspan <<= (m->in.va_bits - m->in.page_shift) /
				  m->in.levels;
		uint64_t last = UINT64_MAX;
		for (long i = 0; i < WIN_PAGES; i++) {
			if (!m->pg[i].pa || m->pg[i].level > l)
				continue;
			uint64_t t = (m->base + (uint64_t)i * m->ps) / tspan;
			if (t != last)
				n++;
			last = t;
		}
	}
	return n;
}

static uint32_t rand_flags(uint64_t *seed)
{
	static const uint32_t acc[] = {
		MMK_PT_READ, MMK_PT_RW,	  MMK_PT_RX,	MMK_PT_RWX,
		0,	     MMK_PT_EXEC, MMK_PT_WRITE, MMK_PT_READ,
	};
	uint64_t r = mmk_test_rand(seed);
	uint32_t f = acc[r % 8];
	if (r & 0x100)
		f |= MMK_PT_USER;
	if ((r & 0x600) == 0x600)
		f |= MMK_PT_GLOBAL;
	if ((r & 0x3800) == 0x3800)
		f |= ((uint32_t)(r >> 14) & 3) << MMK_PT_MT_SHIFT;
	return f;
}

static void run_random(struct mmk_pt *pt, long ops, uint64_t seed)
{
	static struct model m;
	memset(&m, 0, sizeof(m));
	m.pt = pt;
	mmk_pt_info(pt, &m.in);
	m.ps = (uint64_t)1 << m.in.page_shift;
	for (unsigned l = 0; l < m.in.levels; l++)
		m.sizes[l] = span(&m.in, l);
	uint64_t s2 = m.sizes[MMK_MIN(2u, m.in.levels - 1)];
	m.base = s2 - WIN_PAGES / 2 * m.ps;
	if (m.in.levels <= 2)
		m.base = 0;
	uint64_t p1 = m.sizes[1], pp1 = p1 / m.ps;
	long live = mmk_hosted_live_frames();
	struct mmk_pt_cursor cur; /* lives across every op: gen must guard it */
	mmk_pt_cursor_init(&cur, pt);

	for (long op = 0; op < ops; op++) {
		uint64_t r = mmk_test_rand(&seed);
		long i = (long)(mmk_test_rand(&seed) % WIN_PAGES);
		long n = 1 + (long)(mmk_test_rand(&seed) % 300);
		if ((r & 0xf) == 0) {
			/* a range aligned to level-1 leaves, so huge pages
			 * appear */
			uint64_t va = m.base + (uint64_t)i * m.ps;
			va = (va + p1 - 1) & ~(p1 - 1);
			i = (long)((va - m.base) / m.ps);
			n = (long)pp1 * (1 + (long)(r >> 8) % 2) +
			    (long)((r >> 12) % 3);
		}
		if (i + n > WIN_PAGES)
			n = WIN_PAGES - i;
		if (n <= 0)
			continue;
		uint64_t va = m.base + (uint64_t)i * m.ps,
			 size = (uint64_t)n * m.ps;
		uint32_t f = rand_flags(&seed);
		uint64_t tmp;
		bool expressible =
			mmk_pt_encode_leaf(pt, 0, mmk_pa(0), f, &tmp) == 0;
		struct mmk_tlb_gather b;
		mmk_tlb_gather_init(&b, &cpu0, 3);
		unsigned kind = (unsigned)((r >> 4) % 20);
		int err;
		if (kind < 7) {
			/* map_region: pa chosen so va and pa share level-1
			 * alignment half of the time */
			uint64_t pa = (1 + (mmk_test_rand(&seed) % 1024)) * p1;
			if (r & 0x10000)
				pa += (va & (p1 - 1));
			else
				pa += m.ps * (1 + (r >> 20) % 7);
			unsigned opt = (r & 0x20000) ? MMK_PT_MAP_HUGE : 0;
			bool busy = false;
			for (long k = i; k < i + n; k++)
				busy |= m.pg[k].pa != 0;
			err = mmk_pt_map_region(pt, va, mmk_pa(pa), size, f,
						opt, &b);
			if (!expressible) {
				assert_int_equal(err, MMK_ENOTSUP);
			} else if (busy) {
				assert_int_equal(err, MMK_EEXIST);
			} else {
				assert_int_equal(err, 0);
				for (long k = i; k < i + n;) {
					uint64_t kva =
						m.base + (uint64_t)k * m.ps;
					uint64_t kpa =
						pa + (uint64_t)(k - i) * m.ps;
					unsigned lv = 0;
					for (unsigned l = m.in.levels - 1;
					     opt && l > 0; l--) {
						uint64_t sz = m.sizes[l];
						if ((m.in.page_sizes & sz) &&
						    !(kva & (sz - 1)) &&
						    !(kpa & (sz - 1)) &&
						    (uint64_t)(i + n - k) *
								    m.ps >=
							    sz) {
							lv = l;
							break;
						}
					}
					long np = (long)(m.sizes[lv] / m.ps);
					for (long q = 0; q < np; q++) {
						m.pg[k + q].pa =
							kpa +
							(uint64_t)q * m.ps;
						m.pg[k + q].flags =
							preset(pt, f);
						m.pg[k + q].level = (uint8_t)lv;
					}
					k += np;
				}
			}
		} else if (kind < 12) {
			model_split_at(&m, i);
			model_split_at(&m, i + n);
			struct unmap_seen u = {.m = &m};
			long expect = 0;
			for (long k = i; k < i + n; k++)
				expect += m.pg[k].pa != 0;
			mmk_hosted_flush_reset();
			err = mmk_pt_unmap_region(pt, va, size, &b,
						  unmap_seen_fn, &u);
			assert_int_equal(err, 0);
			assert_false(u.bad);
			assert_int_equal(u.pages, expect);
			mmk_tlb_gather_finish(&b);
			for (long k = i; k < i + n; k++) {
				if (m.pg[k].pa)
					assert_true(mmk_hosted_flushed(
						m.base + (uint64_t)k * m.ps));
				m.pg[k].pa = 0;
			}
		} else if (kind < 17) {
			err = mmk_pt_protect_region(pt, va, size, f, &b);
			if (!expressible) {
				assert_int_equal(err, MMK_ENOTSUP);
			} else {
				assert_int_equal(err, 0);
				model_split_at(&m, i);
				model_split_at(&m, i + n);
				mmk_hosted_flush_reset();
				mmk_tlb_gather_finish(&b);
				for (long k = i; k < i + n; k++) {
					if (!m.pg[k].pa)
						continue;
					uint32_t of = m.pg[k].flags;
					uint32_t hw = of & (MMK_PT_ACCESSED |
							    MMK_PT_DIRTY);
					m.pg[k].flags = preset(pt, f) | hw;
					if ((of & ~f & MMK_PT_RWX) ||
					    ((of ^ f) &
					     (MMK_PT_USER | MMK_PT_GLOBAL |
					      MMK_PT_MT_MASK)))
						assert_true(mmk_hosted_flushed(
							m.base +
							(uint64_t)k * m.ps));
				}
			}
		} else if (kind < 19) {
			uint64_t pa =
				(1 + mmk_test_rand(&seed) % 100000) * m.ps;
			if (r & 0x40000)
				err = mmk_pt_map_cursor(&cur, va, mmk_pa(pa), f,
							NULL);
			else
				err = mmk_pt_map(pt, va, mmk_pa(pa), m.ps, f,
						 NULL);
			if (!expressible) {
				assert_int_equal(err, MMK_ENOTSUP);
			} else if (m.pg[i].pa) {
				assert_int_equal(err, MMK_EEXIST);
			} else {
				assert_int_equal(err, 0);
				m.pg[i].pa = pa;
				m.pg[i].flags = preset(pt, f);
				m.pg[i].level = 0;
			}
		} else {
			struct mmk_pt_leaf out;
			err = mmk_pt_unmap(pt, va, &b, &out);
			if (!m.pg[i].pa) {
				assert_int_equal(err, MMK_ENOENT);
			} else if (m.sizes[m.pg[i].level] > m.ps &&
				   (va & (m.sizes[m.pg[i].level] - 1))) {
				assert_int_equal(err, MMK_EALIGN);
			} else {
				assert_int_equal(err, 0);
				assert_int_equal(out.pa.v, m.pg[i].pa);
				long np = (long)(out.page_size / m.ps);
				for (long q = 0; q < np; q++)
					m.pg[i + q].pa = 0;
			}
			mmk_tlb_gather_finish(&b);
		}
		if (!mmk_tlb_gather_empty(&b))
			mmk_tlb_gather_finish(&b);
		/* Every step: the range touched and the huge pages around its
		 * ends (the only places a split can reach); every 16 steps and
		 * at the end: the whole window. */
		if ((op & 15) == 0 || op == ops - 1)
			model_check(&m, 0, WIN_PAGES);
		else
			model_check(
				&m, MMK_MAX(0, i - (long)pp1),
				MMK_MIN((long)WIN_PAGES, i + n + (long)pp1));
		if ((op & 255) == 0)
			assert_int_equal(mmk_pt_table_pages(pt),
					 model_tables(&m));
	}
	struct mmk_tlb_gather b;
	mmk_tlb_gather_init(&b, &cpu0, 0);
	assert_int_equal(mmk_pt_unmap_region(pt, m.base, WIN_PAGES * m.ps, &b,
					     NULL, NULL),
			 0);
	mmk_tlb_gather_finish(&b);
	assert_int_equal(mmk_pt_table_pages(pt), 1);
	(void)live;
}

static long random_ops(void)
{
	const char *e = getenv("MMK_PT_RANDOM_OPS");
	return e ? atol(e) : 100000;
}

static void random_region_ops_match_a_page_model(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		long live = live0;
		run_random(&pt, random_ops(),
			   mmk_test_seed(0x9e3779b97f4a7c15ull + (uint64_t)id));
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

/* ----------------------------------------------------- concurrency */
struct racer {
	struct mmk_pt *pt;
	uint64_t base, ps;
	int id, nthreads;
	long ok, exist;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	mmk_hosted_register_cpu();
	/* Every thread maps every page; exactly one wins each.  Odd
	 * threads go through a cursor. */
	struct mmk_pt_cursor cur;
	struct mmk_tlb_gather b; /* formats whose new mappings need a flush */
	mmk_pt_cursor_init(&cur, r->pt);
	mmk_tlb_gather_init(&b, NULL, 0);
	for (long k = 0; k < 4096; k++) {
		long i = (k * 7 + r->id * 131) % 4096;
		uint64_t va = r->base + (uint64_t)i * 513 * r->ps;
		int err =
			(r->id & 1)
				? mmk_pt_map_cursor(&cur, va,
						    mmk_pa((uint64_t)i * r->ps),
						    MMK_PT_RW, &b)
				: mmk_pt_map(r->pt, va,
					     mmk_pa((uint64_t)i * r->ps), r->ps,
					     MMK_PT_RW, &b);
		if (err == 0)
			r->ok++;
		else if (err == MMK_EEXIST)
			r->exist++;
	}
	mmk_tlb_gather_finish(&b);
	return NULL;
}

static void concurrent_single_maps_install_each_page_once(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		long live = live0;
		enum { T = 4 };
		pthread_t th[T];
		struct racer r[T];
		uint64_t ps = leaf_size(&pt, 0);
		for (int t = 0; t < T; t++) {
			r[t] = (struct racer){.pt = &pt,
					      .base = 0,
					      .ps = ps,
					      .id = t,
					      .nthreads = T};
			assert_int_equal(
				pthread_create(&th[t], NULL, racer_main, &r[t]),
				0);
		}
		long ok = 0, exist = 0;
		for (int t = 0; t < T; t++) {
			pthread_join(th[t], NULL);
			ok += r[t].ok;
			exist += r[t].exist;
		}
		assert_int_equal(ok, 4096);
		assert_int_equal(exist, 4096 * (T - 1));
		for (long i = 0; i < 4096; i++) {
			mmk_paddr_t pa;
			assert_int_equal(mmk_pt_query(&pt,
						      (uint64_t)i * 513 * ps,
						      &pa, NULL, NULL),
					 0);
			assert_int_equal(pa.v, (uint64_t)i * ps);
		}
		/* Tables: as many as the same pages mapped one thread. */
		long tables = mmk_pt_table_pages(&pt);
		struct mmk_pt ref;
		assert_true(pt_new(&ref, id));
		struct mmk_tlb_gather rb;
		mmk_tlb_gather_init(&rb, NULL, 0);
		for (long i = 0; i < 4096; i++)
			assert_int_equal(
				mmk_pt_map(&ref, (uint64_t)i * 513 * ps,
					   mmk_pa(0), ps, MMK_PT_RW, &rb),
				0);
		mmk_tlb_gather_finish(&rb);
		assert_int_equal(mmk_pt_table_pages(&ref), tables);
		mmk_pt_destroy(&ref);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

/* ------------------------------------------------------------ cursor */
static void cursor_maps_survive_tables_being_freed(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		long live = live0;
		uint64_t ps = leaf_size(&pt, 0), p1 = leaf_size(&pt, 1);
		struct mmk_pt_cursor c;
		struct mmk_tlb_gather b;
		mmk_pt_cursor_init(&c, &pt);
		mmk_tlb_gather_init(&b, &cpu0, 0);
		for (uint64_t i = 0; i < 600; i++)
			assert_int_equal(mmk_pt_map_cursor(&c, p1 + i * ps,
							   mmk_pa(i * ps),
							   MMK_PT_RW, &b),
					 0);
		assert_int_equal(
			mmk_pt_map_cursor(&c, p1, mmk_pa(0), MMK_PT_RW, &b),
			MMK_EEXIST);
		/* Free the cached table; the cursor must notice. */
		assert_int_equal(
			mmk_pt_unmap_region(&pt, 0, 4 * p1, &b, NULL, NULL), 0);
		mmk_tlb_gather_finish(&b);
		assert_int_equal(mmk_pt_table_pages(&pt), 1);
		assert_int_equal(mmk_pt_map_cursor(&c, p1 + ps, mmk_pa(ps),
						   MMK_PT_READ, &b),
				 0);
		mmk_paddr_t pa;
		uint32_t f;
		assert_int_equal(mmk_pt_query(&pt, p1 + ps, &pa, &f, NULL), 0);
		assert_int_equal(pa.v, ps);
		assert_int_equal(f & MMK_PT_RWX, MMK_PT_READ);
		/* Bad input still gets the error, through the slow path. */
		assert_int_equal(mmk_pt_map_cursor(&c, p1 + 3, mmk_pa(0),
						   MMK_PT_READ, &b),
				 MMK_EALIGN);
		unmap_all(&pt);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

/* ------------------------------------------------------------- dumps */
struct lines {
	char buf[4096];
	size_t len;
};

static void collect(void *ctx, const char *line)
{
	struct lines *l = ctx;
	l->len += (size_t)snprintf(l->buf + l->len, sizeof(l->buf) - l->len,
				   "%s\n", line);
}

static void dumps_follow_qemu_formats(void **state)
{
	(void)state;
	struct mmk_pt pt;
	struct mmk_tlb_gather b;
	mmk_tlb_gather_init(&b, NULL, 0);
	struct lines l = {0};
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_RISCV_SV39, 0, fa), 0);
	assert_int_equal(mmk_pt_map_region(&pt, 0xffffffc080200000ull,
					   mmk_pa(0x80200000), 0x3000,
					   MMK_PT_RX | MMK_PT_GLOBAL, 0, &b),
			 0);
	assert_int_equal(mmk_pt_map(&pt, 0xffffffc080203000ull,
				    mmk_pa(0x80203000), 4096, MMK_PT_RW, NULL),
			 0);
	assert_int_equal(mmk_pt_dump(&pt, 0xffffffc000000000ull, 1ull << 38,
				     MMK_PT_DUMP_QEMU_MEM, collect, &l),
			 0);
	assert_string_equal(
		l.buf,
		"vaddr            paddr            size             attr\n"
		"---------------- ---------------- ---------------- -------\n"
		"ffffffc080200000 0000000080200000 0000000000003000 r-x-ga-\n"
		"ffffffc080203000 0000000080203000 0000000000001000 rw---ad\n");
	mmk_pt_destroy(&pt);

	l.len = 0;
	l.buf[0] = 0;
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_X86_64_4L, 0, fa), 0);
	assert_int_equal(mmk_pt_map(&pt, 0xffff800000200000ull,
				    mmk_pa(0x200000), 2 * MMK_MIB,
				    MMK_PT_RWX | MMK_PT_GLOBAL, NULL),
			 0);
	assert_int_equal(
		mmk_pt_map(&pt, 0x400000, mmk_pa(0x1000), 4096,
			   MMK_PT_READ | MMK_PT_USER | MMK_PT_MT_DEVICE, NULL),
		0);
	assert_int_equal(mmk_pt_dump(&pt, 0, 1ull << 47, MMK_PT_DUMP_QEMU_TLB,
				     collect, &l),
			 0);
	assert_int_equal(mmk_pt_dump(&pt, 0xffff800000000000ull, 1ull << 47,
				     MMK_PT_DUMP_QEMU_TLB, collect, &l),
			 0);
	assert_int_equal(mmk_pt_dump(&pt, 0, 1ull << 47, MMK_PT_DUMP_QEMU_MEM,
				     collect, &l),
			 0);
	assert_string_equal(
		l.buf,
		"0000000000400000: 0000000000001000 X----CTU-\n"
		"ffff800000200000: 0000000000200000 -GP-----W\n"
		"0000000000400000-0000000000401000 0000000000001000 ur-\n");
	mmk_pt_destroy(&pt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			every_page_size_round_trips_in_both_halves, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			prot_none_is_a_mapping_that_can_be_restored, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			partial_unmap_and_protect_split_huge_pages, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			canonical_rules_follow_the_va_width, setup, teardown),
		cmocka_unit_test_setup_teardown(copy_from_shares_the_upper_half,
						setup, teardown),
		cmocka_unit_test_setup_teardown(every_error_code_is_produced,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			injected_failures_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			concurrent_single_maps_install_each_page_once, setup,
			teardown),
		cmocka_unit_test_setup_teardown(dumps_follow_qemu_formats,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			cursor_maps_survive_tables_being_freed, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			random_region_ops_match_a_page_model, setup, teardown),
	};
	return cmocka_run_group_tests_name("pt", tests, NULL, NULL);
}
