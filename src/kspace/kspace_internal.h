/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the files of src/kspace: the one kernel space, its
 * mapper lock and the per-CPU reserve of table pages.
 *
 * Lock order: the mapper (ks.lock, interrupts off) > the kernel aspace's
 * own lock (taken by every mmk_aspace_* call) > a CPU's reserve lock >
 * the frame allocator.  Nothing in this layer calls up.
 */
#ifndef MMK_KSPACE_INTERNAL_H
#define MMK_KSPACE_INTERNAL_H

#include <mmkit/backend.h>
#include <mmkit/kspace.h>
#include <mmkit/log.h>

/* One CPU's reserve: pre-zeroed table blocks, a stack. */
struct mmk__kspace_pool {
	mmk_spinlock_t lock; /* its CPU, or anyone trimming it */
	unsigned n;
	uint64_t pa[MMK_CFG_KSPACE_RESERVE];
} __attribute__((aligned(64)));

struct mmk__kspace {
	bool up;
	bool shared;	     /* user tables copy the kernel's root slots */
	unsigned user_opts;  /* pt options of user tables */
	mmk_vaddr_t kbase;   /* start of the kernel half */
	uint64_t page_size;  /* the format's base page */
	uint64_t low_end;    /* end of the user half */
	uint64_t leaf_sizes; /* page sizes the format has (bit n: 2^n) */
	struct mmk_kspace_config cfg; /* regions and sections not kept */
	struct mmk_aspace as;

	/* the mapper: a ticket lock and who holds it (cpu + 1, 0: nobody) */
	mmk_spinlock_t lock;
	MMK_ATOMIC(unsigned) owner;
	uint32_t hold_seq;	  /* bumped by every exclusive hold */
	unsigned long hold_flush; /* handles of this hold still pending */
	MMK_ATOMIC(unsigned long) pending; /* every unresolved handle */
	long users;			   /* live user spaces */

	/* the reserve of table pages */
	unsigned reserve; /* target per CPU */
	unsigned pool_order;
	struct mmk_pt_page_source src;
	struct mmk__kspace_pool pool[MMK_CFG_MAX_CPUS];
};

extern struct mmk__kspace mmk__ks;

/* Reserve (pool.c). */
void mmk__kspace_pool_setup(void);
/* Fill the calling CPU's reserve; interrupts in any state, no lock held. */
void mmk__kspace_pool_refill(void);
/* Free every CPU's reserve down to @keep pages. */
void mmk__kspace_pool_trim(unsigned keep);

/*
 * Take the mapper for a changing call: MMK_ENOENT before init, MMK_EBUSY
 * (and nothing held) on a CPU that holds it already.
 */
int mmk__kspace_begin(struct mmk_kmapper *m);

/* The kernel space's page flags for @flags: GLOBAL added, a memory type
 * the format lacks dropped under mt_fallback.  MMK_EINVAL for W+X, no
 * access or unknown bits. */
int mmk__kspace_flags(uint32_t flags, uint32_t *out);

/* Largest leaf size of the format that @pa's alignment and @len allow. */
uint64_t mmk__kspace_align_for(mmk_paddr_t pa, uint64_t len);

/* Unmap [start, end) whole areas (+ guard) of the kernel space: the
 * areas are entire, so nothing is cut and it cannot fail. */
void mmk__kspace_unmap_whole(mmk_vaddr_t start, mmk_vaddr_t end);

/*
 * Find room for @len bytes and a guard page in [lo, lo + size), aligned to
 * @align where the window allows it (else to the base page), and map it
 * with @b (@offset, @priv) and the guard.  Mapper held.  On error nothing
 * is mapped and @priv stays the caller's: MMK_ENOMEM (no room, or out of
 * memory), errors of mmk_aspace_map.
 */
int mmk__kspace_place(mmk_vaddr_t lo, uint64_t size, uint64_t len,
		      uint64_t align, uint32_t flags,
		      const struct mmk_backend *b, uint64_t offset, void *priv,
		      mmk_vaddr_t *out);

#endif /* MMK_KSPACE_INTERNAL_H */
