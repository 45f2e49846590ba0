/* SPDX-License-Identifier: MIT */
/*
 * kmalloc: one slab cache per size class, buddy blocks beyond the largest.
 *
 * Size classes: 8, 16, 32, then powers of two and the midpoints between
 * them (48, 64, 96, 128, ... 6144, 8192), so internal waste stays under a
 * third from 33 bytes up.  A class is aligned to the largest power of two
 * dividing its size (objects start at the slab's first byte, every slab is
 * 64 KiB aligned), which is what mmk_kmalloc_aligned picks classes by.
 *
 * Finding what a pointer is, in mmk_kfree and mmk_ksize, without a search:
 *  - not page aligned: an object in a 64 KiB kmalloc slab, whose header is
 *    at the end of the enclosing 64 KiB (checked by its magic word);
 *  - page aligned: the same, when a live header is there (see
 *    page_aligned_in_slab); otherwise the frame metadata of its page says
 *    whether it heads a large block (priv = MMK__PRIV_LARGE) or lies in a
 *    slab.
 */
#include "slab_internal.h"

#define NCLASS	19
#define KM_MASK ((uintptr_t)(MMK_PAGE_SIZE << MMK__SLAB_ORDER) - 1)

static const uint32_t class_size[NCLASS] = {
	8,   16,  32,	48,   64,   96,	  128,	192,  256,  384,
	512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192,
};

static const char *const class_name[NCLASS] = {
	"kmalloc-8",	"kmalloc-16",	"kmalloc-32",	"kmalloc-48",
	"kmalloc-64",	"kmalloc-96",	"kmalloc-128",	"kmalloc-192",
	"kmalloc-256",	"kmalloc-384",	"kmalloc-512",	"kmalloc-768",
	"kmalloc-1024", "kmalloc-1536", "kmalloc-2048", "kmalloc-3072",
	"kmalloc-4096", "kmalloc-6144", "kmalloc-8192",
};

static struct {
	struct mmk_frames *fa;
	struct mmk_slab_cache *cache[NCLASS];
	/* Class of a size: cls[(size + 7) / 8], one load for every size up
	 * to the largest class (1 KiB of table). */
	uint8_t cls[MMK_KMALLOC_MAX_CLASS / 8 + 1];
	_Atomic long large_live;
	bool ready;
} km;

/*
 * Per CPU: the cache mmk_kfree last pushed to (see there); a line each,
 * written only by its CPU and only when the cache changes.  A hint, never
 * trusted: it is used only when the slab header names the same cache.
 */
static struct {
	struct mmk_slab_cache *cache;
} __attribute__((aligned(64))) km_last[MMK_CFG_MAX_CPUS];

/* Class of 0 < @size <= MMK_KMALLOC_MAX_CLASS. */
static unsigned class_of(size_t size)
{
	return km.cls[(size + 7) >> 3];
}

/* Largest power of two dividing @n. */
static size_t natural_align(size_t n)
{
	return n & -n;
}

/*
 * The cache of the slab object @p (in a 64 KiB slab), or NULL if @p is not
 * an object boundary of a valid slab.
 */
static inline struct mmk_slab_cache *slab_cache_of(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	struct mmk__slab *s = mmk__slab_of(a, KM_MASK);
	if (MMK_UNLIKELY(!mmk__slab_valid(s)))
		return NULL;
	struct mmk_slab_cache *c = s->cache;
	/* km_nobj is 0 for caches of larger slabs: not found this way. */
	if (MMK_UNLIKELY(mmk__slab_index(c, mmk__slab_off(a, KM_MASK)) >=
			 c->km_nobj))
		return NULL;
	return c;
}

int mmk_kmalloc_init(struct mmk_frames *fa)
{
	if (km.ready)
		return MMK_EBUSY;
	for (unsigned i = 0; i < NCLASS; i++) {
		size_t align =
			MMK_MIN(natural_align(class_size[i]), MMK_PAGE_SIZE);
		int err;
		km.cache[i] = mmk__slab_create(fa, class_name[i], class_size[i],
					       align, NULL, &err);
		/* Every kmalloc slab is 64 KiB: mmk_kfree depends on it. */
		MMK_ASSERT(!km.cache[i] ||
			   km.cache[i]->order == MMK__SLAB_ORDER);
		if (!km.cache[i]) {
			/* MMK_ENOMEM, or MMK_EINVAL: virtual addresses do
			 * not keep the page offsets of physical ones
			 * (mmk_hal_pv_offset not page-aligned), so no
			 * alignment could be kept. */
			while (i--) {
				mmk_slab_destroy(km.cache[i]);
				km.cache[i] = NULL; /* keep no freed cache */
			}
			return err;
		}
	}
	unsigned k = 0;
	for (size_t s = 0; s <= MMK_KMALLOC_MAX_CLASS; s += 8) {
		while (class_size[k] < s)
			k++;
		km.cls[s / 8] = (uint8_t)k;
	}
	km.fa = fa;
	atomic_store_explicit(&km.large_live, 0, memory_order_relaxed);
	km.ready = true;
	return MMK_OK;
}

int mmk_kmalloc_fini(void)
{
	if (!km.ready)
		return MMK_OK;
	size_t live[NCLASS], total = 0;
	for (unsigned i = 0; i < NCLASS; i++)
		total += live[i] = mmk__slab_drain_live(km.cache[i]);
	long large = atomic_load_explicit(&km.large_live, memory_order_relaxed);
	if (total || large) {
		/* Each cache with leaks names them; every cache stays. */
		for (unsigned i = 0; i < NCLASS; i++)
			if (live[i])
				mmk_slab_destroy(km.cache[i]);
		if (large)
			mmk_log(MMK_LOG_ERROR,
				"kmalloc: fini with %ld live large blocks",
				large);
		return MMK_EBUSY;
	}
	for (unsigned i = 0; i < NCLASS; i++) {
		int err = mmk_slab_destroy(km.cache[i]);
		MMK_ASSERT(err == MMK_OK);
		km.cache[i] = NULL;
	}
	for (unsigned i = 0; i < MMK_CFG_MAX_CPUS; i++)
		km_last[i].cache = NULL; /* no freed cache kept */
	km.ready = false;
	return MMK_OK;
}

void mmk_kmalloc_shrink(void)
{
	if (!km.ready)
		return;
	for (unsigned i = 0; i < NCLASS; i++)
		mmk_slab_shrink(km.cache[i]);
}

/* A buddy block of at least @size bytes, aligned to its own size. */
static void *large_alloc(size_t size)
{
	unsigned order = 0;
	while ((MMK_PAGE_SIZE << order) < size) {
		if (++order > MMK_FRAME_MAX_ORDER)
			return NULL;
	}
	mmk_paddr_t pa;
	if (mmk_frame_alloc(km.fa, order, 0, &pa) != MMK_OK)
		return NULL;
	mmk_frame_meta(km.fa, pa)->priv = MMK__PRIV_LARGE;
	atomic_fetch_add_explicit(&km.large_live, 1, memory_order_relaxed);
	return mmk_phys_to_virt(pa);
}

static __attribute__((noinline)) void *kmalloc_large(size_t size)
{
	return size ? large_alloc(size) : NULL;
}

void *mmk_kmalloc(size_t size)
{
	if (MMK_UNLIKELY(size - 1 >= MMK_KMALLOC_MAX_CLASS))
		return kmalloc_large(size);
	return mmk__slab_alloc_req(km.cache[class_of(size)], size);
}

void *mmk_kzalloc(size_t size)
{
	void *p = mmk_kmalloc(size);
	if (p)
		__builtin_memset(p, 0, size);
	return p;
}

void *mmk_kmalloc_aligned(size_t size, size_t align)
{
	if (!MMK_IS_POW2(align) || size == 0)
		return NULL;
	void *p = NULL;
	unsigned k = size <= MMK_KMALLOC_MAX_CLASS ? class_of(size) : NCLASS;
	while (k < NCLASS && km.cache[k]->align < align)
		k++;
	if (k < NCLASS)
		p = mmk__slab_alloc_req(km.cache[k], size);
	else
		p = large_alloc(MMK_MAX(size, align));
	if (p && !MMK_IS_ALIGNED((uintptr_t)p, align)) {
		/* Physically aligned, but virtual addresses differ from
		 * physical ones by less than @align (beyond a page: kmalloc
		 * refuses to start unless they keep page offsets). */
		mmk_kfree(p);
		return NULL;
	}
	return p;
}

static void bad_free(const char *what, const void *p)
{
	mmk_log(MMK_LOG_ERROR, "kmalloc: %s of %p", what, p);
}

/* Frame metadata of the page at @p: region 0 inline, the common case. */
static inline struct mmk_frame *meta_of(const void *p)
{
	uint64_t pfn = mmk_virt_to_phys(p).v >> MMK_PAGE_SHIFT;
	struct mmk_frame_region *r = &km.fa->region[0];
	if (MMK_LIKELY(pfn - r->pfn_base < r->npages))
		return &r->meta[pfn - r->pfn_base];
	return mmk_frame_meta(km.fa, mmk_pa(pfn << MMK_PAGE_SHIFT));
}

/* What a page-aligned @p heads: a large block (its frame) or NULL. */
static struct mmk_frame *large_of(const void *p, bool *in_slab)
{
	struct mmk_frame *f = meta_of(p);
	*in_slab = false;
	if (!f)
		return NULL;
	uint8_t st = __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
	if (st == MMK_FS_ALLOC && f->priv == MMK__PRIV_LARGE)
		return f;
	*in_slab = st == MMK_FS_TAIL ||
		   (st == MMK_FS_ALLOC && f->priv == MMK__PRIV_SLAB);
	return NULL;
}

static void large_free(void *p, struct mmk_frame *f)
{
	f->priv = 0;
	atomic_fetch_sub_explicit(&km.large_live, 1, memory_order_relaxed);
	mmk_frame_free(km.fa, mmk_virt_to_phys(p));
}

/*
 * For a page-aligned @p: does a live slab header sit where @p's slab header
 * would be?  Read only when that place is RAM of the first region (always
 * mapped); a large block there would need its own bytes to spell out their
 * address xor the magic word to be mistaken for one.  Saves the frame
 * metadata lookup (a likely cache miss) for the many slab objects that
 * start a page.
 */
static inline bool page_aligned_in_slab(const void *p)
{
	struct mmk__slab *s = mmk__slab_of((uintptr_t)p, KM_MASK);
	uint64_t pfn = mmk_virt_to_phys(s).v >> MMK_PAGE_SHIFT;
	struct mmk_frame_region *r = &km.fa->region[0];
	return pfn - r->pfn_base < r->npages && mmk__slab_valid(s);
}

static __attribute__((noinline, cold)) void kfree_not_ours(const void *p)
{
	bad_free("free of a pointer kmalloc did not return", p);
}

/* A page-aligned @p that is not a slab object by its header: ask the
 * frame metadata (large block, a slab elsewhere, or a bad free). */
static __attribute__((noinline)) void kfree_by_frame(void *p)
{
	bool in_slab;
	struct mmk_frame *f = large_of(p, &in_slab);
	struct mmk_slab_cache *c;
	if (f)
		large_free(p, f);
	else if (in_slab && (c = slab_cache_of(p)) != NULL)
		mmk__slab_free_obj(c, p);
	else
		bad_free("free of a block not allocated (double free?)", p);
}

/* NULL, a large block, or a slab object on a page boundary. */
static __attribute__((noinline)) void kfree_page_aligned(void *p)
{
	struct mmk_slab_cache *c;
	if (!p)
		return;
	if (!page_aligned_in_slab(p))
		kfree_by_frame(p);
	else if ((c = slab_cache_of(p)) != NULL)
		mmk__slab_free_obj(c, p);
	else
		kfree_not_ours(p);
}

/*
 * The fast path: a pointer inside a page is a slab object or a bad free,
 * told by the header at the end of its 64 KiB and the object index.
 *
 * The cache comes from a load that depends on @p (its slab header), and
 * the magazine's address from the cache: left as it is, the push waits
 * for p -> header -> cache -> magazine count, and in a LIFO loop the
 * next kmalloc's pop waits for that push (about 24 cycles a pair).  So
 * the push goes through the cache this CPU last freed to (km_last, read
 * without any dependency on @p) when the header names that one: the
 * comparison becomes a predicted branch and the magazine's address is
 * known before the header arrives.  The empty asm hides the equality, so
 * that the compiler cannot use the header's copy instead.  A different
 * cache costs one store here (and a mispredicted branch when the classes
 * freed alternate).
 */
void mmk_kfree(void *p)
{
	if (MMK_UNLIKELY(((uintptr_t)p & (MMK_PAGE_SIZE - 1)) == 0)) {
		kfree_page_aligned(p);
		return;
	}
	struct mmk_slab_cache *c = slab_cache_of(p);
	if (MMK_UNLIKELY(c == NULL)) {
		kfree_not_ours(p);
		return;
	}
	struct mmk_slab_cache **last = &km_last[mmk_hal_cpu_id()].cache;
	struct mmk_slab_cache *g = *last;
	if (MMK_LIKELY(c == g)) {
		__asm__("" : "+r"(g));
		mmk__slab_free_obj(g, p);
		return;
	}
	*last = c;
	mmk__slab_free_obj(c, p);
}

size_t mmk_ksize(const void *p)
{
	if (!p)
		return 0;
	struct mmk_slab_cache *c = NULL;
	if (((uintptr_t)p & (MMK_PAGE_SIZE - 1)) == 0 &&
	    !page_aligned_in_slab(p)) {
		bool in_slab;
		struct mmk_frame *f = large_of(p, &in_slab);
		if (f)
			return MMK_PAGE_SIZE << f->order;
		if (in_slab)
			c = slab_cache_of(p);
	} else {
		c = slab_cache_of(p);
	}
	return c ? mmk__slab_usable(c, p) : 0;
}

struct mmk_slab_cache *mmk_kmalloc_cache(size_t size)
{
	if (size == 0 || size > MMK_KMALLOC_MAX_CLASS)
		return NULL;
	return km.cache[class_of(size)];
}
