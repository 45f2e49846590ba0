/* SPDX-License-Identifier: MIT */
/*
 * mmkit — objects: slab caches and kmalloc over the buddy frame allocator.
 *
 * A slab cache hands out objects of one size.  Its memory comes in slabs:
 * naturally aligned buddy blocks (64 KiB for every object up to 8 KiB), each
 * with a small header at its end, so the slab of an object is found in O(1)
 * by rounding the address.  A bitmap in the slab says which objects are free
 * (the objects themselves are never written by the allocator in the normal
 * build).
 *
 * Every CPU keeps a magazine (an array of free object pointers) per cache:
 * alloc pops, free pushes, with interrupts disabled and no lock or atomic
 * instruction.  The cache lock is taken only to refill an empty magazine,
 * drain a full one, or give one back when mmk_slab_shrink on another CPU
 * asked for it.  An object may be freed on any CPU, whichever one
 * allocated it.
 *
 * kmalloc is a set of caches for size classes from 8 B to 8 KiB (powers of
 * two and the midpoints between them); anything larger is a buddy block.
 * mmk_kfree needs no size.
 *
 * Debug mode (build with MMK_CFG_SLAB_DEBUG=1): each object gets a red zone
 * and a trailer with its state, freed objects are poisoned; an overrun, a
 * write after free and a double free are reported through mmk_log at
 * MMK_LOG_ERROR, naming the cache and the object.  In the normal build a
 * double free is still reported when it is cheap to see: the object is the
 * last one freed on this CPU, or it reaches its slab (bit already set).
 *
 * Contexts: every function may be called with interrupts disabled and other
 * mmkit locks held (never a slab cache's own lock); none sleeps.
 */
#ifndef MMKIT_SLAB_H
#define MMKIT_SLAB_H

#include <mmkit/frame.h>

#ifdef __cplusplus
extern "C" {
#endif

/* MMK_CFG_SLAB_DEBUG (0) and MMK_CFG_SLAB_MAG (64: words of a CPU's magazine,
 * up to 62 objects per cache, for objects up to 1 KiB) are set in config.h. */

/** Largest kmalloc size class; larger requests are buddy blocks. */
#define MMK_KMALLOC_MAX_CLASS 8192
/** Largest object a slab cache accepts. */
#define MMK_SLAB_MAX_OBJ (512 * 1024)

struct mmk_slab_cache;

/**
 * Create a cache of objects of @size bytes aligned to @align (a power of
 * two up to 4096; 0 means 8) in virtual addresses, carving slabs from @fa.
 * @name (copied, up to 23 characters kept) appears in reports.  @ctor, if not
 * NULL, is called once on each object when its slab is made, not at every
 * allocation: the caller must free objects in their constructed state
 * (Bonwick's rule).  It runs with the cache lock held and must not call the
 * slab allocator. Returns NULL if the arguments are bad, if virtual addresses
 * do not keep the page offsets of physical ones (mmk_hal_pv_offset not
 * page-aligned), or if the descriptor's frames cannot be allocated.
 */
struct mmk_slab_cache *mmk_slab_create(struct mmk_frames *fa, const char *name,
				       size_t size, size_t align,
				       void (*ctor)(void *obj));

/**
 * Destroy @c.  The caller guarantees no other CPU uses @c any more.  Every
 * magazine is drained first.  If objects are still live, each one (up to
 * 16) and their count are reported at MMK_LOG_ERROR and the cache is left
 * intact and usable: MMK_EBUSY.  Otherwise every frame goes back: MMK_OK.
 */
int mmk_slab_destroy(struct mmk_slab_cache *c);

/** An object of @c, or NULL when out of memory (the cache stays intact). */
void *mmk_slab_alloc(struct mmk_slab_cache *c);

/**
 * Give back @p, which mmk_slab_alloc(@c) returned (NULL is ignored).  A
 * pointer that is not an object of @c, or a double free that is caught, is
 * reported and otherwise ignored.
 */
void mmk_slab_free(struct mmk_slab_cache *c, void *p);

/**
 * Give memory back under pressure; any CPU, at any time, also while other
 * CPUs allocate from and free to @c.  The calling CPU's magazine of @c is
 * drained at once and every empty slab goes back to the frame allocator.
 * Every other CPU's magazine is asked back: that CPU's next call on @c
 * (alloc or free) drains it whole and releases every empty slab again, in
 * its slow path, and that call caches nothing (a free goes straight to the
 * slab).  The fast paths pay nothing for this: they compare against bounds
 * the request closes.  A CPU that does not call into @c keeps its magazine
 * until it does; to have everything back at once, run mmk_slab_shrink on
 * every CPU (as Linux's flush_all does), e.g. from the kernel's IPI or
 * per-CPU work, then once more anywhere.
 */
void mmk_slab_shrink(struct mmk_slab_cache *c);

struct mmk_slab_stats {
	size_t obj_size;   /* as created */
	size_t stride;	   /* bytes between objects (red zone included) */
	size_t slab_bytes; /* size of one slab */
	size_t objs_per_slab;
	size_t slabs;	    /* slabs held (full, partial and empty) */
	size_t live;	    /* objects neither free in a slab nor cached */
	size_t cached;	    /* objects in CPU magazines */
	size_t frame_bytes; /* slabs plus the descriptor */
};

/** Counters of @c.  Exact only while no other CPU uses @c. */
void mmk_slab_stats(struct mmk_slab_cache *c, struct mmk_slab_stats *st);

/**
 * Check @c's invariants (lists, bitmaps, counts).  MMK_OK or MMK_EINVAL,
 * logging the first violation.  Only while no other CPU uses @c.
 */
int mmk_slab_check(struct mmk_slab_cache *c);

/** The cache's name as given to mmk_slab_create. */
const char *mmk_slab_name(const struct mmk_slab_cache *c);

/* ---------------------------------------------------------------- kmalloc */

/**
 * Set up the kmalloc caches over @fa.  Must run before any other mmk_k*
 * call.  MMK_ENOMEM (nothing kept) if the descriptors cannot be allocated,
 * MMK_EBUSY if already set up, MMK_EINVAL (nothing kept) if virtual
 * addresses do not keep the page offsets of physical ones
 * (mmk_hal_pv_offset not a multiple of the page size): no alignment could
 * be promised then.
 */
int mmk_kmalloc_init(struct mmk_frames *fa);

/** mmk_slab_shrink on every kmalloc cache (nothing if not set up). */
void mmk_kmalloc_shrink(void);

/**
 * Tear kmalloc down (no other CPU may use it).  Reports leaked objects as
 * mmk_slab_destroy does and then returns MMK_EBUSY with kmalloc still set
 * up; MMK_OK once everything went back to the frame allocator.
 */
int mmk_kmalloc_fini(void);

/**
 * @size bytes aligned to 8 (to 16 from 16 bytes up, and to the largest power
 * of two dividing the size class), or NULL: out of memory, or @size 0.
 * Contents are undefined.
 */
void *mmk_kmalloc(size_t size);

/** As mmk_kmalloc, zero-filled. */
void *mmk_kzalloc(size_t size);

/**
 * @size bytes aligned to @align (a power of two) in virtual addresses, or
 * NULL on a bad @align, @size 0 or out of memory.  Alignments up to a page
 * always hold (kmalloc starts only if mmk_hal_pv_offset is page-aligned);
 * larger ones hold when mmk_hal_pv_offset is a multiple of them (NULL if
 * not).  Freed with mmk_kfree.
 */
void *mmk_kmalloc_aligned(size_t size, size_t align);

/** Free what mmk_kmalloc* returned; NULL is ignored; bad frees reported. */
void mmk_kfree(void *p);

/**
 * Bytes usable at @p (at least what was asked for), 0 for NULL or a
 * pointer kmalloc did not return.  In debug mode: exactly what was asked.
 */
size_t mmk_ksize(const void *p);

/** The kmalloc cache serving @size (NULL if served by the buddy). */
struct mmk_slab_cache *mmk_kmalloc_cache(size_t size);

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_SLAB_H */
