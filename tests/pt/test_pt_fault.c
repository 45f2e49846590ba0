/* SPDX-License-Identifier: MIT */
/*
 * The fault path's primitives: mmk_pt_lookup reads a leaf once,
 * mmk_pt_replace swaps it for another with a compare-and-swap, recording
 * the flush the change needs; racing replaces serialise (each success
 * builds on the one before it).  On every format compiled in.
 */
#include "pt_fixture.h"

#include <pthread.h>

#define setup	 pt_fixture_setup
#define teardown pt_fixture_teardown

static uint64_t low_base(const struct mmk_pt *pt)
{
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	return in.low_end ? 0 : in.high_start;
}

static void lookup_reports_the_leaf_and_its_raw_entry(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		long live = live0;
		uint64_t page = leaf_size(&pt, 0), h1 = leaf_size(&pt, 1);
		uint64_t va = low_base(&pt) + 5 * page,
			 hva = low_base(&pt) + h1;
		assert_int_equal(mmk_pt_map(&pt, va, mmk_pa(0x123 * page), page,
					    MMK_PT_RW | MMK_PT_USER, NULL),
				 0);
		assert_int_equal(mmk_pt_map(&pt, hva, mmk_pa(7 * h1), h1,
					    MMK_PT_READ, NULL),
				 0);
		assert_int_equal(
			mmk_pt_map(&pt, va + page, mmk_pa(page), page, 0, NULL),
			0);
		struct mmk_pt_leaf lf;
		assert_int_equal(mmk_pt_lookup(&pt, va + page - 1, &lf), 0);
		assert_int_equal(lf.va, va);
		assert_int_equal(lf.pa.v, 0x123 * page);
		assert_int_equal(lf.page_size, page);
		assert_int_equal(lf.size, page);
		assert_int_equal(lf.level, 0);
		assert_true((lf.flags & (MMK_PT_RW | MMK_PT_USER)) ==
			    (MMK_PT_RW | MMK_PT_USER));
		uint64_t raw;
		assert_int_equal(mmk_pt_raw_entry(&pt, va, 0, &raw), 0);
		assert_int_equal(lf.raw, raw);
		/* A huge page: its first byte, whatever byte was asked. */
		assert_int_equal(mmk_pt_lookup(&pt, hva + h1 / 2 + 3, &lf), 0);
		assert_int_equal(lf.va, hva);
		assert_int_equal(lf.pa.v, 7 * h1);
		assert_int_equal(lf.page_size, h1);
		assert_int_equal(lf.level, 1);
		/* PROT_NONE leaves are found; holes are not. */
		assert_int_equal(mmk_pt_lookup(&pt, va + page, &lf), 0);
		assert_int_equal(lf.flags & MMK_PT_RWX, 0);
		assert_int_equal(mmk_pt_lookup(&pt, va + 2 * page, &lf),
				 MMK_ENOENT);
		/* a hole says where the walk ended: in its leaf table, or
		 * above the tables missing (a fresh level-2 entry) */
		assert_int_equal(lf.level, 0);
		uint64_t far = low_base(&pt) + 3 * ((uint64_t)1 << pt.shift[2]);
		assert_int_equal(mmk_pt_lookup(&pt, far, &lf), MMK_ENOENT);
		assert_int_equal(lf.level, 2);
		assert_int_equal(mmk_pt_lookup(&pt, 0x4000000000000000ull, &lf),
				 MMK_ENONCANON);
		unmap_all(&pt);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

static void replace_swaps_the_leaf_and_records_its_flush(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		long live = live0;
		uint64_t page = leaf_size(&pt, 0);
		uint64_t va = low_base(&pt) + 9 * page;
		bool map_flush = mmk_pt_map_needs_flush(&pt);
		assert_int_equal(mmk_pt_map(&pt, va, mmk_pa(0x10 * page), page,
					    MMK_PT_READ | MMK_PT_USER, NULL),
				 0);
		struct mmk_pt_leaf old, now;
		assert_int_equal(mmk_pt_lookup(&pt, va, &old), 0);

		/* Bad arguments: nothing changes. */
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, &cpu0, 1);
		assert_int_equal(mmk_pt_replace(&pt, &old,
						mmk_pa(0x20 * page + 8),
						MMK_PT_RW, &g),
				 MMK_EALIGN);
		assert_int_equal(mmk_pt_replace(&pt, &old, mmk_pa(0x20 * page),
						1u << 20, &g),
				 MMK_ENOTSUP);
		assert_true(mmk_tlb_gather_empty(&g));

		/* Copy-on-write: a new frame, now writable.  The old
		 * translation was live: a flush is due (done at once where
		 * the format breaks before making). */
		mmk_hosted_flush_reset();
		assert_int_equal(mmk_pt_replace(&pt, &old, mmk_pa(0x20 * page),
						MMK_PT_RW | MMK_PT_USER, &g),
				 0);
		assert_true(!mmk_tlb_gather_empty(&g) ||
			    mmk_hosted_flush_count() == 1);
		mmk_tlb_gather_finish(&g);
		assert_true(mmk_hosted_flushed(va));
		assert_int_equal(mmk_pt_lookup(&pt, va, &now), 0);
		assert_int_equal(now.pa.v, 0x20 * page);
		assert_true(now.flags & MMK_PT_WRITE);

		/* The same stale leaf again: someone was first. */
		mmk_hosted_flush_reset();
		assert_int_equal(mmk_pt_replace(&pt, &old, mmk_pa(0x30 * page),
						MMK_PT_READ, &g),
				 MMK_EAGAIN);
		assert_true(mmk_tlb_gather_empty(&g));
		assert_int_equal(mmk_hosted_flush_count(), 0);
		struct mmk_pt_leaf again;
		assert_int_equal(mmk_pt_lookup(&pt, va, &again), 0);
		assert_int_equal(again.raw, now.raw);

		/* Losing write on the same frame must be flushed... */
		assert_int_equal(mmk_pt_replace(&pt, &now, now.pa,
						MMK_PT_READ | MMK_PT_USER, &g),
				 0);
		assert_false(mmk_tlb_gather_empty(&g));
		mmk_tlb_gather_finish(&g);
		/* ...gaining it need not (unless the format caches invalid
		 * or read-only entries), and the same entry is a no-op. */
		assert_int_equal(mmk_pt_lookup(&pt, va, &old), 0);
		assert_int_equal(
			mmk_pt_replace(&pt, &old, old.pa, old.flags, &g), 0);
		assert_true(mmk_tlb_gather_empty(&g));
		assert_int_equal(mmk_pt_replace(&pt, &old, old.pa,
						MMK_PT_RW | MMK_PT_USER, &g),
				 0);
		assert_int_equal(!mmk_tlb_gather_empty(&g), map_flush);
		mmk_tlb_gather_finish(&g);
		assert_int_equal(mmk_pt_lookup(&pt, va, &now), 0);
		assert_int_equal(now.pa.v, 0x20 * page);
		assert_true(now.flags & MMK_PT_WRITE);
		unmap_all(&pt);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

/* ------------------------------------------------------ racing replaces */
#define RACE_THREADS 4
#define RACE_PAGES   8
#define RACE_WINS    300

struct racer {
	struct mmk_pt *pt;
	uint64_t va, page;
	long wins, lost;
	int bad;
};

/* Each win moves a page's address one page up: with every win building on
 * the previous one, a page's final address counts the wins. */
static void *racer_main(void *arg)
{
	struct racer *r = arg;
	mmk_hosted_register_cpu();
	while (r->wins < RACE_WINS) {
		for (unsigned i = 0; i < RACE_PAGES; i++) {
			struct mmk_pt_leaf lf;
			uint64_t va = r->va + i * r->page;
			if (mmk_pt_lookup(r->pt, va, &lf) != 0) {
				r->bad++;
				continue;
			}
			struct mmk_tlb_gather g;
			mmk_tlb_gather_init(&g, NULL, 0);
			int err = mmk_pt_replace(
				r->pt, &lf, mmk_pa_add(lf.pa, r->page),
				(r->wins & 1) ? MMK_PT_READ : MMK_PT_RW, &g);
			mmk_tlb_gather_finish(&g);
			if (err == 0)
				r->wins++;
			else if (err == MMK_EAGAIN)
				r->lost++;
			else
				r->bad++;
		}
	}
	return NULL;
}

/* Single maps into the same leaf table meanwhile. */
struct mapper {
	struct mmk_pt *pt;
	uint64_t va, page;
	int bad;
};

static void *mapper_main(void *arg)
{
	struct mapper *m = arg;
	mmk_hosted_register_cpu();
	for (unsigned i = 0; i < 64; i++)
		if (mmk_pt_map(m->pt, m->va + i * m->page,
			       mmk_pa(0x100000 + i * m->page), m->page,
			       MMK_PT_READ, NULL) != 0)
			m->bad++;
	return NULL;
}

static void racing_replaces_serialise(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		long live = live0;
		uint64_t page = leaf_size(&pt, 0);
		uint64_t va = low_base(&pt) + 16 * page;
		uint64_t pa0 = 0x40000000;
		for (unsigned i = 0; i < RACE_PAGES; i++)
			assert_int_equal(mmk_pt_map(&pt, va + i * page,
						    mmk_pa(pa0 + i * 0x1000000),
						    page, MMK_PT_READ, NULL),
					 0);
		struct racer r[RACE_THREADS];
		struct mapper m = {
			.pt = &pt, .va = va + 64 * page, .page = page};
		pthread_t th[RACE_THREADS + 1];
		for (int t = 0; t < RACE_THREADS; t++) {
			r[t] = (struct racer){
				.pt = &pt, .va = va, .page = page};
			assert_int_equal(
				pthread_create(&th[t], NULL, racer_main, &r[t]),
				0);
		}
		assert_int_equal(pthread_create(&th[RACE_THREADS], NULL,
						mapper_main, &m),
				 0);
		for (int t = 0; t <= RACE_THREADS; t++)
			pthread_join(th[t], NULL);
		long wins = 0;
		for (int t = 0; t < RACE_THREADS; t++) {
			assert_int_equal(r[t].bad, 0);
			wins += r[t].wins;
		}
		assert_int_equal(m.bad, 0);
		long moved = 0;
		for (unsigned i = 0; i < RACE_PAGES; i++) {
			struct mmk_pt_leaf lf;
			assert_int_equal(mmk_pt_lookup(&pt, va + i * page, &lf),
					 0);
			uint64_t base = pa0 + i * 0x1000000;
			assert_true(lf.pa.v >= base);
			moved += (long)((lf.pa.v - base) / page);
		}
		assert_int_equal(moved, wins);
		unmap_all(&pt);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			lookup_reports_the_leaf_and_its_raw_entry, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			replace_swaps_the_leaf_and_records_its_flush, setup,
			teardown),
		cmocka_unit_test_setup_teardown(racing_replaces_serialise,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
