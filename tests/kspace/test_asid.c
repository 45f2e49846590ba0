/* SPDX-License-Identifier: MIT */
/*
 * ASIDs on a simulated machine of 64 CPUs: a switch between spaces whose
 * ASIDs are live flushes nothing; running out of numbers rolls the
 * generation over and each CPU then flushes once, at its next switch; a
 * space running during a rollover keeps its number; a dead space gives
 * its number back; the widths are checked.  And without ASIDs, every
 * switch away flushes.
 */
#include "tlb_test.h"

#define NSP 130

static struct mmk_aspace sp[NSP];

static int per_test_teardown(void **state)
{
	(void)state;
	for (unsigned c = 0; c < NCPU; c++) {
		mmk_hosted_set_cpu(c);
		for (unsigned i = 0; i < NSP; i++)
			if (sp[i].frames)
				mmk_aspace_deactivate(&sp[i]);
	}
	mmk_hosted_set_cpu(0);
	for (unsigned i = 0; i < NSP; i++)
		if (sp[i].frames) {
			mmk_aspace_destroy(&sp[i]);
			sp[i].frames = NULL;
		}
	return 0;
}

static uint32_t asid_of(struct mmk_aspace *as)
{
	return mmk_tlb_ctx_asid(&as->tlb);
}

static void widths_are_checked(void **state)
{
	(void)state;
	unsigned bits0 = mmk_tlb_asid_bits();
	assert_int_equal(mmk_tlb_asid_init(17, NCPU), MMK_EINVAL);
	assert_int_equal(mmk_tlb_asid_init(12, 0), MMK_EINVAL);
	assert_int_equal(mmk_tlb_asid_init(12, MMK_CFG_MAX_CPUS + 1),
			 MMK_EINVAL);
	/* 63 numbers for 64 CPUs: a rollover could find none free */
	assert_int_equal(mmk_tlb_asid_init(6, NCPU), MMK_EINVAL);
	assert_int_equal(mmk_tlb_asid_bits(), bits0); /* refused: unchanged */
	assert_int_equal(mmk_tlb_asid_init(7, NCPU), 0);
	assert_int_equal(mmk_tlb_asid_bits(), 7);
	static const unsigned arch[] = {
		MMK_ASID_BITS_X86_64, MMK_ASID_BITS_RISCV64,
		MMK_ASID_BITS_AARCH64, 16, MMK_ASID_BITS_LOONGARCH64};
	for (size_t i = 0; i < MMK_ARRAY_SIZE(arch); i++)
		assert_int_equal(mmk_tlb_asid_init(arch[i], NCPU), 0);
	assert_int_equal(mmk_tlb_asid_init(0, NCPU), 0);
	assert_int_equal(mmk_tlb_asid_bits(), 0);
}

static void a_switch_between_live_asids_flushes_nothing(void **state)
{
	(void)state;
	machine_reset(MMK_ASID_BITS_X86_64);
	space_new(&sp[0]);
	space_new(&sp[1]);
	for (unsigned c = 0; c < NCPU; c++)
		cpu_switch(c, NULL, &sp[c % 2]);
	uint32_t a = asid_of(&sp[0]), b = asid_of(&sp[1]);
	assert_true(a != 0 && b != 0 && a != b);
	assert_true(a < (1u << 12) && b < (1u << 12));
	mmk_hosted_tlb_count_reset();
	for (int round = 0; round < 50; round++)
		for (unsigned c = 0; c < NCPU; c++) {
			unsigned from = (c + (unsigned)round) % 2;
			cpu_switch(c, &sp[from], &sp[1 - from]);
		}
	for (unsigned c = 0; c < NCPU; c++)
		assert_int_equal(mmk_hosted_tlb_local_flushes(c), 0);
	assert_int_equal(mmk_hosted_tlb_ipis_total(), 0);
	assert_int_equal(mmk_hosted_flush_count(), 0);
	assert_int_equal(mmk_tlb_asid_rollovers(), 0);
	assert_int_equal(asid_of(&sp[0]), a);
	assert_int_equal(asid_of(&sp[1]), b);
	/* the root written carries the space's ASID */
	mmk_hosted_set_cpu(0);
	uint32_t cur;
	mmk_hosted_current_root(&cur);
	assert_true(cur == a || cur == b);
}

static void rollover_flushes_each_cpu_once(void **state)
{
	(void)state;
	/* 127 numbers (1..127): the 128th space rolls the generation */
	machine_reset(7);
	mmk_hosted_tlb_count_reset();
	for (unsigned i = 0; i < 128; i++) {
		space_new(&sp[i]);
		cpu_switch(0, i ? &sp[i - 1] : NULL, &sp[i]);
		assert_int_equal(mmk_tlb_asid_rollovers(), i < 127 ? 0 : 1);
	}
	/* CPU 0 rolled over and flushed at once */
	assert_int_equal(mmk_hosted_tlb_local_flushes(0), 1);
	for (unsigned c = 0; c < NCPU; c++)
		assert_true(mmk_tlb_asid_flush_pending(c) == (c != 0));
	/* every other CPU flushes once, at its first switch, and never
	 * again while the generation lasts */
	for (unsigned c = 1; c < NCPU; c++) {
		cpu_switch(c, NULL, &sp[c]);
		cpu_switch(c, &sp[c], &sp[127]);
		cpu_switch(c, &sp[127], &sp[c]);
	}
	for (unsigned c = 0; c < NCPU; c++) {
		assert_int_equal(mmk_hosted_tlb_local_flushes(c), 1);
		assert_false(mmk_tlb_asid_flush_pending(c));
	}
	assert_int_equal(mmk_tlb_asid_rollovers(), 1);
	assert_int_equal(mmk_hosted_tlb_ipis_total(), 0);
	/* numbers are distinct among the spaces of the new generation */
	for (unsigned c = 1; c < NCPU; c++)
		assert_true(asid_of(&sp[c]) != asid_of(&sp[127]));
}

static void a_space_running_across_a_rollover_keeps_its_asid(void **state)
{
	(void)state;
	machine_reset(7);
	space_new(&sp[0]);
	assert_int_equal(
		mmk_aspace_map_alloc(&sp[0], BASE, 4 * PG, MMK_PT_RW, true), 0);
	cpu_switch(5, NULL, &sp[0]);
	cpu_touch(5, &sp[0], BASE, MMK_ACCESS_WRITE);
	uint32_t a = asid_of(&sp[0]);
	/* CPU 0 uses up the numbers */
	for (unsigned i = 1; i < 129; i++) {
		space_new(&sp[i]);
		cpu_switch(0, i > 1 ? &sp[i - 1] : NULL, &sp[i]);
	}
	assert_int_equal(mmk_tlb_asid_rollovers(), 1);
	/* CPU 5 never switched: sp[0] is still its number, and a switch
	 * back to it after the rollover flush keeps it */
	mmk_hosted_tlb_count_reset();
	cpu_switch(5, &sp[0], &sp[0]);
	assert_int_equal(asid_of(&sp[0]), a);
	assert_int_equal(mmk_hosted_tlb_local_flushes(5), 1);
	/* its cached mask restarted from where it runs */
	assert_true(mmk_cpumask_test(&sp[0].tlb.cached, 5));
	struct mmk_aspace *all[] = {&sp[0]};
	assert_int_equal(mmk_hosted_tlb_check(all, 1), 0);
	/* an unmap still reaches CPU 5 */
	mmk_hosted_set_cpu(0);
	assert_int_equal(mmk_aspace_unmap(&sp[0], BASE, PG), 0);
	assert_int_equal(mmk_hosted_tlb_ipis(5), 1);
	assert_int_equal(mmk_hosted_tlb_check(all, 1), 0);
}

static void a_dead_space_returns_its_asid(void **state)
{
	(void)state;
	machine_reset(7);
	/* 127 numbers in use, one given back, one more space: no rollover */
	for (unsigned i = 0; i < 127; i++) {
		space_new(&sp[i]);
		cpu_switch(0, i ? &sp[i - 1] : NULL, &sp[i]);
	}
	assert_int_equal(mmk_tlb_asid_rollovers(), 0);
	uint32_t freed = asid_of(&sp[40]);
	mmk_hosted_set_cpu(0);
	mmk_aspace_destroy(&sp[40]);
	space_new(&sp[40]);
	cpu_switch(0, &sp[126], &sp[40]);
	assert_int_equal(mmk_tlb_asid_rollovers(), 0);
	assert_int_equal(asid_of(&sp[40]), freed);
}

static void
after_a_rollover_only_cpus_that_can_reach_it_are_flushed(void **state)
{
	(void)state;
	machine_reset(7);
	space_new(&sp[0]);
	assert_int_equal(
		mmk_aspace_map_alloc(&sp[0], BASE, 4 * PG, MMK_PT_RW, true), 0);
	/* CPUs 1..3 ran sp[0] and left it; CPU 4 still runs it */
	for (unsigned c = 1; c <= 4; c++) {
		space_new(&sp[c]);
		cpu_switch(c, NULL, &sp[0]);
		cpu_touch(c, &sp[0], BASE, MMK_ACCESS_WRITE);
		if (c < 4)
			cpu_switch(c, &sp[0], &sp[c]);
	}
	/* CPU 0 uses the numbers up: a rollover */
	for (unsigned i = 5; i < 130; i++) {
		space_new(&sp[i]);
		cpu_switch(0, i > 5 ? &sp[i - 1] : NULL, &sp[i]);
	}
	assert_int_equal(mmk_tlb_asid_rollovers(), 1);
	/* CPUs 1 and 2 switch again: they flush everything (rollover) */
	cpu_switch(1, &sp[1], &sp[129]);
	cpu_switch(2, &sp[2], &sp[129]);
	mmk_hosted_tlb_count_reset();
	mmk_hosted_set_cpu(0);
	assert_int_equal(mmk_aspace_unmap(&sp[0], BASE, PG), 0);
	/* CPU 4 runs it (its number kept): flushed.  CPUs 1 and 2 have
	 * flushed everything since; CPU 3 owes that flush and will do it
	 * before it loads any number of the new generation: none of the
	 * three can reach the old entries, none is interrupted. */
	assert_int_equal(mmk_hosted_tlb_ipis(4), 1);
	assert_int_equal(mmk_hosted_tlb_ipis(1), 0);
	assert_int_equal(mmk_hosted_tlb_ipis(2), 0);
	assert_int_equal(mmk_hosted_tlb_ipis(3), 0);
	assert_int_equal(mmk_hosted_tlb_useless(), 0);
	struct mmk_aspace *all[130];
	for (unsigned i = 0; i < 130; i++)
		all[i] = &sp[i];
	assert_int_equal(mmk_hosted_tlb_check(all, 130), 0);
	/* CPU 3 comes back to sp[0]: it flushes first, so nothing stale */
	cpu_switch(3, &sp[3], &sp[0]);
	assert_false(cpu_cached(3, BASE, MMK_ACCESS_READ));
	assert_int_equal(mmk_hosted_tlb_check(all, 130), 0);
}

static void without_asids_every_switch_away_flushes(void **state)
{
	(void)state;
	machine_reset(0);
	space_new(&sp[0]);
	space_new(&sp[1]);
	cpu_switch(3, NULL, &sp[0]);
	mmk_hosted_tlb_count_reset();
	for (int i = 0; i < 10; i++)
		cpu_switch(3, &sp[i % 2], &sp[1 - i % 2]);
	assert_int_equal(mmk_hosted_tlb_local_flushes(3), 10);
	assert_int_equal(asid_of(&sp[0]), 0);
	assert_int_equal(mmk_hosted_tlb_ipis_total(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, per_test_teardown)
		cmocka_unit_test_teardown(widths_are_checked,
					  per_test_teardown),
		T(a_switch_between_live_asids_flushes_nothing),
		T(rollover_flushes_each_cpu_once),
		T(a_space_running_across_a_rollover_keeps_its_asid),
		T(a_dead_space_returns_its_asid),
		T(after_a_rollover_only_cpus_that_can_reach_it_are_flushed),
		T(without_asids_every_switch_away_flushes),
#undef T
	};
	return cmocka_run_group_tests(tests, machine_setup, machine_teardown);
}
