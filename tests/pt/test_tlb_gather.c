/* SPDX-License-Identifier: MIT */
/*
 * The TLB gather alone: ranges coalesce, a long or scattered list turns into
 * one full flush, frames are put only after the flush and in the order they
 * were queued, and a gather for a space active nowhere flushes nothing.
 */
#include "mmk_test.h"

#include <mmkit/tlb.h>

static struct mmk_frames *fa;
static mmk_cpumask_t cpu0;

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(MMK_GIB);
	mmk_hosted_fail_off();
	fa = mmk_hosted_frames_new();
	mmk_cpumask_clear(&cpu0);
	mmk_cpumask_set(&cpu0, 0);
	mmk_hosted_flush_reset();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmk_hosted_frames_destroy(fa);
	return 0;
}

#define PG MMK_PAGE_SIZE

static void adjacent_ranges_coalesce_into_one_flush(void **state)
{
	(void)state;
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, &cpu0, 7);
	assert_true(mmk_tlb_gather_empty(&g));
	mmk_tlb_gather_range(&g, 0x10000, 0x10000 + PG, false);
	mmk_tlb_gather_range(&g, 0x10000 + PG, 0x10000 + 3 * PG, false);
	mmk_tlb_gather_range(&g, 0x40000, 0x40000 + PG, false);
	assert_false(mmk_tlb_gather_empty(&g));
	assert_int_equal(g.nranges, 2);
	assert_int_equal(g.npages, 4);
	mmk_tlb_gather_finish(&g);
	assert_int_equal(mmk_hosted_flush_count(), 2);
	struct mmk_hosted_flush f;
	mmk_hosted_flush_get(0, &f);
	assert_int_equal(f.kind, MMK_HOSTED_FLUSH_RANGE);
	assert_int_equal(f.asid, 7);
	assert_int_equal(f.start, 0x10000);
	assert_int_equal(f.end, 0x10000 + 3 * PG);
	assert_false(f.global);
	mmk_hosted_flush_get(1, &f);
	assert_int_equal(f.start, 0x40000);
	assert_true(mmk_tlb_gather_empty(&g));
	assert_ptr_equal(g.cpus, &cpu0);
	assert_int_equal(g.asid, 7);
}

static void too_many_pages_or_ranges_become_one_full_flush(void **state)
{
	(void)state;
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, &cpu0, 3);
	mmk_tlb_gather_range(&g, 0, (MMK_TLB_GATHER_FLUSH_ALL_PAGES + 1) * PG,
			     false);
	assert_true(g.all);
	mmk_tlb_gather_finish(&g);
	assert_int_equal(mmk_hosted_flush_count(), 1);
	struct mmk_hosted_flush f;
	mmk_hosted_flush_get(0, &f);
	assert_int_equal(f.kind, MMK_HOSTED_FLUSH_ALL);
	assert_int_equal(f.asid, 3);

	/* One range too many (not adjacent), each small. */
	mmk_hosted_flush_reset();
	for (unsigned i = 0; i < MMK_TLB_GATHER_RANGES; i++)
		mmk_tlb_gather_range(&g, i * 2 * PG, i * 2 * PG + PG, false);
	assert_false(g.all);
	mmk_tlb_gather_range(&g, 1000 * PG, 1001 * PG, true);
	assert_true(g.all && g.global);
	mmk_tlb_gather_finish(&g);
	assert_int_equal(mmk_hosted_flush_count(), 1);
	mmk_hosted_flush_get(0, &f);
	assert_int_equal(f.kind, MMK_HOSTED_FLUSH_ALL);
	assert_int_equal(f.asid, MMK_ASID_ALL); /* a global one was in it */

	/* Exactly at the threshold: still ranges. */
	mmk_hosted_flush_reset();
	mmk_tlb_gather_range(&g, 0, MMK_TLB_GATHER_FLUSH_ALL_PAGES * PG, false);
	assert_false(g.all);
	mmk_tlb_gather_all(&g, false);
	assert_true(g.all && !g.global);
	mmk_tlb_gather_finish(&g);
	mmk_hosted_flush_get(0, &f);
	assert_int_equal(f.kind, MMK_HOSTED_FLUSH_ALL);
	assert_int_equal(f.asid, 3);
}

/* Frames queued with put keep their reference until the flush, then go in
 * queue order; flush alone keeps them queued. */
static void puts_happen_after_the_flush_in_queue_order(void **state)
{
	(void)state;
	long live = mmk_hosted_live_frames();
	mmk_paddr_t pa[5];
	for (int i = 0; i < 5; i++)
		assert_int_equal(mmk_frame_alloc(fa, i == 2 ? 2 : 0, 0, &pa[i]),
				 0);
	/* pa[1] is shared: its put only drops the extra reference. */
	assert_int_equal(mmk_frame_get(fa, pa[1]), 0);
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, &cpu0, 1);
	mmk_tlb_gather_range(&g, 0x1000, 0x2000, false);
	for (int i = 4; i >= 0; i--)
		mmk_tlb_gather_put(&g, fa, pa[i]);
	assert_int_equal(g.nput, 5);
	assert_false(mmk_tlb_gather_empty(&g));

	/* flush: the flush happens, the frames stay. */
	mmk_tlb_gather_flush(&g);
	assert_int_equal(mmk_hosted_flush_count(), 1);
	for (int i = 0; i < 5; i++)
		assert_true(mmk_frame_refcount(fa, pa[i]) >= 1);
	assert_false(mmk_tlb_gather_empty(&g));

	/* The queue runs first put first: pa[4] -> pa[3] -> ... -> pa[0],
	 * linked through the frames' metadata. */
	uint64_t link = g.put_head;
	for (int i = 4; i >= 0; i--) {
		assert_int_equal(link, (pa[i].v >> MMK_PAGE_SHIFT) + 1);
		struct mmk_frame *m = mmk_frame_meta(
			fa, mmk_pa((link - 1) << MMK_PAGE_SHIFT));
		link = (uint64_t)m->next | (uint64_t)m->prev << 32;
	}
	assert_int_equal(link, 0);
	assert_int_equal(g.put_tail, (pa[0].v >> MMK_PAGE_SHIFT) + 1);

	/* finish: nothing more to flush, then the puts. */
	long before = mmk_hosted_live_frames();
	mmk_tlb_gather_finish(&g);
	assert_int_equal(mmk_hosted_flush_count(), 1);
	assert_int_equal(mmk_frame_refcount(fa, pa[1]), 1);
	assert_int_equal(mmk_hosted_live_frames(), before - 3 - 4);
	assert_true(mmk_frame_put(fa, pa[1]) >= 0);
	assert_true(mmk_tlb_gather_empty(&g));
	assert_int_equal(mmk_hosted_live_frames(), live);
}

/* The flush must come before any put: record the order through the frame
 * allocator's view at flush time. */
static size_t refs_at_flush;
static mmk_paddr_t watched;

static void flush_sees_frames_still_held(void **state)
{
	(void)state;
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &watched), 0);
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, &cpu0, 0);
	mmk_tlb_gather_range(&g, 0, PG, false);
	mmk_tlb_gather_put(&g, fa, watched);
	/* The hosted HAL records flushes; the put must not have happened
	 * by the time the flush was issued: flush first by hand and check,
	 * then finish. */
	mmk_tlb_gather_flush(&g);
	refs_at_flush = (size_t)mmk_frame_refcount(fa, watched);
	assert_int_equal(refs_at_flush, 1);
	mmk_tlb_gather_finish(&g);
	assert_int_equal(mmk_frame_refcount(fa, watched), 0);
}

static void null_cpus_flush_nothing_but_still_put(void **state)
{
	(void)state;
	long live = mmk_hosted_live_frames();
	mmk_paddr_t pa;
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &pa), 0);
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, NULL, 5);
	mmk_tlb_gather_range(&g, 0, PG, true);
	mmk_tlb_gather_all(&g, true);
	mmk_tlb_gather_put(&g, fa, pa);
	mmk_tlb_gather_finish(&g);
	assert_int_equal(mmk_hosted_flush_count(), 0);
	assert_int_equal(mmk_hosted_live_frames(), live);
	assert_true(mmk_tlb_gather_empty(&g));
	/* An empty gather finishes without flushing. */
	mmk_tlb_gather_init(&g, &cpu0, 5);
	mmk_tlb_gather_finish(&g);
	assert_int_equal(mmk_hosted_flush_count(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			adjacent_ranges_coalesce_into_one_flush, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			too_many_pages_or_ranges_become_one_full_flush, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			puts_happen_after_the_flush_in_queue_order, setup,
			teardown),
		cmocka_unit_test_setup_teardown(flush_sees_frames_still_held,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			null_cpus_flush_nothing_but_still_put, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
