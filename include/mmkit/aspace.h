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
 *   | tlb             CPUs that have it loaded, CPUs that may      |
 *   |                 cache it (flush targets), its ASID           |
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
 *   MMK_ENOTSUP a protection the format cannot map even as a superset
 *               (a memory type without Svpbmt, ...)
 *
 * Protection and page flags: an area keeps the protection it was given
 * (what the dump shows, what faults and copies are checked against); its
 * pages are mapped with what the backend decides, fitted to the format
 * (mmk_pt_fit_flags: EXEC alone is mapped READ|EXEC on x86_64 and
 * aarch64, whose hardware cannot do without READ; the area still says
 * --x).  include/mmkit/backend.h describes backends.
 *
 * All or nothing: map, populate, unmap, protect and a page fault either
 * succeed or leave the areas, every page-table entry, the reference count
 * of every frame and the number of live frames and objects as they were
 * (MMK_ENOMEM, or the error named).
 *
 * TLB: unmap and protect flush exactly the pages that lost a permission,
 * once per call, on the CPUs that may cache the space's entries (where it
 * is active, and with ASIDs where it was active and has not been flushed
 * since; none if there are none), in one shootdown, and give frames back
 * only after that flush.  (Frames another space still maps after a fork
 * are put at once, after a flush of their pages: an unmap over them may
 * flush more than once.)  Adding
 * mappings (map, populate, faults) flushes nothing, except on formats
 * where mmk_pt_map_needs_flush() says the TLB may cache invalid entries.
 *
 * Locking (see docs/ARCHITECTURE.md, "Address spaces"): every call takes
 * the space's lock itself; none may be called with it held (backends get
 * it held for them).  map, map_linear, populate, unmap, protect, clear,
 * copy_mappings_from, clone: exclusive.  handle_page_fault, read, write,
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
#include <mmkit/tlb.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- flags */
/**
 * Protection of an area: the MMK_PT_* bits an area may carry (READ, WRITE,
 * EXEC, USER, GLOBAL and a memory type).  No READ/WRITE/EXEC is PROT_NONE:
 * an area nobody may access, whose pages (if any) stay allocated.
 */
#define MMK_ASPACE_FLAGS                                                       \
	(MMK_PT_RWX | MMK_PT_USER | MMK_PT_GLOBAL | MMK_PT_MT_MASK |           \
	 MMK_ASPACE_ATTRS)

/**
 * Area attributes: eight bits an area carries beside its protection that
 * no page ever gets (mmk_backend_page_flags drops them).  The core gives
 * them no meaning; a layer above does (the system calls keep Linux's
 * VM_LOCKED, VM_DONTCOPY, VM_GROWSDOWN ... there).  Like the protection
 * they are compared when neighbours merge, so areas that differ in them
 * stay apart, as Linux's vmas with different vm_flags do.
 */
#define MMK_ASPACE_ATTR(n) (1u << (24 + (n))) /* n in 0..7 */
#define MMK_ASPACE_ATTRS   (0xffu << 24)
/* The one attribute the core reads: fork leaves the area out of the child
 * (madvise(MADV_DONTFORK); for the clone code of the fork issue). */
#define MMK_ASPACE_DONTFORK MMK_ASPACE_ATTR(0)

/** Kinds of access (fault, populate, can_access_range): a subset of RWX. */
#define MMK_ACCESS_READ	 MMK_PT_READ
#define MMK_ACCESS_WRITE MMK_PT_WRITE
#define MMK_ACCESS_EXEC	 MMK_PT_EXEC

/* ------------------------------------------------------- the space */
/*
 * The exclusive operation in progress, given to the backend hooks that run
 * under the exclusive lock (backend.h).
 */
struct mmk_aspace_op {
	struct mmk_aspace *as;
	/* Flushes of the call and the frames to put after them. */
	struct mmk_tlb_gather *gather;
	/* The CPUs the gather flushes (a snapshot of the space's mask). */
	mmk_cpumask_t cpus;
	/* Scratch memory a populate hook may use for the call's duration
	 * (alloc: its batch of frame addresses). */
	void *scratch;
	size_t scratch_size;
};

#define MMK__AS_SCRATCH 512

/*
 * A writer's working state.  It lives in the space, not on the writer's
 * stack: writers are exclusive, so one copy serves every call, and the
 * deepest call path stays small enough for 4 KiB kernel stacks.
 */
/* A range of a populate's list of holes (src/aspace/populate.c). */
struct mmk__as_run {
	mmk_vaddr_t start, end;
};
#define MMK__AS_RUNS 4

struct mmk__aspace_work {
	struct mmk_aspace_op op;
	struct mmk_tlb_gather gather;
	struct mmk_mset_txn txn;
	struct mmk_pt_resv resv;
	uint64_t scratch[MMK__AS_SCRATCH / 8];
	/* populate's first holes (more borrow frames): off the stack */
	struct mmk__as_run runs[MMK__AS_RUNS];
};

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
	bool map_flushes; /* mmk_pt_map_needs_flush(&pt) */
	uint32_t asid;	  /* the fixed ASID (set_asid); see tlb.id */
	/* page flags of each READ/WRITE/EXEC combination, fitted to the
	 * format (mmk_pt_fit_flags); MMK__AS_NOFIT where it has none */
	uint8_t fit[8];
	struct mmk_frames *frames; /* leaf frames and table pages */
	/* the zero page's physical address | 1, 0 until first used
	 * (mmk_backend_zero_page); the space holds one reference on it */
	MMK_ATOMIC(uint64_t) zero_page;
	struct mmk_mset areas;
	struct mmk_pt pt;
	/* where it is loaded, where it may be cached, its ASID (tlb.h) */
	struct mmk_tlb_ctx tlb;
	/* writers: a spinlock among themselves, then the flag readers see */
	mmk_spinlock_t wlock;
	MMK_ATOMIC(uint32_t) writer __attribute__((aligned(64)));
	/* 1 + the highest CPU id that ever read-locked the space: a writer
	 * sums readers[0, reader_top) only (raised before the count, so a
	 * writer that sees a count also sees the bound that covers it) */
	MMK_ATOMIC(uint32_t) reader_top;
	struct mmk__aspace_rcount readers[MMK_CFG_MAX_CPUS];
	/* the exclusive operation's state (write lock held) */
	struct mmk__aspace_work work;
};

#define MMK__AS_NOFIT 0xffu

/**
 * Make @as an empty space for [base, base + size) over a new page table of
 * format @fmt (options @pt_opts, MMK_PT_OPT_*), taking frames and table
 * pages from @frames (kept by pointer).  base and size are aligned to the
 * format's base page; the range must be canonical for the format and must
 * not reach the last page of the 64-bit space (an area's end must be
 * representable).  Errors: MMK_EINVAL (@as or @frames NULL, unknown
 * @fmt), MMK_EWRAP, MMK_EALIGN, MMK_ERANGE, MMK_ENONCANON, MMK_ENOTSUP
 * (format not compiled in, or @pt_opts), MMK_ENOMEM (the root table).  On
 * error nothing is allocated.
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

/**
 * Tag flushes and activations of @as with the fixed @asid instead of one
 * from the ASID allocator (a kernel space: 0 with global entries).  By
 * default a space takes allocated ASIDs when mmk_tlb_asid_init turned the
 * allocator on, else the fixed ASID 0.  With the allocator on, only 0 is
 * safe (it never hands 0 out; any other number may also be another
 * space's) and @as must be active nowhere (its allocated number is given
 * back).  Exclusive.
 */
void mmk_aspace_set_asid(struct mmk_aspace *as, uint32_t asid);

/**
 * Load @as on the calling CPU: add the CPU to the CPUs it is active on and
 * may be cached on, give it an ASID of the current generation if it has
 * none (mmk_tlb_ctx_activate: a switch flushes nothing while its ASID is
 * live; a rollover flushes this CPU once), then write the root
 * (mmk_pt_activate).  Call mmk_aspace_deactivate on the space switched
 * away from first.  IRQs off or the thread pinned.  Cannot fail.
 */
void mmk_aspace_activate(struct mmk_aspace *as);

/**
 * The calling CPU no longer uses @as (call when switching away, before
 * activating the next space).  With allocated ASIDs the CPU may still
 * cache @as's entries and keeps getting its flushes; with a fixed ASID
 * it flushes them now.
 */
void mmk_aspace_deactivate(struct mmk_aspace *as);

/** True if @as is loaded on some CPU. */
bool mmk_aspace_is_active(const struct mmk_aspace *as);

/**
 * Share @other's page-table entries for @other's whole range in @as's
 * table (the kernel half of a user space): mmk_pt_copy_from over
 * [other->base, other->end).  Errors, nothing changed: MMK_ERANGE (that
 * range overlaps @as's own), MMK_EINVAL (the formats differ), MMK_EALIGN
 * (not aligned to a root slot), MMK_EEXIST (a root slot of @as there is
 * not empty, e.g. copied already).  Mappings
 * @other adds later under a root slot that was empty are not seen.
 * The source pins the shared root slots (their tables stay even when
 * emptied), so destroy every space that copied from @other before @other.
 * Exclusive on both, @as first, then @other.
 */
int mmk_aspace_copy_mappings_from(struct mmk_aspace *as,
				  const struct mmk_aspace *other);

/**
 * Fork: give @child (made by mmk_aspace_create over the same range,
 * format, options and frames, and still empty) every area of @parent,
 * each as its backend's clone hook says (backend.h: SHARE, COW, COPY,
 * DROP; the dup hook gives the child's copy its own hold on priv).
 * Writable private pages become read-only in both, with one flush of
 * @parent (none of @child, which is active nowhere).  Errors: MMK_EINVAL
 * (child not like parent, or child == parent), MMK_EEXIST (child not
 * empty), MMK_ENOTSUP (COPY asked by a backend without
 * MMK_BACKEND_OWNS_FRAMES), MMK_ENOMEM (anywhere: child left empty,
 * parent exactly as it was, permissions included), a dup hook's error.
 * Exclusive on both, parent first.
 */
int mmk_aspace_clone(struct mmk_aspace *parent, struct mmk_aspace *child);

/* ------------------------------------------------------- areas */
struct mmk_backend;

/** A copy of one area, as the query calls give it. */
struct mmk_aspace_area {
	mmk_vaddr_t start, end;
	uint32_t flags;	 /* protection, MMK_ASPACE_FLAGS, as asked */
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
 * find_free_area(hint, size, limit).  Errors: MMK_EALIGN (@align not a
 * power of two or below the base page, @size not a multiple of the base
 * page), MMK_EWRAP (@size 0), MMK_ENOMEM if none fits (also when [lo, hi)
 * misses the space).
 */
int mmk_aspace_find_free_area(struct mmk_aspace *as, mmk_vaddr_t hint,
			      uint64_t size, mmk_vaddr_t lo, mmk_vaddr_t hi,
			      uint64_t align, mmk_vaddr_t *out);

/**
 * Write the areas as /proc/PID/maps lines to @out, one call per area:
 *   "<start>-<end> rwxp <offset> 00:00 0 <backend name>"
 * (addresses and offset in hex, 's' for backends that share their memory,
 * the offset shown by backends that have one).  Shared lock.  Cannot
 * fail: returns 0.
 */
int mmk_aspace_dump_maps(struct mmk_aspace *as, mmk_pt_line_fn out, void *ctx);

/** The version of mmk_aspace_dump_layout's line format (its "format" line). */
#define MMK_ASPACE_LAYOUT_VERSION 1

/**
 * The layout of @as for tools/mmkit-maps, as text lines to @out (no
 * newlines; fields separated by one space, numbers in hex unless said):
 *   MMKIT-MAPS-BEGIN <name>
 *   format 1 <page-table format> <base page> <base>-<end>
 *   area <start>-<end> <rwxp> <offset> <flags> <backend>   per area, then
 *   run <start>-<end> pop|lazy <leaf size> <rwx> own|shared  per run
 *   tables <levels> <pages>:<bytes> ... shared <n>   (decimal counts)
 *   total <areas> <runs>                             (decimal)
 *   MMKIT-MAPS-END
 * An area line's first four fields are those of mmk_aspace_dump_maps,
 * then its protection and attributes (MMK_ASPACE_FLAGS, 8 hex digits) and
 * its backend's name ("-" if none).  Its runs cover it exactly, in order:
 * "pop" pages mapped now with leaves of that size (above the base page:
 * huge leaves) and those page rights (a copy-on-write page is r--), in a
 * leaf table "shared" with another table (fork) or its "own"; "lazy" no
 * page yet (rights ---).  "tables": the table pages it owns per level
 * (level 0, the leaf tables, first; the root last) and the bytes of one,
 * and how many leaf tables are shared now (mmk_pt_count_tables).  @name
 * ("-" if NULL or empty) tells several dumps in one transcript apart.
 * Shared lock, held for the whole dump; small stack (one 160-byte line).
 * Errors: MMK_EINVAL (@as or @out NULL).
 */
int mmk_aspace_dump_layout(struct mmk_aspace *as, const char *name,
			   mmk_pt_line_fn out, void *ctx);

/* --------------------------------------------------- map, unmap */
/**
 * Map [va, va + size) to [pa, pa + size) (MMIO, a kernel's linear map)
 * with the linear backend, at once, with huge pages where alignment
 * allows.  Never faults.  Exclusive.  Errors: the checks above (MMK_EWRAP,
 * MMK_EALIGN, also for @pa, MMK_ERANGE, also for a @pa + @size that wraps
 * or that the format cannot encode, MMK_EINVAL, MMK_ENOTSUP), MMK_EEXIST
 * if an area overlaps, MMK_ENOMEM (nothing changed).
 */
int mmk_aspace_map_linear(struct mmk_aspace *as, mmk_vaddr_t va, mmk_paddr_t pa,
			  uint64_t size, uint32_t flags);

/**
 * Map [start, start + size) with zero-filled frames of the alloc backend:
 * all of them now when @populate, else one page per first-touch fault.
 * Exclusive.  Errors: the checks above (MMK_EWRAP, MMK_EALIGN, MMK_ERANGE,
 * MMK_EINVAL, MMK_ENOTSUP), MMK_EEXIST if an area overlaps, MMK_ENOMEM
 * (nothing changed).
 */
int mmk_aspace_map_alloc(struct mmk_aspace *as, mmk_vaddr_t start,
			 uint64_t size, uint32_t flags, bool populate);

/**
 * Map [start, start + size) with zero-filled huge pages of @page_size
 * bytes (the huge backend: 2 MiB, or 1 GiB, on every format that has
 * leaves of that size): all of them now when @populate, else one whole
 * huge page per first-touch fault; fork shares them copy-on-write (a write
 * copies or takes over the whole huge page).  Unmapping or protecting part
 * of one splits it, its frame block too; the pieces no longer aligned
 * fault base pages from then on.  Errors, in this order: MMK_EINVAL
 * (@page_size not a power of two above the base page), MMK_ENOTSUP (no
 * leaf of that size in the format, or larger than the frame allocator's
 * largest block), MMK_EWRAP, MMK_EALIGN (start or size not a multiple of
 * @page_size), MMK_ERANGE, MMK_EINVAL (flags), MMK_ENOTSUP (a protection
 * the format cannot map), MMK_EEXIST (an area overlaps), MMK_ENOMEM
 * (nothing changed).  Exclusive.
 */
int mmk_aspace_map_huge(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
			uint32_t flags, uint64_t page_size, bool populate);

/**
 * Reserve [start, start + size) as a guard gap: an area of its own with no
 * access and no pages (every fault there is MMK_EACCES, every copy
 * MMK_EFAULT).  Mapped beside a stack when the stack is made, it costs no
 * split later, unlike protecting a page of the stack to PROT_NONE (which
 * splits the area and may fail with MMK_ENOMEM).  Unmap removes it.
 * Exclusive.  Errors: MMK_EWRAP, MMK_EALIGN, MMK_ERANGE (the checks above),
 * MMK_EEXIST if an area overlaps, MMK_ENOMEM.
 */
int mmk_aspace_map_guard(struct mmk_aspace *as, mmk_vaddr_t start,
			 uint64_t size);

/**
 * The general form: a new area [start, start + size) with backend @b,
 * backend offset @offset and private data @priv.  With @populate the
 * backend fills the whole area before the call returns.  Exclusive.
 * Errors, nothing changed: the checks above (MMK_EWRAP, MMK_EALIGN,
 * MMK_ERANGE, MMK_EINVAL also for a NULL @b, MMK_ENOTSUP), MMK_EEXIST if
 * an area overlaps, MMK_ENOMEM, or the error @b's populate hook gave.
 */
int mmk_aspace_map(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
		   uint32_t flags, bool populate, const struct mmk_backend *b,
		   uint64_t offset, void *priv);

/**
 * Fault [start, start + size) in ahead of use as an @access (MMK_ACCESS_*)
 * would: its holes get fresh frames; pages already mapped stay as they
 * are (a zero-page or copy-on-write page stays read-only until written).
 * Exclusive.  Errors, nothing changed: MMK_EWRAP, MMK_EALIGN,
 * MMK_ERANGE (the checks above), MMK_EINVAL (an @access of 0 or with bits
 * outside MMK_PT_RWX), MMK_ENOMEM if part of the range has no area (as
 * Linux's MAP_POPULATE/madvise) or memory runs out, MMK_EACCES if an area
 * there does not allow @access.
 */
int mmk_aspace_populate(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
			uint32_t access);

/**
 * Remove every area part in the range (holes are fine); frames of alloc
 * areas go back after the flush.  Exclusive.  Errors, nothing changed:
 * MMK_EWRAP, MMK_EALIGN, MMK_ERANGE (the checks above), MMK_ENOMEM when an
 * area must be split, or a huge page cut, and memory runs out (or the
 * error of a backend's split hook).
 */
int mmk_aspace_unmap(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size);

/**
 * Give every area part in the range @flags (holes are skipped), and the
 * pages already mapped there.  Exclusive.  Errors: those of
 * mmk_aspace_unmap (MMK_EWRAP, MMK_EALIGN, MMK_ERANGE, MMK_ENOMEM), and
 * MMK_EINVAL, MMK_ENOTSUP for @flags (the checks above).
 */
int mmk_aspace_protect(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
		       uint32_t flags);

/**
 * msync: write back what was written through @as in [start, start +
 * size) to the files behind it (areas whose backend has a sync hook:
 * shared file mappings; holes and other areas are skipped).  The pages
 * written lose WRITE again, so later writes are seen.  Returns 0 or the
 * first write-back error (the rest of the range is still written).
 * Errors: the range checks of mmk_aspace_unmap (MMK_EWRAP, MMK_EALIGN,
 * MMK_ERANGE; nothing written then), or a write-back error as the pager
 * gave it.  Exclusive.
 */
int mmk_aspace_sync(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size);

/* ------------------------------- what a POSIX layer needs on top */
/**
 * mmap(MAP_FIXED): as mmk_aspace_map, but whatever the new area overlaps
 * is removed in the same call (areas cut at the edges, their pages zapped
 * and frames put after the flush), all or nothing: on error the old areas
 * and pages are all still there.  No populate: call mmk_aspace_populate
 * afterwards (Linux's MAP_POPULATE does not undo the map when it runs
 * short either).  Errors: mmk_aspace_map's checks (MMK_EWRAP, MMK_EALIGN,
 * MMK_ERANGE, MMK_EINVAL also for a NULL @b, MMK_ENOTSUP), MMK_ENOMEM, or
 * a split hook's error.  Exclusive.
 */
int mmk_aspace_map_replace(struct mmk_aspace *as, mmk_vaddr_t start,
			   uint64_t size, uint32_t flags,
			   const struct mmk_backend *b, uint64_t offset,
			   void *priv);

/** Options of mmk_aspace_protect_opts. */
#define MMK_ASPACE_NO_HOLES 0x1u /* a hole in the range: MMK_ENOENT */

/**
 * mmk_aspace_protect with options.  With MMK_ASPACE_NO_HOLES a range not
 * wholly covered by areas fails with MMK_ENOENT before anything changes
 * (mprotect's ENOMEM, checked under the same lock as the change).
 * Errors: those of mmk_aspace_protect (MMK_EWRAP, MMK_EALIGN, MMK_ERANGE,
 * MMK_ENOMEM, MMK_EINVAL, MMK_ENOTSUP), MMK_EINVAL for unknown @opts, and
 * MMK_ENOENT as above.
 */
int mmk_aspace_protect_opts(struct mmk_aspace *as, mmk_vaddr_t start,
			    uint64_t size, uint32_t flags, unsigned opts);

/**
 * The kernel's own forced access to a process's memory (ptrace,
 * /proc/PID/mem, core dumps: Linux's FOLL_FORCE): copy @len bytes at @va
 * to @buf (!@write) or from @buf (@write) whatever the areas' protection,
 * PROT_NONE included.  Every byte must lie in some area (MMK_EFAULT,
 * copying nothing).  Pages not yet there are brought in through the
 * backend's fault hook as for a read.  A write to a page its area does
 * not let be written is allowed only in private memory (backends owning
 * their frames, MMK_BACKEND_OWNS_FRAMES; MMK_EFAULT elsewhere, as Linux
 * refuses FOLL_FORCE writes to shared mappings): a frame mapped only here
 * (reference count 1) is written in place, one mapped elsewhere too is
 * copied first and the copy replaces it, read-only still (Linux's
 * FOLL_FORCE copy-on-write).  MMK_ENOMEM if a page or copy could not be
 * had (bytes before it copied).  MMK_EINVAL: @buf NULL with @len > 0.
 * Shared lock.
 */
int mmk_aspace_access_forced(struct mmk_aspace *as, mmk_vaddr_t va, void *buf,
			     size_t len, bool write);

/** Options of mmk_aspace_move. */
#define MMK_ASPACE_MOVE_KEEP 0x1u /* the old range stays, emptied */

/**
 * mremap's move: [from, from + size), which must lie inside one area
 * (MMK_ENOENT otherwise), becomes an area at [to, to + size) with the same
 * backend, protection, private data and an offset continuing the old one
 * (as Linux's vm_pgoff), and its page-table entries move there: the frames
 * stay, nothing is copied.  The destination must be free (MMK_EEXIST;
 * unmap it first for MREMAP_FIXED) and must not overlap the source
 * (MMK_EINVAL, as are unknown @opts); either range failing the checks of
 * mmk_aspace_unmap gives MMK_EWRAP, MMK_EALIGN or MMK_ERANGE.  The old
 * range is then removed, or with MMK_ASPACE_MOVE_KEEP stays as it was,
 * without pages (MREMAP_DONTUNMAP: it faults fresh zero pages).  Only
 * backends that own their frames (private memory) move (MMK_ENOTSUP), and
 * to - from must be a multiple of the area's page size (MMK_EALIGN).  All
 * or nothing (MMK_ENOMEM).  One flush, of the old range.  Entries move one
 * leaf at a time (runs of contiguous leaves in one call); moving whole
 * leaf tables when both ranges are aligned to a table's span is not done
 * yet.  Exclusive.
 */
int mmk_aspace_move(struct mmk_aspace *as, mmk_vaddr_t from, uint64_t size,
		    mmk_vaddr_t to, unsigned opts);

/**
 * madvise(MADV_DONTNEED): drop the pages of every area part in the range
 * (holes are skipped), keeping the areas; private pages read back as
 * zeros afterwards.  Frames go back after the flush.  Errors, nothing
 * changed: the range checks of mmk_aspace_unmap (MMK_EWRAP, MMK_EALIGN,
 * MMK_ERANGE), MMK_ENOMEM if a huge page straddling an edge cannot be
 * cut.  Exclusive.
 */
int mmk_aspace_zap(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size);

/**
 * mmk_pt_walk over [start, start + size) under the space's shared lock
 * (mincore: which pages are there).  @fn must not call into @as.  Returns
 * 0, what @fn stopped with, or errors as mmk_pt_walk (MMK_EWRAP,
 * MMK_ENONCANON, MMK_ERANGE).
 */
int mmk_aspace_walk_pages(struct mmk_aspace *as, mmk_vaddr_t start,
			  uint64_t size, mmk_pt_walk_fn fn, void *ctx);

/**
 * As mmk_aspace_find_free_area, top down: the highest free range of @size
 * bytes aligned to @align ending at or below @hint, inside [lo, hi)
 * clipped to the space (Linux's top-down mmap placement below mmap_base).
 * Errors as mmk_aspace_find_free_area (MMK_EALIGN, MMK_EWRAP, MMK_ENOMEM).
 */
int mmk_aspace_find_free_area_down(struct mmk_aspace *as, mmk_vaddr_t hint,
				   uint64_t size, mmk_vaddr_t lo,
				   mmk_vaddr_t hi, uint64_t align,
				   mmk_vaddr_t *out);

/* --------------------------------------------- access and faults */
/**
 * copy_from_user / copy_to_user: copy @len bytes at @va of the space into
 * @buf (read) or from @buf into the space (write), through the page table
 * (phys_to_virt of each page), faulting lazily mapped pages in (and
 * copy-on-write pages, for write).  Every byte must lie in an area with
 * USER whose pages give READ (read) / WRITE (write): else MMK_EFAULT,
 * copying nothing.  MMK_ENOMEM if a page could not be faulted in, and
 * MMK_EFAULT if its backend refused it (bytes before it may have been
 * copied).  @len 0 succeeds.  Shared lock.
 */
int mmk_aspace_read(struct mmk_aspace *as, mmk_vaddr_t va, void *buf,
		    size_t len);
int mmk_aspace_write(struct mmk_aspace *as, mmk_vaddr_t va, const void *buf,
		     size_t len);

/**
 * The kernel's own access to a space's memory (its own areas, a kernel
 * space, or a user space's kernel-only areas): as mmk_aspace_read/write
 * but USER is not required (READ / WRITE still are).  Errors as
 * mmk_aspace_read.
 */
int mmk_aspace_read_kernel(struct mmk_aspace *as, mmk_vaddr_t va, void *buf,
			   size_t len);
int mmk_aspace_write_kernel(struct mmk_aspace *as, mmk_vaddr_t va,
			    const void *buf, size_t len);

/**
 * strncpy_from_user: copy the NUL-terminated string at @va into @buf (at
 * most @size bytes, the NUL included) and set *@len to its length.  Pages
 * are checked (USER, READ) and faulted in only as the copy reaches them.
 * MMK_ERANGE if no NUL lies within @size bytes (@buf then holds them),
 * MMK_EFAULT at a byte outside such areas (or past the top of the address
 * space), MMK_ENOMEM, MMK_EINVAL for a NULL @buf / @len or @size 0.
 */
int mmk_aspace_read_string(struct mmk_aspace *as, mmk_vaddr_t va, char *buf,
			   size_t size, size_t *len);

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
 * or with bits outside MMK_PT_RWX, MMK_ERANGE where the page lies past the
 * end of the shared object or file behind the area (Linux's SIGBUS; the
 * pager's own errors pass through too).  Shared lock.
 */
int mmk_aspace_fault(struct mmk_aspace *as, mmk_vaddr_t addr, uint32_t access);

/** ArceOS's handle_page_fault: mmk_aspace_fault(...) == 0. */
bool mmk_aspace_handle_page_fault(struct mmk_aspace *as, mmk_vaddr_t addr,
				  uint32_t access);

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_ASPACE_H */
