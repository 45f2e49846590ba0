/* SPDX-License-Identifier: MIT */
/*
 * mmkit — physical frames.
 *
 * Two allocators, used one after the other at boot:
 *
 *  1. mmk_bootmem, an early bump allocator.  The kernel describes RAM and the
 *     ranges already in use (its image, the device tree, firmware), then
 *     takes memory with mmk_bootmem_alloc before anything else exists (the
 *     first page tables, the frame metadata itself).  Every boot allocation
 *     is recorded as reserved.
 *
 *  2. mmk_frames, a buddy allocator of naturally aligned blocks of 2^order
 *     4 KiB frames, order 0 .. MMK_FRAME_MAX_ORDER (18 = 1 GiB), over up to
 *     MMK_FRAME_MAX_REGIONS regions with holes between them.
 *     mmk_frames_init takes over the boot allocator: it carves its metadata
 *     out of it, then hands every frame that is RAM, not reserved and not
 *     handed out at boot to the buddy lists.
 *
 * Every allocated block carries a reference count (1 on allocation).
 * mmk_frame_get adds a reference (sharing, copy-on-write); mmk_frame_put drops
 * one and frees the block on the last.  mmk_frame_free is a put.
 *
 * Per-frame metadata is 16 bytes (struct mmk_frame, layout below).
 *
 * Locking: one spinlock per allocator for the buddy lists, plus a per-CPU
 * cache of order-0 frames with a lock of its own, which its CPU takes
 * uncontended, so that the common alloc/free of one page touches no shared
 * cache line; another CPU takes it only to drain the cache (memory
 * pressure, mmk_frames_drain_cpu).  After mmk_frames_init, every mmk_frame_*
 * and mmk_frames_* function may be called from any CPU at any time, with
 * interrupts in any state, and none sleeps; the mmk_bootmem_* functions and
 * mmk_frames_init run at boot, on one CPU.
 *
 * Memory pressure: an allocation fails only after it has taken back the
 * frames every CPU's cache holds (docs/PORTING.md, "Memory pressure").
 */
#ifndef MMKIT_FRAME_H
#define MMKIT_FRAME_H

#include <mmkit/lock.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MMK_FRAME_MAX_ORDER    18
#define MMK_FRAME_ORDERS       (MMK_FRAME_MAX_ORDER + 1)
#define MMK_FRAME_MAX_REGIONS  32
#define MMK_BOOTMEM_MAX_RANGES 64
#define MMK_FRAME_PCP_SIZE     64 /* order-0 frames cached per CPU */
#define MMK_FRAME_PCP_BATCH    16 /* moved per refill / drain */

/* ---------------------------------------------------------------- bootmem */

struct mmk_prange {
	uint64_t start, end; /* [start, end), physical */
};

struct mmk_bootmem {
	struct mmk_prange ram[MMK_FRAME_MAX_REGIONS];
	unsigned nram;
	struct mmk_prange resv[MMK_BOOTMEM_MAX_RANGES]; /* kept sorted */
	unsigned nresv;
	bool closed; /* taken over by mmk_frames_init */
};

void mmk_bootmem_init(struct mmk_bootmem *bm);

/**
 * Declare [start, start+size) as RAM.  Ranges must not overlap.  Partial
 * pages at the edges are ignored.  Errors, each leaving @bm unchanged:
 * EWRAP (size zero or start + size wraps), EINVAL (less than one whole
 * page), EEXIST (overlaps a range declared before), ERANGE (already
 * MMK_FRAME_MAX_REGIONS ranges), EBUSY (after mmk_frames_init).
 */
int mmk_bootmem_add_ram(struct mmk_bootmem *bm, mmk_paddr_t start,
			uint64_t size);

/**
 * Mark [start, start+size) as in use, widened to whole pages: never handed
 * out.  May overlap RAM, holes and other reserved ranges.  Errors, each
 * leaving @bm unchanged: EWRAP (size zero or start + size wraps), ENOMEM
 * (the reserved table is full and the range touches none in it), EBUSY
 * (after mmk_frames_init).
 */
int mmk_bootmem_reserve(struct mmk_bootmem *bm, mmk_paddr_t start,
			uint64_t size);

/**
 * Take @size bytes (rounded up to whole pages) aligned to @align (power of
 * two, >= 1; at least a page is used) from free RAM, lowest address first,
 * and record them as reserved.  The memory is not zeroed.  Errors, each
 * leaving @bm unchanged: EWRAP (size zero, or so large that rounding it up
 * wraps), EINVAL (@align not a power of two), ENOMEM (nothing fits, or the
 * reserved table is full), EBUSY (after mmk_frames_init).
 */
int mmk_bootmem_alloc(struct mmk_bootmem *bm, uint64_t size, uint64_t align,
		      mmk_paddr_t *out);

/** Bytes of RAM still free (not reserved) in @bm, page-granular. */
uint64_t mmk_bootmem_free_bytes(const struct mmk_bootmem *bm);

/* ------------------------------------------------------------------ buddy */

/*
 * Per-frame metadata, 16 bytes:
 *
 *   0      4      8      12     13     14     16
 *   +------+------+------+------+------+------+
 *   | ref  | next | prev | order| state| priv |
 *   +------+------+------+------+------+------+
 *
 * ref    reference count of an allocated block (head frame only); 0 if free.
 * next,  free-list links (frame indices within the region) while the block
 * prev   is free; while allocated they belong to the owner (mmk_frame_meta).
 * order  block order, valid in head frames.
 * state  MMK_FS_*: only the head frame of a block carries a state; every
 *        other frame of a block reads MMK_FS_TAIL, so freeing an address
 *        inside a block is detected in O(1).
 * priv   16 bits for the owner of an allocated block (0 on allocation).
 *        While a frame is not allocated the allocator keeps a note there
 *        (whether it was ever handed out: a double free is then told from a
 *        free of a page never handed out, even after a merge).
 */
struct mmk_frame {
	MMK_ATOMIC(uint32_t) ref;
	uint32_t next;
	uint32_t prev;
	uint8_t order;
	uint8_t state;
	uint16_t priv;
};

MMK_STATIC_ASSERT(sizeof(struct mmk_frame) == 16,
		  "frame metadata must stay 16 bytes per 4 KiB frame");

enum mmk_frame_state {
	MMK_FS_TAIL = 0,     /* not the head of any block (or a hole) */
	MMK_FS_FREE = 1,     /* head of a free block on a buddy list */
	MMK_FS_ALLOC = 2,    /* head of an allocated block */
	MMK_FS_CACHED = 3,   /* order-0 frame in a per-CPU cache */
	MMK_FS_RESERVED = 4, /* reserved at boot, never handed out */
};

struct mmk_frame_region {
	uint64_t pfn_base; /* first frame number */
	uint64_t npages;
	struct mmk_frame *meta;
	uint32_t free_head[MMK_FRAME_ORDERS];
	uint32_t nonempty; /* bit k set: free_head[k] is a block */
	uint64_t nfree[MMK_FRAME_ORDERS]; /* free blocks per order */
};

/* A CPU's cache; every field is guarded by @lock (taken through the atomic
 * builtins only: 0 free, 1 held). */
struct mmk_frame_pcp {
	uint32_t lock;
	unsigned count;
	int64_t allocated; /* pages this CPU handed out minus freed */
	uint64_t pa[MMK_FRAME_PCP_SIZE];
} __attribute__((aligned(64)));

struct mmk_frames {
	mmk_spinlock_t lock;
	unsigned nregions;
	struct mmk_frame_region region[MMK_FRAME_MAX_REGIONS];
	uint64_t total_pages;	 /* RAM pages the buddy manages */
	int64_t buddy_allocated; /* pages allocated from the buddy lists */
	struct mmk_frame_pcp pcp[MMK_CFG_MAX_CPUS];
};

/** Allocation flags. */
#define MMK_FRAME_ZERO 0x1u /* zero the block before returning it */

/**
 * Build the buddy allocator from @bm: metadata first (from @bm), then every
 * free page.  @bm is closed afterwards.  Errors, each leaving @bm exactly as
 * it was (metadata already carved for earlier regions is given back; @fa is
 * not usable): EINVAL (@bm has no RAM or was taken over already, or
 * mmk_hal_pv_offset is not page-aligned), ERANGE (a region of 2^32 pages or
 * more), ENOMEM (the metadata does not fit in @bm's free RAM, or its
 * reserved table is full).
 */
int mmk_frames_init(struct mmk_frames *fa, struct mmk_bootmem *bm);

/**
 * Allocate a block of 2^@order frames, naturally aligned, reference count 1.
 * EINVAL for an order above MMK_FRAME_MAX_ORDER or an unknown flag; ENOMEM
 * when no block is free, only after the frames cached by every CPU have
 * been taken back and the lists tried again.
 */
int mmk_frame_alloc(struct mmk_frames *fa, unsigned order, unsigned flags,
		    mmk_paddr_t *out);

/**
 * Drop a reference to the block whose head is @pa; free it on the last.
 * Returns 1 if the block was freed, 0 if references remain, or an error,
 * logged, that changes nothing:
 * EBADFREE (not the head of an allocated block: outside RAM, a hole, a
 * reserved frame, an address inside a block, unaligned, or a free page
 * never handed out), EDOUBLEFREE (already free, also once merged into a
 * larger free block), EREFCOUNT (the count is already zero: a racing put
 * freed the block first).
 */
int mmk_frame_put(struct mmk_frames *fa, mmk_paddr_t pa);

/**
 * The allocating owner's put: MMK_OK (0) whether or not other references
 * remain, or mmk_frame_put's errors.
 */
int mmk_frame_free(struct mmk_frames *fa, mmk_paddr_t pa);

/**
 * Drop a reference to the block at @pa unless it is the last one (the
 * "last sharer?" decision of shared page-table pages, race-free against
 * other puts and gets): 1 if a reference was dropped (others remain), 0 if
 * the caller holds the only one (nothing changed: it owns the block now),
 * or mmk_frame_put's errors.  Never frees.
 */
int mmk_frame_put_unless_last(struct mmk_frames *fa, mmk_paddr_t pa);

/**
 * Add a reference to an allocated block: MMK_OK, EBADFREE or EDOUBLEFREE as
 * mmk_frame_put, EREFCOUNT when the count is zero (a racing last put) or
 * would overflow 32 bits.  Logged; nothing changes on error.
 */
int mmk_frame_get(struct mmk_frames *fa, mmk_paddr_t pa);

/**
 * mmk_frame_get for a reader that found @pa without a lock and may race
 * with its owner's last put (a shared object's page being punched): a
 * block that is free, or whose count is zero, is MMK_EAGAIN, not logged
 * (look again); MMK_EBADFREE (not an allocated block's head, as
 * mmk_frame_put) and MMK_EREFCOUNT (the count would overflow) are logged.
 * Nothing changes on error.  The caller must check afterwards that the
 * block is still the one it looked for: a freed block may have been
 * handed out again.
 */
int mmk_frame_tryget(struct mmk_frames *fa, mmk_paddr_t pa);

/**
 * Reference count of the block whose head is @pa; 0 for any free frame (a
 * free block's head or a page inside one, cached or not); EBADFREE for an
 * address that is neither free nor an allocated block's head (outside RAM,
 * unaligned, reserved, inside an allocated block).
 */
int64_t mmk_frame_refcount(struct mmk_frames *fa, mmk_paddr_t pa);

/** Order of the allocated block whose head is @pa, or EBADFREE or
 *  EDOUBLEFREE as mmk_frame_put (the frame is not allocated). */
int mmk_frame_order(struct mmk_frames *fa, mmk_paddr_t pa);

/**
 * Split the allocated block of 2^@order frames whose head is @pa into
 * 2^(@order - @to) allocated blocks of 2^@to frames, each with the block's
 * reference count (and priv 0; the head keeps its priv), so that each is
 * got, put and freed on its own from then on; freed pieces merge back into
 * larger free blocks as any others do.  For a huge page cut into smaller
 * pages (src/aspace/edit.c, the huge backend): @to 0 gives base pages.
 * All or nothing, and it allocates nothing: EBADFREE / EDOUBLEFREE as
 * mmk_frame_put, EINVAL when the block's order is not @order or @to is
 * above @order; @to == @order is a no-op.  The caller makes sure that no
 * other CPU gets or puts the block during the call (it holds the only
 * reference, or excludes every other holder).
 */
int mmk_frame_split(struct mmk_frames *fa, mmk_paddr_t pa, unsigned order,
		    unsigned to);

/** Metadata of the frame at @pa, NULL if @pa is not in a region. */
struct mmk_frame *mmk_frame_meta(struct mmk_frames *fa, mmk_paddr_t pa);

/**
 * Return the frames CPU @cpu's cache holds to the buddy lists, where they
 * merge into larger blocks.  Safe from any CPU while @cpu runs (it waits at
 * most for one cache operation of @cpu).  Returns how many frames it
 * returned, or EINVAL for @cpu >= MMK_CFG_MAX_CPUS.
 */
int mmk_frames_drain_cpu(struct mmk_frames *fa, unsigned cpu);

/**
 * The reclaim entry for a kernel under memory pressure: return every CPU's
 * cached frames to the buddy lists (mmk_frames_drain_cpu for each CPU in
 * turn) and return how many that was.  mmk_frame_alloc does this itself
 * before it fails; call it to make large blocks whole before a burst of
 * large allocations, or from a low-memory handler.  Safe while other CPUs
 * run.
 */
uint64_t mmk_frames_reclaim(struct mmk_frames *fa);

/** mmk_frames_reclaim without the count.  Safe while other CPUs run. */
void mmk_frames_drain(struct mmk_frames *fa);

struct mmk_frame_stats {
	uint64_t total_pages; /* managed by the buddy allocator */
	uint64_t free_pages;  /* on buddy lists or in per-CPU caches */
	uint64_t allocated_pages;
	uint64_t free_blocks[MMK_FRAME_ORDERS]; /* on buddy lists */
};

void mmk_frames_stats(struct mmk_frames *fa, struct mmk_frame_stats *st);

/**
 * Check the allocator's invariants (lists well formed, states and orders
 * consistent, no two free buddies left uncoalesced, counts add up).
 * Returns MMK_OK or MMK_EINVAL, logging the first violation.  O(pages).
 * Exact only while no other CPU allocates or frees.
 */
int mmk_frames_check(struct mmk_frames *fa);

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_FRAME_H */
