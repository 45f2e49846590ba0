/* SPDX-License-Identifier: MIT */
/*
 * The buddy allocator.  Each region keeps one doubly linked free list per
 * order, threaded through the 16-byte frame metadata by frame index, and a
 * bitmask of the orders whose list is non-empty, so finding a block is one
 * count-trailing-zeros.  Buddies are found in physical frame-number space
 * (pfn ^ 2^order), so blocks are naturally aligned in physical memory even
 * when a region starts at an odd frame.
 *
 * Only the head frame of a block carries a state; all others read TAIL.
 * That makes every bad free detectable in O(1): a free of an address inside
 * a block finds TAIL, a second free finds FREE or CACHED.
 *
 * Order-0 frames go through per-CPU caches (mmk_frame_pcp) of up to
 * MMK_FRAME_PCP_SIZE frames.  A cached frame is CACHED in its metadata, so it
 * still counts as free for double-free detection; the buddy lists see it as
 * allocated until drained.
 *
 * Locks, always taken in this order, each with interrupts disabled:
 *
 *   pcp[c].lock   (ascending c when several)  ->  fa->lock
 *
 * A CPU's cache is guarded by its own lock (pcp_lock), which its CPU takes
 * on every alloc and free of a page: uncontended, it costs one atomic
 * exchange and a plain store, the price of letting any other CPU take the
 * cache's frames when memory runs short (mmk_frames_drain_cpu, and the slow
 * path of an allocation that finds the lists empty).  The alternatives cost as
 * much on the fast path or more: an atomic exchange of the cache's contents
 * needs an atomic read-modify-write per operation too, and a "drain me" flag
 * served by the owner never reaches an idle CPU, which is exactly the one
 * whose frames are needed.
 *
 * The allocator lock guards the lists, their counts and buddy_allocated.
 */
#include "frame_internal.h"

#include <mmkit/log.h>

#include "lib/bits.h"

#define NIL UINT32_MAX

/*
 * priv of a frame that is not allocated belongs to the allocator: it holds
 * PRIV_FREED once the frame has headed an allocated block (set when the
 * block is freed, cleared when the frame heads a block again).  A free of a
 * frame inside a free block is then told apart: EDOUBLEFREE if the frame
 * was handed out and freed before (its buddy merged it away), EBADFREE if
 * it never was.
 */
#define PRIV_FREED 0xf7eeu

/*
 * A frame's state is read without the lock (bad-free detection, the buddy
 * check of a neighbour that another CPU is allocating) and written outside
 * it on the per-CPU paths, so every access is a relaxed atomic.  Only the
 * transition to ALLOC needs ordering (release, see mmk_frame_alloc).
 */
static inline uint8_t st_get(const struct mmk_frame *f)
{
	return __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
}

static inline void st_set(struct mmk_frame *f, uint8_t st)
{
	__atomic_store_n(&f->state, st, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ helpers */

/*
 * A cache's lock: test-and-set on a plain word through the atomic
 * builtins.  Its CPU takes it on every page alloc and free, uncontended
 * (one atomic exchange, one plain store to release); another CPU takes it
 * only to drain the cache, briefly.  Fairness does not matter with one
 * owner and rare visitors, so the waiting loop lives out of line and the
 * fast path keeps its registers.  Callers have interrupts disabled.
 */
__attribute__((noinline)) static void pcp_lock_wait(struct mmk_frame_pcp *pcp)
{
	do {
		while (__atomic_load_n(&pcp->lock, __ATOMIC_RELAXED))
			mmk_hal_cpu_relax();
	} while (__atomic_exchange_n(&pcp->lock, 1, __ATOMIC_ACQUIRE));
}

static inline void pcp_lock(struct mmk_frame_pcp *pcp)
{
	if (MMK_UNLIKELY(__atomic_exchange_n(&pcp->lock, 1, __ATOMIC_ACQUIRE)))
		pcp_lock_wait(pcp);
}

static inline void pcp_unlock(struct mmk_frame_pcp *pcp)
{
	__atomic_store_n(&pcp->lock, 0, __ATOMIC_RELEASE);
}

static struct mmk_frame_region *region_of(struct mmk_frames *fa, uint64_t pfn)
{
	/* Regions are few and sorted; the first one is the common case. */
	struct mmk_frame_region *r = &fa->region[0];
	if (MMK_LIKELY(pfn - r->pfn_base < r->npages))
		return r;
	unsigned lo = 1, hi = fa->nregions;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		r = &fa->region[mid];
		if (pfn < r->pfn_base)
			hi = mid;
		else if (pfn - r->pfn_base >= r->npages)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

static void list_push(struct mmk_frame_region *r, uint32_t idx, unsigned order)
{
	struct mmk_frame *f = &r->meta[idx];
	uint32_t head = r->free_head[order];
	f->next = head;
	f->prev = NIL;
	f->order = (uint8_t)order;
	st_set(f, MMK_FS_FREE);
	if (head != NIL)
		r->meta[head].prev = idx;
	r->free_head[order] = idx;
	r->nonempty |= 1u << order;
	r->nfree[order]++;
}

static inline __attribute__((always_inline)) void
list_remove(struct mmk_frame_region *r, uint32_t idx)
{
	struct mmk_frame *f = &r->meta[idx];
	unsigned order = f->order;
	if (f->prev != NIL)
		r->meta[f->prev].next = f->next;
	else
		r->free_head[order] = f->next;
	if (f->next != NIL)
		r->meta[f->next].prev = f->prev;
	if (r->free_head[order] == NIL)
		r->nonempty &= ~(1u << order);
	r->nfree[order]--;
	st_set(f, MMK_FS_TAIL);
}

/* Take a block of @order from @r's lists, splitting a larger one. */
static bool buddy_take(struct mmk_frame_region *r, unsigned order,
		       uint32_t *out)
{
	uint32_t avail = r->nonempty & ~((1u << order) - 1);
	if (!avail)
		return false;
	unsigned k = mmk__ctz64(avail);
	uint32_t idx = r->free_head[k];
	list_remove(r, idx);
	while (k > order) { /* give back the upper halves */
		k--;
		list_push(r, idx + (1u << k), k);
	}
	*out = idx;
	return true;
}

/* Give a block back to @r's lists, merging with free buddies. */
static void buddy_give(struct mmk_frame_region *r, uint32_t idx, unsigned order)
{
	uint64_t pfn = r->pfn_base + idx;
	while (order < MMK_FRAME_MAX_ORDER) {
		uint64_t bpfn = pfn ^ ((uint64_t)1 << order);
		uint64_t bidx = bpfn - r->pfn_base;
		if (bpfn < r->pfn_base || bidx + (1u << order) > r->npages)
			break;
		struct mmk_frame *b = &r->meta[bidx];
		if (st_get(b) != MMK_FS_FREE || b->order != order)
			break;
		list_remove(r, (uint32_t)bidx);
		pfn &= ~((uint64_t)1 << order);
		order++;
	}
	list_push(r, (uint32_t)(pfn - r->pfn_base), order);
}

/* ------------------------------------------------------------- init */

static bool page_reserved(const struct mmk_bootmem *bm, unsigned *k,
			  uint64_t pa)
{
	while (*k < bm->nresv && bm->resv[*k].end <= pa)
		(*k)++;
	return *k < bm->nresv && bm->resv[*k].start <= pa;
}

static uint64_t meta_bytes(uint64_t npages)
{
	return npages * sizeof(struct mmk_frame);
}

/* Check everything that needs no allocation; EINVAL/ERANGE, nothing done. */
static int init_check(const struct mmk_bootmem *bm)
{
	if (bm->closed || bm->nram == 0)
		return MMK_EINVAL;
#if MMK_CFG_HAL_LINEAR_MAP
	/* Frame metadata and every frame mmkit touches are reached through
	 * the offset: a partial page would misalign them all (hal.h). */
	if (!MMK_IS_ALIGNED(mmk_hal_pv_offset, MMK_PAGE_SIZE))
		return MMK_EINVAL;
#endif
	for (unsigned i = 0; i < bm->nram; i++)
		if ((bm->ram[i].end - bm->ram[i].start) >> MMK_PAGE_SHIFT >=
		    NIL)
			return MMK_ERANGE; /* frame indices are 32 bits */
	return MMK_OK;
}

/*
 * Carve every region's metadata out of @bm.  On failure the allocations
 * made so far are given back in reverse order, which restores @bm exactly.
 */
static int init_meta(struct mmk_frames *fa, struct mmk_bootmem *bm)
{
	for (unsigned i = 0; i < bm->nram; i++) {
		struct mmk_frame_region *r = &fa->region[i];
		uint64_t npages =
			(bm->ram[i].end - bm->ram[i].start) >> MMK_PAGE_SHIFT;
		mmk_paddr_t meta;
		int err = mmk_bootmem_alloc(bm, meta_bytes(npages), 64, &meta);
		if (err) {
			while (i--)
				mmk__bootmem_unalloc(
					bm,
					mmk_virt_to_phys(fa->region[i].meta),
					meta_bytes(fa->region[i].npages));
			return err;
		}
		r->pfn_base = bm->ram[i].start >> MMK_PAGE_SHIFT;
		r->npages = npages;
		r->meta = mmk_phys_to_virt(meta);
	}
	return MMK_OK;
}

/* Hand every page of @r that is not reserved to the lists. */
static void init_region(struct mmk_frames *fa, struct mmk_frame_region *r,
			const struct mmk_bootmem *bm)
{
	__builtin_memset(r->meta, 0, meta_bytes(r->npages));
	for (unsigned k = 0; k < MMK_FRAME_ORDERS; k++) {
		r->free_head[k] = NIL;
		r->nfree[k] = 0;
	}
	r->nonempty = 0;
	unsigned k = 0;
	for (uint64_t idx = 0; idx < r->npages; idx++) {
		uint64_t pa = (r->pfn_base + idx) << MMK_PAGE_SHIFT;
		if (page_reserved(bm, &k, pa)) {
			st_set(&r->meta[idx], MMK_FS_RESERVED);
			continue;
		}
		/* Freeing page by page coalesces into the largest aligned
		 * blocks, which is what we want. */
		buddy_give(r, (uint32_t)idx, 0);
		fa->total_pages++;
	}
}

int mmk_frames_init(struct mmk_frames *fa, struct mmk_bootmem *bm)
{
	int err = init_check(bm);
	if (err)
		return err;
	err = init_meta(fa, bm);
	if (err)
		return err;
	/* Nothing fails from here on. */
	bm->closed = true;
	mmk_spin_init(&fa->lock);
	fa->nregions = bm->nram;
	fa->total_pages = 0;
	fa->buddy_allocated = 0;
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++) {
		fa->pcp[c].lock = 0;
		fa->pcp[c].count = 0;
		fa->pcp[c].allocated = 0;
	}
	for (unsigned i = 0; i < fa->nregions; i++)
		init_region(fa, &fa->region[i], bm);
	return MMK_OK;
}

/* ------------------------------------------------------ alloc / free */

/* Take a block of @order from the first region that has one.  fa->lock. */
static bool buddy_alloc_locked(struct mmk_frames *fa, unsigned order,
			       uint64_t *pfn)
{
	for (unsigned i = 0; i < fa->nregions; i++) {
		struct mmk_frame_region *r = &fa->region[i];
		uint32_t idx;
		if (buddy_take(r, order, &idx)) {
			*pfn = r->pfn_base + idx;
			fa->buddy_allocated += (int64_t)1 << order;
			return true;
		}
	}
	return false;
}

/* pcp->allocated is read by mmk_frames_stats without the cache's lock. */
static inline void pcp_account(struct mmk_frame_pcp *pcp, int64_t pages)
{
	__atomic_store_n(&pcp->allocated, pcp->allocated + pages,
			 __ATOMIC_RELAXED);
}

/* Refill @pcp with up to a batch of order-0 frames; false if none.
 * Holds @pcp's lock. */
static bool pcp_refill(struct mmk_frames *fa, struct mmk_frame_pcp *pcp)
{
	mmk_spin_lock_noirq(&fa->lock);
	while (pcp->count < MMK_FRAME_PCP_BATCH) {
		uint64_t pfn;
		if (!buddy_alloc_locked(fa, 0, &pfn))
			break;
		struct mmk_frame_region *r = region_of(fa, pfn);
		st_set(&r->meta[pfn - r->pfn_base], MMK_FS_CACHED);
		pcp->pa[pcp->count++] = pfn << MMK_PAGE_SHIFT;
	}
	mmk_spin_unlock_noirq(&fa->lock);
	/* The buddy lists hand out ascending addresses; reverse the batch so
	 * that pops (from the top) do too, which streams well when the caller
	 * zeroes or fills page after page. */
	for (unsigned i = 0, j = pcp->count; i + 1 < j; i++, j--) {
		uint64_t t = pcp->pa[i];
		pcp->pa[i] = pcp->pa[j - 1];
		pcp->pa[j - 1] = t;
	}
	return pcp->count > 0;
}

/* Return the oldest @n cached frames to the lists.  Holds @pcp's lock and
 * fa->lock. */
static void pcp_give_locked(struct mmk_frames *fa, struct mmk_frame_pcp *pcp,
			    unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t pfn = pcp->pa[i] >> MMK_PAGE_SHIFT;
		struct mmk_frame_region *r = region_of(fa, pfn);
		st_set(&r->meta[pfn - r->pfn_base], MMK_FS_TAIL);
		buddy_give(r, (uint32_t)(pfn - r->pfn_base), 0);
	}
	fa->buddy_allocated -= n;
	for (unsigned i = n; i < pcp->count; i++)
		pcp->pa[i - n] = pcp->pa[i];
	pcp->count -= n;
}

/* The same, taking fa->lock.  Holds @pcp's lock. */
static void pcp_drain(struct mmk_frames *fa, struct mmk_frame_pcp *pcp,
		      unsigned n)
{
	mmk_spin_lock_noirq(&fa->lock);
	pcp_give_locked(fa, pcp, n);
	mmk_spin_unlock_noirq(&fa->lock);
}

#define NO_PFN UINT64_MAX

/*
 * The slow path of an allocation that neither the caller's cache nor the
 * lists could serve: take back every CPU's cached frames, one cache at a
 * time starting after the caller's, and try again after each.  The last
 * try, on the caller's own cache, also sees what was freed to the lists in
 * the meantime.  So it fails only when every cache it visited was empty
 * (or what it held did not help) and the lists had no block at the end.
 * Called with no lock held and interrupts in any state; the block's pages
 * are counted on the cache whose lock was held when it was taken.
 */
__attribute__((noinline)) static bool
alloc_reclaiming(struct mmk_frames *fa, unsigned order, uint64_t *pfn)
{
	unsigned long irq = mmk_hal_irq_save();
	unsigned self = mmk_hal_cpu_id();
	mmk_hal_irq_restore(irq);
	for (unsigned i = 1; i <= MMK_CFG_MAX_CPUS; i++) {
		struct mmk_frame_pcp *pcp =
			&fa->pcp[(self + i) % MMK_CFG_MAX_CPUS];
		bool last = i == MMK_CFG_MAX_CPUS, ok = false;
		irq = mmk_hal_irq_save();
		pcp_lock(pcp);
		if (pcp->count || last) {
			mmk_spin_lock_noirq(&fa->lock);
			pcp_give_locked(fa, pcp, pcp->count);
			ok = buddy_alloc_locked(fa, order, pfn);
			mmk_spin_unlock_noirq(&fa->lock);
			if (ok)
				pcp_account(pcp, (int64_t)1 << order);
		}
		pcp_unlock(pcp);
		mmk_hal_irq_restore(irq);
		if (ok)
			return true;
	}
	return false;
}

static void zero_block(mmk_paddr_t pa, unsigned order)
{
	/* A constant size lets the compiler emit its best inline clear for
	 * the common single page (rep stos on x86_64) instead of a call. */
	if (order == 0)
		__builtin_memset(mmk_phys_to_virt(pa), 0, MMK_PAGE_SIZE);
	else
		__builtin_memset(mmk_phys_to_virt(pa), 0,
				 MMK_PAGE_SIZE << order);
}

/*
 * Everything but a hit in the caller's cache: a refill, a block of a higher
 * order, and at last alloc_reclaiming.  Out of line, so that the fast path
 * keeps its registers.  Returns the block's first frame, or NO_PFN.
 */
__attribute__((noinline)) static uint64_t alloc_slow(struct mmk_frames *fa,
						     unsigned order)
{
	uint64_t pfn = NO_PFN;
	bool ok;
	unsigned long irq = mmk_hal_irq_save();
	struct mmk_frame_pcp *pcp = &fa->pcp[mmk_hal_cpu_id()];
	if (order == 0) {
		pcp_lock(pcp);
		ok = pcp->count != 0 || pcp_refill(fa, pcp);
		if (ok) {
			pfn = pcp->pa[--pcp->count] >> MMK_PAGE_SHIFT;
			pcp_account(pcp, 1);
		}
		pcp_unlock(pcp);
	} else {
		ok = false; /* blocks: alloc_block, unless that failed */
	}
	mmk_hal_irq_restore(irq);
	return ok ? pfn : NO_PFN; /* the caller reclaims, then fails */
}

/*
 * A block of order > 0.  Blocks never go through the caches: only the
 * lists' lock.  The per-CPU count is written by its CPU alone (IRQs off);
 * the cache's lock guards the cached frames, not the count.  Inline: the
 * whole path is a lock, a list pop and an unlock.
 */
static inline uint64_t alloc_block(struct mmk_frames *fa, unsigned order)
{
	uint64_t pfn = NO_PFN;
	unsigned long irq = mmk_hal_irq_save();
	mmk_spin_lock_noirq(&fa->lock);
	bool ok = buddy_alloc_locked(fa, order, &pfn);
	mmk_spin_unlock_noirq(&fa->lock);
	if (ok)
		pcp_account(&fa->pcp[mmk_hal_cpu_id()], (int64_t)1 << order);
	mmk_hal_irq_restore(irq);
	return ok ? pfn : NO_PFN; /* the caller reclaims, then retries */
}

int mmk_frame_alloc(struct mmk_frames *fa, unsigned order, unsigned flags,
		    mmk_paddr_t *out)
{
	if (order > MMK_FRAME_MAX_ORDER || (flags & ~MMK_FRAME_ZERO))
		return MMK_EINVAL;
	if (mmk_hal_failpoint(MMK_FAIL_FRAME))
		return MMK_ENOMEM;
	uint64_t pfn = NO_PFN;
	bool hit = false;
	if (MMK_LIKELY(order == 0)) {
		unsigned long irq = mmk_hal_irq_save();
		struct mmk_frame_pcp *pcp = &fa->pcp[mmk_hal_cpu_id()];
		pcp_lock(pcp);
		unsigned n = pcp->count;
		hit = n != 0;
		if (MMK_LIKELY(hit)) {
			pcp->count = n - 1;
			pfn = pcp->pa[n - 1] >> MMK_PAGE_SHIFT;
			pcp_account(pcp, 1);
		}
		pcp_unlock(pcp);
		mmk_hal_irq_restore(irq);
	}
	if (order != 0)
		pfn = alloc_block(fa, order);
	else if (MMK_UNLIKELY(!hit))
		pfn = alloc_slow(fa, order);
	/* Not under alloc_slow's frame: the reclaim's calls are the deepest
	 * of every table allocation (docs/STACK.md). */
	if (MMK_UNLIKELY(pfn == NO_PFN) && !alloc_reclaiming(fa, order, &pfn))
		return MMK_ENOMEM;

	struct mmk_frame_region *r = region_of(fa, pfn);
	struct mmk_frame *f = &r->meta[pfn - r->pfn_base];
	f->order = (uint8_t)order;
	f->priv = 0;
	atomic_store_explicit(&f->ref, 1, memory_order_relaxed);
	/* Publish the state last: a racing bad free must see ALLOC only
	 * once the rest is set. */
	__atomic_store_n(&f->state, MMK_FS_ALLOC, __ATOMIC_RELEASE);
	mmk_paddr_t pa = mmk_pa(pfn << MMK_PAGE_SHIFT);
	if (flags & MMK_FRAME_ZERO)
		zero_block(pa, order);
	mmk_hal_frame_note(pa, order, true);
	*out = pa;
	return MMK_OK;
}

/*
 * Is the non-head frame @idx of @r inside a free block?  The block that
 * holds a frame starts at the frame's index rounded down to the block's
 * order, and every frame of a block but its head reads TAIL, so the first
 * head met going up the orders is the block's.  Holds fa->lock.
 */
static bool in_free_block_locked(const struct mmk_frame_region *r, uint64_t idx)
{
	uint64_t pfn = r->pfn_base + idx;
	for (unsigned k = 1; k <= MMK_FRAME_MAX_ORDER; k++) {
		uint64_t h = pfn & ~((1ull << k) - 1);
		if (h < r->pfn_base)
			return false;
		const struct mmk_frame *f = &r->meta[h - r->pfn_base];
		uint8_t st = st_get(f);
		if (st != MMK_FS_TAIL)
			return st == MMK_FS_FREE && f->order >= k;
	}
	return false;
}

/*
 * Why @f (frame @idx of @r, not an allocated block's head) cannot be freed:
 * EDOUBLEFREE if it is free and was handed out before, EBADFREE otherwise;
 * *@is_free (if given) tells whether it is free.  Takes fa->lock.
 */
__attribute__((noinline)) static int not_alloc(struct mmk_frames *fa,
					       const struct mmk_frame_region *r,
					       const struct mmk_frame *f,
					       uint64_t idx, bool *is_free)
{
	uint8_t st = st_get(f);
	bool in_free = st == MMK_FS_FREE || st == MMK_FS_CACHED,
	     before = in_free;
	if (st == MMK_FS_TAIL) {
		unsigned long irq = mmk_spin_lock(&fa->lock);
		in_free = in_free_block_locked(r, idx);
		before = in_free && f->priv == PRIV_FREED;
		mmk_spin_unlock(&fa->lock, irq);
	}
	if (is_free)
		*is_free = in_free;
	return before ? MMK_EDOUBLEFREE : MMK_EBADFREE;
}

/*
 * The head frame of an allocated block at @pa, or why not: EBADFREE (not
 * in RAM, unaligned, reserved, inside a block, or free and never handed
 * out), EDOUBLEFREE (free, and handed out before).  *@is_free (if given)
 * is set for a free frame.
 */
static inline int lookup_alloc(struct mmk_frames *fa, mmk_paddr_t pa,
			       struct mmk_frame_region **rp,
			       struct mmk_frame **fp, bool *is_free)
{
	if (is_free)
		*is_free = false;
	if (!MMK_IS_ALIGNED(pa.v, MMK_PAGE_SIZE))
		return MMK_EBADFREE;
	struct mmk_frame_region *r = region_of(fa, pa.v >> MMK_PAGE_SHIFT);
	if (!r)
		return MMK_EBADFREE;
	uint64_t idx = (pa.v >> MMK_PAGE_SHIFT) - r->pfn_base;
	struct mmk_frame *f = &r->meta[idx];
	if (MMK_UNLIKELY(st_get(f) != MMK_FS_ALLOC))
		return not_alloc(fa, r, f, idx, is_free);
	*rp = r;
	*fp = f;
	return MMK_OK;
}

__attribute__((noinline, cold)) static void
frame_report(const char *what, mmk_paddr_t pa, int err)
{
	mmk_log(MMK_LOG_ERROR, "frame %s of %#llx: %s", what,
		(unsigned long long)pa.v, mmk_strerror_name(err));
}

/* release() of a page when the caller's cache is full. */
__attribute__((noinline)) static void
release_slow(struct mmk_frames *fa, struct mmk_frame *f, uint64_t pa)
{
	unsigned long irq = mmk_hal_irq_save();
	struct mmk_frame_pcp *pcp = &fa->pcp[mmk_hal_cpu_id()];
	pcp_lock(pcp);
	pcp_account(pcp, -1);
	if (pcp->count == MMK_FRAME_PCP_SIZE)
		pcp_drain(fa, pcp, MMK_FRAME_PCP_BATCH);
	st_set(f, MMK_FS_CACHED);
	pcp->pa[pcp->count++] = pa;
	pcp_unlock(pcp);
	mmk_hal_irq_restore(irq);
}

/* release() of a block (order > 0): the lists' lock only (see
 * alloc_block).  Out of line: the page path's frame stays small, and it is
 * on the deepest chains (docs/STACK.md). */
__attribute__((noinline)) static void release_block(struct mmk_frames *fa,
						    struct mmk_frame_region *r,
						    struct mmk_frame *f,
						    uint64_t pa, unsigned order)
{
	unsigned long irq = mmk_hal_irq_save();
	pcp_account(&fa->pcp[mmk_hal_cpu_id()], -((int64_t)1 << order));
	mmk_spin_lock_noirq(&fa->lock);
	st_set(f, MMK_FS_TAIL);
	buddy_give(r, (uint32_t)((pa >> MMK_PAGE_SHIFT) - r->pfn_base), order);
	fa->buddy_allocated -= (int64_t)1 << order;
	mmk_spin_unlock_noirq(&fa->lock);
	mmk_hal_irq_restore(irq);
}

/* Hand a block whose last reference is gone back to the allocator. */
static inline void release(struct mmk_frames *fa, struct mmk_frame_region *r,
			   struct mmk_frame *f, uint64_t pa)
{
	unsigned order = f->order;
	f->priv = PRIV_FREED;
	mmk_hal_frame_note(mmk_pa(pa), order, false);
	if (order != 0) {
		release_block(fa, r, f, pa, order);
		return;
	}
	unsigned long irq = mmk_hal_irq_save();
	struct mmk_frame_pcp *pcp = &fa->pcp[mmk_hal_cpu_id()];
	pcp_lock(pcp);
	unsigned n = pcp->count;
	bool room = n < MMK_FRAME_PCP_SIZE;
	if (MMK_LIKELY(room)) {
		pcp_account(pcp, -1);
		st_set(f, MMK_FS_CACHED);
		pcp->pa[n] = pa;
		pcp->count = n + 1;
	}
	pcp_unlock(pcp);
	mmk_hal_irq_restore(irq);
	if (MMK_UNLIKELY(!room))
		release_slow(fa, f, pa);
}

/* mmk_frame_put, inlined into both entry points. */
static inline int put_ref(struct mmk_frames *fa, mmk_paddr_t pa)
{
	struct mmk_frame_region *r = NULL;
	struct mmk_frame *f = NULL;
	int err = lookup_alloc(fa, pa, &r, &f, NULL);
	if (MMK_UNLIKELY(err)) {
		frame_report("free", pa, err);
		return err;
	}
	uint32_t old = atomic_load_explicit(&f->ref, memory_order_relaxed);
	do {
		if (MMK_UNLIKELY(old == 0)) {
			frame_report("put", pa, MMK_EREFCOUNT);
			return MMK_EREFCOUNT;
		}
	} while (!atomic_compare_exchange_weak_explicit(&f->ref, &old, old - 1,
							memory_order_acq_rel,
							memory_order_relaxed));
	if (old != 1)
		return 0;
	release(fa, r, f, pa.v);
	return 1;
}

int mmk_frame_put(struct mmk_frames *fa, mmk_paddr_t pa)
{
	return put_ref(fa, pa);
}

int mmk_frame_free(struct mmk_frames *fa, mmk_paddr_t pa)
{
	int r = put_ref(fa, pa);
	return r > 0 ? MMK_OK : r;
}

int mmk_frame_put_unless_last(struct mmk_frames *fa, mmk_paddr_t pa)
{
	struct mmk_frame_region *r = NULL;
	struct mmk_frame *f = NULL;
	int err = lookup_alloc(fa, pa, &r, &f, NULL);
	if (MMK_UNLIKELY(err)) {
		frame_report("put", pa, err);
		return err;
	}
	uint32_t old = atomic_load_explicit(&f->ref, memory_order_acquire);
	do {
		if (MMK_UNLIKELY(old == 0)) {
			frame_report("put", pa, MMK_EREFCOUNT);
			return MMK_EREFCOUNT;
		}
		if (old == 1)
			return 0; /* the caller's is the last: it keeps it */
	} while (!atomic_compare_exchange_weak_explicit(&f->ref, &old, old - 1,
							memory_order_acq_rel,
							memory_order_relaxed));
	return 1;
}

int mmk_frame_get(struct mmk_frames *fa, mmk_paddr_t pa)
{
	struct mmk_frame_region *r = NULL;
	struct mmk_frame *f = NULL;
	int err = lookup_alloc(fa, pa, &r, &f, NULL);
	if (err) {
		frame_report("get", pa, err);
		return err;
	}
	uint32_t old = atomic_load_explicit(&f->ref, memory_order_relaxed);
	do {
		if (old == UINT32_MAX || old == 0) {
			frame_report("get", pa, MMK_EREFCOUNT);
			return MMK_EREFCOUNT;
		}
	} while (!atomic_compare_exchange_weak_explicit(&f->ref, &old, old + 1,
							memory_order_relaxed,
							memory_order_relaxed));
	return MMK_OK;
}

int mmk_frame_tryget(struct mmk_frames *fa, mmk_paddr_t pa)
{
	struct mmk_frame_region *r = NULL;
	struct mmk_frame *f = NULL;
	bool is_free;
	int err = lookup_alloc(fa, pa, &r, &f, &is_free);
	if (is_free)
		return MMK_EAGAIN; /* gone already: quietly */
	if (err) {
		frame_report("tryget", pa, err);
		return err;
	}
	uint32_t old = atomic_load_explicit(&f->ref, memory_order_relaxed);
	do {
		if (old == 0)
			return MMK_EAGAIN; /* a last put is freeing it */
		if (old == UINT32_MAX) {
			frame_report("tryget", pa, MMK_EREFCOUNT);
			return MMK_EREFCOUNT;
		}
	} while (!atomic_compare_exchange_weak_explicit(&f->ref, &old, old + 1,
							memory_order_relaxed,
							memory_order_relaxed));
	return MMK_OK;
}

int64_t mmk_frame_refcount(struct mmk_frames *fa, mmk_paddr_t pa)
{
	struct mmk_frame_region *r = NULL;
	struct mmk_frame *f = NULL;
	bool is_free;
	int err = lookup_alloc(fa, pa, &r, &f, &is_free);
	if (is_free)
		return 0;
	if (err)
		return err;
	return atomic_load_explicit(&f->ref, memory_order_relaxed);
}

int mmk_frame_order(struct mmk_frames *fa, mmk_paddr_t pa)
{
	struct mmk_frame_region *r = NULL;
	struct mmk_frame *f = NULL;
	int err = lookup_alloc(fa, pa, &r, &f, NULL);
	return err ? err : f->order;
}

/*
 * mmk_frame_split.  The frames of an allocated block other than its head
 * are TAIL (only heads carry a state); the first frame of each piece
 * becomes the head of a block of its own, state published last (release),
 * as mmk_frame_alloc does, so that a lock-free lookup that sees ALLOC sees
 * the rest.  The lists and the page counts do not change: the same pages
 * stay allocated.
 */
int mmk_frame_split(struct mmk_frames *fa, mmk_paddr_t pa, unsigned order,
		    unsigned to)
{
	if (order > MMK_FRAME_MAX_ORDER || to > order)
		return MMK_EINVAL;
	struct mmk_frame_region *r = NULL;
	struct mmk_frame *f = NULL;
	int err = lookup_alloc(fa, pa, &r, &f, NULL);
	if (err) {
		frame_report("split", pa, err);
		return err;
	}
	if (f->order != order)
		return MMK_EINVAL;
	if (to == order)
		return MMK_OK;
	uint32_t ref = atomic_load_explicit(&f->ref, memory_order_relaxed);
	uint64_t n = (uint64_t)1 << order, step = (uint64_t)1 << to;
	for (uint64_t i = step; i < n; i += step) {
		struct mmk_frame *p = f + i; /* a block lies in one region */
		p->order = (uint8_t)to;
		p->priv = 0;
		atomic_store_explicit(&p->ref, ref, memory_order_relaxed);
		__atomic_store_n(&p->state, MMK_FS_ALLOC, __ATOMIC_RELEASE);
	}
	f->order = (uint8_t)to;
	/* Accounting hooks see the block go and its pieces come. */
	mmk_hal_frame_note(pa, order, false);
	for (uint64_t i = 0; i < n; i += step)
		mmk_hal_frame_note(mmk_pa_add(pa, i << MMK_PAGE_SHIFT), to,
				   true);
	return MMK_OK;
}

struct mmk_frame *mmk_frame_meta(struct mmk_frames *fa, mmk_paddr_t pa)
{
	struct mmk_frame_region *r = region_of(fa, pa.v >> MMK_PAGE_SHIFT);
	return r ? &r->meta[(pa.v >> MMK_PAGE_SHIFT) - r->pfn_base] : NULL;
}

/* --------------------------------------------------- memory pressure */

int mmk_frames_drain_cpu(struct mmk_frames *fa, unsigned cpu)
{
	if (cpu >= MMK_CFG_MAX_CPUS)
		return MMK_EINVAL;
	struct mmk_frame_pcp *pcp = &fa->pcp[cpu];
	unsigned long irq = mmk_hal_irq_save();
	pcp_lock(pcp);
	unsigned n = pcp->count;
	if (n)
		pcp_drain(fa, pcp, n);
	pcp_unlock(pcp);
	mmk_hal_irq_restore(irq);
	return (int)n;
}

uint64_t mmk_frames_reclaim(struct mmk_frames *fa)
{
	uint64_t n = 0;
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++)
		n += (uint64_t)mmk_frames_drain_cpu(fa, c);
	return n;
}

void mmk_frames_drain(struct mmk_frames *fa)
{
	(void)mmk_frames_reclaim(fa);
}

void mmk_frames_stats(struct mmk_frames *fa, struct mmk_frame_stats *st)
{
	int64_t alloc = 0;
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++)
		alloc += __atomic_load_n(&fa->pcp[c].allocated,
					 __ATOMIC_RELAXED);
	unsigned long irq = mmk_spin_lock(&fa->lock);
	st->total_pages = fa->total_pages;
	st->allocated_pages = (uint64_t)alloc;
	st->free_pages = fa->total_pages - (uint64_t)alloc;
	for (unsigned k = 0; k < MMK_FRAME_ORDERS; k++) {
		st->free_blocks[k] = 0;
		for (unsigned i = 0; i < fa->nregions; i++)
			st->free_blocks[k] += fa->region[i].nfree[k];
	}
	mmk_spin_unlock(&fa->lock, irq);
}

/* ------------------------------------------------------------ checker */

#define CHECK(c, ...)                                                          \
	do {                                                                   \
		if (!(c)) {                                                    \
			mmk_log(MMK_LOG_ERROR, "frames check: " __VA_ARGS__);  \
			return MMK_EINVAL;                                     \
		}                                                              \
	} while (0)

static int check_region(struct mmk_frame_region *r, uint64_t *free_pages)
{
	for (unsigned k = 0; k < MMK_FRAME_ORDERS; k++) {
		uint64_t n = 0;
		uint32_t prev = NIL;
		for (uint32_t i = r->free_head[k]; i != NIL;
		     i = r->meta[i].next) {
			struct mmk_frame *f = &r->meta[i];
			CHECK(i < r->npages, "index %u out of region", i);
			CHECK(st_get(f) == MMK_FS_FREE && f->order == k,
			      "list %u holds frame %u state %u order %u", k, i,
			      st_get(f), f->order);
			CHECK(f->prev == prev, "bad prev link at %u", i);
			uint64_t pfn = r->pfn_base + i;
			CHECK((pfn & ((1ull << k) - 1)) == 0,
			      "block %u of order %u misaligned", i, k);
			CHECK(i + (1ull << k) <= r->npages, "block past end");
			uint64_t bpfn = pfn ^ (1ull << k);
			uint64_t bidx = bpfn - r->pfn_base;
			if (k < MMK_FRAME_MAX_ORDER && bpfn >= r->pfn_base &&
			    bidx + (1ull << k) <= r->npages)
				CHECK(!(st_get(&r->meta[bidx]) == MMK_FS_FREE &&
					r->meta[bidx].order == k),
				      "free buddies %u and %llu not merged", i,
				      (unsigned long long)bidx);
			for (uint64_t t = 1; t < (1ull << k); t++)
				CHECK(st_get(&r->meta[i + t]) == MMK_FS_TAIL,
				      "frame inside free block %u not tail", i);
			prev = i;
			n++;
			*free_pages += 1ull << k;
		}
		CHECK(n == r->nfree[k], "order %u count %llu != %llu", k,
		      (unsigned long long)n, (unsigned long long)r->nfree[k]);
		CHECK(!!(r->nonempty & (1u << k)) == (n != 0),
		      "nonempty mask wrong at order %u", k);
	}
	return MMK_OK;
}

int mmk_frames_check(struct mmk_frames *fa)
{
	/* Every cache lock, in the lock order, then the lists': a snapshot
	 * in which the counts of caches and lists agree. */
	unsigned long irq = mmk_hal_irq_save();
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++)
		pcp_lock(&fa->pcp[c]);
	mmk_spin_lock_noirq(&fa->lock);
	uint64_t free_pages = 0;
	int64_t cached = 0, handed_out = 0;
	int err = MMK_OK;
	for (unsigned i = 0; i < fa->nregions && !err; i++)
		err = check_region(&fa->region[i], &free_pages);
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++) {
		cached += fa->pcp[c].count;
		handed_out += fa->pcp[c].allocated;
	}
	if (!err &&
	    free_pages + (uint64_t)fa->buddy_allocated != fa->total_pages) {
		mmk_log(MMK_LOG_ERROR,
			"frames check: free %llu + allocated %lld != total "
			"%llu",
			(unsigned long long)free_pages,
			(long long)fa->buddy_allocated,
			(unsigned long long)fa->total_pages);
		err = MMK_EINVAL;
	}
	/* What left the buddy lists is either with its owner or cached. */
	if (!err && fa->buddy_allocated != handed_out + cached) {
		mmk_log(MMK_LOG_ERROR,
			"frames check: buddy allocated %lld != handed out %lld "
			"+ cached %lld",
			(long long)fa->buddy_allocated, (long long)handed_out,
			(long long)cached);
		err = MMK_EINVAL;
	}
	mmk_spin_unlock_noirq(&fa->lock);
	for (unsigned c = MMK_CFG_MAX_CPUS; c-- > 0;)
		pcp_unlock(&fa->pcp[c]);
	mmk_hal_irq_restore(irq);
	return err;
}
