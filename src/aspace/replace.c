/* SPDX-License-Identifier: MIT */
/*
 * Replacing and dropping what a range holds, for a POSIX layer:
 * mmap(MAP_FIXED) over existing areas and madvise(MADV_DONTNEED).
 *
 *   map_replace   prepare (may fail; nothing visible changes)
 *                   mmk_mset_prepare_insert(REPLACE)   new area, pieces
 *                   backend split hooks                pieces' priv
 *                   mmk_pt_reserve_cut at both edges   huge pages cut
 *                 commit (cannot fail)
 *                   cut, zap every old part of the range, mset commit,
 *                   release the dead areas; one flush, then the puts
 *
 * Linux does the same in one call (mmap_region gathers the old vmas,
 * maps the new one, and only then frees), so a failed MAP_FIXED leaves
 * the old mapping; before this call a caller had to unmap, then map, and
 * a failed map left a hole.
 */
#include "aspace_internal.h"

/* Zap every area part of [start, end) (areas as they are now). */
static void zap_range(struct mmk_aspace_op *op, mmk_vaddr_t start,
		      mmk_vaddr_t end)
{
	struct mmk_mset *set = &op->as->areas;
	for (const struct mmk_mset_area *a =
		     mmk_mset_find_first(set, start, end);
	     a && a->start < end; a = mmk_mset_next(set, a))
		mmk__as_zap(op, a, MMK_MAX(a->start, start),
			    MMK_MIN(a->end, end));
}

int mmk_aspace_map_replace(struct mmk_aspace *as, mmk_vaddr_t start,
			   uint64_t size, uint32_t flags,
			   const struct mmk_backend *b, uint64_t offset,
			   void *priv)
{
	int err = mmk__as_check_range(as, start, size);
	if (err)
		return err;
	if (!b)
		return MMK_EINVAL;
	err = mmk__as_check_prot(as, flags);
	if (err)
		return err;
	mmk_vaddr_t end = start + size;
	struct mmk_mset_area tmpl = {
		.start = start,
		.end = end,
		.offset = offset,
		.flags = flags,
		.kind = b,
		.priv = priv,
	};
	struct mmk__aspace_work *w = mmk__op_begin(as);
	struct mmk_mset_txn *t = &w->txn;
	err = mmk_mset_prepare_insert(&as->areas, &tmpl, MMK_MSET_REPLACE, t);
	if (!err)
		err = mmk__as_split_pieces(as, t);
	if (!err) {
		err = mmk__as_reserve_edges(as, &w->resv, start, end);
		if (err)
			mmk__as_abort(as, t, t->npieces); /* priv: caller's */
	}
	if (!err) {
		mmk__as_cut(&w->op, &w->resv, start);
		mmk__as_cut(&w->op, &w->resv, end);
		zap_range(&w->op, start, end);
		mmk_mset_commit(&as->areas, t);
		mmk__as_bury(as, t);
		mmk_pt_resv_release(&w->resv);
	}
	mmk__op_end(as);
	return err;
}

int mmk_aspace_zap(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size)
{
	int err = mmk__as_check_range(as, start, size);
	if (err)
		return err;
	mmk_vaddr_t end = start + size;
	struct mmk__aspace_work *w = mmk__op_begin(as);
	err = mmk__as_reserve_edges(as, &w->resv, start, end);
	if (!err) {
		mmk__as_cut(&w->op, &w->resv, start);
		mmk__as_cut(&w->op, &w->resv, end);
		zap_range(&w->op, start, end);
		mmk_pt_resv_release(&w->resv);
	}
	mmk__op_end(as);
	return err;
}
