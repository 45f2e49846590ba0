/* SPDX-License-Identifier: MIT */
/*
 * Moving whole leaf tables (mmk_pt_reserve_move, mmk_pt_move_tables), on
 * every format compiled in: aligned and unaligned moves, a huge leaf in
 * the middle, shared tables after a clone, and out-of-memory at every
 * allocation of the reserve.  Leaves are compared before and after: the
 * moved ones appear at the new address with the same frames and flags,
 * the ones left behind are exactly where they were.
 */
#include "pt_fixture.h"

#define setup	 pt_fixture_setup
#define teardown pt_fixture_teardown

#define MAXL 8192

struct msnap {
	struct mmk_pt_leaf l[MAXL];
	size_t n;
};

static struct msnap before, after;

static int msnap_leaf(void *ctx, const struct mmk_pt_leaf *l)
{
	struct msnap *s = ctx;
	assert_true(s->n < MAXL);
	s->l[s->n++] = *l;
	return 0;
}

static void take(const struct mmk_pt *pt, uint64_t va, uint64_t size,
		 struct msnap *s)
{
	s->n = 0;
	assert_true(mmk_pt_walk(pt, va, size, msnap_leaf, s) >= 0);
}

struct geo {
	uint64_t page, T, base;
};

static void geo_of(const struct mmk_pt *pt, struct geo *G)
{
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	G->page = (uint64_t)1 << in.page_shift;
	G->T = G->page * (G->page / 8);
	G->base = (in.low_end ? 0 : in.high_start) + 8 * G->T;
}

static void map(struct mmk_pt *pt, uint64_t va, uint64_t pa, uint64_t size,
		unsigned opts)
{
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, NULL, 0);
	assert_int_equal(
		mmk_pt_map_region(pt, va, mmk_pa(pa), size,
				  MMK_PT_READ | MMK_PT_WRITE | MMK_PT_USER,
				  opts, &g),
		0);
	mmk_tlb_gather_finish(&g);
}

/* Every 5th page of [va, va + size) at pa = va + 1 GiB (no frames). */
static void map_sparse(struct mmk_pt *pt, uint64_t va, uint64_t size,
		       uint64_t page)
{
	for (uint64_t a = va; a < va + size; a += 5 * page)
		map(pt, a, (a & 0xffffffffffull) + MMK_GIB, page, 0);
}

/* Reserve and move [from, from + size) to @to; returns the bytes moved. */
static uint64_t move(struct mmk_pt *pt, uint64_t from, uint64_t to,
		     uint64_t size)
{
	struct mmk_pt_resv r;
	struct mmk_tlb_gather g;
	mmk_pt_resv_init(&r, pt);
	assert_int_equal(mmk_pt_reserve_move(pt, &r, to, size), 0);
	mmk_tlb_gather_init(&g, NULL, 0);
	uint64_t moved = mmk_pt_move_tables(pt, &r, from, to, size, &g);
	mmk_tlb_gather_finish(&g);
	mmk_pt_resv_release(&r);
	return moved;
}

/* @b is @a with every leaf in [s, e) delta bytes higher. */
static void assert_moved(const struct msnap *a, const struct msnap *b,
			 uint64_t delta)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->l[i].va + delta, b->l[i].va);
		assert_int_equal(a->l[i].pa.v, b->l[i].pa.v);
		assert_int_equal(a->l[i].flags, b->l[i].flags);
		assert_int_equal(a->l[i].page_size, b->l[i].page_size);
	}
}

static void unmap_range(struct mmk_pt *pt, uint64_t va, uint64_t size)
{
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, NULL, 0);
	assert_int_equal(mmk_pt_unmap_region(pt, va, size, &g, NULL, NULL), 0);
	mmk_tlb_gather_finish(&g);
}

static void test_aligned(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		struct geo G;
		geo_of(&pt, &G);
		uint64_t from = G.base, to = G.base + 64 * G.T, size = 3 * G.T;
		map_sparse(&pt, from, size, G.page);
		take(&pt, from, size, &before);
		long tables = mmk_pt_table_pages(&pt);
		assert_int_equal(move(&pt, from, to, size), size);
		take(&pt, from, size, &after);
		assert_int_equal(after.n, 0);
		take(&pt, to, size, &after);
		assert_moved(&before, &after, to - from);
		/* No leaf table was copied: only the target's upper tables
		 * (at most one per level above the leaf tables) are new. */
		assert_true(mmk_pt_table_pages(&pt) - tables <= 4);
		unmap_range(&pt, to, size);
		unmap_range(&pt, from, size);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live0);
	}
}

/* A cursor and the single map's hint that named a leaf table before it
 * moved miss afterwards: the next map at the old address lands there (in
 * a new table), not in the moved table under the new address. */
static void test_cursor_after_move(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		struct geo G;
		geo_of(&pt, &G);
		uint64_t from = G.base, to = G.base + 64 * G.T, size = G.T;
		uint32_t fl = MMK_PT_READ | MMK_PT_WRITE | MMK_PT_USER;
		struct mmk_pt_cursor c;
		mmk_pt_cursor_init(&c, &pt);
		assert_int_equal(
			mmk_pt_map_cursor(&c, from, mmk_pa(MMK_GIB), fl, NULL),
			0);
		assert_int_equal(mmk_pt_map(&pt, from + G.page,
					    mmk_pa(MMK_GIB + G.page), G.page,
					    fl, NULL),
				 0);
		assert_int_equal(move(&pt, from, to, size), size);
		for (int k = 2; k < 4; k++) {
			uint64_t va = from + (uint64_t)k * G.page;
			mmk_paddr_t pa = mmk_pa(MMK_GIB + (uint64_t)k * G.page);
			if (k == 2)
				assert_int_equal(
					mmk_pt_map_cursor(&c, va, pa, fl, NULL),
					0);
			else
				assert_int_equal(mmk_pt_map(&pt, va, pa, G.page,
							    fl, NULL),
						 0);
			mmk_paddr_t got;
			assert_int_equal(
				mmk_pt_query(&pt, va, &got, NULL, NULL), 0);
			assert_int_equal(got.v, pa.v);
			assert_int_equal(mmk_pt_query(&pt, va + (to - from),
						      &got, NULL, NULL),
					 MMK_ENOENT);
		}
		/* the moved leaves answer at their new address */
		mmk_paddr_t got;
		assert_int_equal(
			mmk_pt_query(&pt, to + G.page, &got, NULL, NULL), 0);
		assert_int_equal(got.v, MMK_GIB + G.page);
		unmap_range(&pt, to, size);
		unmap_range(&pt, from, size);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live0);
	}
}

/* Unaligned edges stay; a distance that is no multiple of a leaf table's
 * span moves nothing. */
static void test_unaligned(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		struct geo G;
		geo_of(&pt, &G);
		uint64_t from = G.base + G.T - 4 * G.page, size = 2 * G.T;
		uint64_t to = G.base + 64 * G.T - 4 * G.page;
		map_sparse(&pt, from, size, G.page);
		take(&pt, from, size, &before);
		assert_int_equal(move(&pt, from, to + G.page, size), 0);
		take(&pt, from, size, &after);
		assert_moved(&before, &after, 0);
		/* Aligned distance: the one whole table in the middle moves,
		 * the edges stay. */
		assert_int_equal(move(&pt, from, to, size), G.T);
		uint64_t ms = G.base + G.T, me = ms + G.T;
		take(&pt, ms, G.T, &after);
		assert_int_equal(after.n, 0);
		take(&pt, from, ms - from, &after);
		assert_true(after.n > 0);
		take(&pt, me, from + size - me, &after);
		assert_true(after.n > 0);
		struct msnap mid;
		mid.n = 0;
		for (size_t i = 0; i < before.n; i++)
			if (before.l[i].va >= ms && before.l[i].va < me)
				mid.l[mid.n++] = before.l[i];
		take(&pt, ms + (to - from), G.T, &after);
		assert_moved(&mid, &after, to - from);
		unmap_range(&pt, to, size);
		unmap_range(&pt, from, size);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live0);
	}
}

/* A huge leaf of a leaf table's span stays (the caller's leaf path moves
 * it); the tables around it move. */
static void test_huge(void **state)
{
	(void)state;
	struct mmk_pt pt;
	int huge_formats = 0;
	FOR_EACH_FORMAT(pt, id)
	{
		struct geo G;
		geo_of(&pt, &G);
		huge_formats += leaf_size(&pt, 1) == G.T;
		if (leaf_size(&pt, 1) != G.T) {
			mmk_pt_destroy(&pt);
			continue;
		}
		uint64_t from = G.base, to = G.base + 64 * G.T, size = 3 * G.T;
		map_sparse(&pt, from, G.T, G.page);
		map(&pt, from + G.T, 2 * MMK_GIB, G.T, MMK_PT_MAP_HUGE);
		map_sparse(&pt, from + 2 * G.T, G.T, G.page);
		take(&pt, from + G.T, G.T, &before);
		assert_int_equal(before.n, 1);
		assert_int_equal(move(&pt, from, to, size), 2 * G.T);
		take(&pt, from, size, &after);
		assert_moved(&before, &after, 0);
		unmap_range(&pt, to, size);
		unmap_range(&pt, from, size);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live0);
	}
	assert_true(huge_formats > 0);
}

/* Shared leaf tables move as they are: the target's level-1 entry points
 * at the same table as the source's in the other page table, nshared and
 * the table's share count are unchanged. */
static void test_shared(void **state)
{
	(void)state;
	struct mmk_pt src;
	FOR_EACH_FORMAT(src, id)
	{
		struct mmk_pt dst;
		assert_true(pt_new(&dst, id));
		struct geo G;
		geo_of(&src, &G);
		uint64_t from = G.base, to = G.base + 64 * G.T, size = 2 * G.T;
		struct mmk_pt_info in;
		mmk_pt_info(&src, &in);
		mmk_paddr_t f[4];
		for (int i = 0; i < 4; i++) {
			assert_int_equal(mmk_frame_alloc(fa, in.page_shift - 12,
							 0, &f[i]),
					 0);
			map(&src, from + (uint64_t)i * (G.T / 2), f[i].v,
			    G.page, 0);
		}
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, NULL, 0);
		assert_int_equal(
			mmk_pt_clone_range(&dst, &src, from, from + size,
					   MMK_PT_CLONE_GET |
						   MMK_PT_CLONE_WRPROTECT |
						   MMK_PT_CLONE_SHARE,
					   &g),
			0);
		mmk_tlb_gather_finish(&g);
		long ns = atomic_load(&dst.nshared);
		assert_true(ns > 0);
		take(&dst, from, size, &before);
		assert_int_equal(move(&dst, from, to, size), size);
		assert_int_equal(atomic_load(&dst.nshared), ns);
		take(&dst, to, size, &after);
		assert_moved(&before, &after, to - from);
		for (uint64_t a = 0; a < size; a += G.T) {
			uint64_t e1 = 0, e2 = 0;
			assert_int_equal(
				mmk_pt_raw_entry(&src, from + a, 1, &e1), 0);
			assert_int_equal(mmk_pt_raw_entry(&dst, to + a, 1, &e2),
					 0);
			assert_int_equal(e1, e2);
		}
		mmk_pt_destroy(&dst);
		mmk_pt_destroy(&src);
	}
}

/* Out of memory at every allocation of the reserve: MMK_ENOMEM, nothing
 * changed, nothing leaked; then the move goes through. */
static void test_oom(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		struct geo G;
		geo_of(&pt, &G);
		uint64_t from = G.base, size = 2 * G.T;
		/* A target far away: every upper table is new. */
		uint64_t to = G.base + ((uint64_t)1 << pt.shift[2]) * 3;
		map_sparse(&pt, from, size, G.page);
		take(&pt, from, size, &before);
		long live = mmk_hosted_live_frames();
		long tables = mmk_pt_table_pages(&pt);
		for (long n = 1;; n++) {
			struct mmk_pt_resv r;
			mmk_pt_resv_init(&r, &pt);
			mmk_hosted_fail_nth(MMK_FAIL_FRAME, n);
			int err = mmk_pt_reserve_move(&pt, &r, to, size);
			mmk_hosted_fail_off();
			if (err == 0) {
				assert_true(n > 1); /* some allocation failed */
				mmk_pt_resv_release(&r);
				break;
			}
			assert_int_equal(err, MMK_ENOMEM);
			assert_int_equal(mmk_hosted_live_frames(), live);
			assert_int_equal(mmk_pt_table_pages(&pt), tables);
			take(&pt, from, size, &after);
			assert_moved(&before, &after, 0);
			assert_true(n < 64);
		}
		assert_int_equal(move(&pt, from, to, size), size);
		take(&pt, to, size, &after);
		assert_moved(&before, &after, to - from);
		unmap_range(&pt, to, size);
		unmap_range(&pt, from, size);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_aligned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cursor_after_move, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unaligned, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_huge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
