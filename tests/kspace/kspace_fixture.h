/* SPDX-License-Identifier: MIT */
/*
 * What test_kspace.c and test_kspace_errors2.c share: the platform the
 * kernel space is built from (see the layout at the top of
 * test_kspace.c), setup/teardown with the live-count check, and the
 * kernel addresses derived from the format's half.  Include once.
 */
#ifndef MMK_KSPACE_FIXTURE_H
#define MMK_KSPACE_FIXTURE_H

static struct mmk_frames *fa;
static long base_frames, base_objs;

#define RAM_PA 0x40000000ull
#define DEV_PA 0x10000800ull
#define IMG_PA 0x40200000ull

static struct mmk_kspace_region regions[2];
static struct mmk_kspace_section sections[3];
static struct mmk_kspace_config cfg;
static uint64_t half;

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	fa = mmk_hosted_frames_new();
	mmk_hosted_log_reset(true);
	base_frames = mmk_hosted_live_frames();
	base_objs = mmk_hosted_live_objs();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmk_hosted_fail_off();
	if (mmk_kspace())
		mmk_kspace_destroy();
	mmk_kspace_set_reserve(MMK_CFG_KSPACE_RESERVE);
	assert_int_equal(mmk_hosted_live_frames(), base_frames);
	assert_int_equal(mmk_hosted_live_objs(), base_objs);
	mmk_hosted_frames_destroy(fa);
	return 0;
}

static mmk_vaddr_t kbase(void)
{
	return 0 - half;
}

static mmk_vaddr_t img_va(void)
{
	return kbase() + half / 4;
}

#endif
