/* SPDX-License-Identifier: MIT */
/*
 * The memory set's area semantics: what insert, unmap and protect do to
 * the areas, in two phases (STYLE point 4), and merging.
 *
 * Prepare: one descent finds where the operation starts (kept in the
 * transaction, so the commit does not descend again), every check is
 * made, the reserve gets the nodes the commit may take, the area objects
 * of split pieces and of a new area are allocated.  Nothing visible
 * changes; on failure what was added is freed again.
 *
 * Commit: tree surgery with nodes from the reserve only; no allocation,
 * no error path.  Objects that leave the set go on the transaction's dead
 * list for the caller, who owns what their priv holds.
 */
#include "mset_internal.h"

/*
 * Area objects come straight from the HAL.  (A cache of freed ones, like
 * the spare nodes, measured no better: the split paths are dominated by the
 * descent's cache misses, not by the allocator.)
 */
static area_t *area_alloc(void)
{
	return mmk_hal_obj_alloc(sizeof(area_t), _Alignof(area_t));
}

void mmk_mset_area_free(struct mmk_mset *set, struct mmk_mset_area *a)
{
	(void)set;
	mmk_hal_obj_free(a, sizeof(area_t));
}

static void dead_push(struct mmk_mset_txn *t, area_t *a)
{
	a->link = t->dead;
	t->dead = a;
}

/* The merge rule (mset.h), data only. */
static bool mergeable(const area_t *lo, const area_t *hi)
{
	return lo->end == hi->start && lo->kind == hi->kind &&
	       lo->flags == hi->flags && lo->priv == hi->priv &&
	       lo->offset + (lo->end - lo->start) == hi->offset;
}

/* @hi (right after @lo) is absorbed into @lo and goes on the dead list. */
static void absorb(struct mmk_mset *s, area_t *lo, area_t *hi,
		   struct mmk_mset_txn *t)
{
	uint64_t end = hi->end;
	mmk__mset_tree_remove(s, hi);
	dead_push(t, hi);
	mmk__mset_set_end(s, lo, end);
}

/* Merge @a with its neighbours where allowed; returns the survivor. */
static area_t *merge_around(struct mmk_mset *s, area_t *a,
			    struct mmk_mset_txn *t)
{
	if (a->start > 0) {
		area_t *prev = mmk_mset_find(s, a->start - 1);
		if (prev && mergeable(prev, a)) {
			absorb(s, prev, a, t);
			a = prev;
		}
	}
	area_t *next = mmk_mset_find(s, a->end);
	if (next && mergeable(a, next))
		absorb(s, a, next, t);
	return a;
}

/*
 * The first area of the leaf after the one @p is in, and its start; NULL
 * at the end of the set.  Reads only: the inner slot right of the path
 * holds that leaf's lowest start, and its leftmost descent the area.
 */
static area_t *next_leaf_first(const struct mmk_mset *s,
			       const struct mmk__mset_path *p, uint64_t *start)
{
	unsigned l = 1;
	while (l < s->height && p->lv[l].idx + 1 >= p->lv[l].node->n)
		l++;
	if (l >= s->height)
		return NULL;
	const node_t *x = p->lv[l].node;
	*start = x->start[p->lv[l].idx + 1];
	x = x->ptr[p->lv[l].idx + 1];
	while (x->level)
		x = x->ptr[0];
	return x->ptr[0];
}

/* --------------------------------------------------- the transaction */

static void txn_begin(const struct mmk_mset *s, struct mmk_mset_txn *t)
{
	t->piece[0] = t->piece[1] = NULL;
	t->orig[0] = t->orig[1] = NULL;
	t->npieces = 0;
	t->area = NULL;
	t->dead = NULL;
	t->op_ = OP_NOP;
	t->mode_ = 0;
	t->split_ = 0;
	t->mark_leaf_ = s->nspare_leaf;
	t->mark_inner_ = s->nspare_inner;
}

/* Free what the prepare added: pieces, new area, reserved nodes. */
static void txn_undo(struct mmk_mset *s, struct mmk_mset_txn *t)
{
	for (unsigned i = 0; i < t->npieces; i++)
		mmk_mset_area_free(s, t->piece[i]);
	if (t->area)
		mmk_mset_area_free(s, t->area); /* priv stays the caller's */
	mmk__mset_reserve_undo(s, t->mark_leaf_, t->mark_inner_);
	t->npieces = 0;
	t->area = NULL;
	t->op_ = OP_NOP;
}

static int txn_fail(struct mmk_mset *s, struct mmk_mset_txn *t, int rc)
{
	txn_undo(s, t);
	return rc;
}

/*
 * A split piece: [start, end) of @orig, not yet visible.  False (nothing
 * added) when the object cannot be allocated.
 */
static bool piece_new(struct mmk_mset_txn *t, const area_t *orig,
		      uint64_t start, uint64_t end)
{
	area_t *pc = area_alloc();
	if (!pc)
		return false;
	*pc = *orig;
	pc->start = start;
	pc->end = end;
	pc->offset = orig->offset + (start - orig->start);
	pc->link = NULL;
	t->piece[t->npieces] = pc;
	t->orig[t->npieces] = orig;
	t->npieces++;
	return true;
}

static int range_end(uint64_t start, uint64_t size, uint64_t *end)
{
	if (size == 0 || size > UINT64_MAX - start)
		return MMK_EWRAP;
	*end = start + size;
	return 0;
}

/* ------------------------------------------------------------ insert */

/*
 * Where the new range [start, end) goes: leaves t->path_ at the insertion
 * slot (no overlap) or at the first area it overlaps (returns true).
 */
static bool insert_find(const struct mmk_mset *s, uint64_t start, uint64_t end,
			struct mmk__mset_path *p)
{
	mmk__mset_descend(s, start, p);
	const node_t *x = p->lv[0].node;
	unsigned c = p->lv[0].idx;
	/* prev is the last area starting at or below start (in this leaf,
	 * or none: c == 0 only on the leftmost path), next the one after. */
	if (c > 0 && x->end[c - 1] > start) {
		p->lv[0].idx = c - 1;
		return true;
	}
	if (c < x->n)
		return x->start[c] < end;
	uint64_t next_start;
	if (!next_leaf_first(s, p, &next_start) || next_start >= end)
		return false;
	p->lv[0].idx = x->n - 1;
	mmk__mset_path_next(s, p);
	return true;
}

int mmk_mset_prepare_insert(struct mmk_mset *set,
			    const struct mmk_mset_area *tmpl, unsigned mode,
			    struct mmk_mset_txn *t)
{
	txn_begin(set, t);
	if (!tmpl || (mode & ~(MMK_MSET_REPLACE | MMK_MSET_NOMERGE)))
		return MMK_EINVAL;
	uint64_t start = tmpl->start, end = tmpl->end;
	if (start >= end)
		return MMK_EWRAP;
	unsigned op = OP_INSERT;
	area_t *hole = NULL;
	if (set->root && insert_find(set, start, end, &t->path_)) {
		if (!(mode & MMK_MSET_REPLACE))
			return MMK_EEXIST;
		op = OP_REPLACE;
		area_t *first = mmk__mset_path_area(&t->path_);
		if (first->start < start && first->end > end)
			hole = first;
	}
	int rc = mmk__mset_reserve_inserts(set, hole ? 2 : 1);
	if (rc)
		return txn_fail(set, t, rc);
	area_t *na = area_alloc();
	if (!na)
		return txn_fail(set, t, MMK_ENOMEM);
	*na = *tmpl;
	na->reserved_ = 0;
	na->link = NULL;
	t->area = na;
	if (hole && !piece_new(t, hole, end, hole->end))
		return txn_fail(set, t, MMK_ENOMEM);
	t->start_ = start;
	t->end_ = end;
	t->mode_ = (uint8_t)mode;
	t->op_ = (uint8_t)op;
	return 0;
}

/* Commit of an insert into a free range: join a neighbour in place. */
static void commit_insert(struct mmk_mset *s, struct mmk_mset_txn *t)
{
	area_t *na = t->area;
	if (!s->root) {
		mmk__mset_tree_insert(s, na);
		return;
	}
	struct mmk__mset_path *p = &t->path_;
	node_t *x = p->lv[0].node;
	unsigned c = p->lv[0].idx;
	uint64_t start = t->start_, end = t->end_;
	area_t *prev = NULL, *next = NULL;
	if (!(t->mode_ & MMK_MSET_NOMERGE)) {
		/* Judge from the leaf's keys; read an area only if its
		 * range touches. */
		if (c > 0 && x->end[c - 1] == start &&
		    mergeable(x->ptr[c - 1], na))
			prev = x->ptr[c - 1];
		uint64_t ns = 0;
		area_t *n = NULL;
		if (c < x->n) {
			ns = x->start[c];
			n = x->ptr[c];
		} else {
			n = next_leaf_first(s, p, &ns);
		}
		if (n && ns == end && mergeable(na, n))
			next = n;
	}
	if (prev && next) {
		uint64_t e2 = next->end;
		mmk__mset_tree_remove(s, next);
		dead_push(t, next);
		mmk__mset_set_end(s, prev, e2);
		dead_push(t, na);
		t->area = prev;
	} else if (prev) {
		p->lv[0].idx = c - 1;
		mmk__mset_set_end_at(s, p, end);
		dead_push(t, na);
		t->area = prev;
	} else if (next) {
		/* na takes next's slot and range: same order, no reshaping. */
		if (c == x->n) {
			p->lv[0].idx = c - 1;
			mmk__mset_path_next(s, p);
		}
		x = p->lv[0].node;
		x->start[p->lv[0].idx] = start;
		x->ptr[p->lv[0].idx] = na;
		na->end = next->end;
		mmk__mset_fix_up(s, p, 0);
		dead_push(t, next);
	} else {
		mmk__mset_ins_at(s, p, 0, start, end, na, 0, c);
		s->count++;
	}
}

/* ------------------------------------------------------------- unmap */

/*
 * Commit of an unmap of [start, end): cannot fail.  @p points at the first
 * area intersecting the range.  @piece is the prepared upper part when one
 * area holds the whole range with room on both sides.
 */
static void unmap_commit(struct mmk_mset *s, uint64_t start, uint64_t end,
			 struct mmk__mset_path *p, area_t *piece,
			 struct mmk_mset_txn *t)
{
	for (;;) {
		area_t *a = mmk__mset_path_area(p);
		uint64_t ce = MMK_MIN(a->end, end);
		if (a->start < start && a->end > end) {
			MMK_ASSERT(piece && piece->start == end &&
				   piece->end == a->end);
			mmk__mset_trim_insert_after(s, p, start, piece);
			return;
		}
		if (a->end > end && a->start >= start) {
			mmk__mset_set_start_at(s, p, end);
			return;
		}
		if (a->start < start) {
			/* The shape stays: step on. */
			mmk__mset_set_end_at(s, p, start);
			if (ce >= end || !mmk__mset_path_next(s, p))
				return;
		} else {
			mmk__mset_del_at(s, p, 0, p->lv[0].idx);
			s->count--;
			dead_push(t, a);
			if (ce >= end || !mmk__mset_seek(s, ce, p))
				return;
		}
		if (mmk__mset_path_area(p)->start >= end)
			return;
	}
}

int mmk_mset_prepare_unmap(struct mmk_mset *set, mmk_vaddr_t start,
			   uint64_t size, struct mmk_mset_txn *t)
{
	txn_begin(set, t);
	uint64_t end;
	int rc = range_end(start, size, &end);
	if (rc)
		return rc;
	if (!mmk__mset_seek(set, start, &t->path_))
		return 0;
	area_t *a = mmk__mset_path_area(&t->path_);
	if (a->start >= end)
		return 0;
	if (a->start < start && a->end > end) {
		rc = mmk__mset_reserve_inserts(set, 1);
		if (rc)
			return txn_fail(set, t, rc);
		if (!piece_new(t, a, end, a->end))
			return txn_fail(set, t, MMK_ENOMEM);
	}
	t->start_ = start;
	t->end_ = end;
	t->op_ = OP_UNMAP;
	return 0;
}

/* ----------------------------------------------------------- protect */

/*
 * Commit of a protect, after the splits: give every area inside [start,
 * end) the new flags, and merge each pair that became mergeable, from the
 * area before @start to the one starting at @end.  One walk; a descent
 * only after a merge (which changes the shape).  @p is the walk's cursor:
 * if @at_prev it already holds the area holding start - 1.
 */
static void protect_walk(struct mmk_mset *s, struct mmk_mset_txn *t,
			 struct mmk__mset_path *p, bool at_prev)
{
	uint64_t start = t->start_, end = t->end_;
	uint32_t flags = t->flags_;
	area_t *prev = NULL;
	uint64_t prev_end = 0;
	if (!at_prev && !mmk__mset_seek(s, start ? start - 1 : 0, p))
		return;
	for (;;) {
		/* Decide from the leaf's keys; touch an area object (a likely
		 * cache miss) only when its flags or a merge are at stake. */
		const node_t *x = p->lv[0].node;
		unsigned i = p->lv[0].idx;
		uint64_t as = x->start[i], ae = x->end[i];
		if (as > end)
			return;
		area_t *a = x->ptr[i];
		if (as < end && ae > start && a->flags != flags)
			a->flags = flags;
		if (prev && prev_end == as && mergeable(prev, a)) {
			absorb(s, prev, a, t);
			prev_end = prev->end;
			if (!mmk__mset_seek(s, prev_end - 1, p))
				return;
		} else {
			prev = a;
			prev_end = ae;
		}
		if (!mmk__mset_path_next(s, p))
			return;
	}
}

int mmk_mset_prepare_protect(struct mmk_mset *set, mmk_vaddr_t start,
			     uint64_t size, uint32_t flags,
			     struct mmk_mset_txn *t)
{
	txn_begin(set, t);
	uint64_t end;
	int rc = range_end(start, size, &end);
	if (rc)
		return rc;
	if (!mmk__mset_seek(set, start, &t->path_))
		return 0;
	const area_t *first = mmk__mset_path_area(&t->path_);
	if (first->start >= end)
		return 0;
	const area_t *last =
		first->end >= end ? first : mmk_mset_find(set, end - 1);
	bool lsplit = first->start < start && first->flags != flags;
	bool rsplit = last && last->end > end && last->flags != flags;
	bool same = first == last;
	if (same && first->flags == flags)
		return 0; /* one area, already so: nothing to do */
	if (lsplit || rsplit) {
		rc = mmk__mset_reserve_inserts(set, (unsigned)lsplit +
							    (unsigned)rsplit);
		if (rc)
			return txn_fail(set, t, rc);
		if (lsplit && !piece_new(t, first, start,
					 rsplit && same ? end : first->end))
			return txn_fail(set, t, MMK_ENOMEM);
		if (rsplit && !piece_new(t, last, end, last->end))
			return txn_fail(set, t, MMK_ENOMEM);
	}
	t->start_ = start;
	t->end_ = end;
	t->flags_ = flags;
	t->split_ =
		(uint8_t)((lsplit ? SPLIT_LEFT : 0) |
			  (rsplit ? SPLIT_RIGHT : 0) | (same ? SPLIT_SAME : 0));
	t->op_ = OP_PROTECT;
	return 0;
}

/* Commit of a protect: split, change flags, merge. */
static void commit_protect(struct mmk_mset *s, struct mmk_mset_txn *t)
{
	struct mmk__mset_path *p = &t->path_;
	bool lsplit = t->split_ & SPLIT_LEFT, rsplit = t->split_ & SPLIT_RIGHT;
	bool same = t->split_ & SPLIT_SAME;
	area_t *pl = lsplit ? t->piece[0] : NULL;
	area_t *pr = rsplit ? t->piece[t->npieces - 1] : NULL;
	uint64_t start = t->start_, end = t->end_;
	bool at_prev = false;
	if (lsplit && rsplit && same && p->lv[0].node->n + 2 <= FANOUT) {
		/* One area cut in three inside one leaf with room: no
		 * reshaping, so the path stays good for the walk too. */
		node_t *x = p->lv[0].node;
		unsigned i = p->lv[0].idx;
		for (unsigned j = x->n; j-- > i + 1;) {
			x->start[j + 2] = x->start[j];
			x->end[j + 2] = x->end[j];
			x->ptr[j + 2] = x->ptr[j];
		}
		((area_t *)x->ptr[i])->end = start;
		x->end[i] = start;
		x->start[i + 1] = pl->start;
		x->end[i + 1] = pl->end;
		x->ptr[i + 1] = pl;
		x->start[i + 2] = pr->start;
		x->end[i + 2] = pr->end;
		x->ptr[i + 2] = pr;
		x->n += 2;
		s->count += 2;
		mmk__mset_fix_up(s, p, 0); /* once for the three changes */
		at_prev = true;
	} else {
		if (lsplit)
			mmk__mset_trim_insert_after(s, p, start, pl);
		if (rsplit && lsplit && same) {
			mmk__mset_tree_insert(s, pr);
		} else if (rsplit) {
			mmk__mset_locate(s, t->orig[t->npieces - 1], p);
			mmk__mset_trim_insert_after(s, p, end, pr);
		}
	}
	protect_walk(s, t, p, at_prev);
}

/* ------------------------------------------------ commit and abort */

void mmk_mset_commit(struct mmk_mset *set, struct mmk_mset_txn *t)
{
	switch (t->op_) {
	case OP_INSERT:
		commit_insert(set, t);
		break;
	case OP_REPLACE:
		unmap_commit(set, t->start_, t->end_, &t->path_,
			     t->npieces ? t->piece[0] : NULL, t);
		mmk__mset_tree_insert(set, t->area);
		if (!(t->mode_ & MMK_MSET_NOMERGE))
			t->area = merge_around(set, t->area, t);
		break;
	case OP_UNMAP:
		unmap_commit(set, t->start_, t->end_, &t->path_,
			     t->npieces ? t->piece[0] : NULL, t);
		break;
	case OP_PROTECT:
		commit_protect(set, t);
		break;
	default:
		MMK_ASSERT(t->op_ == OP_NOP); /* not committed twice */
		return;
	}
	t->op_ = OP_DONE;
	mmk__mset_spare_cap(set);
}

void mmk_mset_abort(struct mmk_mset *set, struct mmk_mset_txn *t)
{
	MMK_ASSERT(t->op_ != OP_DONE);
	txn_undo(set, t);
}

/* ------------------------------------------------------ conveniences */

static void free_dead(struct mmk_mset *set, struct mmk_mset_txn *t)
{
	for (area_t *a = t->dead, *next; a; a = next) {
		next = a->link;
		mmk_mset_area_free(set, a);
	}
	t->dead = NULL;
}

int mmk_mset_insert(struct mmk_mset *set, const struct mmk_mset_area *tmpl,
		    unsigned mode, struct mmk_mset_area **out)
{
	struct mmk_mset_txn t;
	int rc = mmk_mset_prepare_insert(set, tmpl, mode, &t);
	if (rc)
		return rc;
	mmk_mset_commit(set, &t);
	if (out)
		*out = t.area;
	free_dead(set, &t);
	return 0;
}

int mmk_mset_unmap(struct mmk_mset *set, mmk_vaddr_t start, uint64_t size)
{
	struct mmk_mset_txn t;
	int rc = mmk_mset_prepare_unmap(set, start, size, &t);
	if (rc)
		return rc;
	mmk_mset_commit(set, &t);
	free_dead(set, &t);
	return 0;
}

int mmk_mset_protect(struct mmk_mset *set, mmk_vaddr_t start, uint64_t size,
		     uint32_t flags)
{
	struct mmk_mset_txn t;
	int rc = mmk_mset_prepare_protect(set, start, size, flags, &t);
	if (rc)
		return rc;
	mmk_mset_commit(set, &t);
	free_dead(set, &t);
	return 0;
}

/* ------------------------------------------------------ the set itself */

void mmk_mset_init(struct mmk_mset *set)
{
	__builtin_memset(set, 0, sizeof(*set));
}

void mmk_mset_clear(struct mmk_mset *set)
{
	if (set->root)
		mmk__mset_free_subtree(set->root);
	set->root = NULL;
	set->height = 0;
	set->count = 0;
	mmk__mset_spare_drain(set);
}

void mmk_mset_destroy(struct mmk_mset *set)
{
	mmk_mset_clear(set);
}
