/* SPDX-License-Identifier: MIT */
/*
 * Slab caches.  Layout and debug format: see slab_internal.h.
 *
 * Three levels, fastest first:
 *
 *  1. The CPU's magazine (struct mmk__mag): alloc pops, free pushes, with
 *     interrupts disabled through the HAL and no lock.  A few instructions.
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

/*
 * Drain the oldest @n objects of @m into their slabs; the newest (likely
 * still in this CPU's cache) stay.  Interrupts off, c->lock not held.
 */
void mmk__mag_drain(struct mmk_slab_cache *c, struct mmk__mag *m, uint32_t n)
{
	struct mmk__slab *slab[MMK_CFG_SLAB_MAG];
	uint32_t idx[MMK_CFG_SLAB_MAG];
	/*
	 * Objects freed in a random order sit in slabs all over memory: find
	 * every slab and start every bitmap load (outside the lock) before
	 * waiting for the first.  The headers were just read by the frees.
	 */
	for (uint32_t i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)m->obj[i];
		uintptr_t off = mmk__slab_off(a, c->slab_mask);
		slab[i] = (struct mmk__slab *)(a - off + c->slab_mask + 1 -
					       MMK__SLAB_HDR);
		idx[i] = (uint32_t)((off * c->recip) >> MMK__RECIP_SHIFT);
		__builtin_prefetch(bitmap_of(c, slab[i]) + idx[i] / 64, 1);
	}
	mmk_spin_lock_noirq(&c->lock);
	for (uint32_t i = 0; i < n; i++)
		slab_put(c, slab[i], idx[i], m->obj[i]);
	mmk_spin_unlock_noirq(&c->lock);
	__builtin_memmove(&m->obj[0], &m->obj[n],
			  (m->n - n) * sizeof(m->obj[0]));
	m->n -= n;
}

/*
 * Fill the empty magazine @m with a batch and pop one object from it, or
 * NULL if not a single object could be had (nothing changed then).
 * Interrupts off, c->lock not held.  Objects come out of a slab in
 * address order; the magazine hands them out from the top.
 */
void *mmk__mag_refill(struct mmk_slab_cache *c, struct mmk__mag *m)
{
	uint32_t got = 0;
	mmk_spin_lock_noirq(&c->lock);
	while (got < c->batch) {
		struct mmk__slab *s = c->partial.head;
		if (!s)
			s = c->empty.head;
		if (!s && !(s = slab_new(c)))
			break;
		got += slab_take(c, s, m->obj + got, c->batch - got);
	}
	mmk_spin_unlock_noirq(&c->lock);
	if (!got)
		return NULL;
	m->n = got - 1;
	return m->obj[got - 1];
}

void *mmk_slab_alloc(struct mmk_slab_cache *c)
{
	return mmk__slab_alloc_req(c, c->size);
}

void mmk_slab_free(struct mmk_slab_cache *c, void *p)
{
	if (!p)
		return;
	uintptr_t a = (uintptr_t)p;
	struct mmk__slab *s = mmk__slab_of(a, c->slab_mask);
	uintptr_t off = mmk__slab_off(a, c->slab_mask);
	uint64_t i = (off * c->recip) >> MMK__RECIP_SHIFT;
	if (MMK_UNLIKELY(!mmk__slab_valid(s) || s->cache != c ||
			 i * c->stride != off || i >= c->nobj)) {
		mmk__slab_report(c, "free of a pointer that is not an object",
				 p);
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

struct mmk_slab_cache *mmk_slab_create(struct mmk_frames *fa, const char *name,
				       size_t size, size_t align,
				       void (*ctor)(void *obj))
{
	if (align == 0)
		align = 8;
	if (!fa || size == 0 || size > MMK_SLAB_MAX_OBJ ||
	    !MMK_IS_POW2(align) || align > MMK_PAGE_SIZE)
		return NULL;
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
	if (mmk_frame_alloc(fa, dorder, 0, &pa) != MMK_OK)
		return NULL;
	struct mmk_slab_cache *c = mmk_phys_to_virt(pa);
	__builtin_memset(c, 0, sizeof(*c));
	c->size = (uint32_t)size;
	c->stride = (uint32_t)stride;
	c->nobj = nobj;
	c->nwords = (nobj + 63) / 64;
	c->cap = MMK_CFG_SLAB_MAG;
	if (stride > 1024)
		c->cap = (uint32_t)MMK_MAX(4, MMK_CFG_SLAB_MAG * 1024 / stride);
	c->batch = MMK_MAX(1, c->cap / 2);
	c->order = order;
	c->desc_order = dorder;
	c->slab_mask = (uintptr_t)(MMK_PAGE_SIZE << order) - 1;
	c->recip = (((uint64_t)1 << MMK__RECIP_SHIFT) + stride - 1) / stride;
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
	return c;
}

const char *mmk_slab_name(const struct mmk_slab_cache *c)
{
	return c->name;
}

/* Drain every CPU's magazine (the caller vouches they are quiescent). */
static void drain_all(struct mmk_slab_cache *c)
{
	unsigned long irq = mmk_hal_irq_save();
	for (unsigned cpu = 0; cpu < MMK_CFG_MAX_CPUS; cpu++)
		if (c->mag[cpu].n)
			mmk__mag_drain(c, &c->mag[cpu], c->mag[cpu].n);
	mmk_hal_irq_restore(irq);
}

/* Release every empty slab.  c->lock held. */
static void release_empty(struct mmk_slab_cache *c)
{
	while (c->empty.head)
		slab_release(c, c->empty.head);
}

void mmk_slab_shrink(struct mmk_slab_cache *c)
{
	unsigned long irq = mmk_hal_irq_save();
	struct mmk__mag *m = &c->mag[mmk_hal_cpu_id()];
	if (m->n)
		mmk__mag_drain(c, m, m->n);
	mmk_spin_lock_noirq(&c->lock);
	release_empty(c);
	mmk_spin_unlock_noirq(&c->lock);
	mmk_hal_irq_restore(irq);
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
out:
	mmk_spin_unlock(&c->lock, irq);
	return err;
}
