/* SPDX-License-Identifier: MIT */
/*
 * Page tables in two steps: reserve (may fail, changes nothing), then
 * commit (cannot fail).  On every format compiled in.
 *
 * The huge page every test cuts (H1 = the level-1 leaf size, H2 = level 2):
 *
 *   va0                                              va0 + H2
 *   |--------------------- one level-2 leaf -----------|
 *        ^ x1 = va0 + H1 + page    ^ x2 = va0 + 3*H1 + 5 pages
 * A cut at x1 needs two tables (level-2 leaf -> table of level-1 leaves,
 * the level-1 leaf holding x1 -> table of pages); a cut at x2 after it
 * needs one more.
 */
#include "pt_fixture.h"

#include <stdio.h>

#define setup	 pt_fixture_setup
#define teardown pt_fixture_teardown

/* The state an all-or-nothing failure must leave behind. */
struct state {
	struct snap s;
	long tables, live;
};

static void state_take(const struct mmk_pt *pt, struct state *st)
{
	snapshot(pt, &st->s);
	st->tables = mmk_pt_table_pages(pt);
	st->live = mmk_hosted_live_frames();
}

static void state_same(const struct mmk_pt *pt, const struct state *st)
{
	struct state now = {0};
	state_take(pt, &now);
	assert_same(&st->s, &now.s);
	assert_int_equal(now.tables, st->tables);
	assert_int_equal(now.live, st->live);
	free(now.s.v);
}

/* Where the tests put their huge page: a level-2 leaf if the format has
 * one of reasonable size, else a level-1 leaf.  Returns its level. */
static unsigned huge_at(struct mmk_pt *pt, uint64_t *va0, uint64_t *size)
{
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	unsigned l =
		leaf_size(pt, 2) && leaf_size(pt, 2) <= (1ull << 36) ? 2 : 1;
	*size = leaf_size(pt, l);
	*va0 = in.low_end ? *size : in.high_start + *size;
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, NULL, 0);
	assert_int_equal(mmk_pt_map_region(pt, *va0, mmk_pa(*size * 3), *size,
					   MMK_PT_RW, MMK_PT_MAP_HUGE, &g),
			 0);
	mmk_tlb_gather_finish(&g);
	return l;
}

/* Every byte of [va0, va0 + size) still translates to pa0 + offset. */
static void same_translations(const struct mmk_pt *pt, uint64_t va0,
			      uint64_t size, uint64_t pa0)
{
	uint64_t page = leaf_size(pt, 0);
	for (uint64_t off = 0; off < size; off += size / 64) {
		mmk_paddr_t pa;
		uint32_t f;
		assert_int_equal(
			mmk_pt_query(pt, va0 + off + page / 2, &pa, &f, NULL),
			0);
		assert_int_equal(pa.v, pa0 + off + page / 2);
		assert_true(f & MMK_PT_WRITE);
	}
}

/* @va is a leaf boundary: the leaf before it ends there. */
static void is_boundary(const struct mmk_pt *pt, uint64_t va)
{
	struct mmk_pt_leaf a, b;
	assert_int_equal(mmk_pt_lookup(pt, va - 1, &a), 0);
	assert_int_equal(mmk_pt_lookup(pt, va, &b), 0);
	assert_int_equal(a.va + a.page_size, va);
	assert_int_equal(b.va, va);
}

static void
failed_cut_reserve_changes_nothing_then_commit_cannot_fail(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		long live = live0;
		uint64_t va0, size, page = leaf_size(&pt, 0);
		huge_at(&pt, &va0, &size);
		uint64_t x1 = va0 + leaf_size(&pt, 1) + page;
		struct state before = {0};
		state_take(&pt, &before);
		struct mmk_pt_resv r;
		mmk_pt_resv_init(&r, &pt);
		long n;
		for (n = 1;; n++) {
			mmk_hosted_fail_nth(MMK_FAIL_FRAME, n);
			int err = mmk_pt_reserve_cut(&pt, &r, x1);
			if (err == 0)
				break;
			assert_int_equal(err, MMK_ENOMEM);
			state_same(&pt, &before);
			assert_int_equal(r.n, 0);
			mmk_pt_resv_release(&r);
			mmk_pt_resv_release(&r); /* idempotent */
		}
		assert_true(n >= 2);
		assert_int_equal(r.n, n - 1);
		/* Reserving changed nothing visible. */
		snapshot(&pt, &before.s);
		assert_int_equal(mmk_pt_table_pages(&pt), before.tables);
		mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, &cpu0, 1);
		mmk_pt_cut(&pt, &r, x1, &g);
		mmk_hosted_fail_off();
		assert_int_equal(r.n, 0);
		assert_int_equal(mmk_pt_table_pages(&pt),
				 before.tables + n - 1);
		is_boundary(&pt, x1);
		same_translations(&pt, va0, size, size * 3);
		/* A cut on a boundary, in a hole or at the end needs nothing.
		 */
		assert_int_equal(mmk_pt_reserve_cut(&pt, &r, x1), 0);
		assert_int_equal(mmk_pt_reserve_cut(&pt, &r, va0), 0);
		assert_int_equal(mmk_pt_reserve_cut(&pt, &r, va0 + size), 0);
		assert_int_equal(r.n, 0);
		mmk_pt_cut(&pt, &r, va0, &g);
		assert_int_equal(mmk_pt_reserve_cut(&pt, &r, x1 + 1),
				 MMK_EALIGN);
		mmk_pt_resv_release(&r);
		mmk_tlb_gather_finish(&g);
		free(before.s.v);
		unmap_all(&pt);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

static void two_cuts_in_one_huge_page_both_commit(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		long live = live0;
		uint64_t va0, size, page = leaf_size(&pt, 0);
		unsigned l = huge_at(&pt, &va0, &size);
		uint64_t h1 = leaf_size(&pt, 1);
		uint64_t x1 = va0 + h1 + page;
		uint64_t x2 = va0 + (l == 2 ? 3 * h1 : 0) + 5 * page;
		struct mmk_pt_resv r;
		mmk_pt_resv_init(&r, &pt);
		assert_int_equal(mmk_pt_reserve_cut(&pt, &r, x1), 0);
		assert_int_equal(mmk_pt_reserve_cut(&pt, &r, x2), 0);
		mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, &cpu0, 1);
		mmk_pt_cut(&pt, &r, x1, &g);
		mmk_pt_cut(&pt, &r, x2, &g);
		/* Both ends cut: unmap and protect between them cannot fail,
		 * even with every allocation failing. */
		uint64_t lo = x1 < x2 ? x1 : x2, hi = x1 < x2 ? x2 : x1;
		assert_int_equal(mmk_pt_protect_region(&pt, lo, hi - lo,
						       MMK_PT_READ, &g),
				 0);
		assert_int_equal(
			mmk_pt_unmap_region(&pt, lo, hi - lo, &g, NULL, NULL),
			0);
		mmk_hosted_fail_off();
		mmk_tlb_gather_finish(&g);
		mmk_pt_resv_release(&r);
		struct mmk_pt_leaf before_lo;
		assert_int_equal(mmk_pt_lookup(&pt, lo - 1, &before_lo), 0);
		assert_int_equal(before_lo.va + before_lo.page_size, lo);
		assert_int_equal(mmk_pt_query(&pt, lo, NULL, NULL, NULL),
				 MMK_ENOENT);
		assert_int_equal(mmk_pt_query(&pt, hi - page, NULL, NULL, NULL),
				 MMK_ENOENT);
		same_translations(&pt, va0, lo - va0, size * 3);
		mmk_paddr_t pa;
		assert_int_equal(mmk_pt_query(&pt, hi, &pa, NULL, NULL), 0);
		assert_int_equal(pa.v, size * 3 + (hi - va0));
		unmap_all(&pt);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

static void second_cut_reserve_failing_changes_nothing(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		long live = live0;
		uint64_t va0, size, page = leaf_size(&pt, 0);
		huge_at(&pt, &va0, &size);
		/* A second huge page right after the first. */
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, NULL, 0);
		assert_int_equal(
			mmk_pt_map_region(&pt, va0 + size, mmk_pa(size * 5),
					  size, MMK_PT_RW, MMK_PT_MAP_HUGE, &g),
			0);
		struct state before = {0};
		state_take(&pt, &before);
		for (long n = 1;; n++) {
			struct mmk_pt_resv r;
			mmk_pt_resv_init(&r, &pt);
			assert_int_equal(
				mmk_pt_reserve_cut(&pt, &r, va0 + page), 0);
			long first = r.n;
			mmk_hosted_fail_nth(MMK_FAIL_FRAME, n);
			int err = mmk_pt_reserve_cut(&pt, &r,
						     va0 + size + 3 * page);
			mmk_hosted_fail_off();
			if (err == 0) {
				assert_true(r.n > first);
				mmk_pt_resv_release(&r);
				state_same(&pt, &before);
				break;
			}
			assert_int_equal(err, MMK_ENOMEM);
			assert_int_equal(r.n, first); /* the first kept */
			mmk_pt_resv_release(&r);
			state_same(&pt, &before);
		}
		free(before.s.v);
		mmk_tlb_gather_finish(&g);
		unmap_all(&pt);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

/* A base-page range across a level-2 slot boundary: tables at every level
 * below the root. */
static void
failed_map_reserve_changes_nothing_then_commit_cannot_fail(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		long live = live0;
		struct mmk_pt_info in;
		mmk_pt_info(&pt, &in);
		uint64_t page = leaf_size(&pt, 0), h1 = leaf_size(&pt, 1);
		uint64_t slot2 = h1 << in.page_shift >> 3; /* level-2 span */
		uint64_t va =
			(in.low_end ? 0 : in.high_start) + 2 * slot2 - 3 * page;
		uint64_t size = 6 * page, pa = 0x40000000;
		/* Something already there, so some tables exist. */
		assert_int_equal(mmk_pt_map(&pt, va - page, mmk_pa(pa), page,
					    MMK_PT_READ, NULL),
				 0);
		struct state before = {0};
		state_take(&pt, &before);
		struct mmk_pt_resv r;
		mmk_pt_resv_init(&r, &pt);
		/* Checks first: an overlap is refused with nothing reserved. */
		assert_int_equal(mmk_pt_reserve_map(&pt, &r, va - page,
						    mmk_pa(pa), size, MMK_PT_RW,
						    0),
				 MMK_EEXIST);
		assert_int_equal(mmk_pt_reserve_map(&pt, &r, va, mmk_pa(pa),
						    size, MMK_PT_RW, 4),
				 MMK_EINVAL);
		assert_int_equal(r.n, 0);
		long n;
		for (n = 1;; n++) {
			mmk_hosted_fail_nth(MMK_FAIL_FRAME, n);
			int err = mmk_pt_reserve_map(&pt, &r, va, mmk_pa(pa),
						     size, MMK_PT_RW, 0);
			if (err == 0)
				break;
			assert_int_equal(err, MMK_ENOMEM);
			assert_int_equal(r.n, 0);
			state_same(&pt, &before);
		}
		assert_true(n >= 2);
		mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, &cpu0, 1);
		mmk_pt_map_reserved(&pt, &r, va, mmk_pa(pa), size, MMK_PT_RW, 0,
				    &g);
		mmk_hosted_fail_off();
		assert_int_equal(r.n, 0);
		assert_int_equal(mmk_pt_table_pages(&pt),
				 before.tables + n - 1);
		for (uint64_t off = 0; off < size; off += page) {
			mmk_paddr_t q;
			assert_int_equal(
				mmk_pt_query(&pt, va + off, &q, NULL, NULL), 0);
			assert_int_equal(q.v, pa + off);
		}
		mmk_pt_resv_release(&r);
		mmk_tlb_gather_finish(&g);
		free(before.s.v);
		unmap_all(&pt);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

/* Reserve a map over what will be unmapped first (MAP_FIXED over an old
 * mapping): no EEXIST, and the commit has its tables whatever the unmap
 * freed. */
static void map_over_what_will_be_unmapped(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		long live = live0;
		struct mmk_pt_info in;
		mmk_pt_info(&pt, &in);
		uint64_t page = leaf_size(&pt, 0);
		uint64_t va = (in.low_end ? 0 : in.high_start) + 64 * page;
		uint64_t size = 8 * page;
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, &cpu0, 1);
		assert_int_equal(mmk_pt_map_region(&pt, va, mmk_pa(0x100000),
						   size, MMK_PT_READ, 0, &g),
				 0);
		struct mmk_pt_resv r;
		mmk_pt_resv_init(&r, &pt);
		assert_int_equal(mmk_pt_reserve_map(&pt, &r, va,
						    mmk_pa(0x200000), size,
						    MMK_PT_RW, 0),
				 MMK_EEXIST);
		assert_int_equal(
			mmk_pt_reserve_map(&pt, &r, va, mmk_pa(0x200000), size,
					   MMK_PT_RW, MMK_PT_MAP_WILL_UNMAP),
			0);
		mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
		/* The unmap frees every table below the root... */
		assert_int_equal(
			mmk_pt_unmap_region(&pt, va, size, &g, NULL, NULL), 0);
		mmk_tlb_gather_finish(&g);
		assert_int_equal(mmk_pt_table_pages(&pt), 1);
		/* ...and the commit still has what it needs. */
		mmk_pt_map_reserved(&pt, &r, va, mmk_pa(0x200000), size,
				    MMK_PT_RW, MMK_PT_MAP_WILL_UNMAP, &g);
		mmk_hosted_fail_off();
		mmk_paddr_t q;
		uint32_t f;
		assert_int_equal(
			mmk_pt_query(&pt, va + size - page, &q, &f, NULL), 0);
		assert_int_equal(q.v, 0x200000 + size - page);
		assert_true(f & MMK_PT_WRITE);
		mmk_pt_resv_release(&r);
		mmk_tlb_gather_finish(&g);
		unmap_all(&pt);
		assert_int_equal(mmk_pt_table_pages(&pt), 1);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			failed_cut_reserve_changes_nothing_then_commit_cannot_fail,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			two_cuts_in_one_huge_page_both_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(
			second_cut_reserve_failing_changes_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			failed_map_reserve_changes_nothing_then_commit_cannot_fail,
			setup, teardown),
		cmocka_unit_test_setup_teardown(map_over_what_will_be_unmapped,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
