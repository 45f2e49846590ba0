/* SPDX-License-Identifier: MIT */
/*
 * Threads playing CPUs on shared spaces, for a bounded time: each one
 * switches between two shared spaces and four of its own, touches pages
 * through its software TLB (faulting them in), and maps, unmaps and
 * protects ranges of the shared spaces, while another CPU may be running
 * them.  Its own spaces are destroyed and made again now and then, so that
 * with 4-bit ASIDs the generation rolls over all the time.  It also forks:
 * a shared space or one of its own into a fresh child (mmk_aspace_clone,
 * while the other threads fault, map and protect the parent), runs the
 * child for a while among its spaces, writes to it, and destroys it; the
 * parent's writes are then copy-on-write faults through the software TLB.
 * Writes to its own spaces and to its child store a stamp in the page, kept
 * in a model (a child of its own space starts from a copy of that space's
 * model): at the end of each round each thread reads every page it knows
 * back through its TLB and compares.  Two of the
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
#define NSPACES (2 + NT * NOWN + NT)
#define UNKNOWN -1

static struct mmk_aspace shared[2];
static struct mmk_aspace own[NT][NOWN];
static pthread_barrier_t bar;
static _Atomic bool round_over;
static _Atomic long total_ops, total_checks;

/* Threads' own spaces and children: what each page should hold (a
 * stamp written through the TLB, 0 for never written, or UNKNOWN). */
static int own_model[NT][NOWN][SPAGES];
static struct mmk_aspace kid[NT];
static bool kid_alive[NT];
static int kid_model[NT][SPAGES];
static _Atomic long total_forks, model_reads, model_bad;

struct thr {
	pthread_t th;
	unsigned t;
	uint64_t rng;
	struct mmk_aspace *cur;
	unsigned kid_ops; /* operations the child has left to live */
	int stamp;	  /* the last one written */
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
	for (unsigned t = 0; t < NT; t++)
		if (kid_alive[t])
			sp[n++] = &kid[t];
	return mmk_hosted_tlb_check(sp, n);
}

static void own_new(struct mmk_aspace *as, int *model)
{
	if (mmk_aspace_create(as, BASE, SIZE, MMK_PT_X86_64_4L, 0, fa) ||
	    mmk_aspace_map_alloc(as, BASE, OPAGES * PG, MMK_PT_RW, false))
		abort();
	for (unsigned p = 0; p < SPAGES; p++)
		model[p] = p < OPAGES ? 0 : UNKNOWN;
}

/* The model of @as if this thread keeps one (its own spaces, its child),
 * else NULL. */
static int *model_of(struct thr *me, struct mmk_aspace *as)
{
	if (as == &kid[me->t])
		return kid_model[me->t];
	for (unsigned i = 0; i < NOWN; i++)
		if (as == &own[me->t][i])
			return own_model[me->t][i];
	return NULL;
}

static void switch_to(struct thr *me, struct mmk_aspace *to)
{
	if (me->cur)
		mmk_aspace_deactivate(me->cur);
	mmk_aspace_activate(to);
	me->cur = to;
}

/* The byte at @va of the space this CPU runs, through its TLB (faulting
 * it in); false if there is no page or it refuses @acc. */
static bool tlb_byte(struct thr *me, mmk_vaddr_t va, uint32_t acc,
		     unsigned char **out)
{
	mmk_paddr_t pa;
	if (mmk_hosted_tlb_touch(me->cur, va, acc) ||
	    mmk_hosted_tlb_access(me->cur, va, acc, &pa))
		return false;
	*out = mmk_phys_to_virt(pa);
	return true;
}

/* A write to a page of a space this thread models: a new stamp there. */
static void write_stamp(struct thr *me, mmk_vaddr_t va)
{
	int *model = model_of(me, me->cur);
	unsigned char *b;
	if (!model || !tlb_byte(me, va, MMK_ACCESS_WRITE, &b))
		return;
	me->stamp = me->stamp % 250 + 1;
	*b = (unsigned char)me->stamp;
	model[(va - BASE) / PG] = me->stamp;
}

/* Every page of @as this thread knows, read back through its TLB. */
static void model_verify(struct thr *me, struct mmk_aspace *as)
{
	int *model = model_of(me, as);
	struct mmk_aspace *was = me->cur;
	switch_to(me, as);
	for (unsigned p = 0; p < SPAGES; p++) {
		unsigned char *b;
		if (model[p] == UNKNOWN)
			continue;
		if (!tlb_byte(me, BASE + p * PG, MMK_ACCESS_READ, &b) ||
		    *b != (unsigned char)model[p]) {
			if (atomic_fetch_add(&model_bad, 1) < 4)
				fprintf(stderr,
					"thread %u: page %u reads wrong\n",
					me->t, p);
			continue;
		}
		atomic_fetch_add(&model_reads, 1);
	}
	switch_to(me, was);
}

static void kid_die(struct thr *me)
{
	if (!kid_alive[me->t])
		return;
	if (me->cur == &kid[me->t])
		switch_to(me, &own[me->t][0]);
	mmk_aspace_destroy(&kid[me->t]);
	kid_alive[me->t] = false;
}

/* Fork a shared space or one of this thread's own into its child. */
static void fork_one(struct thr *me)
{
	if (kid_alive[me->t])
		return;
	unsigned w = (unsigned)rnd(me, 2 + NOWN);
	struct mmk_aspace *p = w < 2 ? &shared[w] : &own[me->t][w - 2];
	struct mmk_aspace *c = &kid[me->t];
	int *pm = model_of(me, p);
	/* A page of its own space this CPU holds writable... */
	mmk_vaddr_t q = BASE + rnd(me, OPAGES) * PG;
	if (pm) {
		switch_to(me, p);
		write_stamp(me, q);
	}
	if (mmk_aspace_create(c, BASE, SIZE, MMK_PT_X86_64_4L, 0, fa))
		abort();
	if (mmk_aspace_clone(p, c))
		abort();
	for (unsigned i = 0; i < SPAGES; i++)
		kid_model[me->t][i] = pm ? pm[i] : UNKNOWN;
	kid_alive[me->t] = true;
	if (pm) {
		/* ...is written again: a copy-on-write fault, unless the
		 * fork left it a stale writable entry (then the child sees
		 * the write, and its model says so at once) */
		write_stamp(me, q);
		model_verify(me, c);
	}
	me->kid_ops = 16 + (unsigned)rnd(me, 256);
	atomic_fetch_add(&total_forks, 1);
}

static void one_op(struct thr *me)
{
	if (kid_alive[me->t] && --me->kid_ops == 0)
		kid_die(me);
	uint64_t k = rnd(me, 100);
	struct mmk_aspace *s = &shared[rnd(me, 2)];
	mmk_vaddr_t va = BASE + rnd(me, SPAGES) * PG;
	uint64_t len = (1 + rnd(me, 8)) * PG;
	if (va + len > BASE + SPAGES * PG)
		len = BASE + SPAGES * PG - va;
	if (k < 15) {
		unsigned w = (unsigned)rnd(me, 3 + NOWN);
		if (w == 2 + NOWN && kid_alive[me->t])
			switch_to(me, &kid[me->t]);
		else if (w < 2 + NOWN)
			switch_to(me, w < 2 ? &shared[w] : &own[me->t][w - 2]);
	} else if (k < 65) {
		bool sh = me->cur == &shared[0] || me->cur == &shared[1];
		unsigned npg = me->cur == &kid[me->t] ? SPAGES
			       : sh		      ? SPAGES
						      : OPAGES;
		mmk_vaddr_t at = BASE + rnd(me, npg) * PG;
		uint32_t acc = rnd(me, 2) ? MMK_ACCESS_WRITE : MMK_ACCESS_READ;
		if (acc == MMK_ACCESS_WRITE && !sh)
			write_stamp(me, at); /* a copy-on-write after forks */
		else
			(void)mmk_hosted_tlb_touch(me->cur, at, acc);
	} else if (k < 70) {
		fork_one(me);
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
		/* (its child, if it has one, lives on) */
		mmk_aspace_destroy(as);
		own_new(as, own_model[me->t][i]);
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
		/* the model, then the check (reads fill TLBs too) */
		for (unsigned i = 0; i < NOWN; i++)
			model_verify(me, &own[me->t][i]);
		if (kid_alive[me->t])
			model_verify(me, &kid[me->t]);
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
	kid_die(me);
	mmk_aspace_deactivate(me->cur);
	return NULL;
}

static void
threads_fault_map_unmap_protect_fork_switch_and_stay_coherent(void **state)
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
			own_new(&own[t][i], own_model[t][i]);
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
	printf("%ld operations, %ld forks, %ld pages read back, %llu "
	       "rollovers, %ld shootdown interrupts\n",
	       atomic_load(&total_ops), atomic_load(&total_forks),
	       atomic_load(&model_reads),
	       (unsigned long long)mmk_tlb_asid_rollovers(),
	       mmk_hosted_tlb_ipis_total());
	assert_int_equal(atomic_load(&total_checks), ROUNDS);
	assert_int_equal(check_all(), 0);
	assert_true(mmk_tlb_asid_rollovers() > 0);
	assert_true(atomic_load(&total_forks) > 0);
	assert_int_equal(atomic_load(&model_bad), 0);
	assert_true(atomic_load(&model_reads) > 0);
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
			threads_fault_map_unmap_protect_fork_switch_and_stay_coherent),
	};
	return cmocka_run_group_tests(tests, machine_setup, machine_teardown);
}
