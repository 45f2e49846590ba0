/* SPDX-License-Identifier: MIT */
/*
 * TLB shootdown on a simulated machine of 64 CPUs (ids played by one
 * thread): a space runs on k of them, each holding its pages in its
 * software TLB; every change must reach exactly the CPUs that may cache
 * the space, once, and the software-TLB check must then find nothing
 * stale.  The check is shown able to fail: a flush dropped on purpose
 * (mmk_hosted_tlb_drop_next) is caught.
 */
#include "tlb_test.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

static struct mmk_aspace as, other;

static void check_clean(void)
{
	struct mmk_aspace *sp[] = {&as, &other};
	assert_int_equal(mmk_hosted_tlb_check(sp, 2), 0);
}

/* @as active on CPUs [first, first + k), each with @npages pages cached. */
static void run_on(unsigned first, unsigned k, unsigned npages)
{
	for (unsigned c = first; c < first + k; c++) {
		cpu_switch(c, NULL, &as);
		for (unsigned p = 0; p < npages; p++)
			cpu_touch(c, &as, BASE + p * PG, MMK_ACCESS_WRITE);
	}
}

static void stop_on(unsigned first, unsigned k)
{
	for (unsigned c = first; c < first + k; c++) {
		int old = mmk_hosted_set_cpu(c);
		mmk_aspace_deactivate(&as);
		mmk_hosted_set_cpu((unsigned)old);
	}
}

static int per_test_setup(void **state)
{
	(void)state;
	machine_reset(12);
	space_new(&as);
	space_new(&other);
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE, 16 * PG, MMK_PT_RW, true), 0);
	return 0;
}

static int per_test_teardown(void **state)
{
	(void)state;
	mmk_hosted_set_cpu(0);
	for (unsigned c = 0; c < NCPU; c++) {
		mmk_hosted_set_cpu(c);
		mmk_aspace_deactivate(&as);
		mmk_aspace_deactivate(&other);
	}
	mmk_hosted_set_cpu(0);
	mmk_aspace_destroy(&as);
	mmk_aspace_destroy(&other);
	return 0;
}

static void unmap_interrupts_exactly_the_k_minus_1_other_cpus(void **state)
{
	(void)state;
	static const unsigned ks[] = {1, 2, 3, 8, 33, 64};
	unsigned done = 0;
	for (size_t i = 0; i < MMK_ARRAY_SIZE(ks); i++) {
		unsigned k = ks[i];
		run_on(0, k, 4);
		mmk_hosted_tlb_count_reset();
		/* CPU 0, one of the k, unmaps one page */
		assert_int_equal(mmk_aspace_unmap(&as, BASE + done * PG, PG),
				 0);
		assert_int_equal(mmk_hosted_tlb_ipis_total(), k - 1);
		for (unsigned c = 0; c < NCPU; c++)
			assert_int_equal(mmk_hosted_tlb_ipis(c),
					 c > 0 && c < k ? 1 : 0);
		assert_int_equal(mmk_hosted_tlb_local_flushes(0), 1);
		assert_int_equal(mmk_hosted_tlb_useless(), 0);
		/* one request, one range */
		assert_int_equal(mmk_hosted_flush_count(), 1);
		for (unsigned c = 0; c < k; c++)
			assert_false(cpu_cached(c, BASE + done * PG,
						MMK_ACCESS_READ));
		check_clean();
		stop_on(0, k);
		done++;
		/* the pages are mapped again for the next k */
		assert_int_equal(mmk_aspace_map_alloc(&as,
						      BASE + (done - 1) * PG,
						      PG, MMK_PT_RW, true),
				 0);
	}
}

static void an_initiator_not_running_the_space_interrupts_all_k(void **state)
{
	(void)state;
	run_on(10, 5, 2);
	mmk_hosted_tlb_count_reset();
	mmk_hosted_set_cpu(63); /* a CPU that never ran it */
	assert_int_equal(mmk_aspace_protect(&as, BASE, 16 * PG, MMK_PT_READ),
			 0);
	assert_int_equal(mmk_hosted_tlb_ipis_total(), 5);
	assert_int_equal(mmk_hosted_tlb_local_flushes(63), 0);
	assert_int_equal(mmk_hosted_tlb_useless(), 0);
	for (unsigned c = 10; c < 15; c++) {
		assert_false(cpu_cached(c, BASE, MMK_ACCESS_WRITE));
		mmk_hosted_set_cpu(c);
		mmk_paddr_t pa;
		assert_int_equal(
			mmk_hosted_tlb_access(&as, BASE, MMK_ACCESS_WRITE, &pa),
			MMK_EFAULT);
		assert_int_equal(
			mmk_hosted_tlb_access(&as, BASE, MMK_ACCESS_READ, &pa),
			0);
	}
	mmk_hosted_set_cpu(0);
	check_clean();
}

static void a_space_never_run_gets_no_flush(void **state)
{
	(void)state;
	mmk_hosted_tlb_count_reset();
	assert_int_equal(mmk_aspace_unmap(&as, BASE, 16 * PG), 0);
	assert_int_equal(mmk_hosted_flush_count(), 0);
	assert_int_equal(mmk_hosted_tlb_ipis_total(), 0);
	assert_int_equal(mmk_hosted_tlb_local_flushes(0), 0);
}

static void adding_mappings_flushes_nothing(void **state)
{
	(void)state;
	run_on(0, 4, 2);
	mmk_hosted_tlb_count_reset();
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 32 * PG, 8 * PG,
					      MMK_PT_RW, true),
			 0);
	assert_int_equal(mmk_aspace_protect(&as, BASE, 16 * PG, MMK_PT_RWX), 0);
	assert_int_equal(mmk_hosted_tlb_ipis_total(), 0);
	assert_int_equal(mmk_hosted_flush_count(), 0);
	check_clean();
}

static void a_cpu_that_switched_away_still_gets_the_flush(void **state)
{
	(void)state;
	run_on(0, 3, 4);
	/* CPU 2 switches to another space: under ASIDs it keeps @as's
	 * entries, so it stays a target */
	cpu_switch(2, &as, &other);
	assert_false(mmk_cpumask_test(&as.tlb.active, 2));
	assert_true(mmk_cpumask_test(&as.tlb.cached, 2));
	mmk_hosted_tlb_count_reset();
	assert_int_equal(mmk_aspace_unmap(&as, BASE, 2 * PG), 0);
	assert_int_equal(mmk_hosted_tlb_ipis(1), 1);
	assert_int_equal(mmk_hosted_tlb_ipis(2), 1);
	assert_int_equal(mmk_hosted_tlb_ipis_total(), 2);
	assert_int_equal(mmk_hosted_tlb_useless(), 0);
	check_clean();
	/* back on @as: its remaining entries are still good (no flush on
	 * the switch), the unmapped ones gone */
	mmk_hosted_tlb_count_reset();
	cpu_switch(2, &other, &as);
	assert_int_equal(mmk_hosted_tlb_local_flushes(2), 0);
	assert_true(cpu_cached(2, BASE + 3 * PG, MMK_ACCESS_WRITE));
	assert_false(cpu_cached(2, BASE, MMK_ACCESS_READ));
}

static void with_a_fixed_asid_switching_away_flushes_and_leaves(void **state)
{
	(void)state;
	/* the allocator off: every space is ASID 0 */
	per_test_teardown(state);
	machine_reset(0);
	space_new(&as);
	space_new(&other);
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE, 16 * PG, MMK_PT_RW, true), 0);
	run_on(0, 3, 4);
	mmk_hosted_tlb_count_reset();
	cpu_switch(2, &as, &other);
	assert_int_equal(mmk_hosted_tlb_local_flushes(2), 1);
	assert_false(mmk_cpumask_test(&as.tlb.cached, 2));
	check_clean();
	mmk_hosted_tlb_count_reset();
	assert_int_equal(mmk_aspace_unmap(&as, BASE, PG), 0);
	assert_int_equal(mmk_hosted_tlb_ipis_total(), 1); /* CPU 1 only */
	assert_int_equal(mmk_hosted_tlb_ipis(1), 1);
	assert_int_equal(mmk_hosted_tlb_useless(), 0);
	check_clean();
}

static void the_check_catches_a_missed_flush(void **state)
{
	(void)state;
	run_on(0, 4, 4);
	mmk_hosted_tlb_drop_next(-1); /* the next shootdown reaches no CPU */
	assert_int_equal(mmk_aspace_unmap(&as, BASE, PG), 0);
	struct mmk_aspace *sp[] = {&as, &other};
	/* all four CPUs still hold the unmapped page */
	assert_int_equal(mmk_hosted_tlb_check(sp, 2), 4);
	assert_true(cpu_cached(3, BASE, MMK_ACCESS_WRITE));
}

static void the_check_catches_a_misdirected_flush(void **state)
{
	(void)state;
	run_on(0, 4, 4);
	mmk_hosted_tlb_drop_next(2); /* CPU 2 never gets it */
	assert_int_equal(mmk_aspace_protect(&as, BASE, 4 * PG, MMK_PT_READ), 0);
	struct mmk_aspace *sp[] = {&as, &other};
	/* CPU 2 still may write the four pages */
	assert_int_equal(mmk_hosted_tlb_check(sp, 2), 4);
	assert_true(cpu_cached(2, BASE + PG, MMK_ACCESS_WRITE));
	assert_false(cpu_cached(1, BASE + PG, MMK_ACCESS_WRITE));
}

static void the_check_catches_a_flush_left_out_on_switch(void **state)
{
	(void)state;
	/* a CPU that left @as, missed the flush while away, and comes
	 * back: its stale entry is usable again, and the check says so */
	run_on(0, 2, 2);
	cpu_switch(1, &as, &other);
	mmk_hosted_tlb_drop_next(1);
	assert_int_equal(mmk_aspace_unmap(&as, BASE, PG), 0);
	struct mmk_aspace *sp[] = {&as, &other};
	assert_int_equal(mmk_hosted_tlb_check(sp, 2), 1);
}

static void destroy_flushes_its_asid_where_it_may_be_cached(void **state)
{
	(void)state;
	struct mmk_aspace t;
	space_new(&t);
	assert_int_equal(
		mmk_aspace_map_alloc(&t, BASE, 4 * PG, MMK_PT_RW, true), 0);
	cpu_switch(5, NULL, &t);
	cpu_touch(5, &t, BASE, MMK_ACCESS_WRITE);
	cpu_switch(5, &t, &other);
	mmk_hosted_tlb_count_reset();
	mmk_aspace_destroy(&t);
	/* the unmap of everything and the release both reach CPU 5 only */
	assert_true(mmk_hosted_tlb_ipis(5) >= 1);
	assert_int_equal(mmk_hosted_tlb_ipis_total(), mmk_hosted_tlb_ipis(5));
	struct mmk_hosted_tlbe e[MMK_HOSTED_TLB_ENTRIES];
	size_t n = mmk_hosted_tlb_entries(5, e);
	for (size_t i = 0; i < n; i++)
		assert_true(e[i].root.v != mmk_aspace_pt(&t)->root.v);
}

/* ------------------------------------------ the order of a shootdown */

static _Atomic int remote_cpu = -1;
static _Atomic bool remote_go, remote_stop;

/* A CPU taking interrupts that holds the page in its TLB and answers its
 * mailbox only once told to. */
static void *remote_main(void *p)
{
	(void)p;
	unsigned me = mmk_hosted_register_cpu();
	mmk_hosted_ipi_serve(true);
	mmk_aspace_activate(&as);
	assert_int_equal(mmk_hosted_tlb_touch(&as, BASE, MMK_ACCESS_WRITE), 0);
	atomic_store(&remote_cpu, (int)me);
	while (!atomic_load(&remote_go))
		sched_yield(); /* interrupts "masked": no poll */
	while (!atomic_load(&remote_stop))
		mmk_hosted_ipi_poll();
	mmk_aspace_deactivate(&as);
	mmk_hosted_ipi_serve(false);
	return NULL;
}

static _Atomic bool overlap_seen;

/* Watches CPU 0's unmap: its local flush must be done while the remote
 * CPU still holds the page (its request sent, not answered). */
static void *watch_main(void *p)
{
	(void)p;
	unsigned r = (unsigned)atomic_load(&remote_cpu);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (mmk_hosted_tlb_local_flushes(0) == 1 &&
		    mmk_hosted_tlb_ipis(r) == 1 &&
		    cpu_cached(r, BASE, MMK_ACCESS_WRITE)) {
			atomic_store(&overlap_seen, true);
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 5)
			break; /* it waited before flushing: fail, but end */
		sched_yield();
	}
	atomic_store(&remote_go, true);
	return NULL;
}

static void a_shootdown_sends_flushes_locally_then_waits(void **state)
{
	(void)state;
	pthread_t rt, wt;
	atomic_store(&remote_cpu, -1);
	atomic_store(&remote_go, false);
	atomic_store(&remote_stop, false);
	atomic_store(&overlap_seen, false);
	cpu_switch(0, NULL, &as);
	cpu_touch(0, &as, BASE, MMK_ACCESS_WRITE);
	pthread_create(&rt, NULL, remote_main, NULL);
	while (atomic_load(&remote_cpu) < 0)
		sched_yield();
	mmk_hosted_tlb_count_reset();
	pthread_create(&wt, NULL, watch_main, NULL);
	mmk_hosted_set_cpu(0);
	assert_int_equal(mmk_aspace_unmap(&as, BASE, PG), 0);
	/* returned only once the remote CPU answered */
	unsigned r = (unsigned)atomic_load(&remote_cpu);
	assert_false(cpu_cached(r, BASE, MMK_ACCESS_READ));
	pthread_join(wt, NULL);
	atomic_store(&remote_stop, true);
	pthread_join(rt, NULL);
	assert_true(atomic_load(&overlap_seen));
	assert_true(mmk_hosted_tlb_serve_ns(r) > 0);
	check_clean();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f)                                                                   \
	cmocka_unit_test_setup_teardown(f, per_test_setup, per_test_teardown)
		T(unmap_interrupts_exactly_the_k_minus_1_other_cpus),
		T(an_initiator_not_running_the_space_interrupts_all_k),
		T(a_space_never_run_gets_no_flush),
		T(adding_mappings_flushes_nothing),
		T(a_cpu_that_switched_away_still_gets_the_flush),
		T(with_a_fixed_asid_switching_away_flushes_and_leaves),
		T(the_check_catches_a_missed_flush),
		T(the_check_catches_a_misdirected_flush),
		T(the_check_catches_a_flush_left_out_on_switch),
		T(destroy_flushes_its_asid_where_it_may_be_cached),
		T(a_shootdown_sends_flushes_locally_then_waits),
#undef T
	};
	return cmocka_run_group_tests(tests, machine_setup, machine_teardown);
}
