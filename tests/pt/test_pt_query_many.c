/* SPDX-License-Identifier: MIT */
/*
 * mmk_pt_query_many: many addresses at once give, address by address,
 * what mmk_pt_query gives (pa, flags), or MMK_PT_QUERY_NONE and flags 0
 * where the query fails; on every format compiled in, in the lower and
 * (where a format has one) the upper half, over base pages, huge pages,
 * PROT_NONE leaves, holes, unaligned and non-canonical addresses, and for
 * every count around the group size.
 */
#include "pt_fixture.h"

#include <stdlib.h>

#define setup	 pt_fixture_setup
#define teardown pt_fixture_teardown

#define NADDR 403 /* not a multiple of the group */

/* Compare query_many over va[0..n) with one query per address. */
static void check_against_query(const struct mmk_pt *pt, const mmk_vaddr_t *va,
				size_t n, bool with_flags)
{
	mmk_paddr_t *pa = malloc((n + 1) * sizeof(*pa));
	uint32_t *fl = malloc((n + 1) * sizeof(*fl));
	for (size_t i = 0; i <= n; i++) {
		pa[i] = mmk_pa(0x5a5a);
		fl[i] = 0xdead;
	}
	size_t found = mmk_pt_query_many(pt, n, va, pa, with_flags ? fl : NULL);
	size_t want = 0;
	for (size_t i = 0; i < n; i++) {
		mmk_paddr_t qpa;
		uint32_t qfl;
		int err = mmk_pt_query(pt, va[i], &qpa, &qfl, NULL);
		if (err) {
			assert_true(err == MMK_ENOENT || err == MMK_ENONCANON);
			assert_int_equal(pa[i].v, MMK_PT_QUERY_NONE);
			if (with_flags)
				assert_int_equal(fl[i], 0);
			continue;
		}
		want++;
		assert_int_equal(pa[i].v, qpa.v);
		if (with_flags)
			assert_int_equal(fl[i], qfl);
	}
	assert_int_equal(found, want);
	/* Nothing past the n-th slot is written. */
	assert_int_equal(pa[n].v, 0x5a5a);
	assert_int_equal(fl[n], 0xdead);
	free(pa);
	free(fl);
}

/* Map a mix into the half starting at @base: base pages (RW, user),
 * a PROT_NONE page, a huge page of level 1, holes between. */
static void map_mix(struct mmk_pt *pt, uint64_t base)
{
	uint64_t page = leaf_size(pt, 0), h1 = leaf_size(pt, 1);
	for (unsigned i = 0; i < 40; i += 3)
		assert_int_equal(mmk_pt_map(pt, base + i * page,
					    mmk_pa(0x1000 * page + i * page),
					    page, MMK_PT_RW | MMK_PT_USER,
					    NULL),
				 0);
	assert_int_equal(mmk_pt_map(pt, base + 41 * page, mmk_pa(3 * page),
				    page, 0, NULL),
			 0);
	assert_int_equal(mmk_pt_map(pt, base + 2 * h1, mmk_pa(5 * h1), h1,
				    MMK_PT_READ, NULL),
			 0);
}

/* Addresses around what map_mix mapped, and some that are no address. */
static size_t make_addrs(const struct mmk_pt *pt, uint64_t base,
			 mmk_vaddr_t *va)
{
	uint64_t page = leaf_size(pt, 0), h1 = leaf_size(pt, 1);
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	size_t n = 0;
	uint64_t s = 0x9e3779b97f4a7c15ull;
	while (n < NADDR - 6) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		switch (s % 4) {
		case 0: /* base pages, any byte */
			va[n++] = base + (s >> 8) % (48 * page);
			break;
		case 1: /* the huge page and around it */
			va[n++] = base + 2 * h1 - page +
				  (s >> 8) % (h1 + 2 * page);
			break;
		case 2: /* far holes */
			va[n++] =
				base + ((s >> 8) % 64) * h1 + (s >> 20) % page;
			break;
		default: /* the page boundaries */
			va[n++] = base + ((s >> 8) % 48) * page - (s >> 40) % 2;
			break;
		}
	}
	/* Not canonical (or outside this table's half). */
	uint64_t bad = in.low_end ? in.low_end : in.high_start - page;
	va[n++] = bad;
	va[n++] = bad + 123;
	va[n++] = 0x8000000000000000ull | 0x1234;
	va[n++] = in.high_start ? 0x1000 : ~0ull;
	va[n++] = base + 41 * page + 7;	  /* PROT_NONE, unaligned */
	va[n++] = base + 2 * h1 + h1 - 1; /* last byte of the huge page */
	return n;
}

static void run_half(struct mmk_pt *pt, uint64_t base)
{
	static mmk_vaddr_t va[NADDR];
	map_mix(pt, base);
	size_t n = make_addrs(pt, base, va);
	check_against_query(pt, va, n, true);
	check_against_query(pt, va, n, false);
	for (size_t k = 0; k <= 17; k++)
		check_against_query(pt, va + 5, k, true);
}

static void query_many_matches_query(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		struct mmk_pt_info in;
		mmk_pt_info(&pt, &in);
		if (in.low_end)
			run_half(&pt, 0x40000000ull);
		if (in.high_start)
			run_half(&pt, in.high_start);
		unmap_all(&pt);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live0);
	}
}

/* Upper-half tables (aarch64 TTBR1, loongarch64 PGDH). */
static void query_many_upper_half_tables(void **state)
{
	(void)state;
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++) {
		struct mmk_pt pt;
		if (mmk_pt_create(&pt, id, MMK_PT_OPT_HIGH_HALF, fa) != 0)
			continue;
		struct mmk_pt_info in;
		mmk_pt_info(&pt, &in);
		assert_int_equal(in.low_end, 0);
		run_half(&pt, in.high_start);
		unmap_all(&pt);
		mmk_pt_destroy(&pt);
	}
}

/* A full table of base pages: every address found, in a different order
 * than mapped, across many leaf tables. */
static void query_many_over_many_tables(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		struct mmk_pt_info in;
		mmk_pt_info(&pt, &in);
		uint64_t page = leaf_size(&pt, 0);
		uint64_t base = in.low_end ? 0x40000000ull : in.high_start;
		unsigned npg = 4096;
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, &cpu0, 1);
		assert_int_equal(
			mmk_pt_map_region(&pt, base, mmk_pa(0x100000000ull),
					  npg * page, MMK_PT_RW, 0, &g),
			0);
		mmk_tlb_gather_finish(&g);
		static mmk_vaddr_t va[4096];
		for (unsigned i = 0; i < npg; i++)
			va[i] = base + ((i * 2654435761u) % npg) * page +
				i % page;
		mmk_paddr_t *pa = malloc(npg * sizeof(*pa));
		assert_int_equal(mmk_pt_query_many(&pt, npg, va, pa, NULL),
				 npg);
		for (unsigned i = 0; i < npg; i++)
			assert_int_equal(pa[i].v,
					 0x100000000ull + (va[i] - base));
		free(pa);
		check_against_query(&pt, va, npg, true);
		unmap_all(&pt);
		mmk_pt_destroy(&pt);
	}
}

/*
 * The hints of the single map and query (the last level-0 and level-1
 * table they reached) die with their tables: after an unmap frees the
 * tables under @a and a map elsewhere takes their pages again (the frame
 * allocator gives back the last pages freed), a query of @a finds nothing
 * and single maps at @a land at @a, not in the tables now under @b.
 */
static void hints_die_with_their_tables(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		struct mmk_pt_info in;
		mmk_pt_info(&pt, &in);
		uint64_t page = leaf_size(&pt, 0), span1 = page * (page / 8);
		uint64_t span2 = span1 * (page / 8);
		uint64_t base = in.low_end ? 0 : in.high_start;
		uint64_t a = base + 2 * span2, b = base + 5 * span2 + span1;
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, &cpu0, 1);
		for (int round = 0; round < 2; round++) {
			struct mmk_pt_cursor c;
			mmk_pt_cursor_init(&c, &pt);
			assert_int_equal(mmk_pt_map(&pt, a,
						    mmk_pa(0x100000000ull),
						    page, MMK_PT_RW, &g),
					 0);
			assert_int_equal(
				mmk_pt_map(&pt, a + page,
					   mmk_pa(0x100000000ull + page), page,
					   MMK_PT_RW, &g),
				0);
			mmk_paddr_t got;
			assert_int_equal(mmk_pt_query(&pt, a, &got, NULL, NULL),
					 0);
			mmk_vaddr_t v[2] = {a, a + page};
			mmk_paddr_t pv[2];
			assert_int_equal(mmk_pt_query_many(&pt, 2, v, pv, NULL),
					 2);
			/* Free the tables under a, then let b take pages. */
			assert_int_equal(mmk_pt_unmap_region(&pt, a, 2 * page,
							     &g, NULL, NULL),
					 0);
			mmk_tlb_gather_finish(&g);
			assert_int_equal(mmk_pt_map_region(
						 &pt, b, mmk_pa(0x200000000ull),
						 3 * page, MMK_PT_RW, 0, &g),
					 0);
			assert_int_equal(mmk_pt_query(&pt, a, &got, NULL, NULL),
					 MMK_ENOENT);
			assert_int_equal(mmk_pt_query_many(&pt, 2, v, pv, NULL),
					 0);
			/* the map, the cursor: at a, b's leaves untouched */
			if (round == 0)
				assert_int_equal(
					mmk_pt_map(&pt, a + 2 * page,
						   mmk_pa(0x300000000ull), page,
						   MMK_PT_RW, &g),
					0);
			else
				assert_int_equal(mmk_pt_map_cursor(
							 &c, a + 2 * page,
							 mmk_pa(0x300000000ull),
							 MMK_PT_RW, &g),
						 0);
			assert_int_equal(mmk_pt_query(&pt, a + 2 * page, &got,
						      NULL, NULL),
					 0);
			assert_int_equal(got.v, 0x300000000ull);
			for (int k = 0; k < 3; k++) {
				assert_int_equal(mmk_pt_query(&pt, b + k * page,
							      &got, NULL, NULL),
						 0);
				assert_int_equal(got.v,
						 0x200000000ull + k * page);
			}
			assert_int_equal(mmk_pt_query(&pt, b + 3 * page, &got,
						      NULL, NULL),
					 MMK_ENOENT);
			unmap_all(&pt);
		}
		mmk_tlb_gather_finish(&g);
		mmk_pt_destroy(&pt);
	}
}

/*
 * A query of a range with no tables (where loongarch64's empty entries
 * point at its shared invalid tables), then a map there: query and
 * query_many find the new page, whatever the first walks remembered.
 */
static void query_before_map_then_after(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		struct mmk_pt_info in;
		mmk_pt_info(&pt, &in);
		uint64_t page = leaf_size(&pt, 0), span1 = page * (page / 8);
		uint64_t base = in.low_end ? 0 : in.high_start;
		/* a: nothing above it; c: its level-1 table there, no leaf
		 * table (b's is the one beside it) */
		uint64_t a = base + 3 * span1 * (page / 8) + 5 * page;
		uint64_t b = base + span1, c = base + 2 * span1 + page;
		assert_int_equal(mmk_pt_map(&pt, b, mmk_pa(0x100000000ull),
					    page, MMK_PT_RW, NULL),
				 0);
		mmk_vaddr_t v[9] = {a, c, a, c, a, c, a, c, b};
		mmk_paddr_t pv[9], got;
		for (int round = 0; round < 2; round++) {
			assert_int_equal(mmk_pt_query(&pt, a, &got, NULL, NULL),
					 MMK_ENOENT);
			assert_int_equal(mmk_pt_query(&pt, c, &got, NULL, NULL),
					 MMK_ENOENT);
			assert_int_equal(mmk_pt_query_many(&pt, 9, v, pv, NULL),
					 1);
			assert_int_equal(pv[0].v, MMK_PT_QUERY_NONE);
			assert_int_equal(pv[8].v, 0x100000000ull);
		}
		assert_int_equal(mmk_pt_map(&pt, a, mmk_pa(0x200000000ull),
					    page, MMK_PT_RW, NULL),
				 0);
		assert_int_equal(mmk_pt_map(&pt, c, mmk_pa(0x300000000ull),
					    page, MMK_PT_RW, NULL),
				 0);
		assert_int_equal(mmk_pt_query(&pt, a, &got, NULL, NULL), 0);
		assert_int_equal(got.v, 0x200000000ull);
		assert_int_equal(mmk_pt_query(&pt, c + 7, &got, NULL, NULL), 0);
		assert_int_equal(got.v, 0x300000007ull);
		assert_int_equal(mmk_pt_query_many(&pt, 9, v, pv, NULL), 9);
		for (int k = 0; k < 8; k++)
			assert_int_equal(pv[k].v, k % 2 ? 0x300000000ull
							: 0x200000000ull);
		unmap_all(&pt);
		mmk_pt_destroy(&pt);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(query_many_matches_query, setup,
						teardown),
		cmocka_unit_test_setup_teardown(query_many_upper_half_tables,
						setup, teardown),
		cmocka_unit_test_setup_teardown(query_many_over_many_tables,
						setup, teardown),
		cmocka_unit_test_setup_teardown(hints_die_with_their_tables,
						setup, teardown),
		cmocka_unit_test_setup_teardown(query_before_map_then_after,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
