/* SPDX-License-Identifier: MIT */
/*
 * The space and helpers test_aspace_errors.c and test_aspace_errors2.c
 * share (see the picture at the top of either): include once, after
 * aspace_test.h.
 */
#ifndef MMK_ASPACE_ERRORS_FIXTURE_H
#define MMK_ASPACE_ERRORS_FIXTURE_H

#define BASE  0x40000000ull
#define SPACE (64 * MMK_MIB)
#define PG    4096ull
#define A     BASE
#define R     (BASE + 32 * PG)
#define K     (BASE + 64 * PG)
#define L     (BASE + 2 * MMK_MIB)
#define HOLE  (BASE + 128 * PG)
#define UR    (MMK_PT_READ | MMK_PT_USER)
#define URW   (MMK_PT_RW | MMK_PT_USER)

static struct mmk_frames *fa;
static struct mmk_aspace as;
static struct as_snap s0, s1;

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_fail_off();
	mmk_hosted_log_reset(true);
	fa = mmk_hosted_frames_new();
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	mmk_aspace_activate(&as);
	assert_int_equal(mmk_aspace_map_alloc(&as, A, 16 * PG, URW, false), 0);
	assert_int_equal(mmk_aspace_write(&as, A, "abcd", 4), 0);
	assert_int_equal(mmk_aspace_map_alloc(&as, R, 4 * PG, UR, true), 0);
	assert_int_equal(mmk_aspace_map_alloc(&as, K, 4 * PG, MMK_PT_RW, true),
			 0);
	assert_int_equal(mmk_aspace_map_linear(&as, L, mmk_pa(0x80000000ull),
					       2 * MMK_MIB, MMK_PT_RW),
			 0);
	uint64_t ps;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as), L, NULL, NULL, &ps),
			 0);
	assert_int_equal(ps, 2 * MMK_MIB);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmk_hosted_fail_off();
	mmk_aspace_destroy(&as);
	assert_int_equal(mmk_hosted_live_frames(), 0);
	assert_int_equal(mmk_hosted_live_objs(), 0);
	mmk_hosted_frames_destroy(fa);
	return 0;
}

/* @call returns @code and the space is as it was. */
#define FAILS_ON(sp, code, call)                                               \
	do {                                                                   \
		as_snapshot((sp), fa, &s0);                                    \
		assert_int_equal((call), (code));                              \
		mmk_hosted_fail_off();                                         \
		as_snapshot((sp), fa, &s1);                                    \
		as_snap_equal(&s0, &s1, #call);                                \
	} while (0)

#define FAILS(code, call) FAILS_ON(&as, code, call)

/* The same with every allocation at @site failing from now on. */
#define FAILS_NOMEM(site, call)                                                \
	do {                                                                   \
		as_snapshot(&as, fa, &s0);                                     \
		mmk_hosted_fail_after((site), 0);                              \
		assert_int_equal((call), MMK_ENOMEM);                          \
		mmk_hosted_fail_off();                                         \
		as_snapshot(&as, fa, &s1);                                     \
		as_snap_equal(&s0, &s1, #call);                                \
	} while (0)

/* riscv64 Sv39 without Svpbmt: memory types cannot be mapped (ENOTSUP). */
static bool rv_new(struct mmk_aspace *rv)
{
	return mmk_aspace_create(rv, BASE, SPACE, MMK_PT_RISCV_SV39, 0, fa) ==
	       0;
}

#endif
