/* SPDX-License-Identifier: MIT */
/*
 * mremap's move: an area part and its page-table entries go to a new
 * address; the frames stay where they are and nothing is copied.
 *
 *   prepare (may fail; nothing visible changes)
 *     mmk_mset_prepare_insert(NOMERGE)   the new area (its own object)
 *     backend split hook                 the new area's own priv
 *     mmk_pt_reserve_cut at the edges    huge pages straddling them
 *     mmk_pt_reserve_map of the target   every table the moved entries
 *                                        may need (counted as if empty)
 *   commit the insert (cannot fail), then
 *     mmk_mset_prepare_unmap(old)        may fail only by the split of an
 *                                        area around the old range: the
 *                                        new area is then removed again,
 *                                        a whole unmerged area, which
 *                                        needs no allocation
 *   commit (cannot fail)
 *     cut at the edges, move whole leaf tables, the other entries run by run,
 * unmap the old range in the page table (no frame put), mset commit, and a
 * protect to the same flags over the new area and its equal neighbours, which
 * only merges (no split, nothing to allocate) mmk__op_end one flush (of the old
 * range)
 *
 * Whole leaf tables move first where the distance is a multiple of a leaf
 * table's span (mmk_pt_move_tables, Linux's move_normal_pmd): one entry
 * per 512 leaves.  The rest (the edges, huge leaves, any leaf of a move
 * by another distance) moves leaf by leaf (consecutive leaves with
 * contiguous frames and equal flags in one map call).
 */
#include "aspace_internal.h"

struct mv_run {
	mmk_vaddr_t va;
	mmk_paddr_t pa;
	uint64_t size, page_size;
	uint32_t flags;
};

#define MV_RUNS (MMK__AS_SCRATCH / sizeof(struct mv_run))

struct mv_batch {
	struct mv_run *run;
	unsigned n;
	mmk_vaddr_t next; /* where the walk stopped: the first leaf not taken */
};

static int mv_leaf(void *ctx, const struct mmk_pt_leaf *l)
{
	struct mv_batch *b = ctx;
	struct mv_run *last = b->n ? &b->run[b->n - 1] : NULL;
	if (last && last->va + last->size == l->va &&
	    last->pa.v + last->size == l->pa.v && last->flags == l->flags &&
	    last->page_size == l->page_size) {
		last->size += l->page_size;
		b->next = l->va + l->page_size;
		return 0;
	}
	if (b->n == MV_RUNS) {
		b->next = l->va;
		return 1; /* full: move these, then walk on from here */
	}
	b->run[b->n++] = (struct mv_run){l->va, l->pa, l->page_size,
					 l->page_size, l->flags};
	b->next = l->va + l->page_size;
	return 0;
}

/* Move every leaf of [from, end) to delta bytes higher (mod 2^64), with
 * the tables of @r.  Cannot fail. */
static void move_entries(struct mmk_aspace_op *op, struct mmk_pt_resv *r,
			 mmk_vaddr_t from, mmk_vaddr_t end, uint64_t delta)
{
	struct mmk_pt *pt = &op->as->pt;
	struct mv_batch b = {.run = op->scratch};
	for (mmk_vaddr_t cur = from; cur < end;) {
		b.n = 0;
		b.next = end;
		int stop = mmk_pt_walk(pt, cur, end - cur, mv_leaf, &b);
		MMK_ASSERT(stop >= 0);
		for (unsigned i = 0; i < b.n; i++) {
			struct mv_run *m = &b.run[i];
			unsigned opts = MMK_PT_MAP_WILL_UNMAP |
					(m->page_size > op->as->page_size
						 ? MMK_PT_MAP_HUGE
						 : 0);
			mmk_pt_map_reserved(pt, r, m->va + delta, m->pa,
					    m->size, m->flags, opts,
					    op->gather);
		}
		if (b.n) {
			mmk_vaddr_t s = b.run[0].va;
			int err = mmk_pt_unmap_region(pt, s, b.next - s,
						      op->gather, NULL, NULL);
			MMK_ASSERT(err == 0); /* the edges were cut */
		}
		cur = stop ? b.next : end;
	}
}

static int move_check(struct mmk_aspace *as, const struct mmk_mset_area *a,
		      mmk_vaddr_t from, uint64_t size, mmk_vaddr_t to)
{
	if (!a || a->start > from || a->end < from + size)
		return MMK_ENOENT;
	const struct mmk_backend *b = mmk_backend_of(a);
	if (!(b->props & MMK_BACKEND_OWNS_FRAMES))
		return MMK_ENOTSUP;
	if ((to - from) & (mmk__area_page_size(as, a, from) - 1))
		return MMK_EALIGN;
	if (mmk_mset_find_first(&as->areas, to, to + size))
		return MMK_EEXIST;
	return 0;
}

/* The middle of [va, va + size) that whole leaf tables cover: [*s, *e),
 * empty when none is. */
static void move_middle(const struct mmk_aspace *as, mmk_vaddr_t va,
			uint64_t size, mmk_vaddr_t *s, mmk_vaddr_t *e)
{
	uint64_t span = (uint64_t)1 << as->pt.shift[1];
	*s = (va + span - 1) & ~(span - 1);
	*e = (va + size) & ~(span - 1);
	if (*s >= *e || *s < va)
		*s = *e = va;
}

/*
 * Reserve the target's tables.  With a distance that is a multiple of a
 * leaf table's span, the middle's leaf tables move whole
 * (mmk_pt_move_tables) and need only the tables above them; the edges,
 * and a middle leaf that cannot move whole (a huge leaf), take the leaf
 * path, whose tables the map reservation of the edges and the upper
 * tables of the middle cover.  Otherwise every leaf takes the leaf path.
 */
static int move_reserve(struct mmk_aspace *as, struct mmk_pt_resv *r,
			mmk_vaddr_t from, mmk_vaddr_t to, uint64_t size,
			uint32_t pflags)
{
	struct mmk_pt *pt = &as->pt;
	uint64_t span = (uint64_t)1 << pt->shift[1];
	unsigned o = MMK_PT_MAP_WILL_UNMAP;
	mmk_vaddr_t s, e;
	move_middle(as, to, size, &s, &e);
	if (((to - from) & (span - 1)) || s == e)
		return mmk_pt_reserve_map(pt, r, to, mmk_pa(0), size, pflags,
					  o);
	int err = mmk_pt_reserve_move(pt, r, to, size);
	if (!err && s > to)
		err = mmk_pt_reserve_map(pt, r, to, mmk_pa(0), s - to, pflags,
					 o);
	if (!err && e < to + size)
		err = mmk_pt_reserve_map(pt, r, e, mmk_pa(0), to + size - e,
					 pflags, o);
	return err;
}

/* Move the whole leaf tables of the middle, then free the upper tables
 * that left empty (the middle's ends are table boundaries: no split, no
 * copy of a shared table, so the unmap cannot fail). */
static void move_tables(struct mmk_aspace_op *op, struct mmk_pt_resv *r,
			mmk_vaddr_t from, mmk_vaddr_t to, uint64_t size)
{
	struct mmk_pt *pt = &op->as->pt;
	mmk_vaddr_t s, e;
	move_middle(op->as, from, size, &s, &e);
	if (s == e || !mmk_pt_move_tables(pt, r, from, to, size, op->gather))
		return;
	int err = mmk_pt_unmap_region(pt, s, e - s, op->gather, NULL, NULL);
	MMK_ASSERT(err == 0);
}

/* Prepare the new area and the page-table reservations; on failure
 * nothing is held. */
static int move_prepare(struct mmk_aspace *as, const struct mmk_mset_area *a,
			mmk_vaddr_t from, uint64_t size, mmk_vaddr_t to)
{
	struct mmk__aspace_work *w = &as->work;
	struct mmk_mset_txn *t = &w->txn;
	const struct mmk_backend *b = mmk_backend_of(a);
	struct mmk_mset_area tmpl = *a;
	tmpl.start = to;
	tmpl.end = to + size;
	tmpl.offset = a->offset + (from - a->start);
	int err =
		mmk_mset_prepare_insert(&as->areas, &tmpl, MMK_MSET_NOMERGE, t);
	if (err)
		return err;
	struct mmk_mset_area *na = t->area;
	err = b->split ? b->split(a, na) : 0;
	if (err) {
		mmk_mset_abort(&as->areas, t);
		return err < 0 ? err : MMK_EINVAL;
	}
	err = mmk__as_reserve_edges(as, &w->resv, from, from + size);
	if (!err)
		err = move_reserve(as, &w->resv, from, to, size,
				   mmk_backend_page_flags(as, a->flags));
	if (err) {
		mmk_pt_resv_release(&w->resv);
		if (b->split && b->release)
			b->release(na);
		mmk_mset_abort(&as->areas, t);
	}
	return err;
}

/* Remove the whole, unmerged area at [to, end) again: no allocation. */
static void unmove(struct mmk_aspace *as, mmk_vaddr_t to, uint64_t size)
{
	struct mmk_mset_txn *t = &as->work.txn;
	int err = mmk_mset_prepare_unmap(&as->areas, to, size, t);
	MMK_ASSERT(err == 0); /* no split: nothing to allocate */
	mmk_mset_commit(&as->areas, t);
	mmk__as_bury(as, t);
}

/*
 * Merge the new area [to, to + size) with neighbours of equal flags: a
 * protect to those same flags over it and a page of each such neighbour
 * (no split, so nothing to allocate; its commit merges what is mergeable).
 */
static void merge_around(struct mmk_aspace *as, mmk_vaddr_t to, uint64_t size,
			 uint32_t flags)
{
	mmk_vaddr_t s = to, e = to + size;
	const struct mmk_mset_area *p =
		to > as->base ? mmk_mset_find(&as->areas, to - 1) : NULL;
	const struct mmk_mset_area *n =
		e < as->end ? mmk_mset_find(&as->areas, e) : NULL;
	if (p && p->flags == flags)
		s -= as->page_size;
	if (n && n->flags == flags)
		e += as->page_size;
	if (s == to && e == to + size)
		return;
	struct mmk_mset_txn *t = &as->work.txn;
	int err = mmk_mset_prepare_protect(&as->areas, s, e - s, flags, t);
	MMK_ASSERT(err == 0);
	mmk_mset_commit(&as->areas, t);
	mmk__as_bury(as, t);
}

int mmk_aspace_move(struct mmk_aspace *as, mmk_vaddr_t from, uint64_t size,
		    mmk_vaddr_t to, unsigned opts)
{
	int err = mmk__as_check_range(as, from, size);
	if (!err)
		err = mmk__as_check_range(as, to, size);
	if (err)
		return err;
	if ((opts & ~MMK_ASPACE_MOVE_KEEP) ||
	    (to < from + size && from < to + size))
		return MMK_EINVAL;
	struct mmk__aspace_work *w = mmk__op_begin(as);
	struct mmk_mset_txn *t = &w->txn;
	const struct mmk_mset_area *a = mmk_mset_find(&as->areas, from);
	uint32_t flags = a ? a->flags : 0;
	err = move_check(as, a, from, size, to);
	if (!err)
		err = move_prepare(as, a, from, size, to);
	if (err)
		goto out;
	mmk_mset_commit(&as->areas, t);
	mmk__as_bury(as, t);
	if (!(opts & MMK_ASPACE_MOVE_KEEP)) {
		err = mmk_mset_prepare_unmap(&as->areas, from, size, t);
		if (!err)
			err = mmk__as_split_pieces(as, t);
		if (err) {
			unmove(as, to, size);
			mmk_pt_resv_release(&w->resv);
			goto out;
		}
	}
	mmk__as_cut(&w->op, &w->resv, from);
	mmk__as_cut(&w->op, &w->resv, from + size);
	move_tables(&w->op, &w->resv, from, to, size);
	move_entries(&w->op, &w->resv, from, from + size, to - from);
	if (!(opts & MMK_ASPACE_MOVE_KEEP)) {
		mmk_mset_commit(&as->areas, t);
		mmk__as_bury(as, t);
	}
	mmk_pt_resv_release(&w->resv);
	merge_around(as, to, size, flags);
out:
	mmk__op_end(as);
	return err;
}
