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
 */
#include "aspace_internal.h"

/* Reserve the cut of a huge page straddling @x (none at the space's own
 * edges, which no leaf of the space crosses). */
static int reserve_cut(struct mmk_aspace *as, struct mmk_pt_resv *r,
		       mmk_vaddr_t x)
{
	if (x <= as->base || x >= as->end)
		return 0;
	return mmk_pt_reserve_cut(&as->pt, r, x);
}

static void cut(struct mmk_aspace_op *op, struct mmk_pt_resv *r, mmk_vaddr_t x)
{
	struct mmk_aspace *as = op->as;
	if (x > as->base && x < as->end)
		mmk_pt_cut(&as->pt, r, x, op->gather);
}

/* Does the area holding @x change under a protect to @prot? */
static bool changes_at(struct mmk_aspace *as, mmk_vaddr_t x, uint32_t prot)
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
static int prepare_edges(struct mmk_aspace *as, struct mmk_mset_txn *t,
			 struct mmk_pt_resv *r, mmk_vaddr_t start,
			 mmk_vaddr_t end, bool cut_lo, bool cut_hi)
{
	int err = mmk__as_split_pieces(as, t);
	if (err)
		return err;
	mmk_pt_resv_init(r, &as->pt);
	if (cut_lo)
		err = reserve_cut(as, r, start);
	if (!err && cut_hi)
		err = reserve_cut(as, r, end);
	if (err) {
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
	bool lo = unmap || changes_at(as, start, prot);
	bool hi = unmap || changes_at(as, end - 1, prot);
	int err = unmap ? mmk_mset_prepare_unmap(&as->areas, start, end - start,
						 t)
			: mmk_mset_prepare_protect(&as->areas, start,
						   end - start, prot, t);
	if (!err)
		err = prepare_edges(as, t, r, start, end, lo, hi);
	if (!err) {
		if (lo)
			cut(op, r, start);
		if (hi)
			cut(op, r, end);
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
