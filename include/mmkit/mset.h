/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the memory set: an ordered set of non-overlapping areas
 * [start, end) of one address space, each with flags, a backend (an ops
 * table), a backend offset and private data.
 *
 * The areas live in a B+tree with wide nodes (see docs/ARCHITECTURE.md for
 * the measurement behind that choice).  Every internal node keeps, for each
 * child, the lowest start, the highest end and the largest free gap between
 * two areas below it, so that find_free never scans areas.
 *
 *   find, find_first, find_free (both directions)      O(log n)
 *   insert, unmap, protect (k areas touched)           O(k log n)
 *   iteration from an address                          O(log n + k)
 *
 * Ranges are half open, [start, end), and end is a representable uint64_t:
 * the last byte of the 64-bit space (0xffff_ffff_ffff_ffff) can never be
 * part of an area.  A range given as (start, size) with size 0, or with
 * start + size past 2^64 - 1, is refused with MMK_EWRAP.
 *
 * Locking (the caller's, e.g. the address space's reader-writer lock):
 *  - Read-only calls (mmk_mset_find, mmk_mset_find_first, mmk_mset_find_free,
 *    mmk_mset_next, mmk_mset_foreach, mmk_mset_check) write nothing, not even
 *    a cursor cache, so any number may run concurrently with each other
 *    under a shared (read) lock.
 *  - Every other call modifies the set and must be serialized by the caller
 *    against every other call on the same set (an exclusive/write lock).
 *  - Backend callbacks run inside the modifying call, under whatever the
 *    caller holds; they must not call back into the same set.
 *
 * All or nothing: a modifying call first allocates everything it may need
 * (tree nodes, area objects for split pieces, the backend's split hook),
 * then commits, and the commit cannot fail.  When an allocation fails the
 * set is exactly as it was, no backend callback other than split/release of
 * a piece that never became visible has run, and MMK_ENOMEM is returned.
 */
#ifndef MMKIT_MSET_H
#define MMKIT_MSET_H

#include <mmkit/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mmk_mset_area;

/*
 * A backend's ops table.  Const, shared by every area of that backend.  An
 * address-space layer that needs more operations (populate, fault, ...)
 * embeds this struct as the first member of its own ops table and recovers
 * it with a cast or container_of.  Every field may be NULL (= do nothing /
 * allowed).
 *
 * @ctx is the pointer the caller passed to the mset call that triggers the
 * callback (a page table, a TLB batch, ...); mset never looks at it.
 */
struct mmk_mset_ops {
	/** Short name for dumps ("anon", "linear"); may be NULL. */
	const char *name;

	/**
	 * Bring [start, end) of the new area @a into existence.
	 * Called by: mmk_mset_insert, once, after mset's own allocations
	 * succeeded and before @a becomes visible in the set (@a is fully
	 * initialised; start == a->start, end == a->end).
	 * May fail: returns 0 or a negative mmk_err; on failure the insert
	 * fails with that code and (without MMK_MSET_REPLACE) nothing changed.
	 * On success @a may at once be merged into a neighbour (then the
	 * neighbour grows over [start, end) and @a is released).
	 */
	int (*map)(struct mmk_mset_area *a, mmk_vaddr_t start, mmk_vaddr_t end,
		   void *ctx);

	/**
	 * [start, end), a non-empty part of @a, goes away.
	 * Called by: mmk_mset_unmap, mmk_mset_insert with MMK_MSET_REPLACE,
	 * mmk_mset_clear, once per area touched, in address order, during the
	 * commit, *before* @a is trimmed, split or freed (a->start, a->end and
	 * a->offset still describe the whole area, so the backend offset of
	 * @start is a->offset + (start - a->start)).
	 * Must not fail: a backend that needs memory to unmap (splitting a
	 * huge page) reserves it before the caller enters the mset.
	 */
	void (*unmap)(struct mmk_mset_area *a, mmk_vaddr_t start,
		      mmk_vaddr_t end, void *ctx);

	/**
	 * Area @a, whole, changes its flags from a->flags to @new_flags.
	 * Called by: mmk_mset_protect during the commit, after any split at
	 * the range's edges (so [a->start, a->end) lies inside the range) and
	 * before a->flags is updated; not called for areas whose flags already
	 * equal @new_flags.  Must not fail (reserve beforehand, as for unmap).
	 */
	void (*protect)(struct mmk_mset_area *a, uint32_t new_flags, void *ctx);

	/**
	 * @piece, a new area object, receives the part of @orig above a split
	 * point; give it its own private data (e.g. take a reference).  On
	 * entry *piece is a copy of *orig with start/end/offset already set to
	 * the piece's values and priv copied.  NULL: priv is shared as is.
	 * Called by: any call that splits an area, in the prepare phase (the
	 * piece is not visible yet; @orig is not changed yet).
	 * May fail (negative mmk_err): the call fails with it, nothing changed.
	 * If the call fails later, release(piece) undoes it.
	 */
	int (*split)(const struct mmk_mset_area *orig,
		     struct mmk_mset_area *piece);

	/**
	 * Say whether @lo and @hi (same ops, same flags, lo->end == hi->start,
	 * offsets contiguous) may become one area; @hi would be absorbed into
	 * @lo and released.  Called by: mmk_mset_insert and mmk_mset_protect
	 * (commit phase).  Must not fail or change anything.  NULL: they may.
	 */
	bool (*can_merge)(const struct mmk_mset_area *lo,
			  const struct mmk_mset_area *hi);

	/**
	 * The area object @a is about to be freed: it was unmapped whole,
	 * absorbed by a merge, or a split piece whose call failed.  Drop what
	 * priv holds.  Called by every modifying call, commit phase (or its
	 * failure path); must not fail.
	 */
	void (*release)(struct mmk_mset_area *a);
};

/*
 * One area.  mset owns the object (allocated from the HAL's object memory);
 * pointers to it stay valid until it is unmapped whole, merged away or the
 * set is cleared.  Callers read every field; they may write only @priv (and
 * only under the exclusive lock).  start/end/offset/flags change only
 * through mmk_mset_* calls.
 */
struct mmk_mset_area {
	mmk_vaddr_t start; /* first byte */
	mmk_vaddr_t end;   /* one past the last byte, start < end */
	/*
	 * Backend offset of @start (a file offset, a physical address, ...).
	 * When the area's start moves up by d (split, trim at the left edge),
	 * offset grows by d, like Linux's vm_pgoff.  Two areas merge only if
	 * lo->offset + (lo->end - lo->start) == hi->offset, so an anonymous
	 * backend that wants merging sets offset = start.
	 */
	uint64_t offset;
	uint32_t flags;	    /* opaque to mset: compared for equality only */
	uint32_t reserved_; /* zero */
	const struct mmk_mset_ops *ops;
	void *priv;
};

struct mmk__mset_node;

/* The set; embed it anywhere.  Zeroed (or mmk_mset_init) = empty. */
struct mmk_mset {
	struct mmk__mset_node *root; /* NULL when empty */
	unsigned height;	     /* levels; 0 when empty, 1 = a leaf */
	size_t count;		     /* number of areas */
	/* Spare nodes kept between calls so most splits allocate no node
	 * (at most 24 of each kind; freed by mmk_mset_clear). */
	struct mmk__mset_node *spare_leaf, *spare_inner;
	unsigned nspare_leaf, nspare_inner;
};

/** Initialise an empty set.  Cannot fail, allocates nothing. */
void mmk_mset_init(struct mmk_mset *set);

/**
 * Unmap every area (ops->unmap on each, whole, in order; then release) and
 * free every object the set holds, spare nodes included.  The set is empty
 * and reusable afterwards.  Writer.  Cannot fail.  O(n).
 */
void mmk_mset_clear(struct mmk_mset *set, void *ctx);

/** Same as mmk_mset_clear; named for the end of a set's life. */
void mmk_mset_destroy(struct mmk_mset *set, void *ctx);

static inline size_t mmk_mset_count(const struct mmk_mset *set)
{
	return set->count;
}

/* Modes of mmk_mset_insert (OR them). */
#define MMK_MSET_REPLACE 0x1u /* unmap what the new area overlaps first */
#define MMK_MSET_NOMERGE 0x2u /* do not merge the new area with neighbours */

/**
 * Insert a new area described by @tmpl (start, end, offset, flags, ops,
 * priv; the object itself is allocated by mset).  Writer.
 *
 * Without MMK_MSET_REPLACE an overlap is refused with MMK_EEXIST.  With it,
 * [start, end) is first unmapped as by mmk_mset_unmap (areas cut at the
 * edges); this part is committed before ops->map runs, so if map fails the
 * old areas of the range are gone (as with Linux's MAP_FIXED) and the new
 * one is not inserted.  Allocation failure still changes nothing.
 *
 * Unless MMK_MSET_NOMERGE, the new area is merged with contiguous
 * neighbours (same ops and flags, contiguous offsets, can_merge agrees).
 * On success *@out (if not NULL) is the area now holding [start, end).
 *
 * tmpl->ops may be NULL (an area without a backend: no callbacks).  On
 * failure tmpl->priv is still the caller's; on success it belongs to the
 * area (ops->release drops it when the area goes).
 *
 * Errors: MMK_EWRAP (start >= end), MMK_EINVAL (tmpl NULL), MMK_EEXIST,
 * MMK_ENOMEM, or what ops->split / ops->map returned.
 */
int mmk_mset_insert(struct mmk_mset *set, const struct mmk_mset_area *tmpl,
		    unsigned mode, void *ctx, struct mmk_mset_area **out);

/**
 * Remove [start, start + size) from the set: areas inside it go (ops->unmap
 * then release), areas across an edge are trimmed, an area containing the
 * whole range is split in two (one allocation).  Holes are fine.  Writer.
 * Errors: MMK_EWRAP, MMK_ENOMEM, or what ops->split returned.
 */
int mmk_mset_unmap(struct mmk_mset *set, mmk_vaddr_t start, uint64_t size,
		   void *ctx);

/**
 * Set @flags on every part of [start, start + size) covered by areas;
 * holes are skipped (use mmk_mset_covers first for mprotect's ENOMEM).
 * Areas across an edge are split (up to two allocations) unless their flags
 * already equal @flags; ops->protect is called per changing area; then
 * neighbours are merged.  Writer.
 * Errors: MMK_EWRAP, MMK_ENOMEM, or what ops->split returned.
 */
int mmk_mset_protect(struct mmk_mset *set, mmk_vaddr_t start, uint64_t size,
		     uint32_t flags, void *ctx);

/** The area containing @addr, or NULL.  Reader.  O(log n). */
struct mmk_mset_area *mmk_mset_find(const struct mmk_mset *set,
				    mmk_vaddr_t addr);

/**
 * The lowest area intersecting [start, end) (start < end), or NULL.
 * With end = UINT64_MAX: the first area ending above @start.  Reader.
 */
struct mmk_mset_area *mmk_mset_find_first(const struct mmk_mset *set,
					  mmk_vaddr_t start, mmk_vaddr_t end);

/** The area after @a (in address order), or NULL.  Reader.  O(log n). */
struct mmk_mset_area *mmk_mset_next(const struct mmk_mset *set,
				    const struct mmk_mset_area *a);

/** True if every byte of [start, start + size) lies in some area. */
bool mmk_mset_covers(const struct mmk_mset *set, mmk_vaddr_t start,
		     uint64_t size);

/**
 * Call @fn on every area ending above @from, in address order.  @fn
 * returns 0 to go on, a positive value to stop (returned), a negative
 * value to stop with that error (returned).  @fn must not modify the set.
 * Reader.  O(log n + k).
 */
int mmk_mset_foreach(const struct mmk_mset *set, mmk_vaddr_t from,
		     int (*fn)(struct mmk_mset_area *a, void *arg), void *arg);

/* Directions of mmk_mset_find_free. */
#define MMK_MSET_BOTTOM_UP 0u /* lowest fit at or above hint */
#define MMK_MSET_TOP_DOWN  1u /* highest fit ending at or below hint */

/**
 * Find a free range of @size bytes aligned to @align, inside the limit
 * [lo, hi), not intersecting any area.  Reader.  O(log n).
 *  - MMK_MSET_BOTTOM_UP: the lowest such x with x >= hint;
 *  - MMK_MSET_TOP_DOWN: the highest such x with x + size <= hint.
 * The result is exact (the lowest / highest fit).  The tree's gaps prune
 * the search by size; alignments beyond the granularity of the gaps can
 * make it visit extra subtrees whose gaps are big enough but misplaced.
 *
 * Errors (checked in this order): MMK_EALIGN (align not a power of two),
 * MMK_EWRAP (size 0), MMK_EINVAL (lo >= hi), MMK_ERANGE (hint outside
 * [lo, hi]), MMK_ENOMEM (no fit: size > hi - lo, no aligned address in the
 * limit, or every gap too small).
 */
int mmk_mset_find_free(const struct mmk_mset *set, mmk_vaddr_t hint,
		       uint64_t size, mmk_vaddr_t lo, mmk_vaddr_t hi,
		       uint64_t align, unsigned dir, mmk_vaddr_t *out);

/**
 * Verify every invariant of the structure: key order, no overlap, node
 * fill (balance: every leaf at the same depth, every node but the outer
 * edges at least half full), the per-child start/end/gap summaries, the
 * count, unused slots.  Returns 0, or a negative number naming the first
 * broken rule (its source line) for tests.  Reader.  O(n).
 */
int mmk_mset_check(const struct mmk_mset *set);

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_MSET_H */
