/* SPDX-License-Identifier: MIT */
/*
 * The kernel mapper (DragonOS's KernelMapper): one IRQ-safe lock over the
 * kernel space that knows its holder.  An interrupt that arrives while
 * its CPU holds the mapper and asks for it again gets a read-only view
 * instead of spinning on itself forever.
 *
 * Flush handles (DragonOS's PageFlush): a map may hand back the range it
 * added, which the caller must flush or ignore before it unlocks.  Each
 * exclusive hold has a sequence number; a handle carries the number of
 * the hold that made it while it is pending (0 once resolved), so the
 * unlock knows exactly whether a handle of its own was dropped.
 */
#include "kspace_internal.h"

#if MMK_CFG_DEBUG_HOOKS || MMK_CFG_DEBUG
#define KS_CHECK_FLUSHES 1
#else
#define KS_CHECK_FLUSHES 0
#endif

void mmk_kmapper_lock(struct mmk_kmapper *m)
{
	struct mmk__kspace *ks = &mmk__ks;
	/* Refill this CPU's reserve before interrupts go off, unless this
	 * CPU holds the mapper (then we are its interrupt: no allocation). */
	unsigned long f = mmk_hal_irq_save();
	unsigned cpu = mmk_hal_cpu_id();
	bool mine = mmk_atomic_load(&ks->owner, MMK_MO_RELAXED) == cpu + 1;
	mmk_hal_irq_restore(f);
	if (!mine && ks->up)
		mmk__kspace_pool_refill();
	m->irq = mmk_hal_irq_save();
	m->cpu = cpu = mmk_hal_cpu_id();
	/* Only this CPU stores its own id there, and only with interrupts
	 * off: a match means this CPU holds the mapper now. */
	m->readonly = mmk_atomic_load(&ks->owner, MMK_MO_RELAXED) == cpu + 1;
	if (m->readonly)
		return;
	mmk_spin_lock_noirq(&ks->lock);
	mmk_atomic_store(&ks->owner, cpu + 1, MMK_MO_RELAXED);
	if (++ks->hold_seq == 0)
		ks->hold_seq = 1; /* 0 marks a resolved handle */
	ks->hold_flush = 0;
}

void mmk_kmapper_unlock(struct mmk_kmapper *m)
{
	struct mmk__kspace *ks = &mmk__ks;
	if (!m->readonly) {
		if (KS_CHECK_FLUSHES && ks->hold_flush)
			mmk_log(MMK_LOG_ERROR,
				"kspace: %lu flush handle(s) dropped without "
				"flush or ignore",
				ks->hold_flush);
		mmk_atomic_store(&ks->owner, 0, MMK_MO_RELAXED);
		mmk_spin_unlock_noirq(&ks->lock);
	}
	mmk_hal_irq_restore(m->irq);
}

bool mmk_kmapper_readonly(const struct mmk_kmapper *m)
{
	return m->readonly;
}

int mmk__kspace_begin(struct mmk_kmapper *m)
{
	if (!mmk__ks.up)
		return MMK_ENOENT;
	mmk_kmapper_lock(m);
	if (m->readonly) {
		mmk_kmapper_unlock(m);
		return MMK_EBUSY;
	}
	return MMK_OK;
}

int mmk_kmapper_map(struct mmk_kmapper *m, mmk_vaddr_t va, mmk_paddr_t pa,
		    uint64_t size, uint32_t flags, struct mmk_kflush *flush)
{
	struct mmk__kspace *ks = &mmk__ks;
	if (m->readonly)
		return MMK_EBUSY;
	uint64_t ps = ks->page_size, off = va & (ps - 1);
	if (size == 0 || va + size < va || pa.v + size < pa.v)
		return MMK_EWRAP;
	if ((pa.v & (ps - 1)) != off)
		return MMK_EALIGN;
	uint64_t len = MMK_ALIGN_UP(off + size, ps);
	if (len < size || va - off + len < va - off)
		return MMK_EWRAP;
	uint32_t f;
	int err = mmk__kspace_flags(flags, &f);
	if (err)
		return err;
	err = mmk_aspace_map_linear(&ks->as, va - off, mmk_pa(pa.v - off), len,
				    f);
	if (err || !flush)
		return err;
	flush->start = va - off;
	flush->end = va - off + len;
	flush->state = ks->hold_seq;
	ks->hold_flush++;
	mmk_atomic_fetch_add(&ks->pending, 1, MMK_MO_RELAXED);
	return MMK_OK;
}

/*
 * True if [va, va + size) touches a root-level leaf: user tables hold
 * copies of those entries (space.c, prepopulate), so removing one would
 * leave them stale.  At most one query per root slot.
 */
static bool touches_root_leaf(mmk_vaddr_t va, uint64_t size)
{
	struct mmk_pt *pt = &mmk__ks.as.pt;
	struct mmk_pt_info info;
	mmk_pt_info(pt, &info);
	uint64_t slot = (uint64_t)1 << pt->shift[info.levels - 1];
	if (!(info.page_sizes & slot))
		return false;
	for (mmk_vaddr_t v = va; v - va < size;) {
		uint64_t ps;
		if (mmk_pt_query(pt, v, NULL, NULL, &ps) == 0 && ps == slot)
			return true;
		mmk_vaddr_t next = MMK_ALIGN_DOWN(v, slot) + slot;
		if (next == 0)
			break;
		v = next;
	}
	return false;
}

int mmk_kmapper_unmap(struct mmk_kmapper *m, mmk_vaddr_t va, uint64_t size)
{
	if (m->readonly)
		return MMK_EBUSY;
	if (mmk__ks.shared && size && touches_root_leaf(va, size))
		return MMK_EBUSY;
	/* the space flushes on every CPU using it before it returns */
	return mmk_aspace_unmap(&mmk__ks.as, va, size);
}

int mmk_kmapper_query(const struct mmk_kmapper *m, mmk_vaddr_t va,
		      mmk_paddr_t *pa, uint32_t *flags)
{
	(void)m;
	if (!mmk__ks.up)
		return MMK_ENOENT;
	return mmk_pt_query(&mmk__ks.as.pt, va, pa, flags, NULL);
}

/* A handle is resolved: count it out of its hold, if that is this one. */
static void resolve(struct mmk_kflush *f)
{
	struct mmk__kspace *ks = &mmk__ks;
	if (!f->state)
		return;
	unsigned cpu1 = mmk_hal_cpu_id() + 1;
	if (mmk_atomic_load(&ks->owner, MMK_MO_RELAXED) == cpu1 &&
	    f->state == ks->hold_seq)
		ks->hold_flush--;
	f->state = 0;
	mmk_atomic_fetch_sub(&ks->pending, 1, MMK_MO_RELAXED);
}

void mmk_kflush_flush(struct mmk_kflush *f)
{
	struct mmk__kspace *ks = &mmk__ks;
	if (f->state && f->end > f->start) {
		mmk_cpumask_t cpus;
		mmk_tlb_ctx_cached(&ks->as.tlb, &cpus);
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, mmk_cpumask_empty(&cpus) ? NULL : &cpus,
				    ks->as.asid);
		mmk_tlb_gather_range(&g, f->start, f->end, true);
		mmk_tlb_gather_finish(&g);
	}
	resolve(f);
}

void mmk_kflush_ignore(struct mmk_kflush *f)
{
	resolve(f);
}

unsigned long mmk_kspace_pending_flushes(void)
{
	return mmk_atomic_load(&mmk__ks.pending, MMK_MO_RELAXED);
}
