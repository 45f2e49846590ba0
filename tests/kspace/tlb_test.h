/* SPDX-License-Identifier: MIT */
/*
 * Shared by the TLB tests of tests/kspace: a machine of 64 CPUs played by
 * one thread (mmk_hosted_set_cpu), spaces over the x86_64 4-level format,
 * and helpers to run a space on a set of CPUs through their software TLBs.
 */
#ifndef MMK_TLB_TEST_H
#define MMK_TLB_TEST_H

#include "mmk_test.h"

#include <mmk_hosted_tlb.h>
#include <mmkit/aspace.h>

#define NCPU 64
#define BASE 0x40000000ull
#define SIZE (64 * MMK_MIB)
#define PG   4096ull

static struct mmk_frames *fa;

/* A fresh machine: ASIDs of @bits (0: off), every TLB and count empty,
 * the caller back on CPU 0. */
static inline void machine_reset(unsigned bits)
{
	mmk_hosted_set_cpu(0);
	assert_int_equal(mmk_tlb_asid_init(bits, NCPU), 0);
	mmk_hosted_tlb_reset();
	mmk_hosted_flush_reset();
}

static inline int machine_setup(void **state)
{
	(void)state;
	mmk_hosted_init(256 * MMK_MIB);
	fa = mmk_hosted_frames_new();
	machine_reset(12);
	return 0;
}

static inline int machine_teardown(void **state)
{
	(void)state;
	mmk_hosted_set_cpu(0);
	mmk_hosted_frames_destroy(fa);
	return 0;
}

static inline void space_new(struct mmk_aspace *as)
{
	assert_int_equal(
		mmk_aspace_create(as, BASE, SIZE, MMK_PT_X86_64_4L, 0, fa), 0);
}

/* CPU @cpu switches from @from (NULL: nothing) to @to. */
static inline void cpu_switch(unsigned cpu, struct mmk_aspace *from,
			      struct mmk_aspace *to)
{
	int old = mmk_hosted_set_cpu(cpu);
	if (from)
		mmk_aspace_deactivate(from);
	mmk_aspace_activate(to);
	mmk_hosted_set_cpu((unsigned)old);
}

/* CPU @cpu touches @va of the space it runs (faulting it in if need be);
 * the translation is then in its TLB. */
static inline void cpu_touch(unsigned cpu, struct mmk_aspace *as,
			     mmk_vaddr_t va, uint32_t access)
{
	int old = mmk_hosted_set_cpu(cpu);
	assert_int_equal(mmk_hosted_tlb_touch(as, va, access), 0);
	mmk_hosted_set_cpu((unsigned)old);
}

/* Does CPU @cpu's TLB let it @access @va right now (no walk)? */
static inline bool cpu_cached(unsigned cpu, mmk_vaddr_t va, uint32_t access)
{
	struct mmk_hosted_tlbe e;
	mmk_hosted_tlb_lock(cpu);
	bool hit = mmk_hosted_tlb_find(cpu, va, &e) &&
		   (e.rights & access) == access;
	mmk_hosted_tlb_unlock(cpu);
	return hit;
}

#endif
