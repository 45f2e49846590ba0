/* SPDX-License-Identifier: MIT */
/*
 * The memory set's read-only side: find, find_first, next, covers,
 * foreach and the free-area search.  Nothing here writes to the set (not
 * even a cursor cache), so any number of these run at once under a shared
 * lock (tests/mset/test_mset_readers.c, also under ThreadSanitizer).
 */
#include "mset_internal.h"

struct mmk_mset_area *mmk_mset_find(const struct mmk_mset *set,
				    mmk_vaddr_t addr)
{
	const node_t *x = set->root;
	if (!x || addr == UINT64_MAX)
		return NULL;
	/* The height, not x->level, says when to stop: one line fewer. */
	for (unsigned h = set->height; --h > 0;) {
		unsigned c = mmk__mset_count_le(x, addr);
		x = x->ptr[c ? c - 1 : 0];
		if (h == 1)
			mmk__mset_prefetch_leaf(x, false);
		else
			mmk__mset_prefetch_ptrs(x);
	}
	unsigned c = mmk__mset_count_le(x, addr);
	if (c == 0 || addr >= x->end[c - 1])
		return NULL;
	return x->ptr[c - 1];
}

struct mmk_mset_area *mmk_mset_find_first(const struct mmk_mset *set,
					  mmk_vaddr_t start, mmk_vaddr_t end)
{
	struct mmk__mset_path p;
	if (start >= end || !mmk__mset_seek(set, start, &p))
		return NULL;
	area_t *a = mmk__mset_path_area(&p);
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
	if (size == 0 || size > UINT64_MAX - start)
		return false;
	uint64_t end = start + size;
	struct mmk__mset_path p;
	if (!mmk__mset_seek(set, start, &p))
		return false;
	uint64_t at = start;
	for (;;) {
		const area_t *a = mmk__mset_path_area(&p);
		if (a->start > at)
			return false;
		at = a->end;
		if (at >= end)
			return true;
		if (!mmk__mset_path_next(set, &p))
			return false;
	}
}

int mmk_mset_foreach(const struct mmk_mset *set, mmk_vaddr_t from,
		     int (*fn)(struct mmk_mset_area *a, void *arg), void *arg)
{
	struct mmk__mset_path p;
	if (!mmk__mset_seek(set, from, &p))
		return 0;
	do {
		int rc = fn(mmk__mset_path_area(&p), arg);
		if (rc)
			return rc;
	} while (mmk__mset_path_next(set, &p));
	return 0;
}

/* ------------------------------------------------------ free-area search */

/*
 * What the search reads of a node it enters: keys and ends; of an inner
 * node also the gaps and the child pointers (a leaf's area pointers are
 * never read here, nor any header: the level comes down the recursion
 * and the used slots end at the first unused key, NONE).
 */
static inline void prefetch_node(const node_t *x, unsigned level)
{
#ifndef MMK_CFG_MSET_NO_PREFETCH
	for (unsigned i = 0; i < FANOUT; i += 64 / sizeof(uint64_t)) {
		__builtin_prefetch(&x->start[i]);
		__builtin_prefetch(&x->end[i]);
		if (level) {
			__builtin_prefetch(&x->gap[i]);
			__builtin_prefetch(&x->ptr[i]);
		}
	}
#else
	(void)x;
	(void)level;
#endif
}

struct ffs {
	/* The window, [lo, hi); a fit found ends the search and leaves its
	 * address in lo (nothing reads the window after that). */
	uint64_t lo, hi;
	uint64_t size, align;
	unsigned level; /* of the node being searched */
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
	f->lo = x;
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
	f->lo = x;
	return true;
}

static bool used(const node_t *x, unsigned i)
{
	return i < FANOUT && x->start[i] != NONE;
}

/*
 * Child @i of inner node @x (at f->level) is about to be searched: ask
 * for it, and if it is a leaf also for its neighbour @j on the search's
 * way (j may be out of range), whose gaps come next when an alignment
 * finds no fit in the first.  Out of line: keeps the recursion's frames
 * small (the empty asm keeps GCC from finding the function pure, which
 * only prefetches, and dropping its calls).
 */
__attribute__((noinline)) static void
prefetch_entry(const node_t *x, unsigned i, unsigned j, const struct ffs *f)
{
	prefetch_node(x->ptr[i], f->level - 1);
	if (f->level == 1 && used(x, j) && x->gap[j] >= f->size)
		prefetch_node(x->ptr[j], 0);
	__asm__ volatile("");
}

/*
 * Search the gaps inside the subtree of @x in ascending order.  A child is
 * entered only if its largest gap could hold the size and its span meets
 * the window, so apart from the children straddling the window's edges
 * (two per level) every child entered holds a fit when alignment does not
 * get in the way: O(FANOUT * height).  Recursive, one small frame per
 * level.
 */
static bool search_up(const node_t *x, struct ffs *f)
{
	/* Children before the one holding lo end at or below lo (lo <
	 * hi <= NONE, so the count never takes an unused slot). */
	unsigned i = mmk__mset_count_le(x, f->lo);
	i = i ? i - 1 : 0;
	for (; used(x, i); i++) {
		if (i > 0) {
			if (x->end[i - 1] >= f->hi)
				return false;
			if (x->start[i] > f->lo &&
			    fit_up(f, x->end[i - 1], x->start[i]))
				return true;
		}
		if (f->level && x->gap[i] >= f->size && x->end[i] > f->lo &&
		    x->start[i] < f->hi) {
			prefetch_entry(x, i, i + 1, f);
			f->level--;
			bool ok = search_up(x->ptr[i], f);
			f->level++;
			if (ok)
				return true;
		}
	}
	return false;
}

static bool search_down(const node_t *x, struct ffs *f)
{
	/* Children after the first one starting at or above hi hold
	 * nothing below hi; that one still bounds the gap before it. */
	unsigned i = mmk__mset_count_le(x, f->hi - 1);
	i += used(x, i);
	while (i-- > 0) {
		if (f->level && x->gap[i] >= f->size && x->end[i] > f->lo &&
		    x->start[i] < f->hi) {
			prefetch_entry(x, i, i - 1, f);
			f->level--;
			bool ok = search_down(x->ptr[i], f);
			f->level++;
			if (ok)
				return true;
		}
		if (i > 0) {
			if (x->start[i] <= f->lo)
				return false;
			if (x->end[i - 1] < f->hi &&
			    fit_down(f, x->end[i - 1], x->start[i]))
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
	if (lo >= hi || dir > MMK_MSET_TOP_DOWN)
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
		uint64_t first = r->start[0], last = r->end[r->n - 1];
		uint64_t g = mmk__mset_node_gap(r);
		f.level = set->height - 1;
		if (dir == MMK_MSET_TOP_DOWN)
			ok = fit_down(&f, last, UINT64_MAX) ||
			     (g >= size && search_down(r, &f)) ||
			     fit_down(&f, 0, first);
		else
			ok = fit_up(&f, 0, first) ||
			     (g >= size && search_up(r, &f)) ||
			     fit_up(&f, last, UINT64_MAX);
	}
	if (!ok)
		return MMK_ENOMEM;
	*out = f.lo;
	return 0;
}
