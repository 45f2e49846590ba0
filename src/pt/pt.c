/* SPDX-License-Identifier: MIT */
/*
 * mmkit — page tables: the public entry points.
 *
 * This file checks everything that does not depend on the entry encoding
 * (wrap, alignment, canonical form, physical width, borrowed root slots),
 * converts canonical addresses to index addresses (the low va_bits bits),
 * and calls the format's instantiated engine (pt/engine.h) once per
 * operation.  It also owns table-page allocation.
 */
#include <mmkit/log.h>
#include <mmkit/pt.h>

#include "pt/format.h"
#include "pt/formats.h"

/* ------------------------------------------------------------ helpers */
unsigned mmk__pt_table_order(const struct mmk__pt_format *f, unsigned level)
{
	unsigned shift =
		MMK_MAX((unsigned)f->bits[level] + 3, (unsigned)f->page_shift);
	/* Every non-root level of a format has the same size (contract),
	 * so the pool can serve any level. */
	return shift > MMK_PAGE_SHIFT ? shift - MMK_PAGE_SHIFT : 0;
}

int mmk__pt_alloc_table(const struct mmk_pt *pt, unsigned level, uint64_t *pa)
{
	mmk_paddr_t p;
	if (mmk_frame_alloc(pt->frames, mmk__pt_table_order(pt->fmt, level), 0,
			    &p) != 0)
		return MMK_ENOMEM;
	pt->fmt->ops->init_table(pt, mmk_phys_to_virt(p), level);
	*pa = p.v;
	return MMK_OK;
}

void mmk__pt_free_table(const struct mmk_pt *pt, unsigned level, uint64_t pa)
{
	(void)level;
	int r = mmk_frame_free(pt->frames, mmk_pa(pa));
	MMK_ASSERT(r >= 0);
}

static inline uint64_t pt_ia(const struct mmk_pt *pt, mmk_vaddr_t va)
{
	return va & (((uint64_t)1 << pt->fmt->va_bits) - 1);
}

/*
 * Adding canon_add moves the canonical range(s) onto [0, 2^va_bits):
 * 2^(va_bits-1) for sign-extended formats (the upper half wraps to the
 * bottom), 0 for a lower-only table, 2^va_bits for an upper-only one.
 */
static inline bool pt_canonical(const struct mmk_pt *pt, mmk_vaddr_t va)
{
	return ((va + pt->canon_add) >> pt->fmt->va_bits) == 0;
}

static uint64_t pt_canon_add(const struct mmk__pt_format *f)
{
	switch (f->canon) {
	case MMK__CANON_LOW:
		return 0;
	case MMK__CANON_HIGH:
		return (uint64_t)1 << f->va_bits;
	default:
		return (uint64_t)1 << (f->va_bits - 1);
	}
}

/*
 * The checks shared by every range: EWRAP, EALIGN (to @align), ENONCANON,
 * ERANGE (crossing the hole), EBUSY (borrowed root slots, if @edit).
 */
static int pt_check_range(const struct mmk_pt *pt, mmk_vaddr_t va,
			  uint64_t size, uint64_t align, bool edit,
			  uint64_t *ia)
{
	if (size == 0 || va + (size - 1) < va)
		return MMK_EWRAP;
	if ((va | size) & (align - 1))
		return MMK_EALIGN;
	mmk_vaddr_t last = va + (size - 1);
	if (!pt_canonical(pt, va) || !pt_canonical(pt, last))
		return MMK_ENONCANON;
	*ia = pt_ia(pt, va);
	if (pt->fmt->canon == MMK__CANON_SIGNEXT &&
	    ((*ia ^ pt_ia(pt, last)) >> (pt->fmt->va_bits - 1)))
		return MMK_ERANGE; /* from the lower half into the upper */
	if (edit && pt->nborrowed) {
		unsigned top = pt->fmt->levels - 1, sh = pt->shift[top];
		for (uint64_t i = *ia >> sh; i <= pt_ia(pt, last) >> sh; i++)
			if (pt->borrowed[i / 64] >> (i % 64) & 1)
				return MMK_EBUSY;
	}
	return MMK_OK;
}

static int pt_check_pa(const struct mmk_pt *pt, mmk_paddr_t pa, uint64_t size,
		       uint64_t align)
{
	if (pa.v & (align - 1))
		return MMK_EALIGN;
	if (pa.v + (size - 1) < pa.v)
		return MMK_ERANGE;
	if (pt->fmt->pa_bits < 64 && (pa.v + (size - 1)) >> pt->fmt->pa_bits)
		return MMK_ERANGE;
	return MMK_OK;
}

/* Level whose leaves are @page_size bytes, or -1. */
static int pt_level_of(const struct mmk_pt *pt, uint64_t page_size)
{
	for (unsigned l = 0; l < pt->fmt->levels; l++)
		if ((pt->fmt->leaf_levels >> l & 1) &&
		    page_size == (uint64_t)1 << pt->shift[l])
			return (int)l;
	return -1;
}

static int pt_check_flags(uint32_t flags)
{
	return (flags & ~MMK_PT_FLAGS_ALL) ? MMK_ENOTSUP : MMK_OK;
}

/* ------------------------------------------------------------ formats */
static const struct mmk__pt_format *const pt_formats[MMK_PT_FORMAT_COUNT] = {
	MMK_PT_ALL_FORMATS};

static const struct mmk__pt_format *pt_format(enum mmk_pt_format_id id)
{
	if ((unsigned)id >= MMK_PT_FORMAT_COUNT)
		return NULL;
	return pt_formats[id];
}

static void pt_fill_info(const struct mmk__pt_format *f,
			 struct mmk_pt_info *out)
{
	out->name = f->name;
	out->arch = f->arch;
	out->levels = f->levels;
	out->page_shift = f->page_shift;
	out->va_bits = f->va_bits;
	out->pa_bits = f->pa_bits;
	out->ad_preset = f->ad_preset;
	uint64_t half = (uint64_t)1 << (f->va_bits - 1);
	switch (f->canon) {
	case MMK__CANON_LOW:
		out->low_end = 2 * half;
		out->high_start = 0;
		break;
	case MMK__CANON_HIGH:
		out->low_end = 0;
		out->high_start = -(2 * half);
		break;
	default:
		out->low_end = half;
		out->high_start = -half;
		break;
	}
	out->page_sizes = 0;
	unsigned s = f->page_shift;
	for (unsigned l = 0; l < f->levels; l++) {
		if (f->leaf_levels >> l & 1)
			out->page_sizes |= (uint64_t)1 << s;
		s += f->bits[l];
	}
}

int mmk_pt_format_info(enum mmk_pt_format_id id, struct mmk_pt_info *out)
{
	if ((unsigned)id >= MMK_PT_FORMAT_COUNT)
		return MMK_EINVAL;
	const struct mmk__pt_format *f = pt_format(id);
	if (!f)
		return MMK_ENOTSUP;
	pt_fill_info(f, out);
	return MMK_OK;
}

void mmk_pt_info(const struct mmk_pt *pt, struct mmk_pt_info *out)
{
	pt_fill_info(pt->fmt, out);
}

/* ------------------------------------------------------- create etc. */
int mmk_pt_create(struct mmk_pt *pt, enum mmk_pt_format_id id, unsigned opts,
		  struct mmk_frames *frames)
{
	if ((unsigned)id >= MMK_PT_FORMAT_COUNT || !pt || !frames)
		return MMK_EINVAL;
	const struct mmk__pt_format *f = pt_format(id);
	if (!f)
		return MMK_ENOTSUP;
	if (opts & ~f->opts_ok)
		return MMK_ENOTSUP;
	__builtin_memset(pt, 0, sizeof(*pt));
	pt->fmt = f;
	pt->frames = frames;
	pt->opts = opts;
	unsigned s = f->page_shift;
	for (unsigned l = 0; l <= f->levels; l++) {
		pt->shift[l] = (uint8_t)s;
		if (l < f->levels) {
			pt->idx_mask[l] = (1u << f->bits[l]) - 1;
			s += f->bits[l];
		}
	}
	MMK_ASSERT(f->levels <= MMK_PT_MAX_LEVELS && s == f->va_bits);
	MMK_ASSERT(((uint64_t)1 << f->bits[f->levels - 1]) <=
		   MMK_PT_MAX_ROOT_ENTRIES);
	if (f->init) {
		int err = f->init(pt);
		if (err)
			return err;
	}
	pt->canon_add = pt_canon_add(pt->fmt);
	uint64_t root;
	if (mmk__pt_alloc_table(pt, pt->fmt->levels - 1, &root) != 0) {
		if (pt->fmt->fini)
			pt->fmt->fini(pt);
		return MMK_ENOMEM;
	}
	pt->root = mmk_pa(root);
	atomic_store_explicit(&pt->tables, 1, memory_order_relaxed);
	/* A cursor left over from an earlier table in this memory must not
	 * match: every table starts at its own generation. */
	static _Atomic uint64_t gen_seed;
	atomic_store_explicit(
		&pt->gen,
		(atomic_fetch_add_explicit(&gen_seed, 1, memory_order_relaxed) +
		 1) << 32,
		memory_order_relaxed);
	return MMK_OK;
}

void mmk_pt_destroy(struct mmk_pt *pt)
{
	if (!pt || !pt->fmt)
		return;
	pt->fmt->ops->free_tables(pt);
	mmk__pt_free_table(pt, pt->fmt->levels - 1, pt->root.v);
	if (pt->fmt->fini)
		pt->fmt->fini(pt);
	pt->fmt = NULL;
}

long mmk_pt_table_pages(const struct mmk_pt *pt)
{
	return atomic_load_explicit(&pt->tables, memory_order_relaxed);
}

uint64_t mmk_pt_root_regval(const struct mmk_pt *pt, uint32_t asid)
{
	return pt->fmt->root_regval(pt, asid);
}

void mmk_pt_activate(const struct mmk_pt *pt, uint32_t asid)
{
	mmk_hal_write_root(pt->root, asid, mmk_pt_root_regval(pt, asid));
}

bool mmk_pt_map_needs_flush(const struct mmk_pt *pt)
{
	return (pt->fmt->caps & MMK__FMT_MAP_NEEDS_FLUSH) != 0;
}

/* ------------------------------------------------------ single pages */
int mmk_pt_map(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
	       uint64_t page_size, uint32_t flags, struct mmk_tlb_gather *b)
{
	uint64_t ia, base = (uint64_t)1 << pt->shift[0];
	/* The fault path: a base page, every check in a few instructions. */
	if (MMK_LIKELY(page_size == base && !((va | pa.v) & (base - 1)) &&
		       pt_canonical(pt, va) && !pt->nborrowed &&
		       !(pa.v >> pt->fmt->pa_bits) &&
		       !(flags & ~MMK_PT_FLAGS_ALL)))
		return pt->fmt->ops->map(pt, pt_ia(pt, va), pa.v, 0, flags, b);
	int l = pt_level_of(pt, page_size);
	uint64_t align =
		l < 0 ? ((uint64_t)1 << pt->fmt->page_shift) : page_size;
	int err = pt_check_range(pt, va, l < 0 ? align : page_size, align, true,
				 &ia);
	if (!err)
		err = pt_check_pa(pt, pa, l < 0 ? align : page_size, align);
	if (!err && (l < 0 || pt_check_flags(flags)))
		err = MMK_ENOTSUP;
	if (err)
		return err;
	return pt->fmt->ops->map(pt, ia, pa.v, (unsigned)l, flags, b);
}

void mmk_pt_cursor_init(struct mmk_pt_cursor *c, struct mmk_pt *pt)
{
	__builtin_memset(c, 0, sizeof(*c));
	c->pt = pt;
}

__attribute__((noinline)) static int
pt_map_cursor_slow(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
		   uint32_t flags, struct mmk_tlb_gather *b)
{
	return mmk_pt_map(pt, va, pa, (uint64_t)1 << pt->shift[0], flags, b);
}

int mmk_pt_map_cursor(struct mmk_pt_cursor *c, mmk_vaddr_t va, mmk_paddr_t pa,
		      uint32_t flags, struct mmk_tlb_gather *b)
{
	struct mmk_pt *pt = c->pt;
	uint64_t base = (uint64_t)1 << pt->shift[0];
	if (MMK_LIKELY(!((va | pa.v) & (base - 1)) && pt_canonical(pt, va) &&
		       !pt->nborrowed && !(pa.v >> pt->fmt->pa_bits) &&
		       !(flags & ~MMK_PT_FLAGS_ALL)))
		return pt->fmt->ops->map_cursor(c, pt_ia(pt, va), pa.v, flags,
						b);
	return pt_map_cursor_slow(pt, va, pa, flags, b);
}

int mmk_pt_unmap(struct mmk_pt *pt, mmk_vaddr_t va, struct mmk_tlb_gather *b,
		 struct mmk_pt_leaf *out)
{
	uint64_t ia;
	int err = pt_check_range(pt, va, (uint64_t)1 << pt->fmt->page_shift,
				 (uint64_t)1 << pt->fmt->page_shift, true, &ia);
	if (err)
		return err;
	return pt->fmt->ops->unmap(pt, ia, b, out);
}

int mmk_pt_query(const struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t *pa,
		 uint32_t *flags, uint64_t *page_size)
{
	if (!pt_canonical(pt, va))
		return MMK_ENONCANON;
	uint64_t p;
	unsigned l;
	int err = pt->fmt->ops->query(pt, pt_ia(pt, va), &p, flags, &l);
	if (err)
		return err;
	if (pa)
		*pa = mmk_pa(p);
	if (page_size)
		*page_size = (uint64_t)1 << pt->shift[l];
	return MMK_OK;
}

int mmk_pt_protect(struct mmk_pt *pt, mmk_vaddr_t va, uint32_t flags,
		   struct mmk_tlb_gather *b)
{
	uint64_t ia;
	int err = pt_check_range(pt, va, (uint64_t)1 << pt->fmt->page_shift,
				 (uint64_t)1 << pt->fmt->page_shift, true, &ia);
	if (!err)
		err = pt_check_flags(flags);
	if (err)
		return err;
	return pt->fmt->ops->protect(pt, ia, flags, b);
}

/* ------------------------------------------------------------ regions */
static int pt_check_map_region(const struct mmk_pt *pt, mmk_vaddr_t va,
			       mmk_paddr_t pa, uint64_t size, uint32_t flags,
			       unsigned opts, unsigned opts_ok, uint64_t *ia)
{
	uint64_t page = (uint64_t)1 << pt->fmt->page_shift;
	int err = pt_check_range(pt, va, size, page, true, ia);
	if (!err)
		err = pt_check_pa(pt, pa, size, page);
	if (!err)
		err = pt_check_flags(flags);
	if (!err && (opts & ~opts_ok))
		err = MMK_EINVAL;
	return err;
}

int mmk_pt_map_region(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
		      uint64_t size, uint32_t flags, unsigned opts,
		      struct mmk_tlb_gather *b)
{
	uint64_t ia;
	int err = pt_check_map_region(pt, va, pa, size, flags, opts,
				      MMK_PT_MAP_HUGE, &ia);
	if (err)
		return err;
	return pt->fmt->ops->map_region(pt, ia, pa.v, size, flags, opts, NULL,
					NULL, b);
}

int mmk_pt_map_region_fn(struct mmk_pt *pt, mmk_vaddr_t va, uint64_t size,
			 uint32_t flags, unsigned opts, mmk_pt_pa_fn fn,
			 void *ctx, struct mmk_tlb_gather *b)
{
	uint64_t ia, page = (uint64_t)1 << pt->fmt->page_shift;
	int err = pt_check_range(pt, va, size, page, true, &ia);
	if (!err)
		err = pt_check_flags(flags);
	if (!err && ((opts & ~MMK_PT_MAP_HUGE) || !fn))
		err = MMK_EINVAL;
	if (err)
		return err;
	return pt->fmt->ops->map_region(pt, ia, 0, size, flags, opts, fn, ctx,
					b);
}

int mmk_pt_unmap_region(struct mmk_pt *pt, mmk_vaddr_t va, uint64_t size,
			struct mmk_tlb_gather *b, mmk_pt_unmap_fn fn, void *ctx)
{
	uint64_t ia, page = (uint64_t)1 << pt->fmt->page_shift;
	int err = pt_check_range(pt, va, size, page, true, &ia);
	if (err)
		return err;
	return pt->fmt->ops->unmap_region(pt, ia, size, b, fn, ctx);
}

int mmk_pt_protect_region(struct mmk_pt *pt, mmk_vaddr_t va, uint64_t size,
			  uint32_t flags, struct mmk_tlb_gather *b)
{
	uint64_t ia, page = (uint64_t)1 << pt->fmt->page_shift;
	int err = pt_check_range(pt, va, size, page, true, &ia);
	if (!err)
		err = pt_check_flags(flags);
	if (err)
		return err;
	return pt->fmt->ops->protect_region(pt, ia, size, flags, b);
}

/* ------------------------------------------------ two-step edits */
void mmk_pt_resv_init(struct mmk_pt_resv *r, struct mmk_pt *pt)
{
	r->pt = pt;
	r->head = UINT64_MAX; /* the engine's "empty pool" */
	r->n = 0;
}

void mmk_pt_resv_release(struct mmk_pt_resv *r)
{
	if (r->n)
		r->pt->fmt->ops->resv_release(r->pt, r);
}

/* A cut point: base-page aligned, canonical or the very end of a half
 * (a range may end at 2^64 or at the end of the lower half). */
static int pt_check_cut(const struct mmk_pt *pt, mmk_vaddr_t va, uint64_t *ia)
{
	uint64_t page = (uint64_t)1 << pt->fmt->page_shift;
	if (va & (page - 1))
		return MMK_EALIGN;
	if (!pt_canonical(pt, va)) {
		if (!pt_canonical(pt, va - page))
			return MMK_ENONCANON;
		*ia = UINT64_MAX; /* one past a half: never inside a leaf */
		return MMK_OK;
	}
	return pt_check_range(pt, va, page, page, true, ia);
}

int mmk_pt_reserve_cut(struct mmk_pt *pt, struct mmk_pt_resv *r, mmk_vaddr_t va)
{
	MMK_ASSERT(r->pt == pt);
	uint64_t ia;
	int err = pt_check_cut(pt, va, &ia);
	if (err || ia == UINT64_MAX)
		return err;
	return pt->fmt->ops->reserve_cut(pt, r, ia);
}

void mmk_pt_cut(struct mmk_pt *pt, struct mmk_pt_resv *r, mmk_vaddr_t va,
		struct mmk_tlb_gather *g)
{
	MMK_ASSERT(r->pt == pt);
	uint64_t ia;
	int err = pt_check_cut(pt, va, &ia);
	MMK_ASSERT(err == 0); /* mmk_pt_reserve_cut accepted it */
	if (ia != UINT64_MAX)
		pt->fmt->ops->cut(pt, r, ia, g);
}

int mmk_pt_reserve_map(struct mmk_pt *pt, struct mmk_pt_resv *r, mmk_vaddr_t va,
		       mmk_paddr_t pa, uint64_t size, uint32_t flags,
		       unsigned opts)
{
	MMK_ASSERT(r->pt == pt);
	uint64_t ia;
	int err = pt_check_map_region(pt, va, pa, size, flags, opts,
				      MMK_PT_MAP_HUGE | MMK_PT_MAP_WILL_UNMAP,
				      &ia);
	if (err)
		return err;
	return pt->fmt->ops->map_reserve(pt, r, ia, pa.v, size, flags, opts,
					 NULL, NULL);
}

void mmk_pt_map_reserved(struct mmk_pt *pt, struct mmk_pt_resv *r,
			 mmk_vaddr_t va, mmk_paddr_t pa, uint64_t size,
			 uint32_t flags, unsigned opts,
			 struct mmk_tlb_gather *g)
{
	MMK_ASSERT(r->pt == pt);
	uint64_t ia;
	int err = pt_check_map_region(pt, va, pa, size, flags, opts,
				      MMK_PT_MAP_HUGE | MMK_PT_MAP_WILL_UNMAP,
				      &ia);
	MMK_ASSERT(err == 0); /* mmk_pt_reserve_map accepted it */
	pt->fmt->ops->map_reserved(pt, r, ia, pa.v, size, flags, opts, NULL,
				   NULL, g);
}

/* ------------------------------------------------- the fault path */
int mmk_pt_lookup(const struct mmk_pt *pt, mmk_vaddr_t va,
		  struct mmk_pt_leaf *out)
{
	if (!pt_canonical(pt, va))
		return MMK_ENONCANON;
	int err = pt->fmt->ops->lookup(pt, pt_ia(pt, va), out);
	if (!err)
		out->va = va & ~(out->page_size - 1);
	return err;
}

int mmk_pt_replace(struct mmk_pt *pt, const struct mmk_pt_leaf *old,
		   mmk_paddr_t pa, uint32_t flags, struct mmk_tlb_gather *g)
{
	uint64_t ia;
	int err = pt_check_range(pt, old->va, old->page_size, old->page_size,
				 true, &ia);
	if (!err && (old->level >= pt->fmt->levels ||
		     old->page_size != (uint64_t)1 << pt->shift[old->level]))
		err = MMK_EINVAL;
	if (!err)
		err = pt_check_pa(pt, pa, old->page_size, old->page_size);
	if (!err)
		err = pt_check_flags(flags);
	if (err)
		return err;
	return pt->fmt->ops->replace(pt, ia, old, pa.v, flags, g);
}

/* ------------------------------------------------- fitting flags */
/* Does the encoder take @f and give exactly @f back (A/D presets aside)? */
static bool pt_exact(const struct mmk_pt *pt, uint32_t f)
{
	uint64_t pte;
	mmk_paddr_t pa;
	uint32_t back;
	if (pt->fmt->ops->encode_leaf(pt, 0, 0, f, &pte) != 0)
		return false;
	if (pt->fmt->ops->decode_leaf(pt, 0, pte, &pa.v, &back) != 0)
		return false;
	uint32_t ad = MMK_PT_ACCESSED | MMK_PT_DIRTY;
	return ((back ^ f) & ~ad) == 0;
}

int mmk_pt_fit_flags(const struct mmk_pt *pt, uint32_t want, uint32_t *have)
{
	if (want & ~MMK_PT_FLAGS_ALL)
		return MMK_EINVAL;
	/* The access bits to add, fewest first (then READ before WRITE
	 * before EXEC): the smallest superset the hardware forces. */
	static const uint32_t add[] = {
		0,
		MMK_PT_READ,
		MMK_PT_WRITE,
		MMK_PT_EXEC,
		MMK_PT_READ | MMK_PT_WRITE,
		MMK_PT_READ | MMK_PT_EXEC,
		MMK_PT_WRITE | MMK_PT_EXEC,
		MMK_PT_RWX,
	};
	for (unsigned i = 0; i < MMK_ARRAY_SIZE(add); i++) {
		if (add[i] & want)
			continue;
		if (pt_exact(pt, want | add[i])) {
			*have = want | add[i];
			return MMK_OK;
		}
	}
	return MMK_ENOTSUP;
}

bool mmk_pt_can_express(const struct mmk_pt *pt, uint32_t flags)
{
	uint32_t have;
	return mmk_pt_fit_flags(pt, flags, &have) == 0 && have == flags;
}

int mmk_pt_copy_from(struct mmk_pt *dst, const struct mmk_pt *src,
		     mmk_vaddr_t va, uint64_t size)
{
	if (dst->fmt != src->fmt || dst == src)
		return MMK_EINVAL;
	unsigned top = dst->fmt->levels - 1, sh = dst->shift[top];
	uint64_t ia;
	int err = pt_check_range(dst, va, size, 1, false, &ia);
	if (err)
		return err;
	if ((ia | size) & (((uint64_t)1 << sh) - 1))
		return MMK_EALIGN;
	uint64_t first = ia >> sh, last = (ia + size - 1) >> sh;
	uint64_t *d = mmk_phys_to_virt(dst->root);
	const uint64_t *s = mmk_phys_to_virt(src->root);
	uint64_t empty = dst->fmt->ops->empty(dst, top);
	for (uint64_t i = first; i <= last; i++)
		if (d[i] != empty)
			return MMK_EEXIST;
	for (uint64_t i = first; i <= last; i++) {
		uint64_t e = __atomic_load_n(&s[i], __ATOMIC_ACQUIRE);
		if (e == empty)
			continue;
		__atomic_store_n(&d[i], e, __ATOMIC_RELEASE);
		dst->borrowed[i / 64] |= (uint64_t)1 << (i % 64);
		dst->nborrowed++;
		/* The source pins it (a logically const flag on @src). */
		((struct mmk_pt *)src)->pinned[i / 64] |= (uint64_t)1
							  << (i % 64);
	}
	return MMK_OK;
}

/* -------------------------------------------------------- walk, dump */
int mmk_pt_walk(const struct mmk_pt *pt, mmk_vaddr_t va, uint64_t size,
		mmk_pt_walk_fn fn, void *ctx)
{
	uint64_t ia;
	int err = pt_check_range(pt, va, size, 1, false, &ia);
	if (err)
		return err;
	return pt->fmt->ops->walk(pt, ia, size, fn, ctx);
}

struct pt_dump {
	const struct mmk_pt *pt;
	enum mmk_pt_dump_style style;
	mmk_pt_line_fn out;
	void *ctx;
	bool have;
	struct mmk_pt_leaf run;
	uint32_t key; /* what must match to extend the run */
	bool want_pa; /* run needs contiguous physical addresses */
};

static bool pt_arch_is(const struct mmk_pt *pt, const char *arch)
{
	const char *a = pt->fmt->arch;
	while (*a && *a == *arch) {
		a++;
		arch++;
	}
	return *a == *arch;
}

static uint32_t pt_dump_key(const struct pt_dump *d,
			    const struct mmk_pt_leaf *lf)
{
	if (d->style == MMK_PT_DUMP_QEMU_MEM && pt_arch_is(d->pt, "x86_64"))
		return lf->flags & (MMK_PT_USER | MMK_PT_WRITE);
	if (d->style == MMK_PT_DUMP_QEMU_MEM && pt_arch_is(d->pt, "riscv64"))
		return lf->flags & (MMK_PT_RWX | MMK_PT_USER | MMK_PT_GLOBAL |
				    MMK_PT_ACCESSED | MMK_PT_DIRTY);
	return lf->flags;
}

static void pt_dump_emit(struct pt_dump *d)
{
	char line[160];
	const struct mmk_pt_leaf *r = &d->run;
	uint32_t f = r->flags;
	bool x86 = pt_arch_is(d->pt, "x86_64");
	bool rv = pt_arch_is(d->pt, "riscv64");
	if (d->style == MMK_PT_DUMP_QEMU_MEM && x86) {
		/* target/i386/monitor.c mem_print: start-end size prot */
		if (!(f & MMK_PT_RWX))
			return; /* not present: QEMU shows nothing */
		mmk_snprintf(line, sizeof(line),
			     "%016llx-%016llx %016llx %c%c%c",
			     (unsigned long long)r->va,
			     (unsigned long long)(r->va + r->size),
			     (unsigned long long)r->size,
			     f & MMK_PT_USER ? 'u' : '-', 'r',
			     f & MMK_PT_WRITE ? 'w' : '-');
	} else if (d->style == MMK_PT_DUMP_QEMU_MEM && rv) {
		/* target/riscv/monitor.c print_pte: va pa size rwxugad */
		if (!(f & MMK_PT_RWX))
			return; /* V=0: QEMU shows nothing */
		mmk_snprintf(line, sizeof(line),
			     "%016llx %016llx %016llx %c%c%c%c%c%c%c",
			     (unsigned long long)r->va,
			     (unsigned long long)r->pa.v,
			     (unsigned long long)r->size,
			     f & MMK_PT_READ ? 'r' : '-',
			     f & MMK_PT_WRITE ? 'w' : '-',
			     f & MMK_PT_EXEC ? 'x' : '-',
			     f & MMK_PT_USER ? 'u' : '-',
			     f & MMK_PT_GLOBAL ? 'g' : '-',
			     f & MMK_PT_ACCESSED ? 'a' : '-',
			     f & MMK_PT_DIRTY ? 'd' : '-');
	} else {
		static const char *const mt[] = {"normal", "device", "uncached",
						 "wc"};
		mmk_snprintf(line, sizeof(line),
			     "%016llx-%016llx %016llx %llx %c%c%c%c%c%c%c %s",
			     (unsigned long long)r->va,
			     (unsigned long long)(r->va + r->size),
			     (unsigned long long)r->pa.v,
			     (unsigned long long)r->page_size,
			     f & MMK_PT_READ ? 'r' : '-',
			     f & MMK_PT_WRITE ? 'w' : '-',
			     f & MMK_PT_EXEC ? 'x' : '-',
			     f & MMK_PT_USER ? 'u' : '-',
			     f & MMK_PT_GLOBAL ? 'g' : '-',
			     f & MMK_PT_ACCESSED ? 'a' : '-',
			     f & MMK_PT_DIRTY ? 'd' : '-',
			     mt[(f & MMK_PT_MT_MASK) >> MMK_PT_MT_SHIFT]);
	}
	d->out(d->ctx, line);
}

static int pt_dump_leaf(void *ctx, const struct mmk_pt_leaf *lf)
{
	struct pt_dump *d = ctx;
	if (d->style == MMK_PT_DUMP_QEMU_TLB) {
		char line[160];
		uint64_t pte = 0;
		if (d->pt->fmt->dump_tlb_line &&
		    d->pt->fmt->ops->raw_entry(
			    d->pt,
			    lf->va & (((uint64_t)1 << d->pt->fmt->va_bits) - 1),
			    lf->level, &pte) == 0 &&
		    d->pt->fmt->dump_tlb_line(d->pt, lf->va, pte, lf->level,
					      line, sizeof(line)) == 0)
			d->out(d->ctx, line);
		return 0;
	}
	uint32_t key = pt_dump_key(d, lf);
	if (d->have && d->key == key && d->run.va + d->run.size == lf->va &&
	    (!d->want_pa || d->run.pa.v + d->run.size == lf->pa.v) &&
	    (d->style != MMK_PT_DUMP_RUNS ||
	     d->run.page_size == lf->page_size)) {
		d->run.size += lf->size;
		return 0;
	}
	if (d->have)
		pt_dump_emit(d);
	d->have = true;
	d->run = *lf;
	d->key = key;
	return 0;
}

int mmk_pt_dump(const struct mmk_pt *pt, mmk_vaddr_t va, uint64_t size,
		enum mmk_pt_dump_style style, mmk_pt_line_fn out, void *ctx)
{
	struct pt_dump d = {.pt = pt, .style = style, .out = out, .ctx = ctx};
	bool x86 = pt_arch_is(pt, "x86_64");
	bool rv = pt_arch_is(pt, "riscv64");
	if (style == MMK_PT_DUMP_QEMU_MEM && !x86 && !rv)
		d.style = MMK_PT_DUMP_RUNS;
	d.want_pa = !(d.style == MMK_PT_DUMP_QEMU_MEM && x86);
	if (d.style == MMK_PT_DUMP_QEMU_MEM && rv) {
		out(ctx,
		    "vaddr            paddr            size             attr");
		out(ctx, "---------------- ---------------- ---------------- "
			 "-------");
	}
	int r = mmk_pt_walk(pt, va, size, pt_dump_leaf, &d);
	if (r >= 0 && d.have)
		pt_dump_emit(&d);
	return r < 0 ? r : 0;
}

/* ------------------------------------------------ encodings (tests) */
int mmk_pt_encode_leaf(const struct mmk_pt *pt, unsigned level, mmk_paddr_t pa,
		       uint32_t flags, uint64_t *pte)
{
	if (level >= pt->fmt->levels || !(pt->fmt->leaf_levels >> level & 1))
		return MMK_ENOTSUP;
	int err = pt_check_flags(flags);
	if (!err)
		err = pt_check_pa(pt, pa, (uint64_t)1 << pt->shift[level],
				  (uint64_t)1 << pt->shift[level]);
	if (err)
		return err;
	return pt->fmt->ops->encode_leaf(pt, level, pa.v, flags, pte);
}

int mmk_pt_decode_leaf(const struct mmk_pt *pt, unsigned level, uint64_t pte,
		       mmk_paddr_t *pa, uint32_t *flags)
{
	if (level >= pt->fmt->levels)
		return MMK_EINVAL;
	uint64_t p;
	int err = pt->fmt->ops->decode_leaf(pt, level, pte, &p, flags);
	if (!err)
		*pa = mmk_pa(p);
	return err;
}

int mmk_pt_raw_entry(const struct mmk_pt *pt, mmk_vaddr_t va, unsigned level,
		     uint64_t *pte)
{
	if (!pt_canonical(pt, va))
		return MMK_ENONCANON;
	if (level >= pt->fmt->levels)
		return MMK_EINVAL;
	return pt->fmt->ops->raw_entry(pt, pt_ia(pt, va), level, pte);
}
