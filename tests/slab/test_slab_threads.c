/* SPDX-License-Identifier: MIT */
/*
 * Threads playing CPUs allocate objects and hand them to each other through
 * shared slots, so most objects are freed on another CPU than the one that
 * allocated them.  Runs in the normal build and under ThreadSanitizer.
 */
#include "mmk_test.h"

#include <mmkit/slab.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

enum { NTHREADS = 4, NSLOTS = 512 };

#ifdef __SANITIZE_THREAD__
#define STEPS 40000
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STEPS 40000
#endif
#endif
#ifndef STEPS
#define STEPS 300000
#endif

static struct mmk_frames *fa;
static struct mmk_slab_cache *shared_cache;
static _Atomic(unsigned char *) slots[NSLOTS];

/*
 * Object layout: byte 0 = kind (0 kmalloc, 1 shared cache), bytes 1..2 =
 * size, then a pattern derived from the address, checked by whoever frees.
 */
static void stamp(unsigned char *p, unsigned kind, size_t size)
{
	p[0] = (unsigned char)kind;
	p[1] = (unsigned char)size;
	p[2] = (unsigned char)(size >> 8);
	for (size_t i = 3; i < size; i++)
		p[i] = (unsigned char)((uintptr_t)p + i);
}

static void check_and_free(unsigned char *p)
{
	size_t size = p[1] | (size_t)p[2] << 8;
	for (size_t i = 3; i < size; i++)
		if (p[i] != (unsigned char)((uintptr_t)p + i))
			abort();
	if (p[0] == 1)
		mmk_slab_free(shared_cache, p);
	else
		mmk_kfree(p);
}

static void *cpu_run(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg * 7919 + 1;
	mmk_hosted_register_cpu();
	for (int step = 0; step < STEPS; step++) {
		uint64_t r = mmk_test_rand(&seed);
		unsigned char *p;
		size_t size;
		unsigned kind = r % 3 == 0;
		if (kind) {
			size = 96;
			p = mmk_slab_alloc(shared_cache);
		} else {
			size = 3 + (r >> 8) % 2000;
			p = mmk_kmalloc(size);
		}
		if (!p)
			abort();
		stamp(p, kind, size);
		/* exchange: our object goes in, someone's comes out */
		unsigned char *old = atomic_exchange_explicit(
			&slots[(r >> 32) % NSLOTS], p, memory_order_acq_rel);
		if (old)
			check_and_free(old);
	}
	return NULL;
}

static void cpus_free_each_others_objects(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_log_reset(true);
	fa = mmk_hosted_frames_new();
	long frames0 = mmk_hosted_live_frames();
	assert_int_equal(mmk_kmalloc_init(fa), 0);
	shared_cache = mmk_slab_create(fa, "shared", 96, 0, NULL);
	assert_non_null(shared_cache);
	pthread_t t[NTHREADS];
	for (uintptr_t i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, cpu_run, (void *)i);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < NSLOTS; i++) {
		unsigned char *p = atomic_exchange(&slots[i], NULL);
		if (p)
			check_and_free(p);
	}
	assert_int_equal(mmk_slab_check(shared_cache), 0);
	assert_int_equal(mmk_slab_destroy(shared_cache), 0);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_int_equal(mmk_hosted_log_errors(), 0);
	assert_int_equal(mmk_hosted_live_frames(), frames0);
	assert_int_equal(mmk_frames_check(fa), 0);
	mmk_hosted_frames_destroy(fa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cpus_free_each_others_objects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
