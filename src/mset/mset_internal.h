/* SPDX-License-Identifier: MIT */
/*
 * The memory set's insides, shared by its files:
 *   tree.c    node memory and reserve, summaries, B+tree surgery
 *   area.c    area semantics: prepare/commit of insert, unmap, protect,
 *             merging, the conveniences
 *   search.c  find, find_first, next, covers, foreach, find_free
 *   check.c   the invariant checker
 *
 * Every area sits in a leaf slot as (start, end, area pointer).  An inner
 * node keeps, for each child, the child's lowest start (the search key),
 * its highest end and the largest free gap *between two areas inside it*.
 * A gap between two children is start[i] - end[i-1] in the parent, so the
 * largest gap of any subtree is a function of one node's arrays:
 *
 *   node, F = FANOUT = 16 (bytes; 64-byte aligned, so each array is two
 *   whole cache lines)
 *   0          128        256        384   392          520
 *   +----------+----------+----------+-----+------------+
 *   | start[F] | ptr[F]   | end[F]   | n,l | gap[F]     |
 *   +----------+----------+----------+-----+------------+
 *     keys       child or   highest    hdr   inner only
 *                area       end              (leaves stop at 392)
 *
 * One array per field, so a lookup reads only what it needs: an inner
 * level two key lines and the pointer line of its child, a leaf also the
 * end line; find_free keys, ends and (inner) gaps, never a leaf's
 * pointers.  Unused start[] slots hold UINT64_MAX, so a lookup counts
 * "start <= addr" over the whole array without reading n (the header's
 * line is read only by the modifying paths and the cursor: seek, step).
 * Leaves are allocated without gap[].
 *
 * Balance: every leaf is at the same depth; every node holds at most FANOUT
 * entries and, unless it is the first or the last node of its level, at
 * least FANOUT / 2.  The edge nodes may be thinner because a split at the
 * very end (or start) of the set keeps the full node (nearly) full:
 * appending areas in order, as a loader or a growing heap does, then packs
 * inner nodes completely and leaves to FANOUT - LEAF_SLACK instead of half
 * (the lookup touches fewer, denser nodes).
 *
 * Hot helpers (the descent, the cursor step, the summary fix-up) are
 * static inline here so every file gets them inlined.
 */
#ifndef MMK_MSET_INTERNAL_H
#define MMK_MSET_INTERNAL_H

#include <mmkit/hal.h>
#include <mmkit/log.h>
#include <mmkit/mset.h>

/*
 * Slots per node.  16 measured best at 1,000,000 areas (see
 * docs/ARCHITECTURE.md); a power of two from 4 to 64 works.
 */
#define FANOUT	  MMK_CFG_MSET_FANOUT
#define MINFILL	  (FANOUT / 2)
#define MAXH	  MMK__MSET_MAXH
#define SPARE_CAP 24
#define NONE	  UINT64_MAX

/*
 * MMK_CFG_MSET_LEAF_SLACK: slots an edge split (appending or prepending in
 * address order) leaves free in the leaf it keeps; default a quarter.  A
 * leaf packed full splits -- and takes a node from the allocator -- on the
 * first area cut or added in its middle later (munmap or mprotect of a page
 * inside an area adds one or two entries); a quarter free absorbs those.
 * Measured at 1,000,000 areas in order (docs/ARCHITECTURE.md): insert,
 * unmap_split and protect_split cost 0.6 - 0.8 of what they cost over
 * packed leaves, find about the same.  0 packs leaves full (the tests run
 * that way too, so that middle splits cascade).  At most FANOUT / 2, so
 * the kept node, no longer at the edge, is at least half full.
 */
#ifndef MMK_CFG_MSET_LEAF_SLACK
#define MMK_CFG_MSET_LEAF_SLACK (MMK_CFG_MSET_FANOUT / 4)
#endif
#define LEAF_SLACK ((unsigned)(MMK_CFG_MSET_LEAF_SLACK))

_Static_assert(FANOUT >= 4 && FANOUT <= 64 && (FANOUT & (FANOUT - 1)) == 0,
	       "MMK_CFG_MSET_FANOUT: a power of two from 4 to 64");
_Static_assert(MMK_CFG_MSET_LEAF_SLACK >= 0 &&
		       MMK_CFG_MSET_LEAF_SLACK <= MMK_CFG_MSET_FANOUT / 2,
	       "MMK_CFG_MSET_LEAF_SLACK: from 0 to FANOUT / 2");

/*
 * One array per field, in the order a descent reads them: the keys, then
 * the pointers (an inner level of a lookup needs nothing else: two lines
 * of keys and the one line of pointers holding the child), then the ends
 * (the leaf's test, the free-area search, the summaries), the header,
 * and the gaps (inner nodes only, the free-area search).
 */
struct mmk__mset_node {
	uint64_t start[FANOUT];
	void *ptr[FANOUT]; /* leaf: struct mmk_mset_area *; inner: child */
	uint64_t end[FANOUT];
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
 * Paths: struct mmk__mset_path (public because a transaction carries one
 * from its prepare to its commit), a root-to-leaf position indexed by
 * level, 0 = the leaf.  Node and slot of a level sit side by side:
 * besides locality, two parallel arrays of different strides led GCC 12
 * at -O2 (IVOPTs addressing one array through the other, then IPA mod-ref
 * summarising the store wrongly) to miss that path_next rewrites node[0],
 * so a caller kept a stale leaf.
 */

/* Operations of a transaction (txn->op_). */
enum { OP_NOP, OP_INSERT, OP_REPLACE, OP_UNMAP, OP_PROTECT, OP_DONE };

/* txn->split_ bits of a protect. */
#define SPLIT_LEFT  0x1u
#define SPLIT_RIGHT 0x2u
#define SPLIT_SAME  0x4u /* both edges in one area */

/* ------------------------------------------------- tree.c: node memory */

/* Reserve what inserting @k areas may take; MMK_ENOMEM, reserve as was. */
int mmk__mset_reserve_inserts(struct mmk_mset *s, unsigned k);
/* After a failed prepare or an abort: back to the counts on entry. */
void mmk__mset_reserve_undo(struct mmk_mset *s, unsigned leaf, unsigned inner);
/* After a commit: keep a bounded reserve. */
void mmk__mset_spare_cap(struct mmk_mset *s);
/* Free every spare node. */
void mmk__mset_spare_drain(struct mmk_mset *s);
/* Free the subtree of @x (area objects included). */
void mmk__mset_free_subtree(node_t *x);

/* ----------------------------------------------- tree.c: tree surgery */

void mmk__mset_ins_at(struct mmk_mset *s, struct mmk__mset_path *p,
		      unsigned level, uint64_t st, uint64_t en, void *ptr,
		      uint64_t gap, unsigned i);
void mmk__mset_del_at(struct mmk_mset *s, struct mmk__mset_path *p,
		      unsigned level, unsigned i);
void mmk__mset_tree_insert(struct mmk_mset *s, area_t *a);
void mmk__mset_tree_remove(struct mmk_mset *s, area_t *a);
void mmk__mset_set_end(struct mmk_mset *s, area_t *a, uint64_t end);
void mmk__mset_trim_insert_after(struct mmk_mset *s, struct mmk__mset_path *p,
				 uint64_t end, area_t *pc);

/* ---------------------------------------------------- hot, inline */

/*
 * Ask for the lines of a node a descent will read after its key scan,
 * while the keys load: which slot is needed is known only after the scan,
 * so without this every level costs two misses in a row instead of two
 * side by side.  An inner level reads one pointer; a leaf also its end
 * and, for the callers that need it (@hdr), its count.
 */
static inline void mmk__mset_prefetch_ptrs(const node_t *x)
{
#ifndef MMK_CFG_MSET_NO_PREFETCH
	for (unsigned i = 0; i < FANOUT; i += 64 / sizeof(x->ptr[0]))
		__builtin_prefetch(&x->ptr[i]);
#else
	(void)x;
#endif
}

static inline void mmk__mset_prefetch_leaf(const node_t *x, bool hdr)
{
#ifndef MMK_CFG_MSET_NO_PREFETCH
	mmk__mset_prefetch_ptrs(x);
	for (unsigned i = 0; i < FANOUT; i += 64 / sizeof(x->end[0]))
		__builtin_prefetch(&x->end[i]);
	if (hdr)
		__builtin_prefetch(&x->n); /* its own line after end[] */
#else
	(void)x;
	(void)hdr;
#endif
}

/*
 * Number of used slots with start <= addr (unused slots hold NONE).
 * Unrolled: the compares are independent, so the whole scan is a couple
 * of instructions per key with no loop branch (GCC -O2 keeps the loop).
 */
static inline unsigned mmk__mset_count_le(const node_t *x, uint64_t addr)
{
	unsigned c = 0;
#pragma GCC unroll 64
	for (unsigned i = 0; i < FANOUT; i++)
		c += x->start[i] <= addr;
	return c;
}

/* Largest free gap between two areas inside the subtree of @x. */
static inline uint64_t mmk__mset_node_gap(const node_t *x)
{
	uint64_t g = 0;
	for (unsigned i = 1; i < x->n; i++) {
		uint64_t d = x->start[i] - x->end[i - 1];
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
static inline bool mmk__mset_refresh_slot(node_t *p, unsigned i)
{
	const node_t *c = p->ptr[i];
	uint64_t st = c->start[0], en = c->end[c->n - 1];
	uint64_t g = mmk__mset_node_gap(c);
	if (p->start[i] == st && p->end[i] == en && p->gap[i] == g)
		return false;
	p->start[i] = st;
	p->end[i] = en;
	p->gap[i] = g;
	return true;
}

/*
 * The node at @level of @p changed its contents but not its place: bring
 * the summaries above it up to date.  Stops as soon as a level is
 * unchanged (everything above depends only on the levels below).
 */
static inline void mmk__mset_fix_up(const struct mmk_mset *s,
				    struct mmk__mset_path *p, unsigned level)
{
	for (unsigned l = level; l + 1 < s->height; l++)
		if (!mmk__mset_refresh_slot(p->lv[l + 1].node,
					    p->lv[l + 1].idx))
			return;
}

/*
 * Descend towards @addr (the set has a root).  Inner levels record the
 * child whose range holds @addr (the first child if @addr is below
 * everything); the leaf records how many of its areas start at or below
 * @addr (the insertion index).
 */
static inline void mmk__mset_descend(const struct mmk_mset *s, uint64_t addr,
				     struct mmk__mset_path *p)
{
	node_t *x = s->root;
	p->lv[0].node = x;
	p->lv[0].idx = 0;
	/* No area starts at UINT64_MAX, and unused slots hold it: counting
	 * against UINT64_MAX - 1 gives the same answer without reading n
	 * (the node's last line) at every level. */
	uint64_t key = addr == UINT64_MAX ? addr - 1 : addr;
	for (unsigned l = s->height; l-- > 0;) {
		unsigned c = mmk__mset_count_le(x, key);
		p->lv[l].node = x;
		if (l == 0) {
			p->lv[0].idx = c;
			break;
		}
		p->lv[l].idx = c ? c - 1 : 0;
		x = x->ptr[p->lv[l].idx];
		if (l == 1)
			mmk__mset_prefetch_leaf(x, true);
		else
			mmk__mset_prefetch_ptrs(x);
	}
}

/* Step the leaf position of @p to the next area; false at the end. */
static inline bool mmk__mset_path_next(const struct mmk_mset *s,
				       struct mmk__mset_path *p)
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
		p->lv[l - 1].node = p->lv[l].node->ptr[p->lv[l].idx];
		p->lv[l - 1].idx = 0;
	}
	return true;
}

/* Position @p at the first area ending above @addr; false if none. */
static inline bool mmk__mset_seek(const struct mmk_mset *s, uint64_t addr,
				  struct mmk__mset_path *p)
{
	if (!s->root)
		return false;
	mmk__mset_descend(s, addr, p);
	node_t *x = p->lv[0].node;
	unsigned c = p->lv[0].idx;
	if (c > 0 && x->end[c - 1] > addr) {
		p->lv[0].idx = c - 1;
		return true;
	}
	if (c < x->n)
		return true;
	p->lv[0].idx = x->n - 1;
	return mmk__mset_path_next(s, p);
}

static inline area_t *mmk__mset_path_area(const struct mmk__mset_path *p)
{
	return p->lv[0].node->ptr[p->lv[0].idx];
}

/* The path to area @a, which must be in the set. */
static inline void mmk__mset_locate(const struct mmk_mset *s, const area_t *a,
				    struct mmk__mset_path *p)
{
	mmk__mset_descend(s, a->start, p);
	MMK_ASSERT(p->lv[0].idx > 0);
	p->lv[0].idx--;
	MMK_ASSERT(mmk__mset_path_area(p) == a);
}

/*
 * Setters through a path whose leaf position holds the area: no descent.
 * They change keys, never the shape, so @p stays valid.
 */
static inline void mmk__mset_set_end_at(struct mmk_mset *s,
					struct mmk__mset_path *p, uint64_t end)
{
	node_t *x = p->lv[0].node;
	((area_t *)x->ptr[p->lv[0].idx])->end = end;
	x->end[p->lv[0].idx] = end;
	mmk__mset_fix_up(s, p, 0);
}

/* Move the start of the area up to @start (its backend offset follows). */
static inline void mmk__mset_set_start_at(struct mmk_mset *s,
					  struct mmk__mset_path *p,
					  uint64_t start)
{
	node_t *x = p->lv[0].node;
	area_t *a = x->ptr[p->lv[0].idx];
	x->start[p->lv[0].idx] = start;
	a->offset += start - a->start;
	a->start = start;
	mmk__mset_fix_up(s, p, 0);
}

#endif /* MMK_MSET_INTERNAL_H */
