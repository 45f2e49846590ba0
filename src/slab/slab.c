/* SPDX-License-Identifier: MIT */
/*
 * Slab caches.  Layout and debug format: see slab_internal.h.
 *
 * Three levels, fastest first:
 *
 *  1. The CPU's magazine (struct mmk__mag): alloc pops, free pushes, with
 *     interrupts disabled through the HAL and no lock.  About 20 and 30
 *     instructions (kmalloc, kfree); everything else is a tail call into
 *     the slow paths below, so the fast paths save no registers.  Another
 *     CPU's mmk_slab_shrink closes a magazine's bounds, and its owner gives
 *     it back in the slow path its next call takes.
 *  2. The cache's slabs, under c->lock: a refill takes a batch of objects
 *     from the bitmaps of partial slabs (then empty ones, then a new slab);
 *     a drain puts the oldest batch of a full magazine back into their
 *     slabs' bitmaps.  Slabs move between the full, partial and empty lists
 *     as their free count changes.
 *  3. The frame allocator: a new slab is one buddy block; a slab that
 *     becomes empty beyond MMK__SLAB_RESERVE goes straight back.
 *
 * Lock order: c->lock, then the frame allocator's lock (taken inside
 * mmk_frame_alloc/free); nothing is taken while c->lock is held otherwise.
 */
#include "lib/bits.h"
#include "slab_internal.h"

/* ------------------------------------------------------------ reports */

void mmk__slab_report(const struct mmk_slab_cache *c, const char *what,
		      const void *p)
{
	mmk_log(MMK_LOG_ERROR, "slab %s: %s of object %p", c->name, what, p);
}

/* --------------------------------------------------------- debug mode */

#if MMK_CFG_SLAB_DEBUG
#define POISON	 0x6b
#define REDZONE	 0xbb
#define ST_ALLOC 0xa110c8edu
#define ST_FREE	 0xf4eef4eeu

struct trailer {
	uint32_t state;
	uint32_t req;
};

static struct trailer *trailer_of(const struct mmk_slab_cache *c, const void *p)
{
	return (struct trailer *)((uintptr_t)p + c->stride - 8);
}

/* Offset of the first byte of [from, to) of @p not equal to @v, or -1. */
static long find_not(const void *p, size_t from, size_t to, uint8_t v)
{
	const uint8_t *b = p;
	for (size_t i = from; i < to; i++)
		if (b[i] != v)
			return (long)i;
	return -1;
}

static void dbg_fill_free(const struct mmk_slab_cache *c, void *p)
{
	if (!c->ctor)
		__builtin_memset(p, POISON, c->size);
	__builtin_memset((char *)p + c->size, REDZONE, c->stride - 8 - c->size);
	struct trailer *t = trailer_of(c, p);
	t->state = ST_FREE;
	t->req = c->size;
}

/* On the way out of the allocator: was the free object left alone? */
void mmk__slab_dbg_alloc(const struct mmk_slab_cache *c, void *p, size_t req)
{
	struct trailer *t = trailer_of(c, p);
	long off;
	if (t->state != ST_FREE)
		mmk__slab_report(c, "corrupted trailer (write after free?)", p);
	else if (!c->ctor && (off = find_not(p, 0, c->size, POISON)) >= 0)
		mmk_log(MMK_LOG_ERROR,
			"slab %s: write after free of object %p at offset %ld",
			c->name, p, off);
	else if ((off = find_not(p, c->size, c->stride - 8, REDZONE)) >= 0)
		mmk_log(MMK_LOG_ERROR,
			"slab %s: red zone of free object %p changed at "
			"offset %ld",
			c->name, p, off);
	__builtin_memset((char *)p + req, REDZONE, c->stride - 8 - req);
	t->state = ST_ALLOC;
	t->req = (uint32_t)req;
}

/* On the way in: false if @p must not be freed (already reported). */
bool mmk__slab_dbg_free(const struct mmk_slab_cache *c, void *p)
{
	struct trailer *t = trailer_of(c, p);
	if (t->state == ST_FREE) {
		mmk__slab_report(c, "double free", p);
		return false;
	}
	if (t->state != ST_ALLOC || t->req > c->size) {
		mmk__slab_report(
			c, "free of a corrupted object (trailer overwritten)",
			p);
		return false;
	}
	long off = find_not(p, t->req, c->stride - 8, REDZONE);
	if (off >= 0)
		mmk_log(MMK_LOG_ERROR,
			"slab %s: overrun of object %p (size %u) at offset %ld",
			c->name, p, t->req, off);
	dbg_fill_free(c, p);
	return true;
}
#endif

/* --------------------------------------------------------- slab lists */

static uint64_t *bitmap_of(const struct mmk_slab_cache *c, struct mmk__slab *s)
{
	return (uint64_t *)s - c->nwords;
}

static uintptr_t base_of(const struct mmk_slab_cache *c,
			 const struct mmk__slab *s)
{
	return (uintptr_t)s + MMK__SLAB_HDR - (c->slab_mask + 1);
}

static struct mmk__slab_list *list_for(struct mmk_slab_cache *c, uint32_t nfree)
{
	if (nfree == 0)
		return &c->full;
	return nfree == c->nobj ? &c->empty : &c->partial;
}

static void list_add(struct mmk__slab_list *l, struct mmk__slab *s)
{
	s->prev = NULL;
	s->next = l->head;
	if (l->head)
		l->head->prev = s;
	l->head = s;
	l->n++;
}

static void list_del(struct mmk__slab_list *l, struct mmk__slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		l->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	l->n--;
}

/* @s's free count changed from @old: move it to the list it belongs on. */
static void relist(struct mmk_slab_cache *c, struct mmk__slab *s, uint32_t old)
{
	struct mmk__slab_list *from = list_for(c, old);
	struct mmk__slab_list *to = list_for(c, s->nfree);
	if (from != to) {
		list_del(from, s);
		list_add(to, s);
	}
}

/* ------------------------------------------------------ slab creation */

/* A new slab on the empty list, every object free; NULL if no frames. */
static struct mmk__slab *slab_new(struct mmk_slab_cache *c)
{
	mmk_paddr_t pa;
	if (mmk_frame_alloc(c->fa, c->order, 0, &pa) != MMK_OK)
		return NULL;
	struct mmk_frame *f = mmk_frame_meta(c->fa, pa);
	f->priv = MMK__PRIV_SLAB;
	uintptr_t base = (uintptr_t)mmk_phys_to_virt(pa);
	struct mmk__slab *s = mmk__slab_of(base, c->slab_mask);
	s->check = (uintptr_t)s ^ MMK__SLAB_MAGIC;
	s->cache = c;
	s->nfree = c->nobj;
	s->hint = 0;
	uint64_t *map = bitmap_of(c, s);
	for (uint32_t w = 0; w < c->nwords; w++)
		map[w] = ~(uint64_t)0;
	if (c->nobj % 64)
		map[c->nwords - 1] = ((uint64_t)1 << (c->nobj % 64)) - 1;
	if (c->ctor || MMK_CFG_SLAB_DEBUG) {
		for (uint32_t i = 0; i < c->nobj; i++) {
			void *p = (void *)(base + (uintptr_t)i * c->stride);
			if (c->ctor)
				c->ctor(p);
#if MMK_CFG_SLAB_DEBUG
			dbg_fill_free(c, p);
#endif
		}
	}
	list_add(&c->empty, s);
	c->nslabs++;
	return s;
}

static void slab_release(struct mmk_slab_cache *c, struct mmk__slab *s)
{
	uintptr_t base = base_of(c, s);
	mmk_paddr_t pa = mmk_virt_to_phys((void *)base);
	list_del(&c->empty, s);
	c->nslabs--;
	s->check = 0; /* a late free of one of its objects is then caught */
	mmk_frame_meta(c->fa, pa)->priv = 0;
	int err = mmk_frame_free(c->fa, pa);
	MMK_ASSERT(err == MMK_OK);
}

/* ------------------------------------------------- refill and drain */

/* Take up to @n free objects of @s into @out; returns how many. */
static uint32_t slab_take(struct mmk_slab_cache *c, struct mmk__slab *s,
			  void **out, uint32_t n)
{
	uint64_t *map = bitmap_of(c, s);
	uintptr_t base = base_of(c, s);
	uint32_t got = 0, old = s->nfree;
	uint32_t w = s->hint;
	while (got < n && w < c->nwords) {
		uint64_t bits = map[w];
		while (bits && got < n) {
			/* A run of free objects (a fresh slab is one) goes
			 * out with one store and one add per object. */
			uint32_t lo = (uint32_t)mmk__ctz64(bits);
			uint64_t rest = ~(bits >> lo);
			uint32_t run =
				rest ? (uint32_t)mmk__ctz64(rest) : 64 - lo;
			if (run > n - got)
				run = n - got;
			uintptr_t a =
				base + ((uintptr_t)w * 64 + lo) * c->stride;
			for (uint32_t k = 0; k < run; k++, a += c->stride)
				out[got++] = (void *)a;
			bits &= run + lo < 64 ? ~(((uint64_t)1 << (run + lo)) -
						  ((uint64_t)1 << lo))
					      : ((uint64_t)1 << lo) - 1;
		}
		map[w] = bits;
		if (!bits)
			w++;
	}
	s->hint = w;
	s->nfree -= got;
	if (old == c->nobj || s->nfree == 0) /* was empty / now full */
		relist(c, s, old);
	return got;
}

/* Return object @i of slab @s, at @p, to its slab.  c->lock held. */
static void slab_put(struct mmk_slab_cache *c, struct mmk__slab *s, uint32_t i,
		     void *p)
{
	uint64_t *map = bitmap_of(c, s);
	uint64_t bit = (uint64_t)1 << (i % 64);
	if (map[i / 64] & bit) {
		/* Freed twice, the copies drained apart: drop this one. */
		mmk__slab_report(c, "double free", p);
		return;
	}
	map[i / 64] |= bit;
	if (i / 64 < s->hint)
		s->hint = i / 64;
	uint32_t n = ++s->nfree;
	if (MMK_UNLIKELY(n == 1 || n == c->nobj)) { /* was full / now empty */
		relist(c, s, n - 1);
		if (n == c->nobj && c->empty.n > MMK__SLAB_RESERVE)
			slab_release(c, s);
	}
}

/* Return the object @p (checked) to its slab.  c->lock held. */
static void obj_put(struct mmk_slab_cache *c, void *p)
{
	uintptr_t a = (uintptr_t)p;
	uintptr_t off = mmk__slab_off(a, c->slab_mask);
	slab_put(c, mmk__slab_of(a, c->slab_mask),
		 (uint32_t)mmk__slab_index(c, off), p);
}

/* Return slot[1..n] of @m to their slabs, emptying @m.  c->lock held. */
static void mag_put_all(struct mmk_slab_cache *c, struct mmk__mag *m)
{
	for (uint32_t i = 1; i <= m->n; i++)
		obj_put(c, m->slot[i]);
	m->n = 0;
}

/* Release every empty slab.  c->lock held. */
static void release_empty(struct mmk_slab_cache *c)
{
	while (c->empty.head)
		slab_release(c, c->empty.head);
}

/*
 * Has another CPU asked for @m back?  Either bound tells (the fast path
 * that failed saw one of them; the owner alone resets them), and the
 * answer is given under c->lock, after the asker's critical section.
 */
static bool mag_asked_back(struct mmk__mag *m)
{
	return atomic_load_explicit(&m->lo, memory_order_relaxed) ==
		       MMK__MAG_DRAIN ||
	       atomic_load_explicit(&m->hi, memory_order_relaxed) == 0;
}

/* Bounds of a magazine in use (also to answer a request).  c->lock held. */
static void mag_open(struct mmk_slab_cache *c, struct mmk__mag *m)
{
	atomic_store_explicit(&m->lo, 0, memory_order_relaxed);
	atomic_store_explicit(&m->hi, (uint16_t)c->cap, memory_order_relaxed);
}

/*
 * The owner answers a request for its magazine @m (or empties its own in
 * mmk_slab_shrink): everything back, every empty slab released, bounds
 * restored.  Under c->lock, like the request, so a request made after the
 * drain stays posted.  Interrupts off, c->lock held.
 */
static void mag_give_back(struct mmk_slab_cache *c, struct mmk__mag *m)
{
	mag_put_all(c, m);
	release_empty(c);
	mag_open(c, m);
}

/*
 * Drain the oldest @n objects of @m into their slabs; the newest (likely
 * still in this CPU's cache) stay.  Interrupts off, c->lock not held.
 */
static void mag_drain(struct mmk_slab_cache *c, struct mmk__mag *m, uint32_t n)
{
	struct mmk__slab *slab[MMK__MAG_CAP];
	uint32_t idx[MMK__MAG_CAP];
	void **obj = &m->slot[1];
	/*
	 * Objects freed in a random order sit in slabs all over memory: find
	 * every slab and start every bitmap load (outside the lock) before
	 * waiting for the first.  The headers were just read by the frees.
	 */
	for (uint32_t i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)obj[i];
		uintptr_t off = mmk__slab_off(a, c->slab_mask);
		slab[i] = (struct mmk__slab *)(a - off + c->slab_mask + 1 -
					       MMK__SLAB_HDR);
		idx[i] = (uint32_t)mmk__slab_index(c, off);
		__builtin_prefetch(bitmap_of(c, slab[i]) + idx[i] / 64, 1);
	}
	mmk_spin_lock_noirq(&c->lock);
	for (uint32_t i = 0; i < n; i++)
		slab_put(c, slab[i], idx[i], obj[i]);
	mmk_spin_unlock_noirq(&c->lock);
	__builtin_memmove(&obj[0], &obj[n], (m->n - n) * sizeof(obj[0]));
	m->n -= n;
}

/* One free object from the slabs, or NULL (no frames).  c->lock held. */
static void *take_one(struct mmk_slab_cache *c)
{
	void *p = NULL;
	struct mmk__slab *s = c->partial.head;
	if (!s)
		s = c->empty.head;
	if (!s)
		s = slab_new(c);
	if (s)
		slab_take(c, s, &p, 1);
	return p;
}

/*
 * Fill the empty magazine @m with a batch and pop one object from it, or
 * NULL if not a single object could be had (nothing changed then).
 * c->lock held.  Objects come out of a slab in address order; the magazine
 * hands them out from the top.
 */
static void *mag_refill(struct mmk_slab_cache *c, struct mmk__mag *m)
{
	uint32_t got = 0;
	void **obj = &m->slot[1];
	while (got < c->batch) {
		struct mmk__slab *s = c->partial.head;
		if (!s)
			s = c->empty.head;
		if (!s && !(s = slab_new(c)))
			break;
		got += slab_take(c, s, obj + got, c->batch - got);
	}
	if (!got)
		return NULL;
	m->n = got - 1;
	return obj[got - 1];
}

/*
 * Alloc found n <= lo: the magazine is empty, or another CPU asked for it
 * back (then it is given back and one object comes straight from a slab,
 * so the magazine stays empty until the next allocation).
 */
void *mmk__mag_alloc_slow(struct mmk_slab_cache *c, struct mmk__mag *m,
			  unsigned long irq, size_t req)
{
	void *p;
	mmk_spin_lock_noirq(&c->lock);
	if (mag_asked_back(m)) {
		mag_give_back(c, m);
		p = take_one(c);
	} else {
		p = mag_refill(c, m);
	}
	mmk_spin_unlock_noirq(&c->lock);
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
 * Free found n >= hi or @p on top: a double free, a full magazine (drain
 * its oldest batch, then push), or a request to give it back (then @p goes
 * straight to its slab too).
 */
void mmk__mag_free_slow(struct mmk_slab_cache *c, struct mmk__mag *m,
			unsigned long irq, void *p)
{
	uint32_t n = m->n;
	if (m->slot[n] == p) {
		mmk_hal_irq_restore(irq);
		mmk__slab_report(c, "double free", p);
		return;
	}
	if (mag_asked_back(m)) {
		mmk_spin_lock_noirq(&c->lock);
		obj_put(c, p);
		mag_give_back(c, m);
		mmk_spin_unlock_noirq(&c->lock);
		mmk_hal_irq_restore(irq);
		return;
	}
	mag_drain(c, m, c->batch);
	n = m->n;
	m->slot[n + 1] = p;
	m->n = n + 1;
	mmk_hal_irq_restore(irq);
}

void *mmk_slab_alloc(struct mmk_slab_cache *c)
{
	return mmk__slab_alloc_req(c, c->size);
}

static __attribute__((noinline, cold)) void
not_an_object(const struct mmk_slab_cache *c, const void *p)
{
	mmk__slab_report(c, "free of a pointer that is not an object", p);
}

void mmk_slab_free(struct mmk_slab_cache *c, void *p)
{
	if (!p)
		return;
	uintptr_t a = (uintptr_t)p;
	struct mmk__slab *s = mmk__slab_of(a, c->slab_mask);
	uintptr_t off = mmk__slab_off(a, c->slab_mask);
	if (MMK_UNLIKELY(!mmk__slab_valid(s) || s->cache != c ||
			 mmk__slab_index(c, off) >= c->nobj)) {
		not_an_object(c, p);
		return;
	}
	mmk__slab_free_obj(c, p);
}

size_t mmk__slab_usable(const struct mmk_slab_cache *c, const void *p)
{
#if MMK_CFG_SLAB_DEBUG
	return trailer_of(c, p)->req;
#else
	(void)p;
	return c->stride;
#endif
}

/* --------------------------------------------------- create / destroy */

static uint32_t objs_fitting(size_t slab_bytes, size_t stride)
{
	size_t avail = slab_bytes - MMK__SLAB_HDR;
	size_t n = avail / stride;
	while (n && n * stride + (n + 63) / 64 * 8 > avail)
		n--;
	return (uint32_t)n;
}

/* d^-1 mod 2^64 for odd @d (Newton's iteration: 3, 6, ... 96 bits). */
static uint64_t inverse_odd(uint64_t d)
{
	uint64_t x = d;
	for (int i = 0; i < 5; i++)
		x *= 2 - d * x;
	return x;
}

struct mmk_slab_cache *mmk__slab_create(struct mmk_frames *fa, const char *name,
					size_t size, size_t align,
					void (*ctor)(void *obj), int *err)
{
	*err = MMK_EINVAL;
	if (align == 0)
		align = 8;
	if (!fa || size == 0 || size > MMK_SLAB_MAX_OBJ ||
	    !MMK_IS_POW2(align) || align > MMK_PAGE_SIZE)
		return NULL;
#if MMK_CFG_HAL_LINEAR_MAP
	/* Alignment holds virtually only if virt - phys keeps page offsets. */
	if (mmk_hal_pv_offset & (MMK_PAGE_SIZE - 1))
		return NULL;
#endif
	size_t stride = MMK_ALIGN_UP(size, align);
#if MMK_CFG_SLAB_DEBUG
	/* Room for at least 8 bytes of red zone and the trailer. */
	if (align < 8)
		align = 8;
	stride = MMK_ALIGN_UP(size + 16, align);
#endif
	/*
	 * 64 KiB slabs unless that leaves fewer than 4 objects (kmalloc relies
	 * on every class up to 8 KiB, red zones included, fitting 4).
	 */
	unsigned order = MMK__SLAB_ORDER;
	while (order < MMK__SLAB_MAX_ORDER &&
	       objs_fitting(MMK_PAGE_SIZE << order, stride) < 4)
		order++;
	uint32_t nobj = objs_fitting(MMK_PAGE_SIZE << order, stride);
	if (nobj == 0)
		return NULL;

	unsigned dorder = 0;
	while ((MMK_PAGE_SIZE << dorder) < sizeof(struct mmk_slab_cache))
		dorder++;
	mmk_paddr_t pa;
	*err = MMK_ENOMEM;
	if (mmk_frame_alloc(fa, dorder, 0, &pa) != MMK_OK)
		return NULL;
	struct mmk_slab_cache *c = mmk_phys_to_virt(pa);
	if ((uintptr_t)c & (MMK_PAGE_SIZE - 1)) {
		/* A translation that moves page offsets (checked above
		 * with a linear map): objects could not be aligned. */
		mmk_frame_free(fa, pa);
		*err = MMK_EINVAL;
		return NULL;
	}
	__builtin_memset(c, 0, sizeof(*c));
	c->size = (uint32_t)size;
	c->stride = (uint32_t)stride;
	c->nobj = nobj;
	c->nwords = (nobj + 63) / 64;
	c->cap = MMK__MAG_CAP;
	if (stride > 1024)
		c->cap = (uint32_t)MMK_MAX(4, MMK__MAG_CAP * 1024 / stride);
	c->batch = MMK_MAX(1, c->cap / 2);
	c->order = order;
	c->desc_order = dorder;
	c->slab_mask = (uintptr_t)(MMK_PAGE_SIZE << order) - 1;
	c->shift = mmk__ctz64(stride);
	c->inv = inverse_odd((uint64_t)stride >> c->shift);
	c->km_nobj = order == MMK__SLAB_ORDER ? nobj : 0;
	c->align = align;
	c->ctor = ctor;
	c->fa = fa;
	if (!name)
		name = "?";
	size_t k = 0;
	for (; k < sizeof(c->name) - 1 && name[k]; k++)
		c->name[k] = name[k];
	c->name[k] = 0;
	mmk_spin_init(&c->lock);
	for (unsigned cpu = 0; cpu < MMK_CFG_MAX_CPUS; cpu++)
		mag_open(c, &c->mag[cpu]);
	*err = MMK_OK;
	return c;
}

struct mmk_slab_cache *mmk_slab_create(struct mmk_frames *fa, const char *name,
				       size_t size, size_t align,
				       void (*ctor)(void *obj))
{
	int err;
	return mmk__slab_create(fa, name, size, align, ctor, &err);
}

const char *mmk_slab_name(const struct mmk_slab_cache *c)
{
	return c->name;
}

/* Drain every CPU's magazine (the caller vouches they are quiescent). */
static void drain_all(struct mmk_slab_cache *c)
{
	unsigned long irq = mmk_spin_lock(&c->lock);
	for (unsigned cpu = 0; cpu < MMK_CFG_MAX_CPUS; cpu++) {
		mag_put_all(c, &c->mag[cpu]);
		mag_open(c, &c->mag[cpu]);
	}
	mmk_spin_unlock(&c->lock, irq);
}

/*
 * The calling CPU's magazine goes back at once; every other CPU's is asked
 * back (both bounds closed, under the lock), so that CPU's next call on @c
 * gives it back in its slow path.  A CPU cannot be reached in the middle of
 * its lock-free fast path any other way without making every fast path pay
 * an atomic instruction.
 */
void mmk_slab_shrink(struct mmk_slab_cache *c)
{
	unsigned long irq = mmk_spin_lock(&c->lock);
	unsigned self = mmk_hal_cpu_id();
	for (unsigned cpu = 0; cpu < MMK_CFG_MAX_CPUS; cpu++) {
		struct mmk__mag *m = &c->mag[cpu];
		if (cpu == self) {
			mag_put_all(c, m);
			mag_open(c, m);
		} else {
			atomic_store_explicit(&m->lo, MMK__MAG_DRAIN,
					      memory_order_relaxed);
			atomic_store_explicit(&m->hi, 0, memory_order_relaxed);
		}
	}
	release_empty(c);
	mmk_spin_unlock(&c->lock, irq);
}

/* Log up to @max live objects of the slabs on @l; returns how many left. */
static unsigned log_live(struct mmk_slab_cache *c, struct mmk__slab_list *l,
			 unsigned max)
{
	for (struct mmk__slab *s = l->head; s && max; s = s->next) {
		uint64_t *map = bitmap_of(c, s);
		for (uint32_t i = 0; i < c->nobj && max; i++) {
			if (map[i / 64] & ((uint64_t)1 << (i % 64)))
				continue;
			mmk__slab_report(c, "leak",
					 (void *)(base_of(c, s) +
						  (uintptr_t)i * c->stride));
			max--;
		}
	}
	return max;
}

/* Objects in slabs not free there.  c->lock held. */
static size_t live_in_slabs(struct mmk_slab_cache *c)
{
	size_t live = c->full.n * c->nobj;
	for (struct mmk__slab *s = c->partial.head; s; s = s->next)
		live += c->nobj - s->nfree;
	return live;
}

size_t mmk__slab_drain_live(struct mmk_slab_cache *c)
{
	drain_all(c);
	unsigned long irq = mmk_spin_lock(&c->lock);
	size_t live = live_in_slabs(c);
	mmk_spin_unlock(&c->lock, irq);
	return live;
}

int mmk_slab_destroy(struct mmk_slab_cache *c)
{
	if (!c)
		return MMK_OK;
	drain_all(c);
	unsigned long irq = mmk_spin_lock(&c->lock);
	size_t live = live_in_slabs(c);
	if (live) {
		unsigned left = log_live(c, &c->full, 16);
		log_live(c, &c->partial, left);
		mmk_log(MMK_LOG_ERROR,
			"slab %s: destroy with %zu live objects; cache kept",
			c->name, live);
		mmk_spin_unlock(&c->lock, irq);
		return MMK_EBUSY;
	}
	release_empty(c);
	mmk_spin_unlock(&c->lock, irq);
	int err = mmk_frame_free(c->fa, mmk_virt_to_phys(c));
	MMK_ASSERT(err == MMK_OK);
	return MMK_OK;
}

/* ------------------------------------------------------ stats / check */

void mmk_slab_stats(struct mmk_slab_cache *c, struct mmk_slab_stats *st)
{
	unsigned long irq = mmk_spin_lock(&c->lock);
	size_t free_in_slabs = 0;
	struct mmk__slab_list *lists[] = {&c->full, &c->partial, &c->empty};
	for (unsigned l = 0; l < 3; l++)
		for (struct mmk__slab *s = lists[l]->head; s; s = s->next)
			free_in_slabs += s->nfree;
	size_t cached = 0;
	for (unsigned cpu = 0; cpu < MMK_CFG_MAX_CPUS; cpu++)
		cached += c->mag[cpu].n;
	st->obj_size = c->size;
	st->stride = c->stride;
	st->slab_bytes = c->slab_mask + 1;
	st->objs_per_slab = c->nobj;
	st->slabs = c->nslabs;
	st->cached = cached;
	st->live = c->nslabs * c->nobj - free_in_slabs - cached;
	st->frame_bytes = c->nslabs * (c->slab_mask + 1) +
			  (MMK_PAGE_SIZE << c->desc_order);
	mmk_spin_unlock(&c->lock, irq);
}

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			mmk_log(MMK_LOG_ERROR, "slab check: " __VA_ARGS__);    \
			err = MMK_EINVAL;                                      \
			goto out;                                              \
		}                                                              \
	} while (0)

int mmk_slab_check(struct mmk_slab_cache *c)
{
	int err = MMK_OK;
	unsigned long irq = mmk_spin_lock(&c->lock);
	struct mmk__slab_list *lists[] = {&c->full, &c->partial, &c->empty};
	size_t total = 0;
	for (unsigned l = 0; l < 3; l++) {
		size_t n = 0;
		struct mmk__slab *prev = NULL;
		for (struct mmk__slab *s = lists[l]->head; s; s = s->next) {
			CHECK(mmk__slab_valid(s) && s->cache == c,
			      "%s: bad slab header %p", c->name, (void *)s);
			CHECK(s->prev == prev, "%s: bad prev link at %p",
			      c->name, (void *)s);
			CHECK(list_for(c, s->nfree) == lists[l],
			      "%s: slab %p with %u free on the wrong list",
			      c->name, (void *)s, s->nfree);
			uint64_t *map = bitmap_of(c, s);
			uint32_t bits = 0, first = c->nwords;
			for (uint32_t w = 0; w < c->nwords; w++) {
				bits += (uint32_t)mmk__popcount64(map[w]);
				if (map[w] && first == c->nwords)
					first = w;
			}
			CHECK(bits == s->nfree,
			      "%s: slab %p bitmap has %u free, count %u",
			      c->name, (void *)s, bits, s->nfree);
			CHECK(s->hint <= first, "%s: slab %p hint past a bit",
			      c->name, (void *)s);
			if (c->nobj % 64)
				CHECK(!(map[c->nwords - 1] >> (c->nobj % 64)),
				      "%s: slab %p bit past the last object",
				      c->name, (void *)s);
			prev = s;
			n++;
		}
		CHECK(n == lists[l]->n, "%s: list %u holds %zu, count %zu",
		      c->name, l, n, lists[l]->n);
		total += n;
	}
	CHECK(total == c->nslabs, "%s: %zu slabs on lists, count %zu", c->name,
	      total, c->nslabs);
	CHECK(c->empty.n <= MMK__SLAB_RESERVE, "%s: %zu empty slabs kept",
	      c->name, c->empty.n);
	for (unsigned cpu = 0; cpu < MMK_CFG_MAX_CPUS; cpu++) {
		struct mmk__mag *m = &c->mag[cpu];
		uint32_t lo =
			atomic_load_explicit(&m->lo, memory_order_relaxed);
		uint32_t hi =
			atomic_load_explicit(&m->hi, memory_order_relaxed);
		CHECK((lo == 0 && hi == c->cap) ||
			      (lo == MMK__MAG_DRAIN && hi == 0),
		      "%s: CPU %u magazine bounds %u..%u", c->name, cpu, lo,
		      hi);
		CHECK(m->n <= c->cap && m->slot[0] == NULL,
		      "%s: CPU %u magazine holds %u (cap %u)", c->name, cpu,
		      m->n, c->cap);
	}
out:
	mmk_spin_unlock(&c->lock, irq);
	return err;
}
