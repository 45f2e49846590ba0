/* SPDX-License-Identifier: MIT */
/*
 * mmkit — backends: where an area's pages come from.
 *
 * A backend is a const ops table; every area names one (struct
 * mmk_mset_area.kind points at it).  The address space drives it: it asks
 * the memory set which area parts an operation touches, reserves what the
 * operation may need, then calls these hooks and edits the page table.  A
 * backend never calls the address-space layer (mmk_aspace_*); it edits the
 * page table only through the mmk_pt_* calls and helpers declared here.
 *
 *   hook        called by                  lock       may fail
 *   populate    map(populate), populate    exclusive  yes, all or nothing
 *   fault       a page fault, read/write   shared     yes (nothing changed)
 *   zap         unmap, clear, destroy      exclusive  no
 *   protect     protect                    exclusive  no
 *   clone       fork (mmk_aspace_clone)    exclusive  no (a decision)
 *   dup         fork: the child's copy     exclusive  yes (nothing changed)
 *   split       unmap/protect cutting      exclusive  yes (nothing changed)
 *   release     an area object goes        exclusive  no
 *   sync        mmk_aspace_sync (msync)    exclusive  yes (first error)
 *
 * Every hook may be NULL; each says what NULL means.  Adding a backend is
 * one file: fill this table (docs/PORTING.md, "Adding your own backend").
 *
 * Area protection and page flags are apart: an area keeps the protection
 * it was given (MMK_PT_READ/WRITE/EXEC, USER, GLOBAL, memory type: what
 * mprotect asked); each page is mapped with what its backend decides (its
 * fault hook may return less, e.g. read-only pages of a copy-on-write
 * area), fitted to what the format can express
 * (mmk_backend_page_flags: EXEC alone becomes READ|EXEC on x86_64).
 */
#ifndef MMKIT_BACKEND_H
#define MMKIT_BACKEND_H

#include <mmkit/aspace.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- faults */
/** What a page fault asks of the area's backend (read-only for it). */
struct mmk_fault {
	struct mmk_aspace *as;
	const struct mmk_mset_area *area; /* the area holding addr */
	mmk_vaddr_t addr;		  /* the faulting address */
	mmk_vaddr_t page;		  /* addr rounded down to page_size */
	uint64_t page_size;		  /* the backend's page size there */
	uint32_t access;		  /* MMK_ACCESS_* asked */
	uint32_t prot;			  /* the area's protection */
	/* A leaf is mapped at page but lacks @access (a write to a read-only
	 * page of a writable area: copy-on-write).  @leaf is that leaf, as
	 * read once by the fault path. */
	bool present;
	struct mmk_pt_leaf leaf;
	/* Table pages the core reserved for this fault's maps (empty on the
	 * first try; filled when a map said MMK_EAGAIN): for
	 * mmk_backend_fault_map, which takes tables from it, never
	 * allocating one. */
	struct mmk_pt_resv *tables;
};

/** The page a fault hook asks the core to map. */
struct mmk_fault_page {
	mmk_paddr_t pa; /* a block of page_size bytes */
	uint32_t flags; /* MMK_PT_* flags the page gets (fitted by the core) */
	/* pa is a new reference (a fresh frame): the core puts it if it
	 * cannot install it (another CPU was first). */
	bool owned;
	/* present faults: the old leaf's frame loses one reference once the
	 * new leaf is in and the old one flushed. */
	bool put_old;
};

/** Fault hook results besides 0 (map *out) and negative errors. */
#define MMK_FAULT_RETRY 1 /* nothing to map now: look at the entry again */

/** What fork does with an area (mmk_backend.clone). */
enum mmk_clone_mode {
	MMK_CLONE_SHARE, /* the child maps the same pages (linear, shared) */
	MMK_CLONE_COW,	 /* both map the pages read-only; writes copy */
	MMK_CLONE_COPY,	 /* the child gets copies now */
	MMK_CLONE_DROP,	 /* the child does not get the area (DONTFORK) */
};

/* Backend properties (mmk_backend.props). */
#define MMK_BACKEND_SHARED	0x1u /* 's' in dumps: not private memory */
#define MMK_BACKEND_SHOW_OFFSET 0x2u /* dumps show the area's offset */
#define MMK_BACKEND_OWNS_FRAMES 0x4u /* the default zap puts mapped frames */
/* Each leaf maps one whole frame block (a huge leaf: a block of its size).
 * A huge leaf that unmap or protect cuts gets its block split along the
 * same lines (mmk_frame_split), copied first into a block of this space's
 * own if another table maps it too (src/aspace/edit.c).  With OWNS_FRAMES. */
#define MMK_BACKEND_SPLIT_FRAMES 0x8u

struct mmk_backend {
	/** Short name for dumps ("alloc", "linear"). */
	const char *name;
	/** MMK_BACKEND_* */
	uint32_t props;

	/**
	 * Fill [start, end), a part of area @a in which nothing is mapped.
	 * Called by mmk_aspace_map with populate (before @a is visible) and
	 * mmk_aspace_populate (once per hole), exclusive lock.  All or
	 * nothing for its range: undo its own mappings before returning an
	 * error.  NULL: the backend's pages come only through @fault, and
	 * mmk_aspace_populate leaves its areas as they are.
	 */
	int (*populate)(struct mmk_aspace_op *op, const struct mmk_mset_area *a,
			mmk_vaddr_t start, mmk_vaddr_t end);

	/**
	 * Say what to map for fault @f: fill @out and return 0, return
	 * MMK_FAULT_RETRY, or an error (MMK_ENOMEM, ...: the fault fails
	 * with it, nothing changed; MMK_EAGAIN passed on from
	 * mmk_backend_fault_map for f's own page: the core makes the page's
	 * tables, then calls the hook again).  The core maps @out (a
	 * single-page compare-and-swap, or a leaf replace when f->present), so
	 * several CPUs may ask for one page at once; the loser's owned page is
	 * put. Shared lock.  NULL: the backend never faults (a fault on an
	 * unmapped page of the area is a real one, MMK_EFAULT).  A page it
	 * maps must keep some access (flags with READ, WRITE or EXEC) while
	 * its area allows one: the core reads a leaf without any as another
	 * CPU's replace between break and make, and looks again.
	 */
	int (*fault)(const struct mmk_fault *f, struct mmk_fault_page *out);

	/**
	 * Drop the pages of [start, end), a part of area @a; the area stays
	 * (unmap removes the area afterwards; madvise(DONTNEED) keeps it).
	 * Frames may be handed back only through op->gather (after the
	 * flush).  Must not fail.  NULL: mmk_backend_zap_pages, putting the
	 * frames if props has MMK_BACKEND_OWNS_FRAMES.
	 */
	void (*zap)(struct mmk_aspace_op *op, const struct mmk_mset_area *a,
		    mmk_vaddr_t start, mmk_vaddr_t end);

	/**
	 * [start, end), a part of area @a, changes its protection from
	 * a->flags to @prot: adjust the pages mapped there.  Must not fail
	 * (the core cut huge pages at the edges beforehand).  NULL: every
	 * mapped page gets mmk_backend_page_flags(@prot).
	 */
	void (*protect)(struct mmk_aspace_op *op, const struct mmk_mset_area *a,
			mmk_vaddr_t start, mmk_vaddr_t end, uint32_t prot);

	/**
	 * What fork (mmk_aspace_clone) does with @a.  Called with both
	 * spaces exclusive.  NULL: MMK_CLONE_COPY, which needs
	 * MMK_BACKEND_OWNS_FRAMES (the child's copies are frames its zap
	 * must put; without it the fork fails with MMK_ENOTSUP).
	 */
	enum mmk_clone_mode (*clone)(const struct mmk_mset_area *a);

	/**
	 * @copy (not visible yet, in the child of a fork) is a copy of @orig
	 * (same range, offset, flags, priv).  Give it its own hold on priv
	 * (a reference on a shared object).  May fail: the fork fails,
	 * nothing changed; release(copy) undoes a successful dup.  NULL:
	 * priv shared as is (nothing to hold).  Both spaces exclusive.
	 */
	int (*dup)(const struct mmk_mset_area *orig,
		   struct mmk_mset_area *copy);

	/**
	 * @piece (not visible yet) is the part of @orig above a cut; on entry
	 * it is a copy of @orig with its own start/end/offset and orig's priv.
	 * Give it its own private data.  May fail (the operation fails with
	 * the error, nothing changed; release(piece) undoes a successful
	 * split if a later step fails).  NULL: priv is shared as is.
	 */
	int (*split)(const struct mmk_mset_area *orig,
		     struct mmk_mset_area *piece);

	/**
	 * The area object @a leaves the set for good (unmapped whole, merged
	 * into a neighbour with the same priv, or a piece of a failed call):
	 * drop what priv holds.  Must not fail.  NULL: nothing to drop.
	 */
	void (*release)(const struct mmk_mset_area *a);

	/**
	 * Write back what the pages of [start, end), a part of area @a, changed
	 * (msync): pages written through this space since the last sync reach
	 * their file and lose WRITE again, so the next write is seen.  Called
	 * by mmk_aspace_sync, exclusive lock; flushes through op->gather.
	 * Returns 0 or the first error of its write-back (the rest is still
	 * tried; nothing is undone).  NULL: nothing to write back.
	 */
	int (*sync)(struct mmk_aspace_op *op, const struct mmk_mset_area *a,
		    mmk_vaddr_t start, mmk_vaddr_t end);

	/**
	 * Page size a fault at @addr in @a maps (NULL: the format's base
	 * page): a leaf size of the format, the page containing @addr lying
	 * inside @a.  Called by the fault path (src/aspace/fault.c) once per
	 * fault, shared lock: it may read the page table (mmk_pt_lookup,
	 * mmk_pt_walk), e.g. to fault base pages where a huge page was cut.
	 */
	uint64_t (*page_size)(const struct mmk_aspace *as,
			      const struct mmk_mset_area *a, mmk_vaddr_t addr);
};

/** The backend of area @a. */
static inline const struct mmk_backend *
mmk_backend_of(const struct mmk_mset_area *a)
{
	return (const struct mmk_backend *)a->kind;
}

/* ------------------------------------------------------------ helpers */
/**
 * The page-table flags of a page of @as whose area has protection @prot:
 * @prot fitted to the format (mmk_pt_fit_flags), with READ added where the
 * hardware cannot do without it.  @prot was checked at map/protect time.
 */
static inline uint32_t mmk_backend_page_flags(const struct mmk_aspace *as,
					      uint32_t prot)
{
	uint8_t rwx = as->fit[prot & MMK_PT_RWX];
	/* prot passed the check at map/protect time, so it fits; keep the
	 * asked bits should it somehow not (the format then refuses). */
	prot &= ~(uint32_t)MMK_ASPACE_ATTRS; /* the area's, never a page's */
	if (rwx == MMK__AS_NOFIT)
		return prot;
	return (prot & ~(uint32_t)MMK_PT_RWX) | rwx;
}

/**
 * Allocate one zeroed frame block of @as's base page size (the frame
 * allocator's ZERO: no stale data reaches a space).  MMK_ENOMEM.
 */
int mmk_backend_alloc_page(struct mmk_aspace *as, mmk_paddr_t *pa);

/**
 * Give back a block from mmk_backend_alloc_page that was never mapped.
 * MMK_EBADFREE / MMK_EDOUBLEFREE for an address that is not such a block.
 */
int mmk_backend_free_page(struct mmk_aspace *as, mmk_paddr_t pa);

/**
 * Drop one reference to the frame block at @pa after op's flush.  Call it
 * once the leaf's removal is recorded in op->gather.  A frame another
 * table still maps (count > 1) or the zero page is put at once, after
 * flushing what op->gather holds so far: a frame may be queued in only
 * one gather (they link through its metadata), and another space may be
 * putting the same frame meanwhile.
 */
void mmk_backend_put(struct mmk_aspace_op *op, mmk_paddr_t pa);

/**
 * The write fault @f on a present, read-only page of a private area:
 * take the page over (its frame's count is 1: same frame, area rights)
 * or copy it into a fresh frame of f->page_size (count > 1, or the
 * shared zero page).  Fills @out; MMK_ENOMEM.  For every private
 * backend's fault hook (alloc, huge, file-private).  Shared lock.
 *
 * Races: two CPUs of one space on one page both decide alike; the core's
 * replace lets one win and puts the loser's copy.  Parent and child on
 * one shared frame at once both see count 2 and both copy; each puts the
 * old frame once after its flush, so the count still ends right (0).  A
 * count read as 1 cannot grow meanwhile: no other table maps the frame,
 * and this space cannot fork while the fault holds its lock shared.
 */
int mmk_backend_cow_fault(const struct mmk_fault *f,
			  struct mmk_fault_page *out);

/**
 * The zero page of @as (read-only mappings of never-written private
 * pages; children of a fork keep it through their references; a child
 * made by mmk_aspace_clone shares its parent's), allocated on first use
 * (compare-and-swap: faults run in parallel), the space's own reference
 * dropped when it is destroyed.  MMK_ENOMEM.  Any lock.
 */
int mmk_backend_zero_page(struct mmk_aspace *as, mmk_paddr_t *pa);

/**
 * The fault of a private anonymous page (alloc's hook, usable by others
 * with base pages): absent + read/exec -> the zero page read-only (with a
 * reference, as every leaf); absent + write -> a fresh zeroed frame;
 * present + write -> mmk_backend_cow_fault.  Shared lock.
 */
int mmk_backend_anon_fault(const struct mmk_fault *f,
			   struct mmk_fault_page *out);

/**
 * The protect hook of private (copy-on-write) areas: every mapped page of
 * [start, end) gets mmk_backend_page_flags(@prot), except that WRITE is
 * not given back to a page that lacks it while its frame is shared
 * (count > 1) or is the zero page: its next write copies.  Must not fail.
 */
void mmk_backend_protect_private(struct mmk_aspace_op *op,
				 const struct mmk_mset_area *a,
				 mmk_vaddr_t start, mmk_vaddr_t end,
				 uint32_t prot);

/**
 * The default zap: remove the mappings of [start, end) (page table, then
 * the flush recorded in op->gather) and, with @put, hand every mapped
 * frame back through the gather.  Cannot fail: no huge page straddles
 * start or end (the core cut them).
 */
void mmk_backend_zap_pages(struct mmk_aspace_op *op, mmk_vaddr_t start,
			   mmk_vaddr_t end, bool put);

/**
 * For fault hooks that install pages themselves (fault-around's
 * neighbours, a first touch that must know whether its page went in):
 * map the page @pa at @va (f->page_size, inside f->area) with page flags
 * fitted from @prot, as the fault path installs a page -- a
 * compare-and-swap into the empty entry, flushed on formats that cache
 * invalid entries.  @c (may be NULL; base pages only) is a map cursor the
 * caller keeps across neighbouring calls.  0: the leaf now holds the
 * caller's reference on @pa.  MMK_EEXIST: something is mapped there;
 * MMK_EAGAIN: no table of this space's own holds @va yet (the call never
 * allocates one, nor copies a leaf table a fork left shared): for the
 * faulting page, the hook returns MMK_EAGAIN and the core makes the
 * tables and calls it again; a neighbour is simply skipped.  Nothing
 * changed on an error, the reference is still the caller's.  The fault's
 * shared lock.
 */
int mmk_backend_fault_map(const struct mmk_fault *f, struct mmk_pt_cursor *c,
			  mmk_vaddr_t va, mmk_paddr_t pa, uint32_t prot);

/*
 * The fault path's unshare: @as's own copy of the leaf table over @va if a
 * fork left it shared, the switch flushed at once where @as may be cached
 * (no gather: under a shared lock the switch frees nothing, and a gather
 * is too big for a fault's stack).  0 or MMK_ENOMEM (nothing changed).
 */
int mmk__backend_unshare(struct mmk_aspace *as, mmk_vaddr_t va);

/* The flush after a fault's map of the page at @va on a format whose TLB
 * may cache invalid entries (as->map_flushes), where the space may be
 * cached; no gather.  The core's install and mmk_backend_fault_map. */
void mmk__backend_map_flush(const struct mmk_fault *f, mmk_vaddr_t va,
			    uint32_t flags);

/**
 * Flush what op->gather recorded so far, now (frames stay queued): for a
 * hook that must know no CPU can still write through an entry it removed
 * or write-protected before it goes on (write-back after an unmap).
 * Nothing if the space is active nowhere.  Exclusive lock.
 */
void mmk_backend_flush_now(struct mmk_aspace_op *op);

/** The built-in backends (src/backend/linear.c, alloc.c). */
extern const struct mmk_backend mmk_backend_linear;
extern const struct mmk_backend mmk_backend_alloc;
/**
 * Anonymous huge pages (src/backend/huge.c, mmk_aspace_map_huge): zeroed
 * blocks of the area's page size (its priv), faulted or populated whole,
 * copy-on-write on fork; parts no longer aligned after a cut use base
 * pages.  OWNS_FRAMES | SPLIT_FRAMES.
 */
extern const struct mmk_backend mmk_backend_huge;
/** No pages, no hooks: a reserved gap (mmk_aspace_map_guard). */
extern const struct mmk_backend mmk_backend_guard;

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_BACKEND_H */
