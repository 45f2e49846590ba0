/* SPDX-License-Identifier: MIT */
/*
 * Threads playing CPUs allocate objects and hand them to each other through
 * shared slots, so most objects are freed on another CPU than the one that
 * allocated them; and one CPU's mmk_slab_shrink reaches the magazines of
 * the others, also while they allocate.  Runs in the normal build and
 * under ThreadSanitizer.
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

/* ------------------------------------------- shrink from another CPU */

enum { SPREAD = 20000, KM_SIZE = 200 };

static struct mmk_slab_cache *spread_cache;
static void *spread[2][SPREAD]; /* [0] from spread_cache, [1] kmalloc */
static pthread_barrier_t phase;
static atomic_int busy; /* workers still in the concurrent phase */

/* Phase 1: allocate and free through the shared slots, while CPU 0
 * shrinks over and over. */
static void spread_churn(uint64_t seed)
{
	for (int step = 0; step < STEPS / 4; step++) {
		uint64_t r = mmk_test_rand(&seed);
		unsigned kind = r % 2;
		unsigned char *p = kind ? mmk_slab_alloc(spread_cache)
					: mmk_kmalloc(KM_SIZE);
		if (!p)
			abort();
		memset(p, (int)kind, 16);
		p[16] = (unsigned char)kind;
		unsigned char *old = atomic_exchange_explicit(
			&slots[(r >> 32) % NSLOTS], p, memory_order_acq_rel);
		if (!old)
			continue;
		if (old[16] == 1)
			mmk_slab_free(spread_cache, old);
		else
			mmk_kfree(old);
	}
}

static void *spread_worker(void *arg)
{
	uintptr_t me = (uintptr_t)arg;
	mmk_hosted_register_cpu();
	spread_churn(me * 104729 + 3);
	atomic_fetch_sub(&busy, 1);
	pthread_barrier_wait(&phase); /* CPU 0 empties the slots, allocates */
	pthread_barrier_wait(&phase);
	/* Phase 2: free our share of CPU 0's objects, all but the last of
	 * each kind, which stays until CPU 0 has shrunk. */
	size_t from = me * SPREAD / NTHREADS, to = (me + 1) * SPREAD / NTHREADS;
	for (size_t i = from; i + 1 < to; i++) {
		mmk_slab_free(spread_cache, spread[0][i]);
		mmk_kfree(spread[1][i]);
	}
	pthread_barrier_wait(&phase);
	pthread_barrier_wait(&phase); /* CPU 0 shrinks */
	/* This CPU's next call on each cache gives its magazine back. */
	mmk_slab_free(spread_cache, spread[0][to - 1]);
	mmk_kfree(spread[1][to - 1]);
	return NULL;
}

static void shrink_on_one_cpu_reaches_every_cpus_magazines(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_log_reset(true);
	fa = mmk_hosted_frames_new();
	long frames0 = mmk_hosted_live_frames();
	assert_int_equal(mmk_kmalloc_init(fa), 0);
	spread_cache = mmk_slab_create(fa, "spread", 128, 0, NULL);
	assert_non_null(spread_cache);
	struct mmk_slab_cache *km = mmk_kmalloc_cache(KM_SIZE);
	long descriptors = mmk_hosted_live_frames();
	pthread_barrier_init(&phase, NULL, NTHREADS + 1);
	atomic_store(&busy, NTHREADS);
	pthread_t t[NTHREADS];
	for (uintptr_t i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, spread_worker, (void *)i);
	/* Shrinking while the others allocate and free is safe. */
	while (atomic_load(&busy) > 0) {
		mmk_slab_shrink(spread_cache);
		mmk_kmalloc_shrink();
	}
	pthread_barrier_wait(&phase);
	for (int i = 0; i < NSLOTS; i++) {
		unsigned char *p = atomic_exchange(&slots[i], NULL);
		if (p && p[16] == 1)
			mmk_slab_free(spread_cache, p);
		else if (p)
			mmk_kfree(p);
	}
	for (int i = 0; i < SPREAD; i++) {
		spread[0][i] = mmk_slab_alloc(spread_cache);
		spread[1][i] = mmk_kmalloc(KM_SIZE);
		assert_non_null(spread[0][i]);
		assert_non_null(spread[1][i]);
	}
	pthread_barrier_wait(&phase);
	pthread_barrier_wait(&phase); /* the others freed nearly all */
	struct mmk_slab_stats st, skm;
	mmk_slab_stats(spread_cache, &st);
	assert_true(st.cached > 0); /* in the other CPUs' magazines */
	mmk_slab_shrink(spread_cache);
	mmk_kmalloc_shrink();
	pthread_barrier_wait(&phase);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&phase);

	/* Every object is back in its slab and every slab with the frame
	 * allocator: only the descriptors are left. */
	mmk_slab_stats(spread_cache, &st);
	mmk_slab_stats(km, &skm);
	assert_int_equal(st.cached, 0);
	assert_int_equal(st.live, 0);
	assert_int_equal(st.slabs, 0);
	assert_int_equal(skm.cached, 0);
	assert_int_equal(skm.live, 0);
	assert_int_equal(skm.slabs, 0);
	mmk_frames_drain(fa); /* the other CPUs stopped: frame caches too */
	assert_int_equal(mmk_hosted_live_frames(), descriptors);
	assert_int_equal(mmk_slab_check(spread_cache), 0);
	assert_int_equal(mmk_slab_check(km), 0);
	assert_int_equal(mmk_slab_destroy(spread_cache), 0);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_int_equal(mmk_hosted_log_errors(), 0);
	assert_int_equal(mmk_hosted_live_frames(), frames0);
	assert_int_equal(mmk_frames_check(fa), 0);
	mmk_hosted_frames_destroy(fa);
}

/* An allocation answers a request too: the magazine goes back and the
 * object comes straight from a slab, so nothing stays cached. */
static void *answer_by_alloc(void *arg)
{
	void **out = arg;
	mmk_hosted_register_cpu();
	void *p[10];
	for (int i = 0; i < 10; i++)
		p[i] = mmk_slab_alloc(spread_cache);
	for (int i = 0; i < 10; i++)
		mmk_slab_free(spread_cache, p[i]);
	pthread_barrier_wait(&phase);
	pthread_barrier_wait(&phase); /* CPU 0 shrinks */
	*out = mmk_slab_alloc(spread_cache);
	pthread_barrier_wait(&phase);
	pthread_barrier_wait(&phase); /* CPU 0 looks */
	mmk_slab_free(spread_cache, *out);
	return NULL;
}

static void an_allocation_answers_a_shrink_request(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_log_reset(true);
	fa = mmk_hosted_frames_new();
	long frames0 = mmk_hosted_live_frames();
	spread_cache = mmk_slab_create(fa, "answer", 64, 0, NULL);
	assert_non_null(spread_cache);
	pthread_barrier_init(&phase, NULL, 2);
	void *obj = NULL;
	pthread_t t;
	pthread_create(&t, NULL, answer_by_alloc, &obj);
	pthread_barrier_wait(&phase);
	struct mmk_slab_stats st;
	mmk_slab_stats(spread_cache, &st);
	assert_true(st.cached > 0);
	assert_int_equal(st.live, 0);
	mmk_slab_shrink(spread_cache);
	pthread_barrier_wait(&phase);
	pthread_barrier_wait(&phase); /* the other CPU allocated once */
	mmk_slab_stats(spread_cache, &st);
	assert_non_null(obj);
	assert_int_equal(st.cached, 0);
	assert_int_equal(st.live, 1);
	assert_int_equal(st.slabs, 1);
	assert_int_equal(mmk_slab_check(spread_cache), 0);
	pthread_barrier_wait(&phase);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&phase);
	mmk_slab_stats(spread_cache, &st);
	assert_int_equal(st.live, 0);
	assert_int_equal(mmk_slab_destroy(spread_cache), 0);
	assert_int_equal(mmk_hosted_log_errors(), 0);
	assert_int_equal(mmk_hosted_live_frames(), frames0);
	mmk_hosted_frames_destroy(fa);
}

static void *shrink_from_elsewhere(void *arg)
{
	mmk_hosted_register_cpu();
	mmk_slab_shrink(arg);
	return NULL;
}

/* Another CPU's shrink asks for CPU 0's magazine; CPU 0's next allocation
 * gives it back and then finds no frame for a new slab: NULL, nothing
 * kept, and the next allocation works. */
static void an_answer_that_runs_out_of_memory_keeps_nothing(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_log_reset(true);
	fa = mmk_hosted_frames_new();
	long frames0 = mmk_hosted_live_frames();
	struct mmk_slab_cache *c = mmk_slab_create(fa, "oom", 96, 0, NULL);
	assert_non_null(c);
	long descriptors = mmk_hosted_live_frames();
	void *p = mmk_slab_alloc(c);
	mmk_slab_free(c, p); /* the magazine holds the whole batch */
	pthread_t t;
	pthread_create(&t, NULL, shrink_from_elsewhere, c);
	pthread_join(t, NULL);
	mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
	assert_null(mmk_slab_alloc(c));
	mmk_hosted_fail_off();
	struct mmk_slab_stats st;
	mmk_slab_stats(c, &st);
	assert_int_equal(st.slabs, 0);
	assert_int_equal(st.cached, 0);
	assert_int_equal(mmk_hosted_live_frames(), descriptors);
	assert_int_equal(mmk_slab_check(c), 0);
	p = mmk_slab_alloc(c);
	assert_non_null(p);
	mmk_slab_free(c, p);
	assert_int_equal(mmk_slab_destroy(c), 0);
	assert_int_equal(mmk_hosted_log_errors(), 0);
	assert_int_equal(mmk_hosted_live_frames(), frames0);
	mmk_hosted_frames_destroy(fa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cpus_free_each_others_objects),
		cmocka_unit_test(
			shrink_on_one_cpu_reaches_every_cpus_magazines),
		cmocka_unit_test(an_allocation_answers_a_shrink_request),
		cmocka_unit_test(
			an_answer_that_runs_out_of_memory_keeps_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
