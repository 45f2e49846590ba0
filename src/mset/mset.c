/* SPDX-License-Identifier: MIT */
/*
 * The memory set: areas in a B+tree with wide nodes and gap summaries.
 *
 * Every area sits in a leaf slot as (start, end, area pointer).  An inner
 * node keeps, for each child, the child's lowest start (the search key),
 * its highest end and the largest free gap *between two areas inside it*.
 * A gap between two children is start[i] - end[i-1] in the parent, so the
 * largest gap of any subtree is a function of one node's arrays:
 *
 *   inner node (FANOUT slots)
 *   +-----------------+------------------------------+-----+-----------+
 *   | start[0..F-1]   | {end, child}[0..F-1]          | n,l | gap[0..F-1] |
 *   +-----------------+------------------------------+-----+-----------+
 *     2 cache lines     one line per two slots               inner only
 *
 * Unused start[] slots hold UINT64_MAX, so a lookup counts "start <= addr"
 * over the whole array without reading n (one cache line fewer per level).
 * Leaves are allocated without gap[].
 *
 * Balance: every leaf is at the same depth; every node holds at most FANOUT
 * entries and, unless it is the first or the last node of its level, at
 * least FANOUT / 2.  The edge nodes may be thinner because a split at the
 * very end (or start) of the set keeps the full node full: appending areas
 * in order, as a loader or a growing heap does, then packs leaves
 * completely instead of half (the lookup then touches fewer, denser nodes).
 *
 * Modifications run in two phases (STYLE point 4).  Prepare: reserve every
 * node the commit may take (1 leaf and `height` inner nodes per area
 * inserted; removals never allocate), allocate the area objects of split
 * pieces, call the backend's split hook.  Commit: tree surgery that takes
 * nodes only from the reserve, and the backend's unmap/protect callbacks,
 * none of which can fail.  The reserve survives the call (up to a cap), so
 * most operations allocate no node at all.
 */
#include <mmkit/hal.h>
#include <mmkit/log.h>
#include <mmkit/mset.h>

/*
 * Slots per node.  16 measured best at 1,000,000 areas (see
 * docs/ARCHITECTURE.md); a power of two from 4 to 64 works.
 */
#ifndef MMK_CFG_MSET_FANOUT
#define MMK_CFG_MSET_FANOUT 16
#endif
#define FANOUT	  MMK_CFG_MSET_FANOUT
#define MINFILL	  (FANOUT / 2)
#define MAXH	  32 /* (FANOUT/2)^32 areas: beyond any memory */
#define SPARE_CAP 24
#define NONE	  UINT64_MAX

struct mmk__mset_ent {
	uint64_t end;
	void *ptr; /* leaf: struct mmk_mset_area *; inner: child node */
};

struct mmk__mset_node {
	uint64_t start[FANOUT];
	struct mmk__mset_ent e[FANOUT];
	uint32_t n;
	uint32_t level;	      /* 0 = leaf */
	uint64_t gap[FANOUT]; /* inner nodes only: not allocated in leaves */
};

typedef struct mmk__mset_node node_t;
typedef struct mmk_mset_area area_t;

#define LEAF_SIZE  __builtin_offsetof(node_t, gap)
#define INNER_SIZE sizeof(node_t)
#define NODE_ALIGN 64

/*
 * A root-to-leaf path; index by level (0 = the leaf).  Node and slot of a
 * level sit side by side: besides locality, two parallel arrays of
 * different strides led GCC 12 at -O2 (IVOPTs addressing one array through
 * the other, then IPA mod-ref summarising the store wrongly) to miss that
 * path_next rewrites node[0], so a caller kept a stale leaf.
 */
struct path {
	struct {
		node_t *node;
		unsigned idx;
	} lv[MAXH];
};

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
	x->e[0].ptr = *spare_head(s, leaf);
	*spare_head(s, leaf) = x;
	(*spare_count(s, leaf))++;
}

/* Free spare nodes until at most @keep of the kind remain. */
static void spare_trim(struct mmk_mset *s, bool leaf, unsigned keep)
{
	while (*spare_count(s, leaf) > keep) {
		node_t *x = *spare_head(s, leaf);
		*spare_head(s, leaf) = x->e[0].ptr;
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

/* Commit phase: a node from the reserve (a reservation bug otherwise). */
static node_t *node_take(struct mmk_mset *s, unsigned level)
{
	bool leaf = level == 0;
	node_t *x = *spare_head(s, leaf);
	MMK_ASSERT(x != NULL);
	*spare_head(s, leaf) = x->e[0].ptr;
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
 * What one prepare phase reserves, for @k areas inserted: every level may
 * split once per insert, and the tree may grow a level each time.
 */
static int reserve_inserts(struct mmk_mset *s, unsigned k)
{
	unsigned h = s->height;
	return spare_reserve(s, k, k * h + k * (k - 1) / 2);
}

/* After a successful call: keep a bounded reserve. */
static void spare_cap(struct mmk_mset *s)
{
	spare_trim(s, true, SPARE_CAP);
	spare_trim(s, false, SPARE_CAP);
}

/*
 * The spare counts on entry to a call.  After a failed prepare, trimming
 * back to them frees exactly what the call added, so the live-object count
 * is as it was too.
 */
struct resv {
	unsigned leaf, inner;
};

static struct resv resv_mark(const struct mmk_mset *s)
{
	struct resv r = {s->nspare_leaf, s->nspare_inner};
	return r;
}

static void reserve_undo(struct mmk_mset *s, struct resv r)
{
	spare_trim(s, true, r.leaf);
	spare_trim(s, false, r.inner);
}

/* ------------------------------------------------------------- summaries */

/*
 * Ask for a node's {end, pointer} lines while its keys are being loaded:
 * which slot is needed is known only after the key scan, so without this
 * every level costs two misses in a row instead of two side by side.
 */
static inline void prefetch_ents(const node_t *x)
{
#ifndef MMK_CFG_MSET_NO_PREFETCH
	for (unsigned i = 0; i < FANOUT; i += 64 / sizeof(x->e[0]))
		__builtin_prefetch(&x->e[i]);
	__builtin_prefetch(&x->n); /* its own line at the end of the node */
#else
	(void)x;
#endif
}

/* The whole node (keys, entries, header, gaps of an inner node). */
static inline void prefetch_node(const node_t *x, unsigned level)
{
#ifndef MMK_CFG_MSET_NO_PREFETCH
	size_t size = level ? INNER_SIZE : LEAF_SIZE;
	for (size_t off = 0; off < size; off += 64)
		__builtin_prefetch((const char *)x + off);
#else
	(void)x;
	(void)level;
#endif
}

/* Number of used slots with start <= addr (unused slots hold NONE). */
static inline unsigned count_le(const node_t *x, uint64_t addr)
{
	unsigned c = 0;
	for (unsigned i = 0; i < FANOUT; i++)
		c += x->start[i] <= addr;
	return c;
}

/* Largest free gap between two areas inside the subtree of @x. */
static uint64_t node_gap(const node_t *x)
{
	uint64_t g = 0;
	for (unsigned i = 1; i < x->n; i++) {
		uint64_t d = x->start[i] - x->e[i - 1].end;
		if (d > g)
			g = d;
	}
	if (x->level)
		for (unsigned i = 0; i < x->n; i++)
			if (x->gap[i] > g)
				g = x->gap[i];
	return g;
}

/* Recompute slot @i of inner node @p from its child; true if it changed. */
static bool refresh_slot(node_t *p, unsigned i)
{
	const node_t *c = p->e[i].ptr;
	uint64_t st = c->start[0], en = c->e[c->n - 1].end, g = node_gap(c);
	if (p->start[i] == st && p->e[i].end == en && p->gap[i] == g)
		return false;
	p->start[i] = st;
	p->e[i].end = en;
	p->gap[i] = g;
	return true;
}

/*
 * The node at @level of @path changed its contents but not its place:
 * bring the summaries above it up to date.  Stops as soon as a level is
 * unchanged (everything above depends only on the levels below).
 */
static void fix_up(struct mmk_mset *s, struct path *p, unsigned level)
{
	for (unsigned l = level; l + 1 < s->height; l++)
		if (!refresh_slot(p->lv[l + 1].node, p->lv[l + 1].idx))
			return;
}

static bool is_rightmost(const struct mmk_mset *s, const struct path *p,
			 unsigned level)
{
	for (unsigned l = level + 1; l < s->height; l++)
		if (p->lv[l].idx + 1 != p->lv[l].node->n)
			return false;
	return true;
}

static bool is_leftmost(const struct mmk_mset *s, const struct path *p,
			unsigned level)
{
	for (unsigned l = level + 1; l < s->height; l++)
		if (p->lv[l].idx != 0)
			return false;
	return true;
}

/* ---------------------------------------------------------------- paths */

/*
 * Descend towards @addr.  Inner levels record the child whose range holds
 * @addr (the first child if @addr is below everything); the leaf records
 * how many of its areas start at or below @addr (the insertion index).
 */
static void descend(const struct mmk_mset *s, uint64_t addr, struct path *p)
{
	node_t *x = s->root;
	p->lv[0].node = x; /* (a set with a root has height >= 1) */
	p->lv[0].idx = 0;
	/* No area starts at UINT64_MAX, and unused slots hold it: counting
	 * against UINT64_MAX - 1 gives the same answer without reading n
	 * (the node's last line) at every level. */
	uint64_t key = addr == UINT64_MAX ? addr - 1 : addr;
	for (unsigned l = s->height; l-- > 0;) {
		unsigned c = count_le(x, key);
		p->lv[l].node = x;
		if (l == 0) {
			p->lv[0].idx = c;
			break;
		}
		p->lv[l].idx = c ? c - 1 : 0;
		x = x->e[p->lv[l].idx].ptr;
		prefetch_ents(x);
	}
}

/* Step the leaf position of @p to the next area; false at the end. */
static bool path_next(const struct mmk_mset *s, struct path *p)
{
	if (++p->lv[0].idx < p->lv[0].node->n)
		return true;
	unsigned l = 1;
	while (l < s->height && p->lv[l].idx + 1 >= p->lv[l].node->n)
		l++;
	if (l >= s->height)
		return false;
	p->lv[l].idx++;
	for (; l > 0; l--) {
		p->lv[l - 1].node = p->lv[l].node->e[p->lv[l].idx].ptr;
		p->lv[l - 1].idx = 0;
	}
	return true;
}

/* Position @p at the first area ending above @addr; false if none. */
static bool seek(const struct mmk_mset *s, uint64_t addr, struct path *p)
{
	if (!s->root)
		return false;
	descend(s, addr, p);
	node_t *x = p->lv[0].node;
	unsigned c = p->lv[0].idx;
	if (c > 0 && x->e[c - 1].end > addr) {
		p->lv[0].idx = c - 1;
		return true;
	}
	if (c < x->n)
		return true;
	p->lv[0].idx = x->n - 1;
	return path_next(s, p);
}

static area_t *path_area(const struct path *p)
{
	return p->lv[0].node->e[p->lv[0].idx].ptr;
}

/* The path to area @a, which must be in the set. */
static void locate(const struct mmk_mset *s, const area_t *a, struct path *p)
{
	descend(s, a->start, p);
	MMK_ASSERT(p->lv[0].idx > 0);
	p->lv[0].idx--;
	MMK_ASSERT(path_area(p) == a);
}

/* ------------------------------------------------------ tree surgery */

/*
 * Insert entry (st, en, ptr, gap) at slot @i of the node at @level of @p,
 * splitting upwards as needed.  Takes nodes only from the reserve.
 */
static void ins_at(struct mmk_mset *s, struct path *p, unsigned level,
		   uint64_t st, uint64_t en, void *ptr, uint64_t gap,
		   unsigned i)
{
	node_t *x = p->lv[level].node;
	if (x->n < FANOUT) {
		for (unsigned j = x->n; j > i; j--) {
			x->start[j] = x->start[j - 1];
			x->e[j] = x->e[j - 1];
			if (level)
				x->gap[j] = x->gap[j - 1];
		}
		x->start[i] = st;
		x->e[i].end = en;
		x->e[i].ptr = ptr;
		if (level)
			x->gap[i] = gap;
		x->n++;
		fix_up(s, p, level);
		return;
	}

	/* Full: lay out the FANOUT + 1 entries, then cut them in two. */
	uint64_t ts[FANOUT + 1], tg[FANOUT + 1];
	struct mmk__mset_ent te[FANOUT + 1];
	for (unsigned j = 0, k = 0; j <= FANOUT; j++) {
		if (j == i) {
			ts[j] = st;
			te[j].end = en;
			te[j].ptr = ptr;
			tg[j] = gap;
			continue;
		}
		ts[j] = x->start[k];
		te[j] = x->e[k];
		tg[j] = level ? x->gap[k] : 0;
		k++;
	}
	unsigned nl = (FANOUT + 1) / 2;
	if (i == FANOUT && is_rightmost(s, p, level))
		nl = FANOUT; /* appending: keep the full node full */
	else if (i == 0 && is_leftmost(s, p, level))
		nl = 1; /* prepending: likewise */

	node_t *y = node_take(s, level);
	for (unsigned j = 0; j <= FANOUT; j++) {
		node_t *d = j < nl ? x : y;
		unsigned k = j < nl ? j : j - nl;
		d->start[k] = ts[j];
		d->e[k] = te[j];
		if (level)
			d->gap[k] = tg[j];
	}
	for (unsigned k = nl; k < FANOUT; k++)
		x->start[k] = NONE;
	x->n = nl;
	y->n = FANOUT + 1 - nl;

	if (level + 1 == s->height) {
		node_t *r = node_take(s, level + 1);
		r->e[0].ptr = x;
		r->e[1].ptr = y;
		r->n = 2;
		refresh_slot(r, 0);
		refresh_slot(r, 1);
		s->root = r;
		s->height++;
		return;
	}
	node_t *par = p->lv[level + 1].node;
	unsigned pi = p->lv[level + 1].idx;
	refresh_slot(par, pi);
	ins_at(s, p, level + 1, y->start[0], y->e[y->n - 1].end, y, node_gap(y),
	       pi + 1);
}

/* Move entry @from of @src to slot @to of @dst (no shifting). */
static void ent_copy(node_t *dst, unsigned to, const node_t *src, unsigned from)
{
	dst->start[to] = src->start[from];
	dst->e[to] = src->e[from];
	if (src->level)
		dst->gap[to] = src->gap[from];
}

static void ent_remove(node_t *x, unsigned i)
{
	for (unsigned j = i; j + 1 < x->n; j++)
		ent_copy(x, j, x, j + 1);
	x->n--;
	x->start[x->n] = NONE;
}

/*
 * Remove slot @i of the node at @level of @p, rebalancing upwards.  Frees
 * nodes into the reserve; never allocates.
 */
static void del_at(struct mmk_mset *s, struct path *p, unsigned level,
		   unsigned i)
{
	node_t *x = p->lv[level].node;
	ent_remove(x, i);

	if (level + 1 == s->height) {
		if (x->n == 0) {
			node_put(s, x);
			s->root = NULL;
			s->height = 0;
		}
		/* A root with one child hands over to it (maybe repeatedly:
		 * that child is an edge node and may be thin too). */
		while (s->root && s->root->level && s->root->n == 1) {
			node_t *old = s->root;
			s->root = old->e[0].ptr;
			s->height--;
			node_put(s, old);
		}
		return;
	}

	node_t *par = p->lv[level + 1].node;
	unsigned pi = p->lv[level + 1].idx;
	bool edge = is_leftmost(s, p, level) || is_rightmost(s, p, level);
	if (x->n >= MINFILL || (edge && x->n > 0)) {
		fix_up(s, p, level);
		return;
	}
	if (par->n == 1) {
		/* Only an edge node has a single child; it may be thin. */
		MMK_ASSERT(x->n == 0);
		node_put(s, x);
		del_at(s, p, level + 1, pi);
		return;
	}

	unsigned li = pi > 0 ? pi - 1 : pi; /* left of the pair */
	node_t *l = par->e[li].ptr, *r = par->e[li + 1].ptr;
	node_t *sib = l == x ? r : l;
	if (sib->n > MINFILL && x->n > 0) {
		/* Borrow one entry from the sibling. */
		if (sib == l) {
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
		refresh_slot(par, li);
		refresh_slot(par, li + 1);
		fix_up(s, p, level + 1);
		return;
	}
	/* Merge the right node into the left one (they fit: < FANOUT). */
	for (unsigned j = 0; j < r->n; j++)
		ent_copy(l, l->n + j, r, j);
	l->n += r->n;
	node_put(s, r);
	if (l->n)
		refresh_slot(par, li);
	else
		MMK_ASSERT(0); /* x empty and sib empty cannot both be */
	del_at(s, p, level + 1, li + 1);
}

/* ------------------------------------------------- area-level helpers */

static void tree_insert(struct mmk_mset *s, area_t *a)
{
	if (!s->root) {
		node_t *x = node_take(s, 0);
		x->start[0] = a->start;
		x->e[0].end = a->end;
		x->e[0].ptr = a;
		x->n = 1;
		s->root = x;
		s->height = 1;
	} else {
		struct path p;
		descend(s, a->start, &p);
		ins_at(s, &p, 0, a->start, a->end, a, 0, p.lv[0].idx);
	}
	s->count++;
}

static void tree_remove(struct mmk_mset *s, area_t *a)
{
	struct path p;
	locate(s, a, &p);
	del_at(s, &p, 0, p.lv[0].idx);
	s->count--;
}

/*
 * Setters through a path whose leaf position holds the area: no descent.
 * They change keys, never the shape, so @p stays valid.
 */
static void set_end_at(struct mmk_mset *s, struct path *p, uint64_t end)
{
	struct mmk__mset_ent *e = &p->lv[0].node->e[p->lv[0].idx];
	((area_t *)e->ptr)->end = end;
	e->end = end;
	fix_up(s, p, 0);
}

/* Move the start of the area up to @start (its backend offset follows). */
static void set_start_at(struct mmk_mset *s, struct path *p, uint64_t start)
{
	node_t *x = p->lv[0].node;
	area_t *a = x->e[p->lv[0].idx].ptr;
	x->start[p->lv[0].idx] = start;
	a->offset += start - a->start;
	a->start = start;
	fix_up(s, p, 0);
}

static void set_end(struct mmk_mset *s, area_t *a, uint64_t end)
{
	struct path p;
	locate(s, a, &p);
	set_end_at(s, &p, end);
}

/*
 * Lower the end of the area at the leaf position of @p to @end and insert
 * @pc (which lies between @end and the next area) right after it: one
 * descent for a split.  @p is used up.
 */
static void trim_insert_after(struct mmk_mset *s, struct path *p, uint64_t end,
			      area_t *pc)
{
	node_t *x = p->lv[0].node;
	unsigned i = p->lv[0].idx;
	s->count++;
	if (x->n == FANOUT) {
		set_end_at(s, p, end);
		ins_at(s, p, 0, pc->start, pc->end, pc, 0, i + 1);
		return;
	}
	/* Room in the leaf: both changes, then the summaries once. */
	for (unsigned j = x->n; j-- > i + 1;) {
		x->start[j + 1] = x->start[j];
		x->e[j + 1] = x->e[j];
	}
	((area_t *)x->e[i].ptr)->end = end;
	x->e[i].end = end;
	x->start[i + 1] = pc->start;
	x->e[i + 1].end = pc->end;
	x->e[i + 1].ptr = pc;
	x->n++;
	fix_up(s, p, 0);
}

/*
 * Area objects come straight from the HAL.  (A cache of freed ones, like
 * the spare nodes, measured no better: the split paths are dominated by the
 * descent's cache misses, not by the allocator.)
 */
static area_t *area_alloc(struct mmk_mset *s)
{
	(void)s;
	return mmk_hal_obj_alloc(sizeof(area_t), _Alignof(area_t));
}

static void area_free(struct mmk_mset *s, area_t *a)
{
	(void)s;
	mmk_hal_obj_free(a, sizeof(area_t));
}

static void area_release(struct mmk_mset *s, area_t *a)
{
	if (a->ops && a->ops->release)
		a->ops->release(a);
	area_free(s, a);
}

/*
 * Prepare a split piece: [start, end) of @orig, not yet visible.  Returns
 * the piece or NULL with *err set; on failure nothing is left behind.
 */
static area_t *piece_prepare(struct mmk_mset *s, const area_t *orig,
			     uint64_t start, uint64_t end, int *err)
{
	area_t *pc = area_alloc(s);
	if (!pc) {
		*err = MMK_ENOMEM;
		return NULL;
	}
	*pc = *orig;
	pc->start = start;
	pc->end = end;
	pc->offset = orig->offset + (start - orig->start);
	if (orig->ops && orig->ops->split) {
		int rc = orig->ops->split(orig, pc);
		if (rc) {
			area_free(s, pc);
			*err = rc < 0 ? rc : MMK_EINVAL;
			return NULL;
		}
	}
	return pc;
}

static bool mergeable(const area_t *lo, const area_t *hi)
{
	if (lo->end != hi->start || lo->ops != hi->ops ||
	    lo->flags != hi->flags ||
	    lo->offset + (lo->end - lo->start) != hi->offset)
		return false;
	return !lo->ops || !lo->ops->can_merge || lo->ops->can_merge(lo, hi);
}

/* @hi (right after @lo) is absorbed into @lo and released. */
static void absorb(struct mmk_mset *s, area_t *lo, area_t *hi)
{
	uint64_t end = hi->end;
	tree_remove(s, hi);
	area_release(s, hi);
	set_end(s, lo, end);
}

/* Merge @a with its neighbours where allowed; returns the survivor. */
static area_t *merge_around(struct mmk_mset *s, area_t *a)
{
	if (a->start > 0) {
		area_t *prev = mmk_mset_find(s, a->start - 1);
		if (prev && mergeable(prev, a)) {
			absorb(s, prev, a);
			a = prev;
		}
	}
	area_t *next = mmk_mset_find(s, a->end);
	if (next && mergeable(a, next))
		absorb(s, a, next);
	return a;
}

/*
 * Commit of a protect, after the splits: give every area inside [start,
 * end) the new flags, and merge each pair that became mergeable, from the
 * area before @start to the one starting at @end.  One walk; a descent
 * only after a merge (which changes the shape).  @from, if not NULL, is a
 * path at the area holding start - 1.
 */
static void protect_walk(struct mmk_mset *s, uint64_t start, uint64_t end,
			 uint32_t flags, void *ctx, const struct path *from)
{
	struct path p;
	area_t *prev = NULL;
	uint64_t prev_end = 0;
	if (from) /* already at the area holding start - 1 */
		p = *from;
	else if (!seek(s, start ? start - 1 : 0, &p))
		return;
	for (;;) {
		/* Decide from the leaf's keys; touch an area object (a likely
		 * cache miss) only when its flags or a merge are at stake. */
		const node_t *x = p.lv[0].node;
		unsigned i = p.lv[0].idx;
		uint64_t as = x->start[i], ae = x->e[i].end;
		if (as > end)
			return;
		area_t *a = x->e[i].ptr;
		if (as < end && ae > start && a->flags != flags) {
			if (a->ops && a->ops->protect)
				a->ops->protect(a, flags, ctx);
			a->flags = flags;
		}
		if (prev && prev_end == as && mergeable(prev, a)) {
			absorb(s, prev, a);
			prev_end = prev->end;
			if (!seek(s, prev_end - 1, &p))
				return;
		} else {
			prev = a;
			prev_end = ae;
		}
		if (!path_next(s, &p))
			return;
	}
}

/*
 * Commit of an unmap of [start, end): cannot fail.  @p points at the first
 * area intersecting the range.  @piece is the prepared upper part when one
 * area holds the whole range with room on both sides.
 */
static void unmap_commit(struct mmk_mset *s, uint64_t start, uint64_t end,
			 struct path *p, area_t *piece, void *ctx)
{
	for (;;) {
		area_t *a = path_area(p);
		uint64_t cs = MMK_MAX(a->start, start);
		uint64_t ce = MMK_MIN(a->end, end);
		if (a->ops && a->ops->unmap)
			a->ops->unmap(a, cs, ce, ctx);
		if (a->start < start && a->end > end) {
			MMK_ASSERT(piece && piece->start == end &&
				   piece->end == a->end);
			trim_insert_after(s, p, start, piece);
			return;
		}
		if (a->end > end && a->start >= start) {
			set_start_at(s, p, end);
			return;
		}
		if (a->start < start) {
			set_end_at(s, p, start); /* the shape stays: step on */
			if (ce >= end || !path_next(s, p))
				return;
		} else {
			del_at(s, p, 0, p->lv[0].idx);
			s->count--;
			area_release(s, a);
			if (ce >= end || !seek(s, ce, p))
				return;
		}
		if (path_area(p)->start >= end)
			return;
	}
}

static int range_end(uint64_t start, uint64_t size, uint64_t *end)
{
	if (size == 0 || size > UINT64_MAX - start)
		return MMK_EWRAP;
	*end = start + size;
	return 0;
}

/* ------------------------------------------------------------ the API */

void mmk_mset_init(struct mmk_mset *set)
{
	__builtin_memset(set, 0, sizeof(*set));
}

static void clear_node(struct mmk_mset *s, node_t *x, void *ctx)
{
	for (unsigned i = 0; i < x->n; i++) {
		if (x->level) {
			clear_node(s, x->e[i].ptr, ctx);
			continue;
		}
		area_t *a = x->e[i].ptr;
		if (a->ops && a->ops->unmap)
			a->ops->unmap(a, a->start, a->end, ctx);
		area_release(s, a);
	}
	mmk_hal_obj_free(x, x->level ? INNER_SIZE : LEAF_SIZE);
}

void mmk_mset_clear(struct mmk_mset *set, void *ctx)
{
	if (set->root)
		clear_node(set, set->root, ctx);
	set->root = NULL;
	set->height = 0;
	set->count = 0;
	spare_trim(set, true, 0);
	spare_trim(set, false, 0);
}

void mmk_mset_destroy(struct mmk_mset *set, void *ctx)
{
	mmk_mset_clear(set, ctx);
}

/*
 * Insert with MMK_MSET_REPLACE over at least one area: cut the range out
 * first (committed before map runs, as the header says).
 */
static int insert_replace(struct mmk_mset *set, const area_t *tmpl,
			  unsigned mode, void *ctx, area_t **out,
			  struct path *p)
{
	uint64_t start = tmpl->start, end = tmpl->end;
	area_t *first = path_area(p);
	area_t *hole = first->start < start && first->end > end ? first : NULL;
	struct resv rv = resv_mark(set);
	int rc = reserve_inserts(set, hole ? 2 : 1);
	area_t *na = NULL, *piece = NULL;
	if (!rc && !(na = area_alloc(set)))
		rc = MMK_ENOMEM;
	if (!rc && hole &&
	    !(piece = piece_prepare(set, hole, end, hole->end, &rc)))
		area_free(set, na);
	if (rc) {
		reserve_undo(set, rv);
		return rc;
	}
	*na = *tmpl;
	na->reserved_ = 0;
	unmap_commit(set, start, end, p, piece, ctx);
	if (na->ops && na->ops->map) {
		rc = na->ops->map(na, start, end, ctx);
		if (rc) {
			area_free(set, na); /* priv stays the caller's */
			return rc < 0 ? rc : MMK_EINVAL;
		}
	}
	tree_insert(set, na);
	if (!(mode & MMK_MSET_NOMERGE))
		na = merge_around(set, na);
	*out = na;
	return 0;
}

int mmk_mset_insert(struct mmk_mset *set, const struct mmk_mset_area *tmpl,
		    unsigned mode, void *ctx, struct mmk_mset_area **out)
{
	if (!tmpl)
		return MMK_EINVAL;
	uint64_t start = tmpl->start, end = tmpl->end;
	if (start >= end)
		return MMK_EWRAP;

	/*
	 * One descent finds the insertion slot and both neighbours: prev is
	 * the last area starting at or below @start, next the one after it.
	 */
	struct path p, q;
	area_t *prev = NULL, *next = NULL, *res;
	uint64_t prev_end = 0, next_start = 0; /* from the keys: no miss */
	unsigned c = 0;
	if (set->root) {
		descend(set, start, &p);
		node_t *x = p.lv[0].node;
		c = p.lv[0].idx;
		if (c > 0) {
			prev = x->e[c - 1].ptr;
			prev_end = x->e[c - 1].end;
		}
		q = p;
		if (c < x->n) {
			next = x->e[c].ptr;
			next_start = x->start[c];
		} else {
			q.lv[0].idx = x->n - 1;
			if (path_next(set, &q)) {
				next = path_area(&q);
				next_start = q.lv[0].node->start[q.lv[0].idx];
			}
		}
		if (prev && prev_end > start) {
			if (!(mode & MMK_MSET_REPLACE))
				return MMK_EEXIST;
			q = p;
			q.lv[0].idx = c - 1;
		} else if (next && next_start < end) {
			if (!(mode & MMK_MSET_REPLACE))
				return MMK_EEXIST;
			if (c < x->n)
				q = p;
		} else {
			goto no_overlap;
		}
		/* q points at the first area the new one overlaps. */
		int rc = insert_replace(set, tmpl, mode, ctx, &res, &q);
		if (!rc) {
			if (out)
				*out = res;
			spare_cap(set);
		}
		return rc;
	}
no_overlap:;
	/* Prepare. */
	struct resv rv = resv_mark(set);
	int rc = reserve_inserts(set, 1);
	area_t *na = NULL;
	if (!rc && !(na = area_alloc(set)))
		rc = MMK_ENOMEM;
	if (rc) {
		reserve_undo(set, rv);
		return rc;
	}
	*na = *tmpl;
	na->reserved_ = 0;
	if (na->ops && na->ops->map) {
		rc = na->ops->map(na, start, end, ctx);
		if (rc) {
			area_free(set, na); /* priv stays the caller's */
			reserve_undo(set, rv);
			return rc < 0 ? rc : MMK_EINVAL;
		}
	}

	/* Commit: join a neighbour in place where possible. */
	bool merge = !(mode & MMK_MSET_NOMERGE);
	bool mp = merge && prev && prev_end == start && mergeable(prev, na);
	bool mn = merge && next && next_start == end && mergeable(na, next);
	res = na;
	if (mp && mn) {
		uint64_t e2 = next->end;
		tree_remove(set, next);
		area_release(set, next);
		set_end(set, prev, e2);
		area_release(set, na);
		res = prev;
	} else if (mp) {
		p.lv[0].idx = c - 1;
		set_end_at(set, &p, end);
		area_release(set, na);
		res = prev;
	} else if (mn) {
		/* na takes next's slot and range: same order, no reshaping. */
		if (c < p.lv[0].node->n)
			q = p;
		node_t *x = q.lv[0].node;
		x->start[q.lv[0].idx] = start;
		x->e[q.lv[0].idx].ptr = na;
		na->end = next->end;
		fix_up(set, &q, 0);
		area_release(set, next);
	} else if (!set->root) {
		tree_insert(set, na);
	} else {
		ins_at(set, &p, 0, start, end, na, 0, c);
		set->count++;
	}
	if (out)
		*out = res;
	spare_cap(set);
	return 0;
}

int mmk_mset_unmap(struct mmk_mset *set, mmk_vaddr_t start, uint64_t size,
		   void *ctx)
{
	uint64_t end;
	int rc = range_end(start, size, &end);
	if (rc)
		return rc;
	struct path p;
	if (!seek(set, start, &p))
		return 0;
	area_t *a = path_area(&p);
	if (a->start >= end)
		return 0;
	area_t *piece = NULL;
	if (a->start < start && a->end > end) {
		struct resv rv = resv_mark(set);
		rc = reserve_inserts(set, 1);
		if (!rc)
			piece = piece_prepare(set, a, end, a->end, &rc);
		if (rc) {
			reserve_undo(set, rv);
			return rc;
		}
	}
	unmap_commit(set, start, end, &p, piece, ctx);
	spare_cap(set);
	return 0;
}

int mmk_mset_protect(struct mmk_mset *set, mmk_vaddr_t start, uint64_t size,
		     uint32_t flags, void *ctx)
{
	uint64_t end;
	int rc = range_end(start, size, &end);
	if (rc)
		return rc;
	struct path p;
	if (!seek(set, start, &p))
		return 0;
	area_t *first = path_area(&p);
	if (first->start >= end)
		return 0;
	area_t *last = first->end >= end ? first : mmk_mset_find(set, end - 1);
	bool lsplit = first->start < start && first->flags != flags;
	bool rsplit = last && last->end > end && last->flags != flags;
	bool same = first == last;

	/* Prepare: the pieces above each split point. */
	area_t *pl = NULL, *pr = NULL;
	if (lsplit || rsplit) {
		struct resv rv = resv_mark(set);
		rc = reserve_inserts(set, (unsigned)lsplit + (unsigned)rsplit);
		if (!rc && lsplit)
			pl = piece_prepare(set, first, start,
					   rsplit && same ? end : first->end,
					   &rc);
		if (!rc && rsplit) {
			pr = piece_prepare(set, last, end, last->end, &rc);
			if (!pr && pl) {
				area_release(set, pl);
				pl = NULL;
			}
		}
		if (rc) {
			reserve_undo(set, rv);
			return rc;
		}
	}

	/* Commit: split, change flags, merge. */
	struct path *walk_from = NULL;
	if (lsplit && rsplit && same && p.lv[0].node->n + 2 <= FANOUT) {
		/* One area cut in three inside one leaf with room: no
		 * reshaping, so the path stays good for the walk too. */
		node_t *x = p.lv[0].node;
		unsigned i = p.lv[0].idx;
		for (unsigned j = x->n; j-- > i + 1;) {
			x->start[j + 2] = x->start[j];
			x->e[j + 2] = x->e[j];
		}
		first->end = start;
		x->e[i].end = start;
		x->start[i + 1] = pl->start;
		x->e[i + 1].end = pl->end;
		x->e[i + 1].ptr = pl;
		x->start[i + 2] = pr->start;
		x->e[i + 2].end = pr->end;
		x->e[i + 2].ptr = pr;
		x->n += 2;
		set->count += 2;
		fix_up(set, &p, 0); /* once for the three changes */
		walk_from = &p;
	} else {
		if (lsplit)
			trim_insert_after(set, &p, start, pl);
		if (rsplit && lsplit && same) {
			tree_insert(set, pr);
		} else if (rsplit) {
			locate(set, last, &p);
			trim_insert_after(set, &p, end, pr);
		}
	}
	protect_walk(set, start, end, flags, ctx, walk_from);
	spare_cap(set);
	return 0;
}

struct mmk_mset_area *mmk_mset_find(const struct mmk_mset *set,
				    mmk_vaddr_t addr)
{
	const node_t *x = set->root;
	if (!x || addr == UINT64_MAX)
		return NULL;
	/* The height, not x->level, says when to stop: one line fewer. */
	for (unsigned h = set->height; --h > 0;) {
		unsigned c = count_le(x, addr);
		x = x->e[c ? c - 1 : 0].ptr;
		prefetch_ents(x);
	}
	unsigned c = count_le(x, addr);
	if (c == 0 || addr >= x->e[c - 1].end)
		return NULL;
	return x->e[c - 1].ptr;
}

struct mmk_mset_area *mmk_mset_find_first(const struct mmk_mset *set,
					  mmk_vaddr_t start, mmk_vaddr_t end)
{
	struct path p;
	if (start >= end || !seek(set, start, &p))
		return NULL;
	area_t *a = path_area(&p);
	return a->start < end ? a : NULL;
}

struct mmk_mset_area *mmk_mset_next(const struct mmk_mset *set,
				    const struct mmk_mset_area *a)
{
	if (a->end == UINT64_MAX)
		return NULL;
	return mmk_mset_find_first(set, a->end, UINT64_MAX);
}

bool mmk_mset_covers(const struct mmk_mset *set, mmk_vaddr_t start,
		     uint64_t size)
{
	uint64_t end;
	if (range_end(start, size, &end))
		return false;
	struct path p;
	if (!seek(set, start, &p))
		return false;
	uint64_t at = start;
	for (;;) {
		const area_t *a = path_area(&p);
		if (a->start > at)
			return false;
		at = a->end;
		if (at >= end)
			return true;
		if (!path_next(set, &p))
			return false;
	}
}

int mmk_mset_foreach(const struct mmk_mset *set, mmk_vaddr_t from,
		     int (*fn)(struct mmk_mset_area *a, void *arg), void *arg)
{
	struct path p;
	if (!seek(set, from, &p))
		return 0;
	do {
		int rc = fn(path_area(&p), arg);
		if (rc)
			return rc;
	} while (path_next(set, &p));
	return 0;
}

/* ------------------------------------------------------ free-area search */

struct ffs {
	uint64_t lo, hi; /* the window: [lo, hi) */
	uint64_t size, align;
	uint64_t x; /* the answer */
};

/* Lowest aligned fit of the search inside free range [gs, ge). */
static bool fit_up(struct ffs *f, uint64_t gs, uint64_t ge)
{
	uint64_t lo = MMK_MAX(gs, f->lo), hi = MMK_MIN(ge, f->hi);
	if (lo >= hi || hi - lo < f->size)
		return false;
	if (lo > UINT64_MAX - (f->align - 1))
		return false;
	uint64_t x = MMK_ALIGN_UP(lo, f->align);
	if (x > hi || hi - x < f->size)
		return false;
	f->x = x;
	return true;
}

/* Highest aligned fit of the search inside free range [gs, ge). */
static bool fit_down(struct ffs *f, uint64_t gs, uint64_t ge)
{
	uint64_t lo = MMK_MAX(gs, f->lo), hi = MMK_MIN(ge, f->hi);
	if (lo >= hi || hi - lo < f->size)
		return false;
	uint64_t x = MMK_ALIGN_DOWN(hi - f->size, f->align);
	if (x < lo)
		return false;
	f->x = x;
	return true;
}

/*
 * Search the gaps inside the subtree of @x in ascending order.  A child is
 * entered only if its largest gap could hold the size and its span meets
 * the window, so apart from the children straddling the window's edges
 * (two per level) every child entered holds a fit when alignment does not
 * get in the way: O(FANOUT * height).
 */
static bool search_up(const node_t *x, struct ffs *f)
{
	/* Children before the one holding lo end at or below lo. */
	unsigned i = count_le(x, f->lo);
	i = i > x->n ? x->n - 1 : (i ? i - 1 : 0);
	for (; i < x->n; i++) {
		if (i > 0) {
			if (x->e[i - 1].end >= f->hi)
				return false;
			if (x->start[i] > f->lo &&
			    fit_up(f, x->e[i - 1].end, x->start[i]))
				return true;
		}
		if (x->level && x->gap[i] >= f->size && x->e[i].end > f->lo &&
		    x->start[i] < f->hi) {
			prefetch_node(x->e[i].ptr, x->level - 1);
			if (search_up(x->e[i].ptr, f))
				return true;
		}
	}
	return false;
}

static bool search_down(const node_t *x, struct ffs *f)
{
	/* Children after the first one starting at or above hi hold
	 * nothing below hi; that one still bounds the gap before it. */
	unsigned i = count_le(x, f->hi - 1) + 1;
	if (i > x->n)
		i = x->n;
	while (i-- > 0) {
		if (x->level && x->gap[i] >= f->size && x->e[i].end > f->lo &&
		    x->start[i] < f->hi) {
			prefetch_node(x->e[i].ptr, x->level - 1);
			if (search_down(x->e[i].ptr, f))
				return true;
		}
		if (i > 0) {
			if (x->start[i] <= f->lo)
				return false;
			if (x->e[i - 1].end < f->hi &&
			    fit_down(f, x->e[i - 1].end, x->start[i]))
				return true;
		}
	}
	return false;
}

int mmk_mset_find_free(const struct mmk_mset *set, mmk_vaddr_t hint,
		       uint64_t size, mmk_vaddr_t lo, mmk_vaddr_t hi,
		       uint64_t align, unsigned dir, mmk_vaddr_t *out)
{
	if (!MMK_IS_POW2(align))
		return MMK_EALIGN;
	if (size == 0)
		return MMK_EWRAP;
	if (lo >= hi)
		return MMK_EINVAL;
	if (hint < lo || hint > hi)
		return MMK_ERANGE;
	struct ffs f = {.lo = lo, .hi = hi, .size = size, .align = align};
	if (dir == MMK_MSET_TOP_DOWN)
		f.hi = hint;
	else
		f.lo = hint;
	if (f.lo >= f.hi || f.hi - f.lo < size)
		return MMK_ENOMEM;

	const node_t *r = set->root;
	bool ok;
	if (!r) {
		ok = dir == MMK_MSET_TOP_DOWN ? fit_down(&f, 0, UINT64_MAX)
					      : fit_up(&f, 0, UINT64_MAX);
	} else {
		uint64_t first = r->start[0], last = r->e[r->n - 1].end;
		if (dir == MMK_MSET_TOP_DOWN)
			ok = fit_down(&f, last, UINT64_MAX) ||
			     (node_gap(r) >= size && search_down(r, &f)) ||
			     fit_down(&f, 0, first);
		else
			ok = fit_up(&f, 0, first) ||
			     (node_gap(r) >= size && search_up(r, &f)) ||
			     fit_up(&f, last, UINT64_MAX);
	}
	if (!ok)
		return MMK_ENOMEM;
	*out = f.x;
	return 0;
}

/* ----------------------------------------------------------- checking */

struct chk {
	const struct mmk_mset *s;
	uint64_t prev_end;
	bool any;
	size_t count;
};

#define CHK(c)                                                                 \
	do {                                                                   \
		if (!(c))                                                      \
			return -__LINE__;                                      \
	} while (0)

static int check_node(struct chk *k, const node_t *x, unsigned level, bool root,
		      bool leftmost, bool rightmost)
{
	CHK(x->level == level);
	CHK(x->n >= 1 && x->n <= FANOUT);
	if (root)
		CHK(level == 0 || x->n >= 2);
	else if (!leftmost && !rightmost)
		CHK(x->n >= MINFILL);
	for (unsigned i = x->n; i < FANOUT; i++)
		CHK(x->start[i] == NONE);
	for (unsigned i = 0; i < x->n; i++) {
		if (i > 0)
			CHK(x->start[i] >= x->e[i - 1].end);
		CHK(x->start[i] < x->e[i].end);
		if (level == 0) {
			const area_t *a = x->e[i].ptr;
			CHK(a && a->start == x->start[i] &&
			    a->end == x->e[i].end);
			CHK(!k->any || a->start >= k->prev_end);
			k->prev_end = a->end;
			k->any = true;
			k->count++;
			continue;
		}
		const node_t *c = x->e[i].ptr;
		CHK(c != NULL);
		int rc = check_node(k, c, level - 1, false, leftmost && i == 0,
				    rightmost && i + 1 == x->n);
		if (rc)
			return rc;
		CHK(x->start[i] == c->start[0]);
		CHK(x->e[i].end == c->e[c->n - 1].end);
		CHK(x->gap[i] == node_gap(c));
	}
	return 0;
}

int mmk_mset_check(const struct mmk_mset *set)
{
	struct chk k = {.s = set};
	CHK(set->nspare_leaf <= SPARE_CAP && set->nspare_inner <= SPARE_CAP);
	if (!set->root) {
		CHK(set->height == 0 && set->count == 0);
		return 0;
	}
	CHK(set->height >= 1 && set->height <= MAXH);
	int rc = check_node(&k, set->root, set->height - 1, true, true, true);
	if (rc)
		return rc;
	CHK(k.count == set->count);
	return 0;
}
