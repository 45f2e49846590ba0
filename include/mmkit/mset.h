/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the memory set: an ordered set of non-overlapping areas
 * [start, end) of one address space, each with flags, a kind (opaque: the
 * address space stores its backend there), a backend offset and private
 * data.  A data structure only: it never calls anyone.
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
 * Changes go through a transaction on the caller's stack (STYLE point 4):
 *
 *   struct mmk_mset_txn t;
 *   rc = mmk_mset_prepare_unmap(set, start, size, &t);  may fail, changes
 *   if (rc) return rc;                                   nothing visible
 *   ...walk the areas of the range (find_first / next), which are exactly
 *   as before; set the priv of t.piece[i] (a backend's split hook); reserve
 *   page-table pages; if any of that fails: undo it, mmk_mset_abort...
 *   mmk_mset_commit(set, &t);                            cannot fail
 *   for (a = t.dead; a; a = next) { next = a->link; release a->priv;
 *                                   mmk_mset_area_free(set, a); }
 *
 * Locking (the caller's, e.g. the address space's reader-writer lock):
 *  - Read-only calls (mmk_mset_find, mmk_mset_find_first, mmk_mset_find_free,
 *    mmk_mset_next, mmk_mset_covers, mmk_mset_foreach, mmk_mset_check) write
 *    nothing, not even a cursor cache, so any number may run concurrently
 *    with each other under a shared (read) lock.
 *  - Every other call modifies the set (a prepare fills the set's node
 *    reserve) and must be serialized by the caller against every other call
 *    on the same set (an exclusive/write lock), from the prepare to the
 *    commit or abort of its transaction.  One transaction per set at a
 *    time; between its prepare and its commit or abort only read-only calls
 *    may run on the set.
 *
 * All or nothing: a prepare does every allocation the commit needs (tree
 * nodes into the set's reserve, area objects for split pieces and the new
 * area) and every check, and changes nothing visible; the commit cannot
 * fail; an abort leaves the set and the live-object count as before the
 * prepare.  A failed prepare has already undone itself (an abort after it
 * is allowed and does nothing).
 *
 * MMK_CFG_MSET_FANOUT (slots per node, a power of two from 4 to 64;
 * default 16) sizes struct mmk_mset_txn: every file that includes this
 * header must see the same value.
 */
#ifndef MMKIT_MSET_H
#define MMKIT_MSET_H

#include <mmkit/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef MMK_CFG_MSET_FANOUT
#define MMK_CFG_MSET_FANOUT 16
#endif

/*
 * The deepest tree the set builds (levels, leaf included).  A tree grows a
 * level only when its root is full, and every node but the two at the
 * edges of its level is at least half full, so reaching height H needs at
 * least (F - 2) * (F / 2)^(H - 2) areas at that moment (F = the fanout).
 * Beyond 2^32 areas (256 GiB of area objects alone) no address space
 * goes; below that F = 16 reaches at most H = 11 (14 * 8^9 < 2^32 <
 * 14 * 8^10), so 12 levels leave one to spare.  The same rule gives the
 * other fanouts.  A prepare that could grow the tree past it fails with
 * MMK_ENOMEM (never seen in practice).
 */
#if MMK_CFG_MSET_FANOUT >= 64
#define MMK__MSET_MAXH 8
#elif MMK_CFG_MSET_FANOUT >= 32
#define MMK__MSET_MAXH 9
#elif MMK_CFG_MSET_FANOUT >= 16
#define MMK__MSET_MAXH 12
#elif MMK_CFG_MSET_FANOUT >= 8
#define MMK__MSET_MAXH 17
#else
#define MMK__MSET_MAXH 34
#endif

/*
 * One area.  mset owns the object (allocated from the HAL's object memory);
 * pointers to it stay valid until it leaves the set in a commit (then it is
 * on the transaction's dead list until the caller frees it) or the set is
 * cleared.  Callers read every field; they may write only @priv (and only
 * under the exclusive lock).  start/end/offset/flags change only through
 * mmk_mset_* calls.
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
	const void *kind;   /* opaque to mset: compared for equality only */
	void *priv;	    /* the caller's; compared for equality only */
	/* Dead list of a transaction (mset's while the area is in the set). */
	struct mmk_mset_area *link;
};

/*
 * Two neighbours merge into one area (the lower object survives, the upper
 * one goes on the dead list) exactly when
 *   lo->end == hi->start, same kind, same flags, same priv, and
 *   lo->offset + (lo->end - lo->start) == hi->offset.
 * Insert (unless MMK_MSET_NOMERGE) and protect merge around what they
 * changed, so no two mergeable neighbours are left side by side.
 */

struct mmk__mset_node;

/* The set; embed it anywhere.  Zeroed (or mmk_mset_init) = empty. */
struct mmk_mset {
	struct mmk__mset_node *root; /* NULL when empty */
	unsigned height;	     /* levels; 0 when empty, 1 = a leaf */
	size_t count;		     /* number of areas */
	/* Spare nodes kept between calls so most splits allocate no node
	 * (at most 24 of each kind kept after a commit; freed by
	 * mmk_mset_clear). */
	struct mmk__mset_node *spare_leaf, *spare_inner;
	unsigned nspare_leaf, nspare_inner;
};

/* A root-to-leaf position in the tree (mset's; index by level, 0 = leaf). */
struct mmk__mset_path {
	struct {
		struct mmk__mset_node *node;
		unsigned idx;
	} lv[MMK__MSET_MAXH];
};

/*
 * A transaction: one insert, unmap or protect, prepared then committed or
 * aborted.  Lives on the caller's stack; needs no initialisation before
 * the prepare.
 */
struct mmk_mset_txn {
	/*
	 * Filled by the prepare, for the caller.  piece[i] (i < npieces, in
	 * address order) is a new area object cut from orig[i], not yet
	 * visible: a copy of *orig[i] with start/end/offset set to the
	 * piece's (priv copied).  Between prepare and commit the caller may
	 * set a piece's priv (a backend's split hook); before an abort it
	 * undoes that.  orig[i] itself is unchanged until the commit.
	 */
	struct mmk_mset_area *piece[2];
	const struct mmk_mset_area *orig[2];
	unsigned npieces;
	/*
	 * Insert: the new area object (a copy of the template, not yet
	 * visible) from prepare to commit; after the commit the area now
	 * holding [start, end) (the new one, or the neighbour it merged
	 * into).  Unmap and protect: NULL.
	 */
	struct mmk_mset_area *area;
	/*
	 * After the commit: every area object that left the set (removed
	 * whole, absorbed by a merge, a new area or piece merged into a
	 * neighbour), linked through ->link, in no particular order, with
	 * its fields as they were when it left.  mset never frees them: the
	 * caller releases each one's priv and calls mmk_mset_area_free.
	 */
	struct mmk_mset_area *dead;

	/* Private to mset. */
	mmk_vaddr_t start_, end_;
	uint32_t flags_;
	uint8_t op_, mode_, split_, pad_;
	unsigned mark_leaf_, mark_inner_; /* the reserve before the prepare */
	struct mmk__mset_path path_;	  /* where the commit starts */
};

/** Initialise an empty set.  Cannot fail, allocates nothing. */
void mmk_mset_init(struct mmk_mset *set);

/**
 * Free every area object and node the set holds, spare nodes included; no
 * callbacks (a caller that keeps something in priv releases it first, by
 * iterating).  The set is empty and reusable afterwards.  Writer.  Cannot
 * fail.  O(n).
 */
void mmk_mset_clear(struct mmk_mset *set);

/** Same as mmk_mset_clear; named for the end of a set's life. */
void mmk_mset_destroy(struct mmk_mset *set);

static inline size_t mmk_mset_count(const struct mmk_mset *set)
{
	return set->count;
}

/* Modes of an insert (OR them). */
#define MMK_MSET_REPLACE 0x1u /* remove what the new area overlaps first */
#define MMK_MSET_NOMERGE 0x2u /* do not merge the new area with neighbours */

/**
 * Prepare the insert of a new area described by @tmpl (start, end, offset,
 * flags, kind, priv; the object is allocated here: t->area).  Writer.
 *
 * Without MMK_MSET_REPLACE an overlap is refused with MMK_EEXIST.  With it
 * the commit removes what [start, end) overlaps (areas cut at the edges,
 * as by an unmap: t->piece[0] is the upper part when one area holds the
 * whole range) and inserts, in one commit.  Unless MMK_MSET_NOMERGE the
 * commit merges the new area with mergeable neighbours.
 *
 * tmpl->priv belongs to the new area once committed; after a failed
 * prepare or an abort it is still the caller's.
 *
 * Errors: MMK_EINVAL (tmpl NULL, or a mode bit other than the two above),
 * MMK_EWRAP (start >= end), MMK_EEXIST, MMK_ENOMEM.  On error nothing
 * changed and nothing is held.
 */
int mmk_mset_prepare_insert(struct mmk_mset *set,
			    const struct mmk_mset_area *tmpl, unsigned mode,
			    struct mmk_mset_txn *t);

/**
 * Prepare the removal of [start, start + size): areas inside it go (dead
 * list), areas across an edge are trimmed, an area holding the whole range
 * with room on both sides is split (t->piece[0], one allocation).  Holes
 * are fine; a range of holes only prepares a no-op.  Writer.
 * Errors: MMK_EWRAP, MMK_ENOMEM.
 */
int mmk_mset_prepare_unmap(struct mmk_mset *set, mmk_vaddr_t start,
			   uint64_t size, struct mmk_mset_txn *t);

/**
 * Prepare setting @flags on every part of [start, start + size) covered by
 * areas; holes are skipped (use mmk_mset_covers first for mprotect's
 * ENOMEM).  Areas across an edge are split (up to two pieces) unless their
 * flags already equal @flags; the commit sets the flags, then merges
 * neighbours that became mergeable.  Writer.
 * Errors: MMK_EWRAP, MMK_ENOMEM.
 */
int mmk_mset_prepare_protect(struct mmk_mset *set, mmk_vaddr_t start,
			     uint64_t size, uint32_t flags,
			     struct mmk_mset_txn *t);

/**
 * Make a prepared transaction visible.  Cannot fail, allocates nothing.
 * Afterwards t->dead lists the objects that left the set and t->area (an
 * insert) the area holding the inserted range.  Writer.
 */
void mmk_mset_commit(struct mmk_mset *set, struct mmk_mset_txn *t);

/**
 * Drop a prepared transaction: frees its pieces and new area object (their
 * priv untouched) and the nodes its prepare reserved.  Nothing changed,
 * nothing leaked.  Writer.  Cannot fail.
 */
void mmk_mset_abort(struct mmk_mset *set, struct mmk_mset_txn *t);

/** Free a dead area object (once the caller has released its priv). */
void mmk_mset_area_free(struct mmk_mset *set, struct mmk_mset_area *a);

/*
 * Conveniences for users without backends: prepare + commit, then the dead
 * objects are freed (their priv is not looked at).  Same errors as the
 * prepare; on error nothing changed.
 */

/** Insert; *@out (if not NULL) is the area now holding [start, end).
 *  Errors as mmk_mset_prepare_insert. */
int mmk_mset_insert(struct mmk_mset *set, const struct mmk_mset_area *tmpl,
		    unsigned mode, struct mmk_mset_area **out);

/** Unmap.  Errors as mmk_mset_prepare_unmap. */
int mmk_mset_unmap(struct mmk_mset *set, mmk_vaddr_t start, uint64_t size);

/** Protect.  Errors as mmk_mset_prepare_protect. */
int mmk_mset_protect(struct mmk_mset *set, mmk_vaddr_t start, uint64_t size,
		     uint32_t flags);

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
 * MMK_EWRAP (size 0), MMK_EINVAL (lo >= hi, or an unknown direction),
 * MMK_ERANGE (hint outside [lo, hi]), MMK_ENOMEM (no fit: size > hi - lo,
 * no aligned address in the limit, or every gap too small).
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
