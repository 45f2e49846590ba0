/* SPDX-License-Identifier: MIT */
/*
 * mmkit — address spaces: a memory set of areas over one page table, each
 * area backed by a backend (linear, alloc, or the kernel's own), with
 * demand paging and access to the space's memory from the kernel.
 *
 *   struct mmk_aspace
 *   +--------------------------------------------------------------+
 *   | [base, end)     the part of the address space it manages     |
 *   | areas (mset)    [start, end) flags backend offset priv ...   |
 *   | pt              the page table (any compiled-in format)      |
 *   | active          CPUs that have it loaded (flush targets)     |
 *   | lock            writers exclusive; page faults shared, with  |
 *   |                 a per-CPU reader count (no shared line)      |
 *   +--------------------------------------------------------------+
 *
 * Addresses are checked in this order; the first failing check is
 * reported and nothing changes:
 *   MMK_EWRAP   size 0, or start + size wraps
 *   MMK_EALIGN  start or size (or pa) not a multiple of the base page
 *   MMK_ERANGE  [start, start + size) not inside [base, end)
 *   MMK_EINVAL  flags with bits outside MMK_ASPACE_FLAGS, NULL backend
 *   MMK_ENOTSUP flags the page-table format cannot express
 *
 * All or nothing: map, populate, unmap, protect and a page fault either
 * succeed or leave the areas, every page-table entry, the reference count
 * of every frame and the number of live frames and objects as they were
 * (MMK_ENOMEM, or the error named).
 *
 * TLB: unmap and protect flush exactly the pages that lost a permission,
 * once per call, on the CPUs where the space is active (none if it is
 * active nowhere), and give frames back only after that flush.  Adding
 * mappings (map, populate, faults) flushes nothing, except on formats
 * where mmk_pt_map_needs_flush() says the TLB may cache invalid entries.
 *
 * Locking (see docs/ARCHITECTURE.md, "Address spaces"): every call takes
 * the space's lock itself; none may be called with it held (backends get
 * it held for them).  map, map_linear, populate, unmap, protect, clear,
 * copy_mappings_from: exclusive.  handle_page_fault, read, write,
 * find_area, foreach_area, find_free_area, can_access_range, dump: shared,
 * so faults on different pages of one space run in parallel.  Not from
 * interrupt context (a fault handler runs in the context of the thread
 * that faulted).
 */
#ifndef MMKIT_ASPACE_H
#define MMKIT_ASPACE_H

#include <mmkit/lock.h>
#include <mmkit/mset.h>
#include <mmkit/pt.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- flags */
/**
 * Flags of an area: the MMK_PT_* bits an area may carry (READ, WRITE,
 * EXEC, USER, GLOBAL and a memory type).  No READ/WRITE/EXEC is PROT_NONE:
 * an area nobody may access, whose pages (if any) stay allocated.
 */
#define MMK_ASPACE_FLAGS                                                       \
	(MMK_PT_RWX | MMK_PT_USER | MMK_PT_GLOBAL | MMK_PT_MT_MASK)

/** Kinds of access (fault, populate, can_access_range): a subset of RWX. */
#define MMK_ACCESS_READ	 MMK_PT_READ
#define MMK_ACCESS_WRITE MMK_PT_WRITE
#define MMK_ACCESS_EXEC	 MMK_PT_EXEC

/* ------------------------------------------------------- the space */
/* One reader count per CPU, each on its own cache line. */
struct mmk__aspace_rcount {
	MMK_ATOMIC(long) n;
} __attribute__((aligned(64)));

/**
 * An address space.  Embed it anywhere (a process, a static kernel
 * variable); everything in it is private to src/aspace except through the
 * functions below.  Never copy it.
 */
struct mmk_aspace {
	mmk_vaddr_t base, end; /* the managed range [base, end) */
	uint64_t page_size;    /* base page of the format */
	unsigned page_shift;
	bool map_flushes;	   /* mmk_pt_map_needs_flush(&pt) */
	uint32_t asid;		   /* tag for flushes and activation */
	struct mmk_frames *frames; /* leaf frames and table pages */
	struct mmk_mset areas;
	struct mmk_pt pt;
	/* CPUs with this space loaded; changed with atomic bit operations */
	mmk_cpumask_t active;
	/* writers: a spinlock among themselves, then the flag readers see */
	mmk_spinlock_t wlock;
	MMK_ATOMIC(uint32_t) writer __attribute__((aligned(64)));
	struct mmk__aspace_rcount readers[MMK_CFG_MAX_CPUS];
	/* a writer's operation in progress (for backends' split hooks) */
	struct mmk_aspace_op *op;
};

/**
 * Make @as an empty space for [base, base + size) over a new page table of
 * format @fmt (options @pt_opts, MMK_PT_OPT_*), taking frames and table
 * pages from @frames (kept by pointer).  base and size are aligned to the
 * format's base page; the range must be canonical for the format and must
 * not reach the last page of the 64-bit space (an area's end must be
 * representable).  Errors: MMK_EWRAP, MMK_EALIGN, MMK_ERANGE,
 * MMK_ENONCANON, MMK_ENOTSUP (format not compiled in), MMK_ENOMEM (the
 * root table).  On error nothing is allocated.
 */
int mmk_aspace_create(struct mmk_aspace *as, mmk_vaddr_t base, uint64_t size,
		      enum mmk_pt_format_id fmt, unsigned pt_opts,
		      struct mmk_frames *frames);

/**
 * Unmap everything (frames back to the allocator after one flush) and free
 * every table page and object @as owns.  The space must be active on no
 * other CPU; it is deactivated on this one.  Cannot fail.
 */
void mmk_aspace_destroy(struct mmk_aspace *as);

/** Remove every area (as unmap of the whole space).  Cannot fail. */
void mmk_aspace_clear(struct mmk_aspace *as);

/** The page table (to activate it by hand, dump it, or inspect it). */
struct mmk_pt *mmk_aspace_pt(struct mmk_aspace *as);

/** Tag flushes and activations of @as with @asid (default 0).  Exclusive. */
void mmk_aspace_set_asid(struct mmk_aspace *as, uint32_t asid);

/**
 * Load @as on the calling CPU (mmk_pt_activate) and add the CPU to the
 * set flushes go to.  IRQs must be off or the thread pinned.
 */
void mmk_aspace_activate(struct mmk_aspace *as);

/** The calling CPU no longer uses @as (call when switching away). */
void mmk_aspace_deactivate(struct mmk_aspace *as);

/** True if @as is loaded on some CPU. */
bool mmk_aspace_is_active(const struct mmk_aspace *as);

/**
 * Share @other's page-table entries for @other's whole range in @as's
 * table (the kernel half of a user space): mmk_pt_copy_from over
 * [other->base, other->end).  That range must lie outside @as's own range
 * (MMK_ERANGE) and be aligned to a root slot (MMK_EALIGN).  Mappings
 * @other adds later under a root slot that was empty are not seen.
 * The source pins the shared root slots (their tables stay even when
 * emptied), so destroy every space that copied from @other before @other.
 * Exclusive on both, @as first, then @other.
 */
int mmk_aspace_copy_mappings_from(struct mmk_aspace *as,
				  const struct mmk_aspace *other);

/* ------------------------------------------------------- areas */
struct mmk_backend;

/** A copy of one area, as the query calls give it. */
struct mmk_aspace_area {
	mmk_vaddr_t start, end;
	uint32_t flags;	 /* MMK_ASPACE_FLAGS */
	uint64_t offset; /* backend offset of start */
	const struct mmk_backend *backend;
	void *priv;
};

/** Copy the area holding @addr into @out; false if there is none. */
bool mmk_aspace_find_area(struct mmk_aspace *as, mmk_vaddr_t addr,
			  struct mmk_aspace_area *out);

/**
 * Call @fn on a copy of every area ending above @from, in address order;
 * 0 goes on, > 0 stops (returned), < 0 stops with that error.  Runs with
 * the lock shared: @fn must not call modifying functions of @as.
 */
int mmk_aspace_foreach_area(struct mmk_aspace *as, mmk_vaddr_t from,
			    int (*fn)(const struct mmk_aspace_area *a,
				      void *arg),
			    void *arg);

/** Number of areas. */
size_t mmk_aspace_area_count(struct mmk_aspace *as);

/**
 * Find a free range of @size bytes aligned to @align (a power of two, at
 * least the base page; 0 means the base page), the lowest at or above
 * @hint, inside [lo, hi) clipped to the space.  ArceOS's
 * find_free_area(hint, size, limit).  MMK_ENOMEM if none fits; errors of
 * mmk_mset_find_free otherwise.
 */
int mmk_aspace_find_free_area(struct mmk_aspace *as, mmk_vaddr_t hint,
			      uint64_t size, mmk_vaddr_t lo, mmk_vaddr_t hi,
			      uint64_t align, mmk_vaddr_t *out);

/**
 * Write the areas as /proc/PID/maps lines to @out, one call per area:
 *   "<start>-<end> rwxp <offset> 00:00 0 <backend name>"
 * (addresses and offset in hex, 's' for backends that share their memory,
 * the offset shown by backends that have one).  Shared lock.
 */
int mmk_aspace_dump_maps(struct mmk_aspace *as, mmk_pt_line_fn out, void *ctx);

/* --------------------------------------------------- map, unmap */
/**
 * Map [va, va + size) to [pa, pa + size) (MMIO, a kernel's linear map)
 * with the linear backend, at once, with huge pages where alignment
 * allows.  Never faults.  MMK_EEXIST if an area overlaps; MMK_ERANGE if
 * the format cannot encode pa.  Exclusive.
 */
int mmk_aspace_map_linear(struct mmk_aspace *as, mmk_vaddr_t va, mmk_paddr_t pa,
			  uint64_t size, uint32_t flags);

/**
 * Map [start, start + size) with zero-filled frames of the alloc backend:
 * all of them now when @populate, else one page per first-touch fault.
 * MMK_EEXIST if an area overlaps; MMK_ENOMEM (nothing changed).  Exclusive.
 */
int mmk_aspace_map_alloc(struct mmk_aspace *as, mmk_vaddr_t start,
			 uint64_t size, uint32_t flags, bool populate);

/**
 * The general form: a new area [start, start + size) with backend @b,
 * backend offset @offset and private data @priv.  With @populate the
 * backend fills the whole area before the call returns.  Exclusive.
 */
int mmk_aspace_map(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
		   uint32_t flags, bool populate, const struct mmk_backend *b,
		   uint64_t offset, void *priv);

/**
 * Fault [start, start + size) in ahead of use as an @access (MMK_ACCESS_*)
 * would.  MMK_ENOMEM, changing nothing, if part of the range has no area
 * (as Linux's MAP_POPULATE/madvise) or memory runs out; MMK_EACCES if an
 * area there does not allow @access.  Exclusive.
 */
int mmk_aspace_populate(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
			uint32_t access);

/**
 * Remove every area part in the range (holes are fine); frames of alloc
 * areas go back after the flush.  MMK_ENOMEM (nothing changed) when an
 * area must be split, or a huge page cut, and memory runs out.  Exclusive.
 */
int mmk_aspace_unmap(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size);

/**
 * Give every area part in the range @flags (holes are skipped), and the
 * pages already mapped there.  MMK_ENOMEM as unmap.  Exclusive.
 */
int mmk_aspace_protect(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
		       uint32_t flags);

/* --------------------------------------------- access and faults */
/**
 * Copy @len bytes at @va of the space into @buf (read) or from @buf into
 * the space (write), through the page table (phys_to_virt of each page),
 * faulting lazily mapped pages in, as copy_from_user / copy_to_user would.
 * MMK_EFAULT, copying nothing, if a byte lies outside every area or in an
 * area without READ (read) / WRITE (write) permission; MMK_ENOMEM if a
 * page could not be faulted in (bytes before it may have been copied).
 * @len 0 succeeds.  Shared lock.
 */
int mmk_aspace_read(struct mmk_aspace *as, mmk_vaddr_t va, void *buf,
		    size_t len);
int mmk_aspace_write(struct mmk_aspace *as, mmk_vaddr_t va, const void *buf,
		     size_t len);

/** True only if every byte of the range lies in areas allowing @access. */
bool mmk_aspace_can_access_range(struct mmk_aspace *as, mmk_vaddr_t start,
				 uint64_t size, uint32_t access);

/**
 * A page fault at @addr for @access (one MMK_ACCESS_* bit, or several).
 * Returns 0 when the page is now mapped with @access allowed (a lazy page
 * mapped now, or one another CPU mapped first, or a stale TLB entry),
 * MMK_EFAULT when no area holds @addr, MMK_EACCES when the area does not
 * allow @access (both: a real fault), MMK_ENOMEM when a frame or table page
 * could not be allocated (nothing changed), MMK_EINVAL for an @access of 0
 * or with bits outside MMK_PT_RWX.  Shared lock.
 */
int mmk_aspace_fault(struct mmk_aspace *as, mmk_vaddr_t addr, uint32_t access);

/** ArceOS's handle_page_fault: mmk_aspace_fault(...) == 0. */
bool mmk_aspace_handle_page_fault(struct mmk_aspace *as, mmk_vaddr_t addr,
				  uint32_t access);

/* ============================================================ backends
 *
 * A backend is a const ops table.  Its first member is the memory set's
 * table (struct mmk_mset_ops), whose callbacks mset calls while the space
 * holds its lock exclusive, with ctx = the struct mmk_aspace_op of the call
 * in progress.  The rest is called by the address-space layer.  Any
 * callback may be NULL (see each).  docs/PORTING.md, "Adding your own
 * backend", walks through one.
 *
 * What each mset callback must do for an address space:
 *   map       only when op->populate: fill [start, end) of the new area
 *             (nothing is mapped there yet); all or nothing: on failure
 *             undo what it mapped and return the error.  NULL: nothing.
 *   unmap     remove the mappings of [start, end) with
 *             mmk_pt_unmap_region(&op->as->pt, ..., op->batch, ...) and
 *             hand frames back with mmk_backend_defer_put (never before
 *             the flush).  Must not fail.
 *   protect   mmk_pt_protect_region(&op->as->pt, a->start, size,
 *             new_flags, op->batch), unless op->cutting or op->pt_done
 *             (then nothing).  Must not fail.
 *   split, can_merge, release: as mset.h says.
 */
struct mmk_aspace_op;

/** What a page fault is about, handed down the fault path. */
struct mmk_fault {
	struct mmk_aspace *as;
	struct mmk_mset_area *area; /* the area holding addr */
	mmk_vaddr_t addr;	    /* the faulting address */
	mmk_vaddr_t page;	    /* addr rounded down to page_size */
	uint64_t page_size;	    /* the backend's page size there */
	uint32_t access;	    /* MMK_ACCESS_* asked */
	uint32_t flags;		    /* the area's flags (the new leaf's) */
};

struct mmk_backend {
	struct mmk_mset_ops mset;

	/**
	 * Fill the holes of [start, end), a part of area @a with no page
	 * mapped in it yet.  Called by: mmk_aspace_populate (once per hole
	 * of the range), exclusive lock.  All or nothing for its range: undo
	 * its own mappings before returning an error.  NULL: the backend
	 * maps everything at map time (populate is then a no-op).
	 */
	int (*populate)(struct mmk_aspace_op *op, struct mmk_mset_area *a,
			mmk_vaddr_t start, mmk_vaddr_t end);

	/**
	 * Map f->page.  Called by: the fault path, lock held *shared*, after
	 * the area's flags were found to allow f->access and the page found
	 * unmapped.  Other CPUs may fault the same page at the same moment:
	 * map with the single-page mmk_pt_map, and treat MMK_EEXIST as
	 * success after giving back what was prepared.  Returns 0 or
	 * MMK_ENOMEM (nothing changed).  NULL: the backend never faults (the
	 * fault is a real one, MMK_EFAULT).
	 */
	int (*fault)(struct mmk_fault *f);

	/** Page size used in @a (NULL: the format's base page). */
	uint64_t (*page_size)(const struct mmk_aspace *as,
			      const struct mmk_mset_area *a);

	/** 's' in dumps: the memory is shared, not private to the space. */
	bool shared;
	/** The dump shows the area's offset (else 0). */
	bool show_offset;
};

/**
 * The operation in progress, given to mset callbacks as ctx.  Backends
 * read @as, @batch, @populate, @cutting and @pt_done, and call the helpers
 * below.  Lives on the writer's stack for one call; exclusive lock held.
 */
struct mmk_aspace_op {
	struct mmk_aspace *as;
	struct mmk_pt_batch *batch;
	bool populate;	    /* map: fill the new area now */
	bool cutting;	    /* protect: areas are only being cut at an
			       edge (flags gain a private bit); leave
			       the page table alone */
	bool pt_done;	    /* unmap/protect: the page table was edited
			       for the whole range already (built-in
			       backends only); leave it alone */
	mmk_cpumask_t cpus; /* snapshot of as->active for the batch */
	/* frames to put once the batch is finished (via frame metadata) */
	uint64_t put_head; /* frame number + 1, 0 = empty */
	unsigned long nput;
};

/**
 * Hand the frame block at @pa back (one reference) once op's batch has
 * been flushed.  Uses the block's metadata next/prev (the owner's while
 * allocated): no memory needed, cannot fail.
 */
void mmk_backend_defer_put(struct mmk_aspace_op *op, mmk_paddr_t pa);

/** mmk_pt_unmap_fn that defers a put of every leaf page it is told of. */
void mmk_backend_put_run(void *op, const struct mmk_pt_leaf *run);

/**
 * Allocate one zeroed frame block of @as's base page size (the frame
 * allocator's ZERO: no stale data reaches a space).  MMK_ENOMEM.
 */
int mmk_backend_alloc_page(struct mmk_aspace *as, mmk_paddr_t *pa);

/** Give back a block from mmk_backend_alloc_page that was never mapped. */
void mmk_backend_free_page(struct mmk_aspace *as, mmk_paddr_t pa);

/** The two built-in backends. */
extern const struct mmk_backend mmk_backend_linear;
extern const struct mmk_backend mmk_backend_alloc;

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_ASPACE_H */
