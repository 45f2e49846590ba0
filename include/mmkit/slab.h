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
 * alloc pops, free pushes, with interrupts disabled and no lock.  The cache
 * lock is taken only to refill an empty magazine or drain a full one.  An
 * object may be freed on any CPU, whichever one allocated it.
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

/* MMK_CFG_SLAB_DEBUG (0) and MMK_CFG_SLAB_MAG (64: objects a CPU keeps
 * cached per cache, for objects up to 1 KiB) are set in config.h. */

/** Largest kmalloc size class; larger requests are buddy blocks. */
#define MMK_KMALLOC_MAX_CLASS 8192
/** Largest object a slab cache accepts. */
#define MMK_SLAB_MAX_OBJ (512 * 1024)

struct mmk_slab_cache;

/**
 * Create a cache of objects of @size bytes aligned to @align (a power of
 * two up to 4096; 0 means 8), carving slabs from @fa.  @name (copied, up to
 * 23 characters kept) appears in reports.  @ctor, if not NULL, is called
 * once on each object when its slab is made, not at every allocation: the
 * caller must free objects in their constructed state (Bonwick's rule).  It
 * runs with the cache lock held and must not call the slab allocator.
 * Returns NULL if the arguments are bad or the descriptor's frames cannot
 * be allocated.
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
 * Drain the calling CPU's magazine of @c and release every empty slab.
 * For memory pressure; other CPUs keep their magazines.
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
 * MMK_EBUSY if already set up.
 */
int mmk_kmalloc_init(struct mmk_frames *fa);

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
 * @size bytes aligned to @align (a power of two), or NULL on a bad @align
 * or out of memory.  Alignments up to a page always hold; larger ones hold
 * when the kernel's linear-map offset is a multiple of them (NULL if not).
 * Freed with mmk_kfree.
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
