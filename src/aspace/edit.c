/* SPDX-License-Identifier: MIT */
/*
 * unmap and protect: all or nothing by construction.
 *
 *   prepare (may fail; nothing visible changes)
 *     mmk_mset_prepare_unmap/_protect   area objects and tree nodes
 *     backend split hooks               the pieces' private data
 *     mmk_pt_reserve_cut at each edge   table pages to split a huge page
 *                                       that straddles start or end
 *   commit (cannot fail)
 *     mmk_pt_cut at each edge           the edit now stops at the edges
 *     backend zap / protect per area    page-table edits, frames gathered
 *     mmk_mset_commit, dead areas released
 *   mmk__op_end                         flush, then put the frames
 *
 * Huge pages lie inside one area (a backend maps only its own range), so
 * the two edges of the call are the only places one can straddle.
 *
 * A huge leaf of a MMK_BACKEND_SPLIT_FRAMES area maps one whole frame
 * block.  Cut at an edge, its pieces must each map a block of their own
 * (a leaf, one reference), so the commit splits the block along the same
 * lines just before mmk_pt_cut (mmk_frame_split).  A block that another
 * table maps too (count > 1: copy-on-write after a fork) is not split
 * under that table's huge leaf: this space first gets a copy, the block
 * for it taken in the prepare phase (its only allocation), and the old
 * block loses this space's reference after the flush.  Only a block whose
 * sole reference is this table's is ever split, so no other space sees a
 * split block under a huge leaf.
 */
#include "aspace_internal.h"

#include "lib/bits.h"

/* One edge's cut of a SPLIT_FRAMES huge leaf: whether there is one
 * (found in the prepare: the commit does nothing otherwise), and a spare
 * block for the copy if that leaf's block is shared. */
struct huge_edge {
	bool huge, have;
	mmk_paddr_t spare;
};

/* The huge leaf of a SPLIT_FRAMES area that @x falls strictly inside.
 * One lookup when there is none (the common cut of base pages). */
static bool split_leaf_at(struct mmk_aspace *as, mmk_vaddr_t x,
			  struct mmk_pt_leaf *lf)
{
	if (x <= as->base || x >= as->end ||
	    mmk_pt_lookup(&as->pt, x, lf) != 0 || lf->va == x)
		return false;
	const struct mmk_mset_area *a = mmk_mset_find(&as->areas, x);
	return a && (mmk_backend_of(a)->props & MMK_BACKEND_SPLIT_FRAMES);
}

static unsigned block_order(uint64_t size)
{
	return mmk__ctz64(size) - MMK_PAGE_SHIFT;
}

/* Prepare: a spare block if the huge leaf @lf cut at an edge is shared,
 * unless it is @other's too (the other edge's, provided for).  ENOMEM. */
static int reserve_huge_edge(struct mmk_aspace *as, struct huge_edge *e,
			     const struct mmk_pt_leaf *lf,
			     const struct mmk_pt_leaf *other)
{
	if (!e->huge || (other && other->va == lf->va) ||
	    mmk_frame_refcount(as->frames, lf->pa) <= 1)
		return 0;
	int err = mmk_frame_alloc(as->frames, block_order(lf->page_size), 0,
				  &e->spare);
	e->have = err == 0;
	return err;
}

static void release_huge_edge(struct mmk_aspace *as, struct huge_edge *e)
{
	if (e->have)
		(void)mmk_frame_free(as->frames, e->spare); /* never mapped */
	e->have = false;
}

/* Replace the shared leaf @lf by a copy in @e's spare; the old block is
 * put after the flush.  Exclusive: only the hardware's accessed/dirty
 * updates can race the replace, so it is read again and retried then. */
static void copy_huge_leaf(struct mmk_aspace_op *op, struct mmk_pt_leaf *lf,
			   struct huge_edge *e)
{
	struct mmk_aspace *as = op->as;
	MMK_ASSERT(e->have); /* reserved: the count never rises meanwhile */
	__builtin_memcpy(mmk_phys_to_virt(e->spare), mmk_phys_to_virt(lf->pa),
			 lf->page_size);
	uint32_t fl = lf->flags & ~(uint32_t)(MMK_PT_ACCESSED | MMK_PT_DIRTY);
	/* a huge leaf: no leaf table over it to unshare, so the replace that
	 * never unshares (nor allocates: docs/STACK.md) */
	MMK_ASSERT(lf->level > 0);
	while (mmk__pt_replace_private(&as->pt, lf, e->spare, fl, op->gather) ==
	       MMK_EAGAIN)
		MMK_ASSERT(mmk_pt_lookup(&as->pt, lf->va, lf) == 0);
	mmk_backend_put(op, lf->pa);
	lf->pa = e->spare;
	e->have = false;
}

/* Commit, before mmk_pt_cut at @x: split the block under the leaf @x cuts
 * as the cut will split the leaf, one level at a time. */
static void split_huge_edge(struct mmk_aspace_op *op, struct huge_edge *e,
			    mmk_vaddr_t x)
{
	struct mmk_aspace *as = op->as;
	struct mmk_pt_leaf lf;
	/* looked up again: the other edge's cut may have split it */
	if (!split_leaf_at(as, x, &lf))
		return;
	if (mmk_frame_refcount(as->frames, lf.pa) > 1)
		copy_huge_leaf(op, &lf, e);
	mmk_vaddr_t va = lf.va;
	mmk_paddr_t pa = lf.pa;
	uint64_t size = lf.page_size;
	for (unsigned l = lf.level; l > 0 && !MMK_IS_ALIGNED(x, size); l--) {
		uint64_t next = (uint64_t)1 << as->pt.shift[l - 1];
		int err = mmk_frame_split(as->frames, pa, block_order(size),
					  block_order(next));
		MMK_ASSERT(err == 0); /* our block, our only reference */
		mmk_vaddr_t nva = MMK_ALIGN_DOWN(x, next);
		pa = mmk_pa_add(pa, nva - va);
		va = nva;
		size = next;
	}
}

/* Reserve the cut of a huge page straddling @x (none at the space's own
 * edges, which no leaf of the space crosses). */
static int reserve_cut(struct mmk_aspace *as, struct mmk_pt_resv *r,
		       mmk_vaddr_t x)
{
	if (x <= as->base || x >= as->end)
		return 0;
	return mmk_pt_reserve_cut(&as->pt, r, x);
}

__attribute__((noinline)) static void cut(struct mmk_aspace_op *op,
					  struct mmk_pt_resv *r,
					  struct huge_edge *e, mmk_vaddr_t x)
{
	struct mmk_aspace *as = op->as;
	if (x > as->base && x < as->end) {
		if (e->huge)
			split_huge_edge(op, e, x);
		mmk_pt_cut(&as->pt, r, x, op->gather);
	}
}

/* Does the area holding @x change under a protect to @prot? */
__attribute__((noinline)) static bool changes_at(struct mmk_aspace *as,
						 mmk_vaddr_t x, uint32_t prot)
{
	const struct mmk_mset_area *a = mmk_mset_find(&as->areas, x);
	return a && a->flags != prot;
}

/*
 * The prepare phase shared by unmap and protect, after the mset prepare:
 * split hooks, then the page-table reservations (@cut_lo / @cut_hi say
 * which edges the page-table edit reaches).  On failure everything is
 * undone and the txn aborted.
 */
__attribute__((noinline)) static int
prepare_edges(struct mmk_aspace *as, struct mmk_mset_txn *t,
	      struct mmk_pt_resv *r, struct huge_edge he[2], mmk_vaddr_t start,
	      mmk_vaddr_t end, bool cut_lo, bool cut_hi)
{
	struct mmk_pt_leaf lf[2];
	he[0].have = he[1].have = he[0].huge = he[1].huge = false;
	int err = mmk__as_split_pieces(as, t);
	if (err)
		return err;
	/* A leaf straddling an edge always takes table pages to cut
	 * (mmk_pt_reserve_cut reserves nothing only when none does), so the
	 * huge-leaf lookups run only for edges that reserved some. */
	mmk_pt_resv_init(r, &as->pt);
	long n0 = r->n;
	if (cut_lo)
		err = reserve_cut(as, r, start);
	he[0].huge = !err && r->n > n0 && split_leaf_at(as, start, &lf[0]);
	n0 = r->n;
	if (!err && cut_hi)
		err = reserve_cut(as, r, end);
	he[1].huge = !err && r->n > n0 && split_leaf_at(as, end, &lf[1]);
	if (!err)
		err = reserve_huge_edge(as, &he[0], &lf[0], NULL);
	if (!err)
		err = reserve_huge_edge(as, &he[1], &lf[1],
					he[0].huge ? &lf[0] : NULL);
	if (err) {
		release_huge_edge(as, &he[0]);
		mmk_pt_resv_release(r);
		mmk__as_abort(as, t, t->npieces);
	}
	return err;
}

/* The page-table side of a protect of [start, end) of @a to @prot. */
static void protect_part(struct mmk_aspace_op *op,
			 const struct mmk_mset_area *a, mmk_vaddr_t start,
			 mmk_vaddr_t end, uint32_t prot)
{
	const struct mmk_backend *b = mmk_backend_of(a);
	if (b->protect) {
		b->protect(op, a, start, end, prot);
		return;
	}
	int err = mmk_pt_protect_region(&op->as->pt, start, end - start,
					mmk_backend_page_flags(op->as, prot),
					op->gather);
	MMK_ASSERT(err == 0); /* the edges were cut */
}

/*
 * A protect under leaf tables shared with another space (after a fork)
 * edits them only after giving this space its own copies, and the copy
 * can fail: so the protect makes those copies in its prepare phase,
 * where failing is still allowed.  Unsharing changes nothing anyone can
 * see (the copy holds the same entries), so a failure later in the
 * prepare leaves the space as it was.  A protect that only takes WRITE
 * away changes nothing under a shared table (its leaves are read-only
 * already) and copies none.
 */
static bool protect_edits_shared(struct mmk_aspace *as, mmk_vaddr_t start,
				 mmk_vaddr_t end, uint32_t prot)
{
	if (MMK_LIKELY(mmk_atomic_load(&as->pt.nshared, MMK_MO_RELAXED) == 0))
		return false;
	for (const struct mmk_mset_area *a =
		     mmk_mset_find_first(&as->areas, start, end);
	     a && a->start < end; a = mmk_mset_next(&as->areas, a))
		if ((a->flags & ~(uint32_t)MMK_PT_WRITE) != prot)
			return true;
	return false;
}

static int unshare_range(struct mmk_aspace_op *op, mmk_vaddr_t start,
			 mmk_vaddr_t end)
{
	struct mmk_pt *pt = &op->as->pt;
	uint64_t span = 1ull << pt->shift[1]; /* one leaf table's reach */
	for (mmk_vaddr_t va = MMK_ALIGN_DOWN(start, span); va < end;) {
		int err = mmk_pt_unshare(pt, va, op->gather);
		if (err)
			return err;
		if (va + span < va)
			break;
		va += span;
	}
	return 0;
}

/*
 * unmap (@unmap) or protect to @prot of [start, end), arguments checked:
 * the prepare and commit of the file comment.  A protect edits the page
 * table only for areas whose protection changes, and so cuts only at
 * edges whose area changes.
 */
static int edit(struct mmk_aspace *as, mmk_vaddr_t start, mmk_vaddr_t end,
		bool unmap, uint32_t prot, unsigned opts)
{
	struct mmk__aspace_work *w = mmk__op_begin(as);
	if ((opts & MMK_ASPACE_NO_HOLES) &&
	    !mmk_mset_covers(&as->areas, start, end - start)) {
		mmk__op_end(as);
		return MMK_ENOENT; /* checked under the lock of the change */
	}
	struct mmk_aspace_op *op = &w->op;
	struct mmk_mset_txn *t = &w->txn;
	struct mmk_pt_resv *r = &w->resv;
	struct huge_edge he[2];
	bool lo = unmap || changes_at(as, start, prot);
	bool hi = unmap || changes_at(as, end - 1, prot);
	int err = unmap ? mmk_mset_prepare_unmap(&as->areas, start, end - start,
						 t)
			: mmk_mset_prepare_protect(&as->areas, start,
						   end - start, prot, t);
	if (!err)
		err = prepare_edges(as, t, r, he, start, end, lo, hi);
	if (!err && !unmap && protect_edits_shared(as, start, end, prot)) {
		err = unshare_range(op, start, end);
		if (err) {
			release_huge_edge(as, &he[0]);
			release_huge_edge(as, &he[1]);
			mmk_pt_resv_release(r);
			mmk__as_abort(as, t, t->npieces);
		}
	}
	if (!err) {
		if (lo)
			cut(op, r, &he[0], start);
		if (hi)
			cut(op, r, &he[1], end);
		if (MMK_UNLIKELY(he[0].have || he[1].have)) {
			release_huge_edge(as, &he[0]); /* the count fell */
			release_huge_edge(as, &he[1]);
		}
		for (const struct mmk_mset_area *a =
			     mmk_mset_find_first(&as->areas, start, end);
		     a && a->start < end; a = mmk_mset_next(&as->areas, a)) {
			mmk_vaddr_t s = MMK_MAX(a->start, start);
			mmk_vaddr_t e = MMK_MIN(a->end, end);
			if (unmap)
				mmk__as_zap(op, a, s, e);
			else if (a->flags != prot)
				protect_part(op, a, s, e, prot);
		}
		mmk_mset_commit(&as->areas, t);
		mmk__as_bury(as, t);
		mmk_pt_resv_release(r);
	}
	mmk__op_end(as);
	return err;
}

int mmk_aspace_unmap(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size)
{
	int err = mmk__as_check_range(as, start, size);
	return err ? err : edit(as, start, start + size, true, 0, 0);
}

int mmk_aspace_protect_opts(struct mmk_aspace *as, mmk_vaddr_t start,
			    uint64_t size, uint32_t flags, unsigned opts)
{
	int err = mmk__as_check_range(as, start, size);
	if (!err)
		err = mmk__as_check_prot(as, flags);
	if (!err && (opts & ~MMK_ASPACE_NO_HOLES))
		err = MMK_EINVAL;
	return err ? err : edit(as, start, start + size, false, flags, opts);
}

int mmk_aspace_protect(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
		       uint32_t flags)
{
	return mmk_aspace_protect_opts(as, start, size, flags, 0);
}
