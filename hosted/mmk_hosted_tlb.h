/* SPDX-License-Identifier: MIT */
/*
 * Test helpers over the hosted software TLB (mmk_hosted.h): access a
 * space's memory as the calling CPU would, through its TLB, and check that
 * no CPU still holds a translation the page tables no longer allow.
 * Inline, because they walk tables with the core (the HAL itself never
 * calls into the core).
 */
#ifndef MMK_HOSTED_TLB_H
#define MMK_HOSTED_TLB_H

#include "mmk_hosted.h"

#include <mmkit/aspace.h>

#include <stdio.h>

struct mmk__hosted_walk {
	struct mmk_aspace *as;
	mmk_vaddr_t va;
	uint32_t access, asid;
	unsigned cpu;
	mmk_paddr_t root, pa;
	int err;
};

/* The walk and the fill, with the space's lock held shared (by
 * mmk_aspace_foreach_area) and then the CPU's TLB: the page-table layer
 * edits leaves with plain stores under the exclusive lock, so a walk in C
 * must not overlap an edit (a hardware walk may; the order edit, flush,
 * free is what covers it, and what the check verifies). */
static inline int mmk__hosted_walk_fill(const struct mmk_aspace_area *a,
					void *arg)
{
	struct mmk__hosted_walk *w = (struct mmk__hosted_walk *)arg;
	if (a->start > w->va)
		return 1; /* no area holds it: no leaf either */
	struct mmk_pt_leaf lf;
	mmk_hosted_tlb_lock(w->cpu);
	if (mmk_pt_lookup(mmk_aspace_pt(w->as), w->va, &lf) == 0 &&
	    (lf.flags & w->access) == w->access) {
		struct mmk_hosted_tlbe e;
		e.valid = true;
		e.global = (lf.flags & MMK_PT_GLOBAL) != 0;
		e.asid = w->asid;
		e.rights = lf.flags & MMK_PT_RWX;
		e.va = lf.va;
		e.size = lf.page_size;
		e.pa = lf.pa;
		e.root = w->root;
		mmk_hosted_tlb_fill(w->cpu, &e);
		w->pa = mmk_pa_add(lf.pa, w->va - lf.va);
		w->err = 0;
	}
	mmk_hosted_tlb_unlock(w->cpu);
	return 1;
}

/**
 * Access @va of @as (which must be the space the calling CPU runs: its
 * root written last) for @access, as the CPU would: a TLB hit that allows
 * it is used as is (even if the table changed since: what a stale entry
 * does); else the table is walked and the leaf cached.  0 with *@pa set,
 * or MMK_EFAULT: a page fault (no leaf, or one lacking @access).
 */
static inline int mmk_hosted_tlb_access(struct mmk_aspace *as, mmk_vaddr_t va,
					uint32_t access, mmk_paddr_t *pa)
{
	struct mmk__hosted_walk w;
	w.as = as;
	w.va = va;
	w.access = access;
	w.cpu = mmk_hal_cpu_id();
	w.root = mmk_hosted_cpu_root(w.cpu, &w.asid);
	w.err = MMK_EFAULT;
	if (w.root.v != mmk_aspace_pt(as)->root.v)
		abort(); /* a test bug: this CPU does not run @as */
	struct mmk_hosted_tlbe e;
	mmk_hosted_tlb_lock(w.cpu);
	if (mmk_hosted_tlb_find(w.cpu, va, &e)) {
		if ((e.rights & access) == access) {
			mmk_hosted_tlb_unlock(w.cpu);
			*pa = mmk_pa_add(e.pa, va - e.va);
			return 0;
		}
		mmk_hosted_tlb_forget(w.cpu, va); /* a fault drops it */
	}
	mmk_hosted_tlb_unlock(w.cpu);
	(void)mmk_aspace_foreach_area(as, va, mmk__hosted_walk_fill, &w);
	if (w.err == 0)
		*pa = w.pa;
	return w.err;
}

/** As mmk_hosted_tlb_access, taking the page fault (mmk_aspace_fault) and
 *  retrying once: 0, or the fault's error. */
static inline int mmk_hosted_tlb_touch(struct mmk_aspace *as, mmk_vaddr_t va,
				       uint32_t access)
{
	mmk_paddr_t pa;
	for (int i = 0; i < 3; i++) {
		if (mmk_hosted_tlb_access(as, va, access, &pa) == 0)
			return 0;
		int err = mmk_aspace_fault(as, va, access);
		if (err)
			return err;
	}
	return MMK_EFAULT;
}

/* Does @as's table still give what @e caches (same frame, rights at least
 * those cached)? */
static inline bool mmk__hosted_tlbe_allowed(struct mmk_aspace *as,
					    const struct mmk_hosted_tlbe *e)
{
	if (e->root.v != mmk_aspace_pt(as)->root.v)
		return false; /* walked from another space's table */
	struct mmk_pt_leaf lf;
	if (mmk_pt_lookup(mmk_aspace_pt(as), e->va, &lf) != 0)
		return false;
	return lf.va == e->va && lf.page_size == e->size &&
	       lf.pa.v == e->pa.v && (lf.flags & e->rights) == e->rights;
}

/* The space among @spaces a CPU running ASID @cur on root @root would use
 * entry @e for, or NULL if it could reach @e through none of them. */
static inline struct mmk_aspace *
mmk__hosted_tlbe_owner(struct mmk_aspace *const *spaces, size_t n, unsigned cpu,
		       uint32_t cur, mmk_paddr_t root,
		       const struct mmk_hosted_tlbe *e)
{
	if (e->asid == cur) {
		/* in use now: the space this CPU runs */
		for (size_t i = 0; i < n; i++)
			if (mmk_aspace_pt(spaces[i])->root.v == root.v)
				return spaces[i];
		return NULL;
	}
	/* usable after a switch that flushes nothing: to a space whose
	 * number is live, unless this CPU owes a rollover flush first; to
	 * a fixed-ASID space always (a switch never flushes before it) */
	for (size_t i = 0; i < n; i++) {
		const struct mmk_tlb_ctx *c = &spaces[i]->tlb;
		if (mmk_tlb_ctx_asid(c) != e->asid)
			continue;
		if (c->fixed)
			return spaces[i];
		uint64_t id = mmk_atomic_load(&c->id, MMK_MO_RELAXED);
		if (id && mmk_tlb_asid_live(id) &&
		    !mmk_tlb_asid_flush_pending(cpu))
			return spaces[i];
	}
	return NULL;
}

/**
 * The software-TLB check: every entry of every CPU that the CPU could
 * still use for one of @spaces (see owner above) must be allowed by that
 * space's table now.  Call with no operation in flight.  Returns the
 * number of entries that are not (and prints the first few): a missed or
 * misdirected flush.  Global entries are left to the kernel space's own
 * tests.
 */
static inline long mmk_hosted_tlb_check(struct mmk_aspace *const *spaces,
					size_t n)
{
	long bad = 0;
	struct mmk_hosted_tlbe e[MMK_HOSTED_TLB_ENTRIES];
	for (unsigned cpu = 0; cpu < MMK_CFG_MAX_CPUS; cpu++) {
		uint32_t cur;
		mmk_paddr_t root = mmk_hosted_cpu_root(cpu, &cur);
		size_t k = mmk_hosted_tlb_entries(cpu, e);
		for (size_t i = 0; i < k; i++) {
			if (e[i].global)
				continue;
			struct mmk_aspace *as = mmk__hosted_tlbe_owner(
				spaces, n, cpu, cur, root, &e[i]);
			if (!as || mmk__hosted_tlbe_allowed(as, &e[i]))
				continue;
			if (bad++ < 4)
				fprintf(stderr,
					"software TLB: CPU %u holds a stale "
					"entry: asid %u va %#llx -> pa %#llx "
					"rights %#x\n",
					cpu, (unsigned)e[i].asid,
					(unsigned long long)e[i].va,
					(unsigned long long)e[i].pa.v,
					(unsigned)e[i].rights);
		}
	}
	return bad;
}

#endif /* MMK_HOSTED_TLB_H */
