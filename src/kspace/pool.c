/* SPDX-License-Identifier: MIT */
/*
 * The per-CPU reserve of table pages (CortenMM's idea): kernel mappings
 * are made under the mapper, an IRQ-disabled spinlock, and their table
 * pages come from the calling CPU's reserve, filled before the lock is
 * taken.  Only a CPU whose reserve is spent falls back to the frame
 * allocator under the lock (which is IRQ-safe, but may then fail: the
 * operation is rolled back with MMK_ENOMEM).
 *
 * The pages are not zeroed here: the engine writes every table page's
 * empty entries itself when it hooks the page in (the format's
 * init_table; not every format's empty entry is 0), so zeroing here too
 * would be paid twice and take nothing off the locked path.  Measured:
 * zeroing at refill cost 8,200 instructions per ioremap + iounmap pair
 * (three tables), 28% of the pair (callgrind, docs/BENCHMARKS.md).
 *
 * The kernel table is the only one that takes pages from here: it is
 * hooked in through mmk_pt_set_page_source (include/mmkit/pt.h), the one
 * place src/pt allocates table pages (mmk__pt_take_page, src/pt/format.h).
 */
#include "kspace_internal.h"

/* mmk_pt_page_source.take: the kernel table's pages.  Mapper held (or
 * boot, one CPU), so this CPU's id is stable. */
static int pool_take(void *ctx, unsigned order, mmk_paddr_t *pa)
{
	struct mmk__kspace *ks = ctx;
	if (order == ks->pool_order) {
		struct mmk__kspace_pool *p = &ks->pool[mmk_hal_cpu_id()];
		bool got = false;
		mmk_spin_lock_noirq(&p->lock);
		if (p->n) {
			*pa = mmk_pa(p->pa[--p->n]);
			got = true;
		}
		mmk_spin_unlock_noirq(&p->lock);
		if (got)
			return MMK_OK;
	}
	/* the reserve is spent: the allocator is IRQ-safe, only fallible */
	return mmk_frame_alloc(ks->cfg.frames, order, 0, pa) ? MMK_ENOMEM : 0;
}

void mmk__kspace_pool_setup(void)
{
	struct mmk__kspace *ks = &mmk__ks;
	struct mmk_pt_info info;
	mmk_pt_info(&ks->as.pt, &info);
	/* every level below the root has one size (pt.c); the root is
	 * allocated once, at create */
	unsigned shift = MMK_MAX(info.page_shift, (unsigned)MMK_PAGE_SHIFT);
	ks->pool_order = shift - MMK_PAGE_SHIFT;
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++) {
		mmk_spin_init(&ks->pool[c].lock);
		ks->pool[c].n = 0;
	}
	ks->src.take = pool_take;
	ks->src.ctx = ks;
	mmk_pt_set_page_source(&ks->as.pt, &ks->src);
}

void mmk__kspace_pool_refill(void)
{
	struct mmk__kspace *ks = &mmk__ks;
	for (;;) {
		unsigned long f = mmk_hal_irq_save();
		struct mmk__kspace_pool *p = &ks->pool[mmk_hal_cpu_id()];
		bool full = __atomic_load_n(&p->n, __ATOMIC_RELAXED) >=
			    __atomic_load_n(&ks->reserve, __ATOMIC_RELAXED);
		mmk_hal_irq_restore(f);
		if (full)
			return;
		/* interrupts as the caller had them: the allocation (and
		 * its reclaim, if it comes to that) is here, not under the
		 * mapper */
		mmk_paddr_t pa;
		if (mmk_frame_alloc(ks->cfg.frames, ks->pool_order, 0, &pa))
			return; /* short of memory: the reserve stays short */
		f = mmk_hal_irq_save();
		p = &ks->pool[mmk_hal_cpu_id()]; /* may have moved */
		mmk_spin_lock_noirq(&p->lock);
		bool kept = p->n < ks->reserve;
		if (kept)
			p->pa[p->n++] = pa.v;
		mmk_spin_unlock_noirq(&p->lock);
		mmk_hal_irq_restore(f);
		if (!kept) {
			mmk_frame_free(ks->cfg.frames, pa);
			return;
		}
	}
}

void mmk__kspace_pool_trim(unsigned keep)
{
	struct mmk__kspace *ks = &mmk__ks;
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++) {
		struct mmk__kspace_pool *p = &ks->pool[c];
		for (;;) {
			unsigned long f = mmk_spin_lock(&p->lock);
			uint64_t pa = 0;
			bool more = p->n > keep;
			if (more)
				pa = p->pa[--p->n];
			mmk_spin_unlock(&p->lock, f);
			if (!more)
				break;
			mmk_frame_free(ks->cfg.frames, mmk_pa(pa));
		}
	}
}

void mmk_kspace_set_reserve(unsigned pages)
{
	if (pages > MMK_CFG_KSPACE_RESERVE)
		pages = MMK_CFG_KSPACE_RESERVE;
	__atomic_store_n(&mmk__ks.reserve, pages, __ATOMIC_RELAXED);
	if (mmk__ks.up)
		mmk__kspace_pool_trim(pages);
}

long mmk_kspace_reserve_pages(void)
{
	long n = 0;
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++)
		n += (long)__atomic_load_n(&mmk__ks.pool[c].n, __ATOMIC_RELAXED)
		     << mmk__ks.pool_order;
	return n;
}
