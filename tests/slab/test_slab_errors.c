/* SPDX-License-Identifier: MIT */
/*
 * Slab caches and kmalloc: every error code slab.h documents, provoked,
 * and each time the caches and the frame allocator checked to be as they
 * were.  docs/ERRORS.md names the test of each (function, code) pair.
 */
#include "mmk_test.h"

#include <mmkit/slab.h>

#include "slab/slab_internal.h"

#include <string.h>

static struct mmk_frames *fa;

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_fail_off();
	mmk_hosted_log_reset(true);
	fa = mmk_hosted_frames_new();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmk_hosted_fail_off();
	mmk_hosted_frames_destroy(fa);
	fa = NULL;
	mmk_hosted_discard();
	return 0;
}

static void assert_stats_equal(const struct mmk_slab_stats *a,
			       const struct mmk_slab_stats *b)
{
	assert_memory_equal(a, b, sizeof(*a));
}

static void slab_destroy_with_live_objects_is_ebusy_and_keeps_all(void **state)
{
	(void)state;
	struct mmk_slab_cache *c = mmk_slab_create(fa, "busy", 96, 0, NULL);
	assert_non_null(c);
	void *p = mmk_slab_alloc(c);
	assert_non_null(p);
	struct mmk_slab_stats st0, st;
	mmk_slab_stats(c, &st0);
	long frames = mmk_hosted_live_frames();
	assert_int_equal(mmk_slab_destroy(c), MMK_EBUSY);
	mmk_slab_stats(c, &st);
	/* The magazines were drained (documented), nothing else moved. */
	assert_int_equal(st.live, st0.live);
	assert_int_equal(st.slabs, st0.slabs);
	assert_int_equal(st.frame_bytes, st0.frame_bytes);
	assert_int_equal(mmk_hosted_live_frames(), frames);
	assert_int_equal(mmk_slab_check(c), 0);
	mmk_slab_free(c, p);
	mmk_hosted_log_reset(true);
	assert_int_equal(mmk_slab_destroy(c), 0);
}

static void slab_check_finds_a_broken_count(void **state)
{
	(void)state;
	struct mmk_slab_cache *c = mmk_slab_create(fa, "check", 64, 0, NULL);
	void *p = mmk_slab_alloc(c);
	struct mmk_slab_stats st0, st;
	mmk_slab_stats(c, &st0);
	c->nslabs++;
	assert_int_equal(mmk_slab_check(c), MMK_EINVAL);
	assert_true(mmk_hosted_log_errors() > 0);
	c->nslabs--;
	mmk_slab_stats(c, &st);
	assert_stats_equal(&st0, &st); /* the check itself changes nothing */
	assert_int_equal(mmk_slab_check(c), 0);
	mmk_slab_free(c, p);
	assert_int_equal(mmk_slab_destroy(c), 0);
}

static void kmalloc_init_errors_keep_nothing(void **state)
{
	(void)state;
	long frames = mmk_hosted_live_frames();
	/* ENOMEM at every frame the set-up takes: nothing kept, not set up */
	long n;
	for (n = 1;; n++) {
		mmk_hosted_fail_nth(MMK_FAIL_FRAME, n);
		int err = mmk_kmalloc_init(fa);
		mmk_hosted_fail_off();
		if (err == 0)
			break;
		assert_int_equal(err, MMK_ENOMEM);
		assert_int_equal(mmk_hosted_live_frames(), frames);
		assert_null(mmk_kmalloc_cache(64));
		assert_int_equal(mmk_frames_check(fa), 0);
	}
	assert_true(n > 1);
	/* EBUSY: set up already, and it stays as it was */
	struct mmk_slab_cache *c64 = mmk_kmalloc_cache(64);
	assert_non_null(c64);
	long frames_up = mmk_hosted_live_frames();
	assert_int_equal(mmk_kmalloc_init(fa), MMK_EBUSY);
	assert_ptr_equal(mmk_kmalloc_cache(64), c64);
	assert_int_equal(mmk_hosted_live_frames(), frames_up);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_int_equal(mmk_hosted_live_frames(), frames);
	/* EINVAL: a linear map that does not keep page offsets */
	uintptr_t pv = mmk_hal_pv_offset;
	mmk_hal_pv_offset = pv + 64;
	assert_int_equal(mmk_kmalloc_init(fa), MMK_EINVAL);
	mmk_hal_pv_offset = pv;
	assert_int_equal(mmk_hosted_live_frames(), frames);
	assert_null(mmk_kmalloc_cache(64));
}

static void kmalloc_fini_with_leaks_is_ebusy_and_stays_up(void **state)
{
	(void)state;
	assert_int_equal(mmk_kmalloc_init(fa), 0);
	void *p = mmk_kmalloc(200);
	assert_non_null(p);
	struct mmk_slab_cache *c = mmk_kmalloc_cache(200);
	struct mmk_slab_stats st0, st;
	mmk_slab_stats(c, &st0);
	long frames = mmk_hosted_live_frames();
	assert_int_equal(mmk_kmalloc_fini(), MMK_EBUSY);
	assert_ptr_equal(mmk_kmalloc_cache(200), c);
	mmk_slab_stats(c, &st);
	assert_int_equal(st.live, st0.live);
	assert_int_equal(st.slabs, st0.slabs);
	assert_int_equal(mmk_hosted_live_frames(), frames);
	/* still usable */
	void *q = mmk_kmalloc(200);
	assert_non_null(q);
	mmk_kfree(q);
	mmk_kfree(p);
	assert_int_equal(mmk_kmalloc_fini(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			slab_destroy_with_live_objects_is_ebusy_and_keeps_all,
			setup, teardown),
		cmocka_unit_test_setup_teardown(slab_check_finds_a_broken_count,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			kmalloc_init_errors_keep_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			kmalloc_fini_with_leaks_is_ebusy_and_stays_up, setup,
			teardown),
	};
	return cmocka_run_group_tests_name("slab_errors", tests, NULL, NULL);
}
