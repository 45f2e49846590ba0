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

#include "pt/checks.h"
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

void mmk_pt_set_page_source(struct mmk_pt *pt,
			    const struct mmk_pt_page_source *src)
{
	pt->page_src = src;
}

int mmk__pt_alloc_table(const struct mmk_pt *pt, unsigned level, uint64_t *pa)
{
	mmk_paddr_t p;
	if (mmk__pt_take_page(pt, mmk__pt_table_order(pt->fmt, level), &p) != 0)
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
	/* Read once, before the stores into *pt (gcc -O3 cannot tell they do
	 * not change *f, and warns the loop may run past shift[]). */
	const unsigned levels = f->levels;
	if (levels > MMK_PT_MAX_LEVELS)
		return MMK_EINVAL; /* a format table bug */
	__builtin_memset(pt, 0, sizeof(*pt));
	pt->fmt = f;
	pt->frames = frames;
	pt->opts = opts;
	unsigned s = f->page_shift;
	for (unsigned l = 0; l <= levels; l++) {
		pt->shift[l] = (uint8_t)s;
		if (l < levels) {
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
	mmk__pt_reap(pt);
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

void mmk_pt_count_tables(const struct mmk_pt *pt,
			 struct mmk_pt_table_count *out)
{
	__builtin_memset(out, 0, sizeof(*out));
	out->levels = pt->fmt->levels;
	for (unsigned l = 0; l < out->levels; l++)
		out->bytes[l] = (uint32_t)MMK_PAGE_SIZE
				<< mmk__pt_table_order(pt->fmt, l);
	pt->fmt->ops->count_tables(pt, out);
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
/* The hot calls jump to the mode's own entry points (pt/engine/fast.h),
 * which check their arguments with the mode's constants. */
int mmk_pt_map(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
	       uint64_t page_size, uint32_t flags, struct mmk_tlb_gather *b)
{
	return pt->fmt->map(pt, va, pa, page_size, flags, b);
}

/* Every page size and every check; the fast map sends what it does not
 * handle here. */
static int pt_map_check(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
			uint64_t page_size, uint32_t flags, uint64_t *ia,
			unsigned *level)
{
	int l = pt_level_of(pt, page_size);
	uint64_t align =
		l < 0 ? ((uint64_t)1 << pt->fmt->page_shift) : page_size;
	int err = pt_check_range(pt, va, l < 0 ? align : page_size, align, true,
				 ia);
	if (!err)
		err = pt_check_pa(pt, pa, l < 0 ? align : page_size, align);
	if (!err && (l < 0 || pt_check_flags(flags)))
		err = MMK_ENOTSUP;
	*level = (unsigned)l;
	return err;
}

int mmk__pt_map_checked_private(struct mmk_pt *pt, mmk_vaddr_t va,
				mmk_paddr_t pa, uint64_t page_size,
				uint32_t flags, struct mmk_pt_resv *pool)
{
	uint64_t ia;
	unsigned l;
	int err = pt_map_check(pt, va, pa, page_size, flags, &ia, &l);
	return err ? err
		   : pt->fmt->ops->map_private(pt, ia, pa.v, l, flags, pool);
}

int mmk__pt_map_private(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
			uint64_t page_size, uint32_t flags,
			struct mmk_pt_resv *pool)
{
	/* the fast map while the reservation is empty (nearly every
	 * fault); the general one takes the tables from it */
	if (MMK_LIKELY(!pool || !pool->n))
		return pt->fmt->map_private(pt, va, pa, page_size, flags, NULL);
	return mmk__pt_map_checked_private(pt, va, pa, page_size, flags, pool);
}

int mmk__pt_map_cursor_private(struct mmk_pt_cursor *c, mmk_vaddr_t va,
			       mmk_paddr_t pa, uint32_t flags,
			       struct mmk_pt_resv *pool)
{
	/* reserved tables: the first map builds them (the cursor fills on
	 * the next call); then the cursor's own path */
	if (MMK_UNLIKELY(pool && pool->n))
		return mmk__pt_map_checked_private(
			c->pt, va, pa, (uint64_t)1 << c->pt->fmt->page_shift,
			flags, pool);
	return c->pt->fmt->map_cursor_private(c, va, pa, flags, NULL);
}

int mmk__pt_reserve_fault(struct mmk_pt *pt, struct mmk_pt_resv *r,
			  mmk_vaddr_t va, uint64_t page_size)
{
	uint64_t ia;
	int l = pt_level_of(pt, page_size);
	if (l < 0)
		return MMK_ENOTSUP;
	int err = pt_check_range(pt, MMK_ALIGN_DOWN(va, page_size), page_size,
				 page_size, true, &ia);
	return err ? err : pt->fmt->ops->reserve_fault(pt, r, ia, (unsigned)l);
}

int mmk__pt_map_checked(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
			uint64_t page_size, uint32_t flags,
			struct mmk_tlb_gather *b)
{
	uint64_t ia;
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
	c->tag = MMK_PT_CURSOR_NONE;
}

int mmk_pt_map_cursor(struct mmk_pt_cursor *c, mmk_vaddr_t va, mmk_paddr_t pa,
		      uint32_t flags, struct mmk_tlb_gather *b)
{
	return c->pt->fmt->map_cursor(c, va, pa, flags, b);
}

int mmk_pt_unmap(struct mmk_pt *pt, mmk_vaddr_t va, struct mmk_tlb_gather *b,
		 struct mmk_pt_leaf *out)
{
	uint64_t ia;
	int err = pt_check_range(pt, va, (uint64_t)1 << pt->fmt->page_shift,
				 (uint64_t)1 << pt->fmt->page_shift, true, &ia);
	if (err)
		return err;
	mmk__pt_reap(pt);
	return pt->fmt->ops->unmap(pt, ia, b, out);
}

int mmk_pt_query(const struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t *pa,
		 uint32_t *flags, uint64_t *page_size)
{
	return pt->fmt->query(pt, va, pa, flags, page_size);
}

size_t mmk_pt_query_many(const struct mmk_pt *pt, size_t n,
			 const mmk_vaddr_t *va, mmk_paddr_t *pa,
			 uint32_t *flags)
{
	return pt->fmt->query_many(pt, n, va, pa, flags);
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
	mmk__pt_reap(pt);
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
	mmk__pt_reap(pt);
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
	mmk__pt_reap(pt);
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
	mmk__pt_reap(pt);
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
	mmk__pt_reap(pt);
	return pt->fmt->ops->protect_region(pt, ia, size, flags, b);
}

/* ------------------------------------------------ two-step edits */
void mmk_pt_resv_init(struct mmk_pt_resv *r, struct mmk_pt *pt)
{
	*r = (struct mmk_pt_resv)MMK__PT_RESV_EMPTY(pt);
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
	mmk__pt_reap(pt);
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
	mmk__pt_reap(pt);
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
	return pt->fmt->lookup(pt, va, out);
}

/* mmk_pt_replace's checks: 0 and *@ia, or the error. */
static int pt_replace_check(const struct mmk_pt *pt,
			    const struct mmk_pt_leaf *old, mmk_paddr_t pa,
			    uint32_t flags, uint64_t *ia)
{
	int err = pt_check_range(pt, old->va, old->page_size, old->page_size,
				 true, ia);
	if (!err && (old->level >= pt->fmt->levels ||
		     old->page_size != (uint64_t)1 << pt->shift[old->level]))
		err = MMK_EINVAL;
	if (!err)
		err = pt_check_pa(pt, pa, old->page_size, old->page_size);
	if (!err)
		err = pt_check_flags(flags);
	return err;
}

int mmk_pt_replace(struct mmk_pt *pt, const struct mmk_pt_leaf *old,
		   mmk_paddr_t pa, uint32_t flags, struct mmk_tlb_gather *g)
{
	uint64_t ia;
	int err = pt_replace_check(pt, old, pa, flags, &ia);
	return err ? err : pt->fmt->ops->replace(pt, ia, old, pa.v, flags, g);
}

/* Its own call of the op, not mmk_pt_replace's: the stack-depth tool
 * follows an ops member by name, and this one never unshares. */
int mmk__pt_replace_private(struct mmk_pt *pt, const struct mmk_pt_leaf *old,
			    mmk_paddr_t pa, uint32_t flags,
			    struct mmk_tlb_gather *g)
{
	uint64_t ia;
	int err = pt_replace_check(pt, old, pa, flags, &ia);
	return err ? err
		   : pt->fmt->ops->replace_private(pt, ia, old, pa.v, flags, g);
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
