/* SPDX-License-Identifier: MIT */
/*
 * Frames: the documented errors tests/frame/test_frame.c does not provoke
 * itself (docs/ERRORS.md names the test of every pair), each checked to
 * change nothing: the allocator's counters, the block's count, its
 * invariants.
 */
#include "mmk_test.h"

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
	mmk_hosted_frames_destroy(fa);
	return 0;
}

static void put_of_no_block_head_is_ebadfree_and_changes_nothing(void **state)
{
	(void)state;
	mmk_paddr_t p;
	assert_int_equal(mmk_frame_alloc(fa, 2, 0, &p), 0);
	struct mmk_frame_stats st0, st;
	mmk_frames_stats(fa, &st0);
	long errs = mmk_hosted_log_errors();
	/* inside the block, unaligned, outside every region */
	assert_int_equal(mmk_frame_put(fa, mmk_pa_add(p, 4096)), MMK_EBADFREE);
	assert_int_equal(mmk_frame_put(fa, mmk_pa_add(p, 8)), MMK_EBADFREE);
	assert_int_equal(mmk_frame_put(fa, mmk_pa(0x1000)), MMK_EBADFREE);
	assert_int_equal(mmk_hosted_log_errors(), errs + 3); /* logged */
	mmk_frames_stats(fa, &st);
	assert_memory_equal(&st, &st0, sizeof(st));
	assert_int_equal(mmk_frame_refcount(fa, p), 1);
	assert_int_equal(mmk_frames_check(fa), 0);
	assert_int_equal(mmk_frame_put(fa, p), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			put_of_no_block_head_is_ebadfree_and_changes_nothing,
			setup, teardown),
	};
	return cmocka_run_group_tests_name("frame_errors", tests, NULL, NULL);
}
