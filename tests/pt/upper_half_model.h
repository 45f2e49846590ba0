/* SPDX-License-Identifier: MIT */
/*
 * Shared by the aarch64 and loongarch64 format tests: the randomized
 * upper-half page model.  The including file defines `fa` (the frame
 * allocator) and `cpu0` (the cpumask batches flush to) before including.
 */
#ifndef MMK_TEST_UPPER_HALF_MODEL_H
#define MMK_TEST_UPPER_HALF_MODEL_H

/* ------------------------------------------ the upper half, randomized */
/*
 * tests/pt/test_pt.c drives every format in its default (lower) half;
 * this drives the upper-half tables (MMK__CANON_HIGH) against a page
 * model: random map_region, unmap_region and protect_region over a window
 * at the bottom of the upper half that straddles a level-1 boundary, the
 * whole window checked after every step; then injected allocation
 * failures at every point of a map that needs several tables.
 */
#define HW_PAGES 1024

struct hpage {
	uint64_t pa; /* 0: unmapped */
	uint32_t flags;
};

struct hwalk {
	const struct hpage *pg;
	uint64_t base, ps;
	long n;
};

static int hi_check_leaf(void *ctx, const struct mmk_pt_leaf *lf)
{
	struct hwalk *w = ctx;
	assert_int_equal(lf->page_size, w->ps);
	uint64_t i = (lf->va - w->base) / w->ps;
	assert_true(i < HW_PAGES);
	assert_int_equal(lf->pa.v, w->pg[i].pa);
	assert_int_equal(lf->flags, w->pg[i].flags);
	w->n++;
	return 0;
}

static void hi_check(const struct mmk_pt *pt, const struct hpage *pg,
		     uint64_t base, uint64_t ps)
{
	struct hwalk w = {pg, base, ps, 0};
	long mapped = 0;
	for (long i = 0; i < HW_PAGES; i++)
		mapped += pg[i].pa != 0;
	assert_int_equal(
		mmk_pt_walk(pt, base, HW_PAGES * ps, hi_check_leaf, &w), 0);
	assert_int_equal(w.n, mapped);
}

static uint32_t hi_read_back(uint32_t f, uint32_t old)
{
	uint32_t d =
		(f & MMK_PT_WRITE) || (old & MMK_PT_DIRTY) ? MMK_PT_DIRTY : 0;
	return f | MMK_PT_ACCESSED | d;
}

static void hi_random(int id, const uint32_t *acc, unsigned nacc, long ops,
		      uint64_t seed)
{
	struct mmk_pt pt;
	struct mmk_pt_info in;
	long live = mmk_hosted_live_frames();
	assert_int_equal(mmk_pt_create(&pt, id, MMK_PT_OPT_HIGH_HALF, fa), 0);
	mmk_pt_info(&pt, &in);
	uint64_t ps = 1ull << in.page_shift;
	uint64_t span1 = ps << ((in.va_bits - in.page_shift) / in.levels);
	/* Half the window below the first level-1 boundary of the upper
	 * half, half above it. */
	uint64_t base =
		~((1ull << in.va_bits) - 1) + span1 - (HW_PAGES / 2) * ps;
	struct hpage *pg = calloc(HW_PAGES, sizeof(*pg));
	assert_non_null(pg);
	for (long op = 0; op < ops; op++) {
		uint64_t r = mmk_test_rand(&seed);
		uint64_t i = r % HW_PAGES;
		uint64_t n = 1 + (r >> 16) % MMK_MIN(64, HW_PAGES - i);
		uint64_t a = mmk_test_rand(&seed);
		uint32_t f = acc[a % nacc];
		if (a >> 8 & 1)
			f |= MMK_PT_USER;
		if (a >> 9 & 1)
			f |= MMK_PT_GLOBAL;
		f |= (uint32_t)(a >> 10 & 3) << MMK_PT_MT_SHIFT;
		struct mmk_tlb_gather b;
		mmk_tlb_gather_init(&b, &cpu0, 1);
		mmk_vaddr_t va = base + i * ps;
		switch (r >> 32 & 3) {
		case 0:
		case 1: {
			uint64_t pa = (1 + (a >> 16) % 100000) * ps;
			int want = 0;
			for (uint64_t k = 0; k < n; k++)
				if (pg[i + k].pa)
					want = MMK_EEXIST;
			assert_int_equal(mmk_pt_map_region(&pt, va, mmk_pa(pa),
							   n * ps, f, 0, &b),
					 want);
			for (uint64_t k = 0; !want && k < n; k++) {
				pg[i + k].pa = pa + k * ps;
				pg[i + k].flags = hi_read_back(f, 0);
			}
			break;
		}
		case 2:
			assert_int_equal(mmk_pt_unmap_region(&pt, va, n * ps,
							     &b, NULL, NULL),
					 0);
			for (uint64_t k = 0; k < n; k++)
				pg[i + k].pa = 0;
			break;
		default:
			assert_int_equal(
				mmk_pt_protect_region(&pt, va, n * ps, f, &b),
				0);
			for (uint64_t k = 0; k < n; k++)
				if (pg[i + k].pa)
					pg[i + k].flags = hi_read_back(
						f, pg[i + k].flags);
			break;
		}
		mmk_tlb_gather_finish(&b);
		hi_check(&pt, pg, base, ps);
	}

	/* Injected failures: a 3-page map across the level-1 boundary, in
	 * an empty stretch far from the window, needs two leaf tables and a
	 * level-1 table; every failing allocation changes nothing. */
	uint64_t far = base + HW_PAGES * ps + 8 * span1 * 512 - ps;
	long failures = 0;
	for (long k = 1;; k++) {
		long frames = mmk_hosted_live_frames();
		long tables = mmk_pt_table_pages(&pt);
		struct mmk_tlb_gather b;
		mmk_tlb_gather_init(&b, &cpu0, 1);
		mmk_hosted_fail_nth(MMK_FAIL_FRAME, k);
		int err = mmk_pt_map_region(&pt, far, mmk_pa(ps), 3 * ps,
					    MMK_PT_RW, 0, &b);
		mmk_hosted_fail_off();
		if (err == 0) {
			mmk_tlb_gather_finish(&b);
			break;
		}
		assert_int_equal(err, MMK_ENOMEM);
		assert_true(mmk_tlb_gather_empty(&b));
		assert_int_equal(mmk_hosted_live_frames(), frames);
		assert_int_equal(mmk_pt_table_pages(&pt), tables);
		assert_int_equal(mmk_pt_query(&pt, far, NULL, NULL, NULL),
				 MMK_ENOENT);
		hi_check(&pt, pg, base, ps);
		failures++;
	}
	assert_true(failures >= 2);

	struct mmk_tlb_gather b;
	mmk_tlb_gather_init(&b, &cpu0, 1);
	assert_int_equal(mmk_pt_unmap_region(&pt, far, 3 * ps, &b, NULL, NULL),
			 0);
	assert_int_equal(
		mmk_pt_unmap_region(&pt, base, HW_PAGES * ps, &b, NULL, NULL),
		0);
	mmk_tlb_gather_finish(&b);
	assert_int_equal(mmk_pt_table_pages(&pt), 1);
	mmk_pt_destroy(&pt);
	assert_int_equal(mmk_hosted_live_frames(), live);
	free(pg);
}

static long hi_ops(void)
{
	const char *e = getenv("MMK_PT_RANDOM_OPS");
	return e ? atol(e) : 100000;
}

#endif
