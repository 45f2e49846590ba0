/* SPDX-License-Identifier: MIT */
/*
 * mmkit — file-backed memory through a pager the kernel implements.
 *
 * The kernel keeps its files' page cache; mmkit maps its pages.  A file
 * the kernel lets mmkit map is a struct mmk_file (embed it in the inode
 * or whatever holds the cache, and find the container again in the ops)
 * with an ops table:
 *
 *   op          called from                         space lock   may fail
 *   get_page    a fault (and fault-around's probe); shared,      yes
 *               populate; unmap of a private         exclusive
 *               mapping (probe)
 *   set_dirty   a write fault on a shared mapping;  shared,      yes
 *               sync and unmap, for pages mapped     exclusive
 *               writable
 *   writeback   sync, unmap of a shared mapping     exclusive    yes
 *   release     the file's last reference went      any          no
 *
 * All of them run with a space's lock held and must not sleep on it: a
 * pager that must wait for I/O fails the call (the fault returns its
 * error; the kernel waits and faults again).
 *
 * Frame references.  get_page gives the caller a reference of its own on
 * the frame holding the page (the cache keeps its own): a leaf mapping a
 * cache page holds exactly one, put when it is unmapped, as for every
 * MMK_BACKEND_OWNS_FRAMES backend.  The pager must keep a page in its
 * cache while mmkit maps it (its count is above one then): mmkit relies
 * on the cache's reference when it unmaps.  A file page is one base page
 * of the spaces that map it (page_shift) from their frame allocator
 * (frames).
 *
 * Private mappings (mmk_backend_file_private) map cache pages read-only;
 * the first write copies the page into a frame of the space's own (copy
 * on write, as after a fork), so the file never changes.  Shared mappings
 * (mmk_backend_file_shared) map them read-only too until the first write,
 * which calls set_dirty and then makes the page writable (Linux's
 * page_mkwrite): the pager learns of every page written.  mmk_aspace_sync
 * and unmap call writeback for their range; sync first write-protects
 * the pages mapped writable in that space, so the next write is seen.
 * Pages written through another space are written back by that space's
 * sync or unmap (mmkit keeps no reverse map to write-protect them here).
 *
 * Fault-around: a read fault also maps the pages of its aligned window of
 * @around pages (inside the area) that are already in the cache
 * (get_page with MMK_PAGER_CACHED) and not mapped yet, read-only: a
 * sequential reader takes one fault per window instead of one per page.
 * Not on formats whose TLB may cache invalid entries
 * (mmk_pt_map_needs_flush: loongarch64), where each would cost a flush.
 */
#ifndef MMKIT_PAGER_H
#define MMKIT_PAGER_H

#include <mmkit/backend.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mmk_file;

/** get_page flags. */
#define MMK_PAGER_CACHED 0x1u /* only a page in memory now: else MMK_ENOENT */

/** The fault-around window (pages) mmk_file_init gives, and the most. */
#define MMK_FILE_AROUND_DEFAULT 16u
#define MMK_FILE_AROUND_MAX	16u

struct mmk_pager_ops {
	/**
	 * Put in *@pa the frame holding page @index of @file (page_shift
	 * bytes at index << page_shift), with a new reference for mmkit.
	 * With MMK_PAGER_CACHED only a page in memory now, no I/O: else
	 * MMK_ENOENT.  Errors (negative, e.g. MMK_ENOMEM, or past the end of
	 * the file) are returned by the fault that asked.
	 */
	int (*get_page)(struct mmk_file *file, uint64_t index, unsigned flags,
			mmk_paddr_t *pa);
	/**
	 * Page @index (from get_page) is being written through a shared
	 * mapping: remember it dirty.  An error fails the write fault
	 * (nothing changed); from sync and unmap (re-marking pages mapped
	 * writable) it is ignored.  Called before the page is made
	 * writable: a write fault that then fails (MMK_ENOMEM for a table
	 * page) leaves the page dirty but unwritten, which costs one
	 * needless write-back and nothing else.
	 */
	int (*set_dirty)(struct mmk_file *file, uint64_t index);
	/**
	 * Write back the dirty pages among [first, first + count) and mark
	 * them clean.  An error goes back to mmk_aspace_sync; unmap ignores
	 * it (the pages stay dirty with the pager).
	 */
	int (*writeback)(struct mmk_file *file, uint64_t first, uint64_t count);
	/** The last reference to @file went (mmk_file_put).  May be NULL. */
	void (*release)(struct mmk_file *file);
};

/**
 * A file mmkit may map.  The kernel fills it with mmk_file_init; only
 * @around may be changed later (fault-around window in pages, a power of
 * two up to MMK_FILE_AROUND_MAX; 0 or 1: off), before the file is mapped.
 */
struct mmk_file {
	const struct mmk_pager_ops *ops;
	struct mmk_frames *frames; /* the cache's frames: the spaces' too */
	unsigned page_shift;	   /* page size of the file's cache */
	unsigned around;	   /* fault-around window, pages */
	MMK_ATOMIC(long) refs;	   /* the kernel's, one per area */
};

/** Fill @file with one reference (the kernel's).  Cannot fail. */
void mmk_file_init(struct mmk_file *file, const struct mmk_pager_ops *ops,
		   struct mmk_frames *frames, unsigned page_shift);

/** One more reference on @file. */
void mmk_file_get(struct mmk_file *file);

/** Drop one; the last calls ops->release. */
void mmk_file_put(struct mmk_file *file);

/** mmk_aspace_map_file flags. */
#define MMK_MAP_FILE_SHARED 0x1u /* writes reach the file (MAP_SHARED) */

/**
 * Map [start, start + size) of @as to the file bytes [offset, offset +
 * size) of @file with protection @prot: shared (writes reach the file on
 * sync and unmap) with MMK_MAP_FILE_SHARED, else private (copy on write).
 * The area takes a reference on @file.  Pages come on faults, or all at
 * once with mmk_aspace_populate (read in, mapped read-only).  Errors:
 * MMK_EWRAP, MMK_EALIGN (@offset too), MMK_ERANGE, MMK_EINVAL (@file
 * NULL, unknown @flags, another frame allocator or page size than @as, or
 * bad @prot), MMK_ENOTSUP (a memory type the format cannot map),
 * MMK_EEXIST, MMK_ENOMEM; nothing changed then.  Exclusive.
 */
int mmk_aspace_map_file(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
			uint32_t prot, struct mmk_file *file, uint64_t offset,
			unsigned flags);

/** The file backends (priv: the struct mmk_file; offset: in the file). */
extern const struct mmk_backend mmk_backend_file_private;
extern const struct mmk_backend mmk_backend_file_shared;

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_PAGER_H */
