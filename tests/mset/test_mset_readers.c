/* SPDX-License-Identifier: MIT */
/*
 * Readers of one memory set run concurrently (the address space's shared
 * lock): threads playing CPUs look up, search free space and iterate at
 * once, and every answer matches the one computed alone beforehand.  Built
 * again under ThreadSanitizer (label tsan), where a write anywhere on the
 * read paths would be reported as a race between readers.
 */
#include "mmk_test.h"

#include <mmkit/mset.h>

#include <pthread.h>

#define PG	4096ull
#define NAREAS	20000
#define NQ	20000
#define THREADS 4

static struct mmk_mset set;
static uint64_t q[NQ], qsize[NQ];
static struct mmk_mset_area *want_find[NQ];
static uint64_t want_free[NQ];
static int want_rc[NQ];

static int count_fn(struct mmk_mset_area *a, void *arg)
{
	(void)a;
	++*(long *)arg;
	return 0;
}

static void *reader(void *arg)
{
	long bad = 0, seen = 0;
	unsigned shift = (unsigned)(uintptr_t)arg;
	mmk_hosted_register_cpu();
	for (long k = 0; k < 10L * NQ; k++) {
		long i = (k * 7 + shift * 1237) % NQ;
		if (mmk_mset_find(&set, q[i]) != want_find[i])
			bad++;
		uint64_t x = 0;
		int rc = mmk_mset_find_free(&set, q[i], qsize[i], 0, UINT64_MAX,
					    PG, (unsigned)(i & 1), &x);
		if (rc != want_rc[i] || (rc == 0 && x != want_free[i]))
			bad++;
		if (k % 1000 == 0)
			mmk_mset_foreach(&set, q[i], count_fn, &seen);
	}
	return (void *)bad;
}

static void readers_share_the_set_without_writing(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_mset_init(&set);
	uint64_t s = mmk_test_seed(77), at = 0x100000;
	for (int i = 0; i < NAREAS; i++) {
		struct mmk_mset_area t = {0};
		t.start = at;
		t.end = at + (1 + mmk_test_rand(&s) % 4) * PG;
		t.offset = t.start;
		t.flags = (uint32_t)(i & 1);
		assert_int_equal(mmk_mset_insert(&set, &t, 0, NULL), 0);
		at = t.end + (mmk_test_rand(&s) % 6) * PG;
	}
	for (int i = 0; i < NQ; i++) {
		q[i] = 0x100000 + mmk_test_rand(&s) % (at - 0x100000);
		qsize[i] = (1 + mmk_test_rand(&s) % 8) * PG;
		want_find[i] = mmk_mset_find(&set, q[i]);
		want_rc[i] = mmk_mset_find_free(
			&set, q[i], qsize[i], 0, UINT64_MAX, PG,
			(unsigned)(i & 1), &want_free[i]);
	}
	pthread_t t[THREADS];
	for (uintptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, (void *)i),
				 0);
	for (int i = 0; i < THREADS; i++) {
		void *bad;
		pthread_join(t[i], &bad);
		assert_int_equal((long)bad, 0);
	}
	assert_int_equal(mmk_mset_check(&set), 0);
	mmk_mset_destroy(&set);
	assert_int_equal(mmk_hosted_live_objs(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(readers_share_the_set_without_writing),
	};
	return cmocka_run_group_tests_name("mset_readers", tests, NULL, NULL);
}
