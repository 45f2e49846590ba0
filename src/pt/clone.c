/* SPDX-License-Identifier: MIT */
/*
 * mmkit — page tables: mmk_pt_clone_range, fork's copy of a range of
 * leaves into another table (contract in include/mmkit/pt.h).
 *
 * This is the simple version, over the table's public calls: it copies
 * every leaf (SHARE is allowed and ignored); the engine's version shares
 * whole leaf tables instead and keeps the same contract
 * (tests/pt/test_pt_clone.c checks both).  Three passes, the first the
 * only one that can fail:
 *
 *   1. walk @src in batches of neighbouring leaves of one size and one
 *      set of flags; for each batch take the references (GET), then map
 *      it into @dst (one region map for base pages, one map per huge
 *      leaf).  ENOMEM: unmap what @dst got so far, put those references.
 *   2. (nothing to undo past this point)
 *   3. WRPROTECT: walk @src again in batches of runs of writable leaves
 *      and protect each run without WRITE, recorded in @g.  Whole leaves
 *      only, so these protects cannot fail.
 *
 * The walks must not see their table change under them, so each stops
 * when its batch is full and the batch is applied after it returns; the
 * next walk starts where it stopped.
 */
#include <mmkit/log.h>
#include <mmkit/pt.h>

#include "lib/bits.h"
#include "pt/checks.h"
#include "pt/format.h"

#define CLONE_FLAGS                                                            \
	(MMK_PT_CLONE_GET | MMK_PT_CLONE_WRPROTECT | MMK_PT_CLONE_SHARE)
#define CLONE_BATCH 16 /* leaves per batch (their addresses on the stack) */
#define CLONE_RUNS  8  /* runs per write-protect batch */
#define AD_BITS	    (MMK_PT_ACCESSED | MMK_PT_DIRTY)

/* A batch of pass 1: n leaves of page_size from va on, flags alike. */
struct copy_batch {
	uint32_t strip; /* flag bits the copies do not get */
	unsigned n, shift;
	mmk_vaddr_t va, next;
	uint64_t page_size;
	uint32_t flags;
	mmk_paddr_t pa[CLONE_BATCH];
};

static int copy_collect(void *ctx, const struct mmk_pt_leaf *l)
{
	struct copy_batch *b = ctx;
	uint32_t fl = l->flags & ~b->strip;
	if (b->n == 0) {
		b->va = l->va;
		b->page_size = l->page_size;
		b->shift = (unsigned)mmk__ctz64(l->page_size);
		b->flags = fl;
	} else if (b->n == CLONE_BATCH || l->page_size != b->page_size ||
		   fl != b->flags ||
		   l->va != b->va + ((uint64_t)b->n << b->shift)) {
		b->next = l->va;
		return 1;
	}
	b->pa[b->n++] = l->pa;
	return 0;
}

static mmk_paddr_t batch_pa(void *ctx, mmk_vaddr_t va)
{
	struct copy_batch *b = ctx;
	return b->pa[(va - b->va) >> b->shift];
}

/* Put one reference on each of the first @n frames of @b, at once: the
 * source still maps every one of them, so none is freed here. */
static void put_batch(struct mmk_pt *pt, const struct copy_batch *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		int r = mmk_frame_put(pt->frames, b->pa[i]);
		MMK_ASSERT(r == 0);
	}
}

/* Map batch @b into @dst; with @get its references first.  All or
 * nothing. */
static int copy_batch_in(struct mmk_pt *dst, struct copy_batch *b, bool get,
			 struct mmk_tlb_gather *lg)
{
	unsigned got = 0;
	int err = 0;
	while (get && got < b->n && !err)
		if ((err = mmk_frame_get(dst->frames, b->pa[got])) == 0)
			got++;
	if (!err && b->shift == dst->fmt->page_shift) {
		err = mmk_pt_map_region_fn(dst, b->va,
					   (uint64_t)b->n << b->shift, b->flags,
					   0, batch_pa, b, lg);
	} else if (!err) {
		unsigned i;
		for (i = 0; i < b->n && !err; i++)
			err = mmk_pt_map(dst, b->va + ((uint64_t)i << b->shift),
					 b->pa[i], b->page_size, b->flags, lg);
		for (unsigned k = 0; err && k + 1 < i; k++) {
			int r = mmk_pt_unmap(dst,
					     b->va + ((uint64_t)k << b->shift),
					     lg, NULL);
			MMK_ASSERT(r == 0);
		}
	}
	if (err)
		put_batch(dst, b, got);
	return err;
}

/* mmk_pt_unmap_fn of a failed clone: the references pass 1 took. */
static void put_run(void *ctx, const struct mmk_pt_leaf *run)
{
	struct mmk_pt *dst = ctx;
	for (uint64_t off = 0; off < run->size; off += run->page_size) {
		int r = mmk_frame_put(dst->frames, mmk_pa_add(run->pa, off));
		MMK_ASSERT(r == 0);
	}
}

/* Pass 1: copy [start, end); on failure @dst's range is empty again.
 * Out of line, as pass 3: their batches never share a stack frame. */
static __attribute__((noinline)) int
copy_leaves(struct mmk_pt *dst, struct mmk_pt *src, mmk_vaddr_t start,
	    mmk_vaddr_t end, unsigned flags, struct mmk_tlb_gather *lg)
{
	struct copy_batch b;
	bool get = flags & MMK_PT_CLONE_GET;
	b.strip = AD_BITS | (flags & MMK_PT_CLONE_WRPROTECT ? MMK_PT_WRITE : 0);
	mmk_vaddr_t at = start;
	int err = 0;
	while (at < end && !err) {
		b.n = 0;
		int r = mmk_pt_walk(src, at, end - at, copy_collect, &b);
		MMK_ASSERT(r >= 0);
		if (b.n == 0)
			break;
		err = copy_batch_in(dst, &b, get, lg);
		at = r > 0 ? b.next : end;
		if (err)
			at = b.va;
	}
	if (err && at > start) {
		int r = mmk_pt_unmap_region(dst, start, at - start, lg,
					    get ? put_run : NULL, dst);
		MMK_ASSERT(r == 0);
	}
	return err;
}

/* A batch of pass 3: runs of writable leaves with the same flags. */
struct wp_batch {
	unsigned n;
	mmk_vaddr_t next;
	struct {
		mmk_vaddr_t va, end;
		uint32_t flags;
	} run[CLONE_RUNS];
};

static int wp_collect(void *ctx, const struct mmk_pt_leaf *l)
{
	struct wp_batch *b = ctx;
	if (!(l->flags & MMK_PT_WRITE))
		return 0;
	uint32_t fl = l->flags & ~(uint32_t)(AD_BITS | MMK_PT_WRITE);
	if (b->n && b->run[b->n - 1].end == l->va &&
	    b->run[b->n - 1].flags == fl) {
		b->run[b->n - 1].end = l->va + l->page_size;
		return 0;
	}
	if (b->n == CLONE_RUNS) {
		b->next = l->va;
		return 1;
	}
	b->run[b->n].va = l->va;
	b->run[b->n].end = l->va + l->page_size;
	b->run[b->n].flags = fl;
	b->n++;
	return 0;
}

/* Pass 3: every writable leaf of @src in [start, end) loses WRITE. */
static __attribute__((noinline)) void wrprotect_leaves(struct mmk_pt *src,
						       mmk_vaddr_t start,
						       mmk_vaddr_t end,
						       struct mmk_tlb_gather *g)
{
	struct wp_batch b;
	mmk_vaddr_t at = start;
	while (at < end) {
		b.n = 0;
		int r = mmk_pt_walk(src, at, end - at, wp_collect, &b);
		MMK_ASSERT(r >= 0);
		for (unsigned i = 0; i < b.n; i++) {
			int err = mmk_pt_protect_region(
				src, b.run[i].va, b.run[i].end - b.run[i].va,
				b.run[i].flags, g);
			/* whole leaves; the copy mapped these flags */
			MMK_ASSERT(err == 0);
		}
		at = r > 0 ? b.next : end;
	}
}

static int any_leaf(void *ctx, const struct mmk_pt_leaf *l)
{
	(void)ctx;
	(void)l;
	return 1;
}

/* The checks of the contract, in its order; 0 or the error. */
static int clone_check(struct mmk_pt *dst, struct mmk_pt *src,
		       mmk_vaddr_t start, mmk_vaddr_t end, unsigned flags)
{
	if (!dst || !src || dst == src || dst->fmt != src->fmt ||
	    dst->frames != src->frames || (flags & ~CLONE_FLAGS))
		return MMK_EINVAL;
	if ((flags & MMK_PT_CLONE_SHARE) &&
	    !(flags & MMK_PT_CLONE_GET && flags & MMK_PT_CLONE_WRPROTECT))
		return MMK_EINVAL;
	uint64_t ps = (uint64_t)1 << src->fmt->page_shift, ia;
	if ((start | end) & (ps - 1))
		return MMK_EALIGN;
	if (end < start)
		return MMK_ERANGE;
	if (end == start)
		return 0;
	if (pt_check_range(src, start, end - start, ps, true, &ia) ||
	    pt_check_range(dst, start, end - start, ps, true, &ia))
		return MMK_ERANGE;
	struct mmk_pt_leaf l;
	if (mmk_pt_lookup(src, start, &l) == 0 && l.va < start)
		return MMK_ERANGE; /* a huge leaf across start */
	if (mmk_pt_lookup(src, end - 1, &l) == 0 && l.va + l.page_size > end)
		return MMK_ERANGE; /* a huge leaf across end */
	if (mmk_pt_walk(dst, start, end - start, any_leaf, NULL) != 0)
		return MMK_EEXIST;
	return 0;
}

int mmk_pt_clone_range(struct mmk_pt *dst, struct mmk_pt *src,
		       mmk_vaddr_t start, mmk_vaddr_t end, unsigned flags,
		       struct mmk_tlb_gather *g)
{
	int err = clone_check(dst, src, start, end, flags);
	if (err || start == end)
		return err;
	/* @dst's own gather: nothing to flush (nothing was mapped there),
	 * only the tables a failed copy unhooks to free. */
	struct mmk_tlb_gather lg;
	mmk_tlb_gather_init(&lg, NULL, 0);
	err = copy_leaves(dst, src, start, end, flags, &lg);
	mmk_tlb_gather_finish(&lg);
	if (!err && (flags & MMK_PT_CLONE_WRPROTECT))
		wrprotect_leaves(src, start, end, g);
	return err;
}
