/* SPDX-License-Identifier: MIT */
/*
 * The TLB rules over fork and copy-on-write, on a simulated machine of 64
 * CPUs (ids played by one thread): a fork flushes the parent once, on
 * exactly the CPUs that may cache it, and the child never; a copy-on-write
 * fault flushes only where the faulting space may be cached; under ASIDs
 * the child's first activation flushes nothing.  The software-TLB check
 * is shown to catch a fork whose parent flush was dropped.
 */
#include "tlb_test.h"

#include <mmk_hosted_pager.h>

#define NPAGES 8

static struct mmk_aspace parent, child;

static void check_clean(void)
{
	struct mmk_aspace *sp[] = {&parent, &child};
	assert_int_equal(mmk_hosted_tlb_check(sp, 2), 0);
}

/* @as active on CPUs [first, first + k), each with its first @npages
 * pages cached for @access. */
static void run_on(struct mmk_aspace *as, unsigned first, unsigned k,
		   unsigned npages, uint32_t access)
{
	for (unsigned c = first; c < first + k; c++) {
		cpu_switch(c, NULL, as);
		for (unsigned p = 0; p < npages; p++)
			cpu_touch(c, as, BASE + p * PG, access);
	}
}

static void stop_all(struct mmk_aspace *as)
{
	int old = mmk_hosted_set_cpu(0);
	for (unsigned c = 0; c < NCPU; c++) {
		mmk_hosted_set_cpu(c);
		mmk_aspace_deactivate(as);
	}
	mmk_hosted_set_cpu((unsigned)old);
}

static void mask_of(mmk_cpumask_t *m, unsigned first, unsigned k)
{
	__builtin_memset(m, 0, sizeof(*m));
	for (unsigned c = first; c < first + k; c++)
		m->bits[c / 64] |= (uint64_t)1 << (c % 64);
}

static bool mask_eq(const mmk_cpumask_t *a, const mmk_cpumask_t *b)
{
	return __builtin_memcmp(a, b, sizeof(*a)) == 0;
}

static int per_test_setup(void **state)
{
	(void)state;
	machine_reset(12);
	space_new(&parent);
	space_new(&child);
	assert_int_equal(mmk_aspace_map_alloc(&parent, BASE, NPAGES * PG,
					      MMK_PT_RW, true),
			 0);
	return 0;
}

static int per_test_teardown(void **state)
{
	(void)state;
	stop_all(&parent);
	stop_all(&child);
	mmk_hosted_set_cpu(0);
	mmk_aspace_destroy(&child);
	mmk_aspace_destroy(&parent);
	return 0;
}

static void
fork_flushes_the_parent_once_on_its_k_cpus_never_the_child(void **state)
{
	(void)state;
	static const unsigned ks[] = {1, 2, 3, 8, 33, 64};
	for (size_t i = 0; i < MMK_ARRAY_SIZE(ks); i++) {
		unsigned k = ks[i];
		run_on(&parent, 0, k, 4, MMK_ACCESS_WRITE);
		mmk_hosted_tlb_count_reset();
		/* CPU 0, one of the k, forks */
		assert_int_equal(mmk_aspace_clone(&parent, &child), 0);
		assert_int_equal(mmk_hosted_flush_count(), 1);
		struct mmk_hosted_flush f;
		mmk_hosted_flush_get(0, &f);
		mmk_cpumask_t want;
		mask_of(&want, 0, k);
		assert_true(mask_eq(&f.cpus, &want));
		assert_int_equal(f.asid, mmk_tlb_ctx_asid(&parent.tlb));
		assert_int_equal(mmk_hosted_tlb_ipis_total(), k - 1);
		for (unsigned c = 0; c < NCPU; c++)
			assert_int_equal(mmk_hosted_tlb_ipis(c),
					 c > 0 && c < k ? 1 : 0);
		assert_int_equal(mmk_hosted_tlb_local_flushes(0), 1);
		assert_int_equal(mmk_hosted_tlb_useless(), 0);
		for (unsigned c = 0; c < k; c++)
			assert_false(cpu_cached(c, BASE, MMK_ACCESS_WRITE));
		check_clean();
		/* the child, active nowhere, dies: no flush */
		mmk_aspace_destroy(&child);
		assert_int_equal(mmk_hosted_flush_count(), 1);
		space_new(&child);
		stop_all(&parent);
	}
}

static void
a_fork_from_a_cpu_not_running_the_parent_interrupts_all_k(void **state)
{
	(void)state;
	run_on(&parent, 20, 5, 3, MMK_ACCESS_WRITE);
	mmk_hosted_tlb_count_reset();
	mmk_hosted_set_cpu(63);
	assert_int_equal(mmk_aspace_clone(&parent, &child), 0);
	mmk_hosted_set_cpu(0);
	assert_int_equal(mmk_hosted_flush_count(), 1);
	assert_int_equal(mmk_hosted_tlb_ipis_total(), 5);
	assert_int_equal(mmk_hosted_tlb_local_flushes(63), 0);
	assert_int_equal(mmk_hosted_tlb_useless(), 0);
	check_clean();
}

static void a_fork_of_a_parent_cached_nowhere_flushes_nothing(void **state)
{
	(void)state;
	mmk_hosted_tlb_count_reset();
	assert_int_equal(mmk_aspace_clone(&parent, &child), 0);
	assert_int_equal(mmk_hosted_flush_count(), 0);
	mmk_aspace_destroy(&child);
	assert_int_equal(mmk_hosted_flush_count(), 0);
	space_new(&child);
}

/* Under ASIDs a CPU that ran the parent and switched away still caches
 * it: the fork's flush reaches it too, and only it. */
static void
a_fork_flushes_a_cpu_that_switched_away_from_the_parent(void **state)
{
	(void)state;
	struct mmk_aspace other;
	space_new(&other);
	run_on(&parent, 7, 1, 4, MMK_ACCESS_WRITE);
	cpu_switch(7, &parent, &other);
	mmk_hosted_tlb_count_reset();
	assert_int_equal(mmk_aspace_clone(&parent, &child), 0);
	assert_int_equal(mmk_hosted_flush_count(), 1);
	assert_int_equal(mmk_hosted_tlb_ipis_total(), 1);
	assert_int_equal(mmk_hosted_tlb_ipis(7), 1);
	assert_int_equal(mmk_hosted_tlb_useless(), 0);
	struct mmk_aspace *sp[] = {&parent, &child, &other};
	assert_int_equal(mmk_hosted_tlb_check(sp, 3), 0);
	stop_all(&other);
	mmk_aspace_destroy(&other);
}

static void
the_childs_first_activation_flushes_nothing_under_asids(void **state)
{
	(void)state;
	run_on(&parent, 0, 4, 4, MMK_ACCESS_WRITE);
	assert_int_equal(mmk_aspace_clone(&parent, &child), 0);
	mmk_hosted_tlb_count_reset();
	/* CPUs 1..3 switch from the parent to the child, 4..9 start on it */
	for (unsigned c = 1; c < 4; c++)
		cpu_switch(c, &parent, &child);
	for (unsigned c = 4; c < 10; c++)
		cpu_switch(c, NULL, &child);
	assert_int_equal(mmk_hosted_flush_count(), 0);
	for (unsigned c = 0; c < NCPU; c++)
		assert_int_equal(mmk_hosted_tlb_local_flushes(c), 0);
	assert_int_equal(mmk_hosted_tlb_ipis_total(), 0);
	/* the child reads what the parent wrote, through its own ASID */
	for (unsigned c = 1; c < 10; c++)
		cpu_touch(c, &child, BASE, MMK_ACCESS_READ);
	check_clean();
}

/*
 * The parent on CPUs 0..k-1, the child on 40..42, every one holding page
 * 0 read-only (after the fork).  A write fault in the child flushes the
 * child's CPUs only; then one in the parent (now the page's only owner)
 * flushes the parent's only.
 */
static void a_cow_fault_flushes_only_where_the_space_may_be_cached(void **state)
{
	(void)state;
	const unsigned k = 5;
	run_on(&parent, 0, k, 1, MMK_ACCESS_WRITE);
	assert_int_equal(mmk_aspace_clone(&parent, &child), 0);
	run_on(&child, 40, 3, 1, MMK_ACCESS_READ);
	for (unsigned c = 0; c < k; c++)
		cpu_touch(c, &parent, BASE, MMK_ACCESS_READ);
	check_clean();
	mmk_hosted_tlb_count_reset();
	cpu_touch(41, &child, BASE, MMK_ACCESS_WRITE);
	check_clean();
	mmk_cpumask_t kids, par;
	mask_of(&kids, 40, 3);
	mask_of(&par, 0, k);
	for (size_t i = 0; i < mmk_hosted_flush_count(); i++) {
		struct mmk_hosted_flush f;
		mmk_hosted_flush_get(i, &f);
		assert_true(mask_eq(&f.cpus, &kids));
	}
	assert_true(mmk_hosted_flush_count() >= 1);
	for (unsigned c = 0; c < NCPU; c++)
		assert_int_equal(mmk_hosted_tlb_ipis(c),
				 c == 40 || c == 42 ? 1 : 0);
	assert_int_equal(mmk_hosted_tlb_useless(), 0);
	for (unsigned c = 40; c < 43; c++)
		assert_false(cpu_cached(c, BASE, MMK_ACCESS_READ) && c != 41);
	/* the parent's write: its own page now, wherever it is cached */
	mmk_hosted_tlb_count_reset();
	cpu_touch(2, &parent, BASE, MMK_ACCESS_WRITE);
	check_clean();
	for (size_t i = 0; i < mmk_hosted_flush_count(); i++) {
		struct mmk_hosted_flush f;
		mmk_hosted_flush_get(i, &f);
		assert_true(mask_eq(&f.cpus, &par));
	}
	for (unsigned c = 40; c < 43; c++)
		assert_int_equal(mmk_hosted_tlb_ipis(c), 0);
	assert_int_equal(mmk_hosted_tlb_useless(), 0);
	/* the two spaces see different bytes at BASE */
	mmk_paddr_t pp, pc;
	mmk_hosted_set_cpu(2);
	assert_int_equal(
		mmk_hosted_tlb_access(&parent, BASE, MMK_ACCESS_READ, &pp), 0);
	mmk_hosted_set_cpu(41);
	assert_int_equal(
		mmk_hosted_tlb_access(&child, BASE, MMK_ACCESS_READ, &pc), 0);
	mmk_hosted_set_cpu(0);
	assert_true(pp.v != pc.v);
}

/* What the dropped flush should have done, on CPUs [0, n). */
static void flush_by_hand(unsigned n)
{
	for (unsigned c = 0; c < n; c++) {
		int old = mmk_hosted_set_cpu(c);
		mmk_tlb_local_all(mmk_tlb_ctx_asid(&parent.tlb));
		mmk_hosted_set_cpu((unsigned)old);
	}
}

/* The check can fail: a fork whose parent flush never reaches a CPU
 * leaves that CPU writing to a page the child shares. */
static void the_check_catches_a_fork_without_its_parent_flush(void **state)
{
	(void)state;
	run_on(&parent, 0, 3, 4, MMK_ACCESS_WRITE);
	mmk_hosted_tlb_drop_next(-1);
	assert_int_equal(mmk_aspace_clone(&parent, &child), 0);
	struct mmk_aspace *sp[] = {&parent, &child};
	/* 3 CPUs x 4 pages still writable */
	assert_int_equal(mmk_hosted_tlb_check(sp, 2), 12);
	flush_by_hand(3);
	check_clean();
	/* and a flush that misses one CPU leaves that one's */
	stop_all(&parent);
	mmk_aspace_destroy(&child);
	space_new(&child);
	run_on(&parent, 0, 3, 4, MMK_ACCESS_WRITE);
	mmk_hosted_tlb_drop_next(2);
	assert_int_equal(mmk_aspace_clone(&parent, &child), 0);
	assert_int_equal(mmk_hosted_tlb_check(sp, 2), 4);
	flush_by_hand(3);
	check_clean();
}

/*
 * A frame the parent shares with its child is put at once, after a flush
 * of the parent (common.c, put_now).  That flush must reach every CPU that
 * may cache the parent *then*, not only those that did when the unmap
 * began: here CPU 5 starts running the parent in the middle of the unmap
 * (at its first shootdown, as the zap of the first area puts its pages)
 * and its hardware walk caches the pages of the second area, which are
 * still mapped.  When the second area's pages are put, CPU 5 must already
 * have flushed them: at every later shootdown, no CPU may reach through
 * the parent a frame whose parent reference is gone (count 1: only the
 * child holds it; the child's exit would free it under CPU 5's entry).
 */
struct mid_unmap {
	unsigned calls;
	long bad;
};

/* What CPU @cpu's walker caches of @as's page @va (no lock: hardware). */
static void hw_walk(unsigned cpu, struct mmk_aspace *as, mmk_vaddr_t va)
{
	struct mmk_pt_leaf lf;
	if (mmk_pt_lookup(mmk_aspace_pt(as), va, &lf) != 0)
		return;
	struct mmk_hosted_tlbe e;
	__builtin_memset(&e, 0, sizeof(e));
	e.valid = true;
	e.root = mmk_hosted_cpu_root(cpu, &e.asid);
	e.rights = lf.flags & MMK_PT_RWX;
	e.va = lf.va;
	e.size = lf.page_size;
	e.pa = lf.pa;
	mmk_hosted_tlb_lock(cpu);
	mmk_hosted_tlb_fill(cpu, &e);
	mmk_hosted_tlb_unlock(cpu);
}

/* Entries of the parent's ASID, on any CPU, that the parent no longer
 * maps and whose frame only the child still holds. */
static long reachable_after_put(void)
{
	long bad = 0;
	uint32_t asid = mmk_tlb_ctx_asid(&parent.tlb);
	struct mmk_hosted_tlbe e[MMK_HOSTED_TLB_ENTRIES];
	for (unsigned cpu = 0; cpu < NCPU; cpu++) {
		size_t n = mmk_hosted_tlb_entries(cpu, e);
		for (size_t i = 0; i < n; i++) {
			struct mmk_pt_leaf lf;
			if (e[i].asid != asid ||
			    mmk_pt_lookup(mmk_aspace_pt(&parent), e[i].va,
					  &lf) == 0)
				continue;
			if (mmk_frame_refcount(fa, e[i].pa) == 1)
				bad++;
		}
	}
	return bad;
}

static void mid_unmap_hook(void *arg)
{
	struct mid_unmap *m = arg;
	if (m->calls++ == 0) {
		int old = mmk_hosted_set_cpu(5);
		mmk_aspace_activate(&parent);
		for (unsigned p = 16; p < 20; p++)
			hw_walk(5, &parent, BASE + p * PG);
		mmk_hosted_set_cpu((unsigned)old);
		return;
	}
	m->bad += reachable_after_put();
}

static void
a_shared_frame_is_put_after_every_cpu_caching_it_flushed(void **state)
{
	(void)state;
	assert_int_equal(mmk_aspace_map_alloc(&parent, BASE + 16 * PG, 4 * PG,
					      MMK_PT_RW, true),
			 0);
	cpu_switch(0, NULL, &parent);
	assert_int_equal(mmk_aspace_clone(&parent, &child), 0);
	for (unsigned p = 0; p < 4; p++)
		cpu_touch(0, &parent, BASE + p * PG, MMK_ACCESS_READ);
	struct mid_unmap m = {0, 0};
	mmk_hosted_tlb_on_shootdown(mid_unmap_hook, &m);
	assert_int_equal(mmk_aspace_unmap(&parent, BASE, 20 * PG), 0);
	mmk_hosted_tlb_on_shootdown(NULL, NULL);
	assert_true(m.calls >= 2);
	assert_true(cpu_cached(5, BASE + 16 * PG, MMK_ACCESS_READ) == false);
	assert_int_equal(m.bad, 0);
	check_clean();
}

/*
 * The same rule for the page cache: a file page's leaf reference is put
 * only after the flush of the space unmapping it (the pager may drop a
 * page from its cache once mmkit holds no reference, so until then no CPU
 * may still reach it).  At every shootdown of the unmap, no CPU may hold a
 * translation of the space to a cache page whose count is back to the
 * cache's one.  Private and shared mappings alike.
 */
static void shoot_check_hook(void *arg)
{
	struct mid_unmap *m = arg;
	m->calls++;
	m->bad += reachable_after_put();
}

static void a_cache_page_is_put_after_the_flush_of_its_unmap(void **state)
{
	(void)state;
	const unsigned n = 80; /* more than one batch of puts */
	for (unsigned shared = 0; shared < 2; shared++) {
		struct mmk_hosted_file *hf = mmk_hosted_file_new(fa, n);
		assert_non_null(hf);
		mmk_vaddr_t at = BASE + 64 * PG;
		assert_int_equal(
			mmk_aspace_map_file(&parent, at, n * PG, MMK_PT_RW,
					    mmk_hosted_file_file(hf), 0,
					    shared ? MMK_MAP_FILE_SHARED : 0),
			0);
		cpu_switch(0, NULL, &parent);
		cpu_switch(3, NULL, &parent);
		for (unsigned p = 0; p < n; p++) {
			cpu_touch(0, &parent, at + p * PG, MMK_ACCESS_READ);
			cpu_touch(3, &parent, at + p * PG, MMK_ACCESS_READ);
		}
		struct mid_unmap m = {0, 0};
		mmk_hosted_tlb_on_shootdown(shoot_check_hook, &m);
		assert_int_equal(mmk_aspace_unmap(&parent, at, n * PG), 0);
		mmk_hosted_tlb_on_shootdown(NULL, NULL);
		assert_true(m.calls >= 1);
		assert_int_equal(m.bad, 0);
		assert_int_equal(reachable_after_put(), 0);
		check_clean();
		stop_all(&parent);
		mmk_hosted_file_destroy(hf);
	}
}

/*
 * Break-before-make (aarch64: a live leaf changes its address) flushes at
 * once, inside the edit, and records nothing for later: so that flush
 * must reach the CPUs that may cache the space at the break, not those
 * that did when the operation began.  Here CPU 5 starts running the
 * parent in the prepare phase of an unmap that cuts a huge page shared
 * with a fork's child (at the allocation of the block for the parent's
 * copy) and its walker caches the huge leaf; the copy's replace breaks
 * that leaf, and CPU 5 must lose it then (a later flush of the range,
 * before the old block is put, is not enough: until it, CPU 5 could reach
 * the old block and the new one through one address; and the fault path's
 * copy-on-write replace has no later flush of its range).
 */
struct bbm_ctx {
	struct mmk_aspace *as, *child;
	mmk_vaddr_t va;
	bool done;
	unsigned shots; /* shootdowns since CPU 5 came */
	long bad;
};

/* Every shootdown after the first one since CPU 5 came (the break's
 * own, which flushes what it finds): nothing stale may be left over
 * from the break (the only edits not flushed yet are the unmap's, of a
 * page no CPU caches). */
static void bbm_shoot_hook(void *arg)
{
	struct bbm_ctx *b = arg;
	if (!b->done || b->shots++ == 0)
		return;
	struct mmk_aspace *sp[] = {b->as, b->child};
	b->bad += mmk_hosted_tlb_check(sp, 2);
}

static void bbm_alloc_hook(void *arg)
{
	struct bbm_ctx *b = arg;
	if (b->done)
		return;
	b->done = true;
	int old = mmk_hosted_set_cpu(5);
	mmk_aspace_activate(b->as);
	hw_walk(5, b->as, b->va);
	mmk_hosted_set_cpu((unsigned)old);
}

static void
a_break_before_make_reaches_a_cpu_that_came_mid_operation(void **state)
{
	(void)state;
	struct mmk_aspace p, c;
	const uint64_t huge = 2 * MMK_MIB;
	const mmk_vaddr_t h = BASE + 4 * MMK_MIB;
	assert_int_equal(
		mmk_aspace_create(&p, BASE, SIZE, MMK_PT_AARCH64_48, 0, fa), 0);
	assert_int_equal(
		mmk_aspace_create(&c, BASE, SIZE, MMK_PT_AARCH64_48, 0, fa), 0);
	assert_int_equal(
		mmk_aspace_map_huge(&p, h, huge, MMK_PT_RW, huge, true), 0);
	cpu_switch(0, NULL, &p);
	cpu_touch(0, &p, h, MMK_ACCESS_WRITE);
	assert_int_equal(mmk_aspace_clone(&p, &c), 0);
	cpu_touch(0, &p, h, MMK_ACCESS_READ);
	struct bbm_ctx b = {&p, &c, h + PG, false, 0, 0};
	mmk_hosted_on_frame_alloc(bbm_alloc_hook, &b);
	mmk_hosted_tlb_on_shootdown(bbm_shoot_hook, &b);
	/* cuts the huge page at h + PG: the parent gets its own copy */
	assert_int_equal(mmk_aspace_unmap(&p, h, PG), 0);
	mmk_hosted_on_frame_alloc(NULL, NULL);
	mmk_hosted_tlb_on_shootdown(NULL, NULL);
	assert_true(b.done);
	assert_true(b.shots >= 2);
	assert_int_equal(b.bad, 0);
	struct mmk_aspace *sp[] = {&p, &c};
	assert_int_equal(mmk_hosted_tlb_check(sp, 2), 0);
	for (unsigned cpu = 0; cpu < NCPU; cpu++) {
		mmk_hosted_set_cpu(cpu);
		mmk_aspace_deactivate(&p);
	}
	mmk_hosted_set_cpu(0);
	mmk_aspace_destroy(&c);
	mmk_aspace_destroy(&p);
}

#define T(f)                                                                   \
	cmocka_unit_test_setup_teardown(f, per_test_setup, per_test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(fork_flushes_the_parent_once_on_its_k_cpus_never_the_child),
		T(a_fork_from_a_cpu_not_running_the_parent_interrupts_all_k),
		T(a_fork_of_a_parent_cached_nowhere_flushes_nothing),
		T(a_fork_flushes_a_cpu_that_switched_away_from_the_parent),
		T(the_childs_first_activation_flushes_nothing_under_asids),
		T(a_cow_fault_flushes_only_where_the_space_may_be_cached),
		T(the_check_catches_a_fork_without_its_parent_flush),
		T(a_shared_frame_is_put_after_every_cpu_caching_it_flushed),
		T(a_cache_page_is_put_after_the_flush_of_its_unmap),
		T(a_break_before_make_reaches_a_cpu_that_came_mid_operation),
	};
	return cmocka_run_group_tests(tests, machine_setup, machine_teardown);
}
