/* SPDX-License-Identifier: MIT */
/*
 * The memory set's B+tree: node memory and the reserve, edge tests, and
 * the surgery (insert an entry with splits upwards, delete one with
 * borrows and merges upwards).  Layout and balance rules: mset_internal.h.
 *
 * Nodes for a commit come only from the set's reserve, filled by a
 * prepare: 1 leaf and `height` inner nodes per area inserted (removals
 * never allocate).  The reserve survives the call (up to a cap), so most
 * operations allocate no node at all.  Surgery is iterative, level by
 * level, and splits a full node in place (no copy of its entries on the
 * stack), so it costs the same small frame at any height.
 */
#include "mset_internal.h"

/* ---------------------------------------------------------- node memory */

static node_t **spare_head(struct mmk_mset *s, bool leaf)
{
	return leaf ? &s->spare_leaf : &s->spare_inner;
}

static unsigned *spare_count(struct mmk_mset *s, bool leaf)
{
	return leaf ? &s->nspare_leaf : &s->nspare_inner;
}

static void spare_push(struct mmk_mset *s, node_t *x, bool leaf)
{
	x->ptr[0] = *spare_head(s, leaf);
	*spare_head(s, leaf) = x;
	(*spare_count(s, leaf))++;
}

/* Free spare nodes until at most @keep of the kind remain. */
static void spare_trim(struct mmk_mset *s, bool leaf, unsigned keep)
{
	while (*spare_count(s, leaf) > keep) {
		node_t *x = *spare_head(s, leaf);
		*spare_head(s, leaf) = x->ptr[0];
		(*spare_count(s, leaf))--;
		mmk_hal_obj_free(x, leaf ? LEAF_SIZE : INNER_SIZE);
	}
}

/* Make sure @nleaf leaves and @ninner inner nodes are in reserve. */
static int spare_reserve(struct mmk_mset *s, unsigned nleaf, unsigned ninner)
{
	while (s->nspare_leaf < nleaf) {
		node_t *x = mmk_hal_obj_alloc(LEAF_SIZE, NODE_ALIGN);
		if (!x)
			return MMK_ENOMEM;
		spare_push(s, x, true);
	}
	while (s->nspare_inner < ninner) {
		node_t *x = mmk_hal_obj_alloc(INNER_SIZE, NODE_ALIGN);
		if (!x)
			return MMK_ENOMEM;
		spare_push(s, x, false);
	}
	return 0;
}

/*
 * Every level may split once per insert, and the tree may grow a level
 * each time.  The caller undoes a partial reserve (mmk__mset_reserve_undo
 * with the counts it saw on entry).
 */
int mmk__mset_reserve_inserts(struct mmk_mset *s, unsigned k)
{
	unsigned h = s->height;
	if (h + k > MAXH)
		return MMK_ENOMEM; /* see MMK__MSET_MAXH: not in practice */
	return spare_reserve(s, k, k * h + k * (k - 1) / 2);
}

/*
 * Trimming back to the counts on entry to a prepare frees exactly what it
 * added, so the live-object count is as it was too.
 */
void mmk__mset_reserve_undo(struct mmk_mset *s, unsigned leaf, unsigned inner)
{
	spare_trim(s, true, leaf);
	spare_trim(s, false, inner);
}

void mmk__mset_spare_cap(struct mmk_mset *s)
{
	spare_trim(s, true, SPARE_CAP);
	spare_trim(s, false, SPARE_CAP);
}

void mmk__mset_spare_drain(struct mmk_mset *s)
{
	spare_trim(s, true, 0);
	spare_trim(s, false, 0);
}

/* Commit phase: a node from the reserve (a reservation bug otherwise). */
static node_t *node_take(struct mmk_mset *s, unsigned level)
{
	bool leaf = level == 0;
	node_t *x = *spare_head(s, leaf);
	MMK_ASSERT(x != NULL);
	*spare_head(s, leaf) = x->ptr[0];
	(*spare_count(s, leaf))--;
	x->n = 0;
	x->level = level;
	for (unsigned i = 0; i < FANOUT; i++)
		x->start[i] = NONE;
	return x;
}

static void node_put(struct mmk_mset *s, node_t *x)
{
	bool leaf = x->level == 0;
	if (*spare_count(s, leaf) < SPARE_CAP)
		spare_push(s, x, leaf);
	else
		mmk_hal_obj_free(x, leaf ? LEAF_SIZE : INNER_SIZE);
}

/*
 * Free the subtree of @x and the area objects in it.  Recursive, one small
 * frame per level (at most MAXH).
 */
void mmk__mset_free_subtree(node_t *x)
{
	for (unsigned i = 0; i < x->n; i++) {
		if (x->level)
			mmk__mset_free_subtree(x->ptr[i]);
		else
			mmk_hal_obj_free(x->ptr[i], sizeof(area_t));
	}
	mmk_hal_obj_free(x, x->level ? INNER_SIZE : LEAF_SIZE);
}

/* ------------------------------------------------------------ edges */

static bool is_rightmost(const struct mmk_mset *s,
			 const struct mmk__mset_path *p, unsigned level)
{
	for (unsigned l = level + 1; l < s->height; l++)
		if (p->lv[l].idx + 1 != p->lv[l].node->n)
			return false;
	return true;
}

static bool is_leftmost(const struct mmk_mset *s,
			const struct mmk__mset_path *p, unsigned level)
{
	for (unsigned l = level + 1; l < s->height; l++)
		if (p->lv[l].idx != 0)
			return false;
	return true;
}

/* ------------------------------------------------------- tree surgery */

/* Copy entry @from of @src to slot @to of @dst (no shifting). */
static void ent_copy(node_t *dst, unsigned to, const node_t *src, unsigned from)
{
	dst->start[to] = src->start[from];
	dst->end[to] = src->end[from];
	dst->ptr[to] = src->ptr[from];
	if (src->level)
		dst->gap[to] = src->gap[from];
}

static void ent_put(node_t *x, unsigned i, uint64_t st, uint64_t en, void *ptr,
		    uint64_t gap)
{
	x->start[i] = st;
	x->end[i] = en;
	x->ptr[i] = ptr;
	if (x->level)
		x->gap[i] = gap;
}

static void ent_remove(node_t *x, unsigned i)
{
	for (unsigned j = i; j + 1 < x->n; j++)
		ent_copy(x, j, x, j + 1);
	x->n--;
	x->start[x->n] = NONE;
}

/*
 * Split full node @x (at @level of @p) while inserting (st, en, ptr, gap)
 * at slot @i: of the FANOUT + 1 entries, the first @nl stay in @x, the
 * rest go to a new node, returned.  In place: the new node is filled
 * first (reading @x's upper entries), then @x's lower part is shifted.
 */
static node_t *split_node(struct mmk_mset *s, node_t *x, unsigned level,
			  unsigned nl, unsigned i, uint64_t st, uint64_t en,
			  void *ptr, uint64_t gap)
{
	node_t *y = node_take(s, level);
	for (unsigned j = nl; j <= FANOUT; j++) {
		if (j == i)
			ent_put(y, j - nl, st, en, ptr, gap);
		else
			ent_copy(y, j - nl, x, j < i ? j : j - 1);
	}
	if (i < nl) {
		for (unsigned j = nl - 1; j > i; j--)
			ent_copy(x, j, x, j - 1);
		ent_put(x, i, st, en, ptr, gap);
	}
	for (unsigned k = nl; k < FANOUT; k++)
		x->start[k] = NONE;
	x->n = nl;
	y->n = FANOUT + 1 - nl;
	return y;
}

/*
 * How many of the FANOUT + 1 entries a split of the full node at @level of
 * @p (the new one going to slot @i) keeps in the old node: half, but at
 * the edge of the set (appending or prepending in address order) all
 * except LEAF_SLACK slots in a leaf (MMK_CFG_MSET_LEAF_SLACK in
 * mset_internal.h) and every slot in an inner node, which packs full so
 * the tree stays as low as it can.  Out of line: it keeps the surgery's
 * frame as small as it was.
 */
__attribute__((noinline)) static unsigned
split_point(const struct mmk_mset *s, const struct mmk__mset_path *p,
	    unsigned level, unsigned i)
{
	unsigned slack = level == 0 ? LEAF_SLACK : 0;
	if (i == FANOUT && is_rightmost(s, p, level))
		return FANOUT - slack; /* appending */
	if (i == 0 && is_leftmost(s, p, level))
		return 1 + slack; /* prepending: likewise */
	return (FANOUT + 1) / 2;
}

/*
 * Insert entry (st, en, ptr, gap) at slot @i of the node at @level of @p,
 * splitting upwards as needed.  Takes nodes only from the reserve.  @p is
 * used up.
 */
void mmk__mset_ins_at(struct mmk_mset *s, struct mmk__mset_path *p,
		      unsigned level, uint64_t st, uint64_t en, void *ptr,
		      uint64_t gap, unsigned i)
{
	for (;;) {
		node_t *x = p->lv[level].node;
		if (x->n < FANOUT) {
			for (unsigned j = x->n; j > i; j--)
				ent_copy(x, j, x, j - 1);
			ent_put(x, i, st, en, ptr, gap);
			x->n++;
			mmk__mset_fix_up(s, p, level);
			return;
		}
		unsigned nl = split_point(s, p, level, i);
		node_t *y = split_node(s, x, level, nl, i, st, en, ptr, gap);
		if (level + 1 == s->height) {
			node_t *r = node_take(s, level + 1);
			r->ptr[0] = x;
			r->ptr[1] = y;
			r->n = 2;
			mmk__mset_refresh_slot(r, 0);
			mmk__mset_refresh_slot(r, 1);
			s->root = r;
			s->height++;
			return;
		}
		unsigned pi = p->lv[level + 1].idx;
		mmk__mset_refresh_slot(p->lv[level + 1].node, pi);
		/* Now insert y into the parent, right after x. */
		st = y->start[0];
		en = y->end[y->n - 1];
		ptr = y;
		gap = mmk__mset_node_gap(y);
		i = pi + 1;
		level++;
	}
}

/* The root lost an entry: drop an empty root, hand over a single child. */
static void root_shrink(struct mmk_mset *s, node_t *x)
{
	if (x->n == 0) {
		node_put(s, x);
		s->root = NULL;
		s->height = 0;
	}
	/* A root with one child hands over to it (maybe repeatedly: that
	 * child is an edge node and may be thin too). */
	while (s->root && s->root->level && s->root->n == 1) {
		node_t *old = s->root;
		s->root = old->ptr[0];
		s->height--;
		node_put(s, old);
	}
}

/* Move one entry from sibling @sib into thin node @x (same parent). */
static void borrow(node_t *x, node_t *l, node_t *r)
{
	if (x == r) {
		for (unsigned j = x->n; j > 0; j--)
			ent_copy(x, j, x, j - 1);
		ent_copy(x, 0, l, l->n - 1);
		x->n++;
		l->n--;
		l->start[l->n] = NONE;
	} else {
		ent_copy(x, x->n, r, 0);
		x->n++;
		ent_remove(r, 0);
	}
}

/*
 * Remove slot @i of the node at @level of @p, rebalancing upwards.  Frees
 * nodes into the reserve; never allocates.  @p is used up.
 */
void mmk__mset_del_at(struct mmk_mset *s, struct mmk__mset_path *p,
		      unsigned level, unsigned i)
{
	for (;;) {
		node_t *x = p->lv[level].node;
		ent_remove(x, i);
		if (level + 1 == s->height) {
			root_shrink(s, x);
			return;
		}
		node_t *par = p->lv[level + 1].node;
		unsigned pi = p->lv[level + 1].idx;
		bool edge =
			is_leftmost(s, p, level) || is_rightmost(s, p, level);
		if (x->n >= MINFILL || (edge && x->n > 0)) {
			mmk__mset_fix_up(s, p, level);
			return;
		}
		if (par->n == 1) {
			/* Only an edge node has a single child; it may be
			 * thin.  An empty one goes from its parent. */
			MMK_ASSERT(x->n == 0);
			node_put(s, x);
			i = pi;
			level++;
			continue;
		}
		unsigned li = pi > 0 ? pi - 1 : pi; /* left of the pair */
		node_t *l = par->ptr[li], *r = par->ptr[li + 1];
		node_t *sib = l == x ? r : l;
		if (sib->n > MINFILL && x->n > 0) {
			borrow(x, l, r);
			mmk__mset_refresh_slot(par, li);
			mmk__mset_refresh_slot(par, li + 1);
			mmk__mset_fix_up(s, p, level + 1);
			return;
		}
		/* Merge the right node into the left one (they fit). */
		MMK_ASSERT(l->n + r->n > 0 && l->n + r->n <= FANOUT);
		for (unsigned j = 0; j < r->n; j++)
			ent_copy(l, l->n + j, r, j);
		l->n += r->n;
		node_put(s, r);
		mmk__mset_refresh_slot(par, li);
		i = li + 1;
		level++;
	}
}

/* --------------------------------------------------- area-level helpers */

void mmk__mset_tree_insert(struct mmk_mset *s, area_t *a)
{
	if (!s->root) {
		node_t *x = node_take(s, 0);
		ent_put(x, 0, a->start, a->end, a, 0);
		x->n = 1;
		s->root = x;
		s->height = 1;
	} else {
		struct mmk__mset_path p;
		mmk__mset_descend(s, a->start, &p);
		mmk__mset_ins_at(s, &p, 0, a->start, a->end, a, 0, p.lv[0].idx);
	}
	s->count++;
}

void mmk__mset_tree_remove(struct mmk_mset *s, area_t *a)
{
	struct mmk__mset_path p;
	mmk__mset_locate(s, a, &p);
	mmk__mset_del_at(s, &p, 0, p.lv[0].idx);
	s->count--;
}

void mmk__mset_set_end(struct mmk_mset *s, area_t *a, uint64_t end)
{
	struct mmk__mset_path p;
	mmk__mset_locate(s, a, &p);
	mmk__mset_set_end_at(s, &p, end);
}

/*
 * Lower the end of the area at the leaf position of @p to @end and insert
 * @pc (which lies between @end and the next area) right after it: one
 * descent for a split.  @p is used up.
 */
void mmk__mset_trim_insert_after(struct mmk_mset *s, struct mmk__mset_path *p,
				 uint64_t end, area_t *pc)
{
	node_t *x = p->lv[0].node;
	unsigned i = p->lv[0].idx;
	s->count++;
	if (x->n == FANOUT) {
		mmk__mset_set_end_at(s, p, end);
		mmk__mset_ins_at(s, p, 0, pc->start, pc->end, pc, 0, i + 1);
		return;
	}
	/* Room in the leaf: both changes, then the summaries once. */
	for (unsigned j = x->n; j-- > i + 1;) {
		x->start[j + 1] = x->start[j];
		x->end[j + 1] = x->end[j];
		x->ptr[j + 1] = x->ptr[j];
	}
	((area_t *)x->ptr[i])->end = end;
	x->end[i] = end;
	ent_put(x, i + 1, pc->start, pc->end, pc, 0);
	x->n++;
	mmk__mset_fix_up(s, p, 0);
}
