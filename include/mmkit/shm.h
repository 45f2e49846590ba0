/* SPDX-License-Identifier: MIT */
/*
 * mmkit — shared anonymous memory: an object of zero-filled pages that
 * every space mapping it sees (MAP_SHARED | MAP_ANONYMOUS, System V shm,
 * what fork does with such a mapping).
 *
 *   struct mmk_shm (src/backend/shared.c; opaque)
 *   +-------------------------------------------------------------+
 *   | refs     the creator's, one per area mapping it             |
 *   | slots    page index -> frame, a radix tree of 512-slot      |
 *   |          nodes, filled on the first touch of each page      |
 *   | frames   the allocator its pages come from (= the spaces')  |
 *   +-------------------------------------------------------------+
 *
 * Frame references: the object holds one on each of its pages; every
 * leaf mapping a page holds one more (MMK_BACKEND_OWNS_FRAMES), put when
 * the page is unmapped.  The object and its pages go with its last
 * reference: the creator's (mmk_shm_put) and those of the areas, each of
 * which holds one (a split piece and a fork's copy take their own).
 *
 * A write through one space is seen by every space at once: they all map
 * the same frames, writable where their areas are.
 *
 * Locking: the object has a spinlock of its own for first touches (they
 * run under the spaces' shared locks, from any CPU, in thread context:
 * taken with interrupts as they are); a page already present is found
 * without it.  Lock order: space lock -> object lock -> frame allocator
 * lock.
 */
#ifndef MMKIT_SHM_H
#define MMKIT_SHM_H

#include <mmkit/backend.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mmk_shm;

/**
 * A new object of @size bytes (a multiple of 2^@page_shift, the base page
 * of the spaces that will map it) whose pages come from @frames, with one
 * reference (the caller's).  No page is allocated yet.  MMK_EINVAL (NULL
 * argument, a page_shift below MMK_PAGE_SHIFT or above 30), MMK_EWRAP
 * (size 0), MMK_EALIGN, MMK_ENOMEM.
 */
int mmk_shm_create(struct mmk_frames *frames, uint64_t size,
		   unsigned page_shift, struct mmk_shm **out);

/** Take one more reference on @shm.  Any context. */
void mmk_shm_get(struct mmk_shm *shm);

/** Drop one; the last frees the object and puts its pages.  Not from a
 *  fault hook. */
void mmk_shm_put(struct mmk_shm *shm);

/** The object's size in bytes. */
uint64_t mmk_shm_size(const struct mmk_shm *shm);

/** Pages the object holds now (touched at least once), for tests. */
uint64_t mmk_shm_resident(const struct mmk_shm *shm);

/** References on @shm now, for tests. */
long mmk_shm_refs(const struct mmk_shm *shm);

/** True if the page at byte @offset of @shm is in the object (mincore). */
bool mmk_shm_has_page(const struct mmk_shm *shm, uint64_t offset);

/**
 * madvise(MADV_REMOVE), fallocate(PUNCH_HOLE): the pages of [offset,
 * offset + size) (clipped to the object) leave it; later faults get fresh
 * zeroed pages.  A page no space maps any more is freed (unmap it from
 * the caller's space first, mmk_aspace_zap); one still mapped elsewhere
 * (another space after a fork) is zeroed in place and stays, so every
 * mapping reads zeros, as after Linux's punch (which also unmaps it
 * everywhere).  Errors, nothing changed: MMK_EWRAP, MMK_EALIGN (@offset
 * or @size not a multiple of the object's page).  Any context a fault
 * may run in; not under the object's own lock.
 */
int mmk_shm_punch(struct mmk_shm *shm, uint64_t offset, uint64_t size);

/**
 * Map [start, start + size) of @as to the bytes [offset, offset + size)
 * of @shm with protection @prot (the area takes its own reference).
 * Faults map the object's page, allocating it (zeroed) on its first
 * touch in any space; a fault past the object's end (an area grown
 * past it by mremap) fails with MMK_ERANGE (Linux's SIGBUS)
 * (mmk_aspace_populate leaves these areas as they are: pages come on faults
 * only).  Errors: the range errors of mmk_aspace_map (MMK_EWRAP, MMK_EALIGN --
 * @offset too --), MMK_ERANGE (past the object's end, or outside the space),
 * MMK_EINVAL (@shm NULL, another frame allocator or page size than @as),
 * MMK_EEXIST, MMK_ENOMEM; nothing changed then.  Exclusive.
 */
int mmk_aspace_map_shared(struct mmk_aspace *as, mmk_vaddr_t start,
			  uint64_t size, uint32_t prot, struct mmk_shm *shm,
			  uint64_t offset);

/** The backend of shared anonymous areas (priv: the struct mmk_shm). */
extern const struct mmk_backend mmk_backend_shared;

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_SHM_H */
