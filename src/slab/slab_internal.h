/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the files of src/slab: the cache descriptor, the slab
 * header and the layout of a slab.
 *
 * A slab is one naturally aligned buddy block of 2^order frames:
 *
 *   base                                                base + slab_bytes
 *   |obj 0|obj 1| ... |obj n-1| (slack) |bitmap (n bits)|header, 40 B|
 *
 * Objects start at the block's first byte, so a power-of-two stride gives
 * objects aligned to that stride (virtually too, up to the alignment of the
 * kernel's linear-map offset: at least a page).  The header sits in the last 40
 * bytes, so rounding an object's address up to the slab size finds it: O(1),
 * with no search and no frame-metadata lookup.  A bitmap of up to three
 * words (objects of 512 bytes and more) shares the header's cache line, so
 * a drain touches one line per slab.  Bit i of the bitmap is set
 * while object i is free in the slab (objects sitting in a CPU magazine
 * count as allocated there).
 *
 * In debug mode every object is followed by a red zone and an 8-byte
 * trailer, inside its stride:
 *
 *   p                p+req            p+size             p+stride-8  p+stride
 *   | caller's bytes | red zone (0xbb) ..................| state | req |
 *
 * A free object holds poison (0x6b) in [0, size) unless the cache has a
 * constructor.
 */
#ifndef MMK_SLAB_INTERNAL_H
#define MMK_SLAB_INTERNAL_H

#include <mmkit/log.h>
#include <mmkit/slab.h>

#define MMK__SLAB_MAGIC	    ((uintptr_t)0x5ab1e5ab1e5ab1e5ull)
#define MMK__SLAB_HDR	    40u /* sizeof(struct mmk__slab) */
#define MMK__SLAB_ORDER	    4u	/* 64 KiB: every kmalloc slab */
#define MMK__SLAB_MAX_ORDER 10u
#define MMK__SLAB_RESERVE   1u /* empty slabs a cache keeps */
#define MMK__RECIP_SHIFT    44
/* Frame-metadata priv tags of head frames (slow paths only). */
#define MMK__PRIV_SLAB	0x51ab
#define MMK__PRIV_LARGE 0x1a26

struct mmk__slab {
	uintptr_t check; /* (uintptr_t)this ^ MMK__SLAB_MAGIC while in use */
	struct mmk_slab_cache *cache;
	struct mmk__slab *next, *prev; /* on the cache's list for nfree */
	uint32_t nfree;
	uint32_t hint; /* no set bit in bitmap words below this one */
};

_Static_assert(sizeof(struct mmk__slab) == MMK__SLAB_HDR, "slab header");

/* One CPU's cache of free objects: a stack, popped and pushed at n. */
struct mmk__mag {
	uint32_t n;
	void *obj[MMK_CFG_SLAB_MAG];
} __attribute__((aligned(64)));

struct mmk__slab_list {
	struct mmk__slab *head;
	size_t n;
};

struct mmk_slab_cache {
	/* Set at create, read on every call. */
	uint32_t size;	 /* object size as asked */
	uint32_t stride; /* bytes between objects */
	uint32_t nobj;	 /* objects per slab */
	uint32_t nwords; /* bitmap words per slab */
	uint32_t cap;	 /* magazine capacity (<= MMK_CFG_SLAB_MAG) */
	uint32_t batch;	 /* objects moved per refill / drain */
	uint32_t order;	 /* slab = 2^order frames */
	uint32_t desc_order;
	uintptr_t slab_mask; /* slab bytes - 1 */
	uint64_t recip;	     /* ceil(2^44 / stride): index by multiply */
	size_t align;
	void (*ctor)(void *obj);
	struct mmk_frames *fa;
	char name[24];

	/* Shared: under lock. */
	mmk_spinlock_t lock __attribute__((aligned(64)));
	struct mmk__slab_list partial, full, empty;
	size_t nslabs;

	/* Per CPU: touched only by that CPU, interrupts off. */
	struct mmk__mag mag[MMK_CFG_MAX_CPUS];
};

/*
 * Offset of @a in its slab.  Slabs are buddy blocks, naturally aligned in
 * physical memory; the kernel's linear map may shift them by any multiple
 * of the page size, so the rounding is done on the physical address (with
 * a linear map that is one subtraction more).
 */
static inline uintptr_t mmk__slab_off(uintptr_t a, uintptr_t mask)
{
	return (uintptr_t)mmk_virt_to_phys((const void *)a).v & mask;
}

static inline struct mmk__slab *mmk__slab_of(uintptr_t a, uintptr_t mask)
{
	return (struct mmk__slab *)(a - mmk__slab_off(a, mask) + mask + 1 -
				    MMK__SLAB_HDR);
}

static inline bool mmk__slab_valid(const struct mmk__slab *s)
{
	return s->check == ((uintptr_t)s ^ MMK__SLAB_MAGIC);
}

/* Slow paths of the magazine, interrupts off (slab.c). */
void *mmk__mag_refill(struct mmk_slab_cache *c, struct mmk__mag *m);
void mmk__mag_drain(struct mmk_slab_cache *c, struct mmk__mag *m, uint32_t n);
void mmk__slab_report(const struct mmk_slab_cache *c, const char *what,
		      const void *p);
#if MMK_CFG_SLAB_DEBUG
void mmk__slab_dbg_alloc(const struct mmk_slab_cache *c, void *p, size_t req);
bool mmk__slab_dbg_free(const struct mmk_slab_cache *c, void *p);
#endif

/*
 * The fast paths, inline so that kmalloc and the cache API both compile to
 * one function around three HAL calls.
 *
 * Allocate from @c for a request of @req bytes (req <= c->size): pop the
 * CPU's magazine, or refill it from the slabs.
 */
static inline void *mmk__slab_alloc_req(struct mmk_slab_cache *c, size_t req)
{
	unsigned long irq = mmk_hal_irq_save();
	struct mmk__mag *m = &c->mag[mmk_hal_cpu_id()];
	void *p;
	uint32_t n = m->n;
	if (MMK_LIKELY(n != 0)) {
		p = m->obj[n - 1];
		m->n = n - 1;
	} else {
		p = mmk__mag_refill(c, m);
	}
	mmk_hal_irq_restore(irq);
#if MMK_CFG_SLAB_DEBUG
	if (p)
		mmk__slab_dbg_alloc(c, p, req);
#else
	(void)req;
#endif
	return p;
}

/*
 * Free @p, already checked to be an object boundary in a slab of @c: push
 * it on the CPU's magazine, draining the oldest half first if it is full.
 * The cheap double-free check: @p is the last object freed on this CPU.
 */
static inline void mmk__slab_free_obj(struct mmk_slab_cache *c, void *p)
{
#if MMK_CFG_SLAB_DEBUG
	if (!mmk__slab_dbg_free(c, p))
		return;
#endif
	unsigned long irq = mmk_hal_irq_save();
	struct mmk__mag *m = &c->mag[mmk_hal_cpu_id()];
	uint32_t n = m->n;
	if (MMK_UNLIKELY(n == c->cap || (n != 0 && m->obj[n - 1] == p))) {
		if (n != 0 && m->obj[n - 1] == p) {
			mmk_hal_irq_restore(irq);
			mmk__slab_report(c, "double free", p);
			return;
		}
		mmk__mag_drain(c, m, c->batch);
		n = m->n;
	}
	m->obj[n] = p;
	m->n = n + 1;
	mmk_hal_irq_restore(irq);
}

/* Usable bytes of the live object @p of @c. */
size_t mmk__slab_usable(const struct mmk_slab_cache *c, const void *p);
/* Drain every magazine of @c (CPUs quiescent); objects still live. */
size_t mmk__slab_drain_live(struct mmk_slab_cache *c);

#endif /* MMK_SLAB_INTERNAL_H */
