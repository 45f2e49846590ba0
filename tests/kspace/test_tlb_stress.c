/* SPDX-License-Identifier: MIT */
/*
 * Threads playing CPUs on shared spaces, for a bounded time: each one
 * switches between two shared spaces and four of its own, touches pages
 * through its software TLB (faulting them in), and maps, unmaps and
 * protects ranges of the shared spaces, while another CPU may be running
 * them.  Its own spaces are destroyed and made again now and then, so that
 * with 4-bit ASIDs the generation rolls over all the time.  Two of the
 * CPUs answer shootdowns from their mailbox (as CPUs taking interrupts),
 * two have them done for them.  In rounds: after each, every thread stops
 * and the software-TLB check must find no CPU holding a translation the
 * tables no longer allow; at the end, every frame and object comes back.
 * Built again under ThreadSanitizer (label tsan).
 *
 * MMK_STRESS_MS sets the duration (default 2000 ms).
 */
#include "tlb_test.h"

#include <pthread.h>
#include <time.h>

#define NT	4
#define NOWN	4
#define SPAGES	64 /* pages of each shared space's region */
#define OPAGES	8
#define ROUNDS	8
#define NSPACES (2 + NT * NOWN)

static struct mmk_aspace shared[2];
static struct mmk_aspace own[NT][NOWN];
static pthread_barrier_t bar;
static _Atomic bool round_over;
static _Atomic long total_ops, total_checks;

struct thr {
	pthread_t th;
	unsigned t;
	uint64_t rng;
	struct mmk_aspace *cur;
};

static struct thr thr[NT];

static uint64_t rnd(struct thr *me, uint64_t n)
{
	return mmk_test_rand(&me->rng) % n;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static long check_all(void)
{
	struct mmk_aspace *sp[NSPACES];
	size_t n = 0;
	sp[n++] = &shared[0];
	sp[n++] = &shared[1];
	for (unsigned t = 0; t < NT; t++)
		for (unsigned i = 0; i < NOWN; i++)
			sp[n++] = &own[t][i];
	return mmk_hosted_tlb_check(sp, n);
}

static void own_new(struct mmk_aspace *as)
{
	if (mmk_aspace_create(as, BASE, SIZE, MMK_PT_X86_64_4L, 0, fa) ||
	    mmk_aspace_map_alloc(as, BASE, OPAGES * PG, MMK_PT_RW, false))
		abort();
}

static void switch_to(struct thr *me, struct mmk_aspace *to)
{
	if (me->cur)
		mmk_aspace_deactivate(me->cur);
	mmk_aspace_activate(to);
	me->cur = to;
}

static void one_op(struct thr *me)
{
	uint64_t k = rnd(me, 100);
	struct mmk_aspace *s = &shared[rnd(me, 2)];
	mmk_vaddr_t va = BASE + rnd(me, SPAGES) * PG;
	uint64_t len = (1 + rnd(me, 8)) * PG;
	if (va + len > BASE + SPAGES * PG)
		len = BASE + SPAGES * PG - va;
	if (k < 15) {
		unsigned w = (unsigned)rnd(me, 2 + NOWN);
		switch_to(me, w < 2 ? &shared[w] : &own[me->t][w - 2]);
	} else if (k < 65) {
		bool own_space = me->cur != &shared[0] && me->cur != &shared[1];
		mmk_vaddr_t at =
			BASE + rnd(me, own_space ? OPAGES : SPAGES) * PG;
		uint32_t acc = rnd(me, 2) ? MMK_ACCESS_WRITE : MMK_ACCESS_READ;
		(void)mmk_hosted_tlb_touch(me->cur, at, acc); /* may fault */
	} else if (k < 77) {
		(void)mmk_aspace_map_alloc(s, va, len, MMK_PT_RW, rnd(me, 2));
	} else if (k < 87) {
		if (mmk_aspace_unmap(s, va, len))
			abort();
	} else if (k < 97) {
		static const uint32_t fl[] = {MMK_PT_READ, MMK_PT_RW, 0};
		int err = mmk_aspace_protect(s, va, len, fl[rnd(me, 3)]);
		if (err)
			abort();
	} else {
		/* a space of its own dies and is made again (its ASID back) */
		unsigned i = (unsigned)rnd(me, NOWN);
		struct mmk_aspace *as = &own[me->t][i];
		if (as == me->cur)
			return;
		mmk_aspace_destroy(as);
		own_new(as);
	}
	atomic_fetch_add(&total_ops, 1);
}

static void *thread_main(void *p)
{
	struct thr *me = p;
	mmk_hosted_register_cpu();
	bool serve = me->t < 2;
	unsigned ms = 2000;
	const char *e = getenv("MMK_STRESS_MS");
	if (e)
		ms = (unsigned)strtoul(e, NULL, 10);
	switch_to(me, &shared[me->t % 2]);
	for (unsigned round = 0; round < ROUNDS; round++) {
		mmk_hosted_ipi_serve(serve);
		uint64_t end = now_ms() + ms / ROUNDS;
		while (!atomic_load(&round_over)) {
			for (int i = 0; i < 16; i++) {
				one_op(me);
				if (serve)
					mmk_hosted_ipi_poll();
			}
			if (me->t == 0 && now_ms() >= end)
				atomic_store(&round_over, true);
		}
		/* stop answering from the mailbox (what is left is taken
		 * back by its senders), then wait for everyone */
		mmk_hosted_ipi_serve(false);
		pthread_barrier_wait(&bar);
		if (me->t == 0) {
			long bad = check_all();
			if (bad)
				fprintf(stderr, "round %u: %ld stale\n", round,
					bad);
			atomic_fetch_add(&total_checks, bad ? 1000000 : 1);
			atomic_store(&round_over, false);
		}
		pthread_barrier_wait(&bar);
	}
	mmk_aspace_deactivate(me->cur);
	return NULL;
}

static void
threads_fault_map_unmap_protect_switch_and_stay_coherent(void **state)
{
	(void)state;
	/* 4-bit ASIDs for 8 CPUs: 15 numbers for 18 spaces */
	mmk_hosted_set_cpu(0);
	assert_int_equal(mmk_tlb_asid_init(4, 8), 0);
	mmk_hosted_tlb_reset();
	long frames0 = mmk_hosted_live_frames();
	long objs0 = mmk_hosted_live_objs();
	for (int i = 0; i < 2; i++) {
		space_new(&shared[i]);
		assert_int_equal(mmk_aspace_map_alloc(&shared[i], BASE,
						      SPAGES * PG, MMK_PT_RW,
						      false),
				 0);
	}
	for (unsigned t = 0; t < NT; t++)
		for (unsigned i = 0; i < NOWN; i++)
			own_new(&own[t][i]);
	pthread_barrier_init(&bar, NULL, NT);
	for (unsigned t = 0; t < NT; t++) {
		thr[t].t = t;
		thr[t].rng = mmk_test_seed(0x5eed) + t * 7919;
		thr[t].cur = NULL;
		pthread_create(&thr[t].th, NULL, thread_main, &thr[t]);
	}
	for (unsigned t = 0; t < NT; t++)
		pthread_join(thr[t].th, NULL);
	pthread_barrier_destroy(&bar);
	printf("%ld operations, %llu rollovers, %ld shootdown interrupts\n",
	       atomic_load(&total_ops),
	       (unsigned long long)mmk_tlb_asid_rollovers(),
	       mmk_hosted_tlb_ipis_total());
	assert_int_equal(atomic_load(&total_checks), ROUNDS);
	assert_int_equal(check_all(), 0);
	assert_true(mmk_tlb_asid_rollovers() > 0);
	assert_true(mmk_hosted_tlb_ipis_total() > 0);
	for (int i = 0; i < 2; i++)
		mmk_aspace_destroy(&shared[i]);
	for (unsigned t = 0; t < NT; t++)
		for (unsigned i = 0; i < NOWN; i++)
			mmk_aspace_destroy(&own[t][i]);
	assert_int_equal(mmk_hosted_live_frames(), frames0);
	assert_int_equal(mmk_hosted_live_objs(), objs0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			threads_fault_map_unmap_protect_switch_and_stay_coherent),
	};
	return cmocka_run_group_tests(tests, machine_setup, machine_teardown);
}
