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
 * objects aligned to that stride, physically and, since the virtual address
 * of memory differs from its physical one by a multiple of the page size
 * (checked at create), virtually for strides up to a page.  The header sits in
 * the last 40 bytes, so rounding an object's address up to the slab size finds
 * it: O(1), with no search and no frame-metadata lookup.  A bitmap of up to
 * three words (objects of 512 bytes and more) shares the header's cache line,
 * so a drain touches one line per slab.  Bit i of the bitmap is set while
 * object i is free in the slab (objects sitting in a CPU magazine count as
 * allocated there).
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

#include <stdatomic.h>

#define MMK__SLAB_MAGIC	    ((uintptr_t)0x5ab1e5ab1e5ab1e5ull)
#define MMK__SLAB_HDR	    40u /* sizeof(struct mmk__slab) */
#define MMK__SLAB_ORDER	    4u	/* 64 KiB: every kmalloc slab */
#define MMK__SLAB_MAX_ORDER 10u
#define MMK__SLAB_RESERVE   1u /* empty slabs a cache keeps */
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

/*
 * One CPU's cache of free objects: a stack in slot[1..n], popped and pushed
 * at n by its CPU only, interrupts off, no lock and no atomic instruction.
 * slot[0] stays NULL, so "is @p the last object freed here" needs no n == 0
 * test.
 *
 * lo and hi are the fast paths' bounds: alloc pops while n > lo, free pushes
 * while n < hi.  Normally lo = 0 and hi = the cache's capacity.  Another
 * CPU asks for this magazine back (mmk_slab_shrink) by setting lo to
 * MMK__MAG_DRAIN and hi to 0, under the cache lock: both fast paths then
 * fail, and the owner's next call on the cache drains the whole magazine
 * and every empty slab in its slow path, and restores the bounds, also
 * under the cache lock.  The request therefore costs the fast paths
 * nothing: they compare n with a bound either way.  Only lo and hi are
 * ever written by another CPU, and only they are atomic.
 */
#define MMK__MAG_DRAIN UINT16_MAX
#define MMK__MAG_CAP   (MMK_CFG_SLAB_MAG - 2)
struct mmk__mag {
	uint32_t n;
	_Atomic uint16_t lo, hi;
	void *slot[MMK__MAG_CAP + 1];
} __attribute__((aligned(64)));

/* MMK_CFG_SLAB_MAG words: with a power of two, c->mag[cpu] is one shift. */
_Static_assert(sizeof(struct mmk__mag) == MMK_CFG_SLAB_MAG * 8 ||
		       MMK_CFG_SLAB_MAG % 8 != 0,
	       "magazine of MMK_CFG_SLAB_MAG words");
_Static_assert(MMK_CFG_SLAB_MAG >= 8 && MMK_CFG_SLAB_MAG < 65536,
	       "MMK_CFG_SLAB_MAG out of range");

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
	uint32_t cap;	 /* magazine capacity (<= MMK__MAG_CAP) */
	uint32_t batch;	 /* objects moved per refill / drain */
	uint32_t order;	 /* slab = 2^order frames */
	uint32_t desc_order;
	uintptr_t slab_mask; /* slab bytes - 1 */
	uint64_t inv;	     /* (stride >> shift)^-1 mod 2^64: see index */
	uint64_t km_nobj;    /* nobj for 64 KiB slabs (kfree's check), else 0 */
	uint32_t shift;	     /* trailing zero bits of stride */
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

/*
 * Index of the object at offset @off of a slab of @c, or a number >= nobj
 * if @off is not an object boundary: one multiply and one rotate check
 * both.  With stride = d << shift, d odd and inv = d^-1 mod 2^64, a
 * multiple q * stride maps to q; any other offset either keeps low bits
 * that the rotate moves to the top, or maps to more than 2^64 / stride
 * (multiplying by inv permutes the integers mod 2^(64 - shift) and sends
 * the multiples of d to the smallest values).  Granlund and Montgomery's
 * divisibility test.
 */
static inline uint64_t mmk__slab_index(const struct mmk_slab_cache *c,
				       uintptr_t off)
{
	uint64_t x = (uint64_t)off * c->inv;
	return (x >> c->shift) | (x << ((64 - c->shift) & 63));
}

/* Slow paths of the magazine (slab.c); each restores @irq. */
void *mmk__mag_alloc_slow(struct mmk_slab_cache *c, struct mmk__mag *m,
			  unsigned long irq, size_t req);
void mmk__mag_free_slow(struct mmk_slab_cache *c, struct mmk__mag *m,
			unsigned long irq, void *p);
void mmk__slab_report(const struct mmk_slab_cache *c, const char *what,
		      const void *p);
#if MMK_CFG_SLAB_DEBUG
void mmk__slab_dbg_alloc(const struct mmk_slab_cache *c, void *p, size_t req);
bool mmk__slab_dbg_free(const struct mmk_slab_cache *c, void *p);
#endif

/*
 * The calling CPU's magazine of @c (interrupts off).  The empty asm keeps
 * the address in one register: without it GCC rebuilds it from c and the
 * CPU id for every field, several instructions each time.
 */
static inline struct mmk__mag *mmk__mag_of(struct mmk_slab_cache *c)
{
	struct mmk__mag *m = &c->mag[(uintptr_t)mmk_hal_cpu_id()];
	__asm__("" : "+r"(m));
	return m;
}

/*
 * The fast paths, inline so that kmalloc and the cache API both compile to
 * one function around the HAL's CPU and interrupt hooks.  Everything else
 * is a tail call into slab.c, so the fast path needs no saved registers.
 *
 * Allocate from @c for a request of @req bytes (req <= c->size): pop the
 * CPU's magazine, or refill it from the slabs (or hand it back, asked to).
 */
static inline void *mmk__slab_alloc_req(struct mmk_slab_cache *c, size_t req)
{
	unsigned long irq = mmk_hal_irq_save();
	struct mmk__mag *m = mmk__mag_of(c);
	uint32_t n = m->n;
	if (MMK_UNLIKELY(n <=
			 atomic_load_explicit(&m->lo, memory_order_relaxed)))
		return mmk__mag_alloc_slow(c, m, irq, req);
	void *p = m->slot[n];
	m->n = n - 1;
	mmk_hal_irq_restore(irq);
#if MMK_CFG_SLAB_DEBUG
	mmk__slab_dbg_alloc(c, p, req);
#else
	(void)req;
#endif
	return p;
}

/*
 * Free @p, already checked to be an object boundary in a slab of @c: push
 * it on the CPU's magazine (the slow path drains the oldest half of a full
 * one first).  The cheap double-free check: @p is the last object freed on
 * this CPU (slot[n]; slot[0] is NULL).
 */
static inline void mmk__slab_free_obj(struct mmk_slab_cache *c, void *p)
{
#if MMK_CFG_SLAB_DEBUG
	if (!mmk__slab_dbg_free(c, p))
		return;
#endif
	unsigned long irq = mmk_hal_irq_save();
	struct mmk__mag *m = mmk__mag_of(c);
	uint32_t n = m->n;
	if (MMK_UNLIKELY(
		    n >= atomic_load_explicit(&m->hi, memory_order_relaxed) ||
		    m->slot[n] == p)) {
		mmk__mag_free_slow(c, m, irq, p);
		return;
	}
	m->slot[n + 1] = p;
	m->n = n + 1;
	mmk_hal_irq_restore(irq);
}

/* Usable bytes of the live object @p of @c. */
size_t mmk__slab_usable(const struct mmk_slab_cache *c, const void *p);
/* Drain every magazine of @c (CPUs quiescent); objects still live. */
size_t mmk__slab_drain_live(struct mmk_slab_cache *c);
/* mmk_slab_create, saying why it failed (MMK_EINVAL or MMK_ENOMEM). */
struct mmk_slab_cache *mmk__slab_create(struct mmk_frames *fa, const char *name,
					size_t size, size_t align,
					void (*ctor)(void *obj), int *err);

#endif /* MMK_SLAB_INTERNAL_H */
