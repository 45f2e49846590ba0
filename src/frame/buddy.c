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
 * MMK_FRAME_PCP_SIZE frames: alloc and free there only disable interrupts.
 * A cached frame is CACHED in its metadata, so it still counts as free for
 * double-free detection; the buddy lists see it as allocated until drained.
 */
#include <mmkit/frame.h>
#include <mmkit/log.h>

#include "lib/bits.h"

#define NIL UINT32_MAX

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

static void list_remove(struct mmk_frame_region *r, uint32_t idx)
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

int mmk_frames_init(struct mmk_frames *fa, struct mmk_bootmem *bm)
{
	if (bm->closed || bm->nram == 0)
		return MMK_EINVAL;
	mmk_spin_init(&fa->lock);
	fa->nregions = bm->nram;
	fa->total_pages = 0;
	fa->buddy_allocated = 0;
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++) {
		fa->pcp[c].count = 0;
		fa->pcp[c].allocated = 0;
	}
	/* Metadata first: it comes out of the boot allocator itself. */
	for (unsigned i = 0; i < bm->nram; i++) {
		struct mmk_frame_region *r = &fa->region[i];
		uint64_t npages =
			(bm->ram[i].end - bm->ram[i].start) >> MMK_PAGE_SHIFT;
		if (npages >= NIL)
			return MMK_ERANGE;
		mmk_paddr_t meta;
		int err = mmk_bootmem_alloc(
			bm, npages * sizeof(struct mmk_frame), 64, &meta);
		if (err)
			return err;
		r->pfn_base = bm->ram[i].start >> MMK_PAGE_SHIFT;
		r->npages = npages;
		r->meta = mmk_phys_to_virt(meta);
	}
	bm->closed = true;
	for (unsigned i = 0; i < fa->nregions; i++) {
		struct mmk_frame_region *r = &fa->region[i];
		__builtin_memset(r->meta, 0,
				 r->npages * sizeof(struct mmk_frame));
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
			/* Freeing page by page coalesces into the largest
			 * aligned blocks, which is what we want. */
			buddy_give(r, (uint32_t)idx, 0);
			fa->total_pages++;
		}
	}
	return MMK_OK;
}

/* ------------------------------------------------------ alloc / free */

static int buddy_alloc_locked(struct mmk_frames *fa, unsigned order,
			      uint64_t *pfn)
{
	for (unsigned i = 0; i < fa->nregions; i++) {
		struct mmk_frame_region *r = &fa->region[i];
		uint32_t idx;
		if (buddy_take(r, order, &idx)) {
			*pfn = r->pfn_base + idx;
			fa->buddy_allocated += (int64_t)1 << order;
			return MMK_OK;
		}
	}
	return MMK_ENOMEM;
}

/* Refill @pcp with up to a batch of order-0 frames; false if none. */
static bool pcp_refill(struct mmk_frames *fa, struct mmk_frame_pcp *pcp)
{
	mmk_spin_lock_noirq(&fa->lock);
	while (pcp->count < MMK_FRAME_PCP_BATCH) {
		uint64_t pfn;
		if (buddy_alloc_locked(fa, 0, &pfn) != MMK_OK)
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

/* Return the oldest @n cached frames to the buddy lists. */
static void pcp_drain(struct mmk_frames *fa, struct mmk_frame_pcp *pcp,
		      unsigned n)
{
	mmk_spin_lock_noirq(&fa->lock);
	for (unsigned i = 0; i < n; i++) {
		uint64_t pfn = pcp->pa[i] >> MMK_PAGE_SHIFT;
		struct mmk_frame_region *r = region_of(fa, pfn);
		st_set(&r->meta[pfn - r->pfn_base], MMK_FS_TAIL);
		buddy_give(r, (uint32_t)(pfn - r->pfn_base), 0);
	}
	fa->buddy_allocated -= n;
	mmk_spin_unlock_noirq(&fa->lock);
	for (unsigned i = n; i < pcp->count; i++)
		pcp->pa[i - n] = pcp->pa[i];
	pcp->count -= n;
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

int mmk_frame_alloc(struct mmk_frames *fa, unsigned order, unsigned flags,
		    mmk_paddr_t *out)
{
	if (order > MMK_FRAME_MAX_ORDER || (flags & ~MMK_FRAME_ZERO))
		return MMK_EINVAL;
	if (mmk_hal_failpoint(MMK_FAIL_FRAME))
		return MMK_ENOMEM;
	uint64_t pa;
	unsigned long irq = mmk_hal_irq_save();
	struct mmk_frame_pcp *pcp = &fa->pcp[mmk_hal_cpu_id()];
	if (order == 0) {
		if (MMK_UNLIKELY(pcp->count == 0) && !pcp_refill(fa, pcp)) {
			mmk_hal_irq_restore(irq);
			return MMK_ENOMEM;
		}
		pa = pcp->pa[--pcp->count];
	} else {
		uint64_t pfn;
		mmk_spin_lock_noirq(&fa->lock);
		int err = buddy_alloc_locked(fa, order, &pfn);
		mmk_spin_unlock_noirq(&fa->lock);
		if (err) {
			mmk_hal_irq_restore(irq);
			return err;
		}
		pa = pfn << MMK_PAGE_SHIFT;
	}
	pcp->allocated += (int64_t)1 << order;
	mmk_hal_irq_restore(irq);

	struct mmk_frame_region *r = region_of(fa, pa >> MMK_PAGE_SHIFT);
	struct mmk_frame *f = &r->meta[(pa >> MMK_PAGE_SHIFT) - r->pfn_base];
	f->order = (uint8_t)order;
	f->priv = 0;
	atomic_store_explicit(&f->ref, 1, memory_order_relaxed);
	/* Publish the state last: a racing bad free must see ALLOC only
	 * once the rest is set. */
	__atomic_store_n(&f->state, MMK_FS_ALLOC, __ATOMIC_RELEASE);
	if (flags & MMK_FRAME_ZERO)
		zero_block(mmk_pa(pa), order);
	mmk_hal_frame_note(mmk_pa(pa), order, true);
	*out = mmk_pa(pa);
	return MMK_OK;
}

/* The head frame of an allocated block at @pa, or an error. */
static int lookup_alloc(struct mmk_frames *fa, mmk_paddr_t pa,
			struct mmk_frame_region **rp, struct mmk_frame **fp)
{
	if (!MMK_IS_ALIGNED(pa.v, MMK_PAGE_SIZE))
		return MMK_EBADFREE;
	struct mmk_frame_region *r = region_of(fa, pa.v >> MMK_PAGE_SHIFT);
	if (!r)
		return MMK_EBADFREE;
	struct mmk_frame *f = &r->meta[(pa.v >> MMK_PAGE_SHIFT) - r->pfn_base];
	uint8_t st = st_get(f);
	if (st == MMK_FS_FREE || st == MMK_FS_CACHED)
		return MMK_EDOUBLEFREE;
	if (st != MMK_FS_ALLOC)
		return MMK_EBADFREE;
	*rp = r;
	*fp = f;
	return MMK_OK;
}

static void report(const char *what, mmk_paddr_t pa, int err)
{
	mmk_log(MMK_LOG_ERROR, "frame %s of %#llx: %s", what,
		(unsigned long long)pa.v, mmk_strerror(err));
}

/* Hand a block whose last reference is gone back to the allocator. */
static void release(struct mmk_frames *fa, struct mmk_frame_region *r,
		    struct mmk_frame *f, uint64_t pa)
{
	unsigned order = f->order;
	mmk_hal_frame_note(mmk_pa(pa), order, false);
	unsigned long irq = mmk_hal_irq_save();
	struct mmk_frame_pcp *pcp = &fa->pcp[mmk_hal_cpu_id()];
	pcp->allocated -= (int64_t)1 << order;
	if (order == 0) {
		if (MMK_UNLIKELY(pcp->count == MMK_FRAME_PCP_SIZE))
			pcp_drain(fa, pcp, MMK_FRAME_PCP_BATCH);
		st_set(f, MMK_FS_CACHED);
		pcp->pa[pcp->count++] = pa;
	} else {
		mmk_spin_lock_noirq(&fa->lock);
		st_set(f, MMK_FS_TAIL);
		buddy_give(r, (uint32_t)((pa >> MMK_PAGE_SHIFT) - r->pfn_base),
			   order);
		fa->buddy_allocated -= (int64_t)1 << order;
		mmk_spin_unlock_noirq(&fa->lock);
	}
	mmk_hal_irq_restore(irq);
}

int mmk_frame_put(struct mmk_frames *fa, mmk_paddr_t pa)
{
	struct mmk_frame_region *r;
	struct mmk_frame *f;
	int err = lookup_alloc(fa, pa, &r, &f);
	if (err) {
		report("free", pa, err);
		return err;
	}
	uint32_t old = atomic_load_explicit(&f->ref, memory_order_relaxed);
	do {
		if (old == 0) {
			report("put", pa, MMK_EREFCOUNT);
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

int mmk_frame_free(struct mmk_frames *fa, mmk_paddr_t pa)
{
	return mmk_frame_put(fa, pa);
}

int mmk_frame_get(struct mmk_frames *fa, mmk_paddr_t pa)
{
	struct mmk_frame_region *r;
	struct mmk_frame *f;
	int err = lookup_alloc(fa, pa, &r, &f);
	if (err) {
		report("get", pa, err);
		return err;
	}
	atomic_fetch_add_explicit(&f->ref, 1, memory_order_relaxed);
	return MMK_OK;
}

int64_t mmk_frame_refcount(struct mmk_frames *fa, mmk_paddr_t pa)
{
	struct mmk_frame_region *r;
	struct mmk_frame *f;
	int err = lookup_alloc(fa, pa, &r, &f);
	if (err == MMK_EDOUBLEFREE)
		return 0;
	if (err)
		return err;
	return atomic_load_explicit(&f->ref, memory_order_relaxed);
}

int mmk_frame_order(struct mmk_frames *fa, mmk_paddr_t pa)
{
	struct mmk_frame_region *r;
	struct mmk_frame *f;
	int err = lookup_alloc(fa, pa, &r, &f);
	return err ? err : f->order;
}

struct mmk_frame *mmk_frame_meta(struct mmk_frames *fa, mmk_paddr_t pa)
{
	struct mmk_frame_region *r = region_of(fa, pa.v >> MMK_PAGE_SHIFT);
	return r ? &r->meta[(pa.v >> MMK_PAGE_SHIFT) - r->pfn_base] : NULL;
}

void mmk_frames_drain(struct mmk_frames *fa)
{
	/* Only valid when the other CPUs are quiescent (tests, shutdown):
	 * their caches are not ours to touch otherwise. */
	unsigned long irq = mmk_hal_irq_save();
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++)
		if (fa->pcp[c].count)
			pcp_drain(fa, &fa->pcp[c], fa->pcp[c].count);
	mmk_hal_irq_restore(irq);
}

void mmk_frames_stats(struct mmk_frames *fa, struct mmk_frame_stats *st)
{
	unsigned long irq = mmk_spin_lock(&fa->lock);
	int64_t alloc = 0;
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++)
		alloc += fa->pcp[c].allocated;
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
	unsigned long irq = mmk_spin_lock(&fa->lock);
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
	mmk_spin_unlock(&fa->lock, irq);
	return err;
}
