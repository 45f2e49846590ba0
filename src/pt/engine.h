/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the generic page-table engine, as a template.
 *
 * A format's .c file defines the encoding hooks listed in pt/format.h,
 * defines MMK_ENGINE_OPS to the name of the ops table to produce, and
 * includes this file once.  Everything here is static: each format gets its
 * own copy of the engine with the hooks inlined into the loops.
 *
 * Shape of every operation (see include/mmkit/pt.h for the contracts):
 *
 *   prepare   read-only descent: check for conflicts, count the table pages
 *             the commit will need (new tables, splits of huge pages),
 *             allocate them all into a private pool.  May fail; nothing is
 *             visible yet.
 *   commit    one descent per table touched, never one per page; a tight
 *             loop per leaf table.  Takes tables from the pool, cannot
 *             fail.  New tables are filled before they are hooked in, so a
 *             concurrent walker (hardware or a single-page map) never sees
 *             a half-built table.
 *
 * Addresses here are index addresses (the low va_bits bits of a canonical
 * address); a slot step is `(a | (span - 1)) + 1`, which cannot wrap since
 * va_bits < 64.
 */
#ifndef MMK_ENGINE_OPS
#error "define MMK_ENGINE_OPS (the ops table name) before including pt/engine.h"
#endif

#include "pt/format.h"

#define ENG_NONE UINT64_MAX /* "no table" in prepare, "empty" pool */

/* ---------------------------------------------------------- basics */
static inline bool eng_is_empty(const struct mmk_pt *pt, mmk__pte_t e,
				unsigned l)
{
	return fmt_empty_is_zero() ? e == 0 : e == fmt_empty(pt, l);
}

static inline mmk__pte_t *eng_tbl(uint64_t pa)
{
	return (mmk__pte_t *)mmk_phys_to_virt(mmk_pa(pa));
}

static inline uint64_t eng_span(const struct mmk_pt *pt, unsigned l)
{
	return (uint64_t)1 << pt->shift[l];
}

static inline unsigned eng_idx(const struct mmk_pt *pt, uint64_t ia, unsigned l)
{
	return (unsigned)(ia >> pt->shift[l]) & pt->idx_mask[l];
}

static inline bool eng_leaf_ok(const struct mmk_pt *pt, unsigned l)
{
	return (pt->fmt->leaf_levels >> l) & 1;
}

static inline mmk__pte_t eng_ld(const mmk__pte_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline mmk__pte_t eng_ld_acq(const mmk__pte_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void eng_st(mmk__pte_t *p, mmk__pte_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline void eng_st_rel(mmk__pte_t *p, mmk__pte_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline bool eng_cas(mmk__pte_t *p, mmk__pte_t *expect, mmk__pte_t v)
{
	return __atomic_compare_exchange_n(p, expect, v, false,
					   __ATOMIC_RELEASE, __ATOMIC_ACQUIRE);
}

static void eng_init_table(const struct mmk_pt *pt, void *table, unsigned l)
{
	size_t n = (size_t)1 << pt->fmt->bits[l];
	if (fmt_empty_is_zero()) {
		__builtin_memset(table, 0, n * sizeof(mmk__pte_t));
		return;
	}
	mmk__pte_t e = fmt_empty(pt, l), *t = (mmk__pte_t *)table;
	for (size_t i = 0; i < n; i++)
		t[i] = e;
}

static uint64_t eng_empty(const struct mmk_pt *pt, unsigned l)
{
	return fmt_empty(pt, l);
}

/* True if every entry of table @t (level @l) is empty. */
static bool eng_table_empty(const struct mmk_pt *pt, const mmk__pte_t *t,
			    unsigned l)
{
	size_t n = (size_t)1 << pt->fmt->bits[l];
	mmk__pte_t e = fmt_empty(pt, l);
	for (size_t i = 0; i < n; i++)
		if (t[i] != e)
			return false;
	return true;
}

/* Table pages taken in prepare, linked through their first word (they are
 * private until hooked in, so nothing else reads them). */
struct eng_pool {
	uint64_t head;
	long n;
};

static int eng_pool_fill(struct mmk_pt *pt, struct eng_pool *p, long n)
{
	p->head = ENG_NONE;
	p->n = 0;
	for (long i = 0; i < n; i++) {
		mmk_paddr_t pa;
		if (mmk_frame_alloc(pt->frames, mmk__pt_table_order(pt->fmt, 0),
				    0, &pa) != 0) {
			while (p->head != ENG_NONE) {
				uint64_t next = *eng_tbl(p->head);
				mmk_frame_free(pt->frames, mmk_pa(p->head));
				p->head = next;
			}
			p->n = 0;
			return MMK_ENOMEM;
		}
		*eng_tbl(pa.v) = p->head;
		p->head = pa.v;
		p->n++;
	}
	return MMK_OK;
}

static uint64_t eng_pool_pop(struct mmk_pt *pt, struct eng_pool *p)
{
	uint64_t pa = p->head;
	MMK_ASSERT(pa != ENG_NONE);
	p->head = *eng_tbl(pa);
	p->n--;
	atomic_fetch_add_explicit(&pt->tables, 1, memory_order_relaxed);
	return pa;
}

/* ------------------------------------------------------ single pages */
/*
 * Map one leaf at level @tl.  Safe against concurrent eng_map calls: the
 * descent reads with acquire, missing tables are allocated first (tables
 * are only ever added while single maps run, so the count found can only
 * shrink), built into a private chain, and published with one CAS on the
 * empty entry; losing a CAS means descending into the winner's table and
 * freeing our page for that level.
 */
static int eng_map_slow(struct mmk_pt *pt, uint64_t ia, unsigned tl,
			mmk__pte_t leaf, unsigned l, mmk__pte_t *p,
			mmk__pte_t e, bool global, struct mmk_tlb_gather *b);

static int eng_map(struct mmk_pt *pt, uint64_t ia, uint64_t pa, unsigned tl,
		   uint32_t flags, struct mmk_tlb_gather *b)
{
	mmk__pte_t tmpl;
	int err = fmt_leaf_template(pt, flags, tl, &tmpl);
	if (MMK_UNLIKELY(err))
		return err;
	mmk__pte_t leaf = fmt_make_leaf(tmpl, pa, tl);

	unsigned l = pt->fmt->levels - 1;
	mmk__pte_t *p = eng_tbl(pt->root.v) + eng_idx(pt, ia, l);
	mmk__pte_t e;
	for (;;) {
		e = eng_ld_acq(p);
		if (l == tl)
			break;
		if (MMK_UNLIKELY(eng_is_empty(pt, e, l)))
			return eng_map_slow(pt, ia, tl, leaf, l, p, e,
					    flags & MMK_PT_GLOBAL, b);
		if (MMK_UNLIKELY(!fmt_is_table(e, l)))
			return MMK_EEXIST;
		l--;
		p = eng_tbl(fmt_table_pa(e, l + 1)) + eng_idx(pt, ia, l);
	}
	mmk__pte_t expect = fmt_empty(pt, l);
	if (MMK_UNLIKELY(e != expect || !eng_cas(p, &expect, leaf)))
		return MMK_EEXIST;
	if (pt->fmt->caps & MMK__FMT_MAP_NEEDS_FLUSH)
		mmk__pt_gather_range(b, pt, ia, eng_span(pt, tl),
				     flags & MMK_PT_GLOBAL);
	fmt_sync();
	return MMK_OK;
}

/* eng_map when tables are missing below level @l (entry *p == e, empty). */
__attribute__((noinline)) static int
eng_map_slow(struct mmk_pt *pt, uint64_t ia, unsigned tl, mmk__pte_t leaf,
	     unsigned l, mmk__pte_t *p, mmk__pte_t e, bool global,
	     struct mmk_tlb_gather *b)
{

	/* Tables for levels l-1 .. tl, chained privately. */
	uint64_t chain[MMK_PT_MAX_LEVELS];
	unsigned n = l - tl, k = 0;
	for (unsigned i = 0; i < n; i++) {
		if (mmk__pt_alloc_table(pt, l - 1 - i, &chain[i]) != 0) {
			while (i--)
				mmk__pt_free_table(pt, l - 1 - i, chain[i]);
			return MMK_ENOMEM;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned cl = l - 1 - i;
		eng_tbl(chain[i])[eng_idx(pt, ia, cl)] =
			i + 1 < n ? fmt_make_table(pt, chain[i + 1], cl) : leaf;
	}

	for (;;) {
		mmk__pte_t want =
			k < n ? fmt_make_table(pt, chain[k], l) : leaf;
		mmk__pte_t expect = fmt_empty(pt, l);
		if (eng_is_empty(pt, e, l) && eng_cas(p, &expect, want)) {
			atomic_fetch_add_explicit(&pt->tables, (long)(n - k),
						  memory_order_relaxed);
			break;
		}
		/* Lost, or the slot was already taken. */
		if (!eng_is_empty(pt, expect, l))
			e = expect;
		if (k == n || !fmt_is_table(e, l)) {
			for (; k < n; k++)
				mmk__pt_free_table(pt, l - 1 - k, chain[k]);
			return MMK_EEXIST;
		}
		/* Another CPU installed the table this level needed. */
		mmk__pt_free_table(pt, l - 1 - k, chain[k]);
		k++;
		l--;
		p = eng_tbl(fmt_table_pa(e, l + 1)) + eng_idx(pt, ia, l);
		e = eng_ld_acq(p);
	}
	if (pt->fmt->caps & MMK__FMT_MAP_NEEDS_FLUSH)
		mmk__pt_gather_range(b, pt, ia, eng_span(pt, tl), global);
	fmt_sync();
	return MMK_OK;
}

/*
 * Single map through a cursor.  The cached level-0 table is still the one
 * hooked at its slot as long as pt->gen has not moved (only exclusive
 * operations unhook tables, and they bump gen).
 */
static int eng_map_cursor_miss(struct mmk_pt_cursor *c, uint64_t ia,
			       uint64_t pa, uint32_t flags,
			       struct mmk_tlb_gather *b);

static int eng_map_cursor(struct mmk_pt_cursor *c, uint64_t ia, uint64_t pa,
			  uint32_t flags, struct mmk_tlb_gather *b)
{
	struct mmk_pt *pt = c->pt;
	uint64_t tag = ia >> pt->shift[1];
	if (MMK_LIKELY(c->table && c->tag == tag && c->flags == flags &&
		       c->gen == atomic_load_explicit(&pt->gen,
						      memory_order_relaxed))) {
		mmk__pte_t *p = (mmk__pte_t *)c->table + eng_idx(pt, ia, 0);
		mmk__pte_t expect = fmt_empty(pt, 0);
		if (MMK_UNLIKELY(eng_ld(p) != expect ||
				 !eng_cas(p, &expect,
					  fmt_make_leaf(c->tmpl, pa, 0))))
			return MMK_EEXIST;
		if (pt->fmt->caps & MMK__FMT_MAP_NEEDS_FLUSH)
			mmk__pt_gather_range(b, pt, ia, eng_span(pt, 0),
					     flags & MMK_PT_GLOBAL);
		fmt_sync();
		return MMK_OK;
	}
	return eng_map_cursor_miss(c, ia, pa, flags, b);
}

/* Out of line, so the hit path above needs no stack frame. */
__attribute__((noinline)) static int
eng_map_cursor_miss(struct mmk_pt_cursor *c, uint64_t ia, uint64_t pa,
		    uint32_t flags, struct mmk_tlb_gather *b)
{
	struct mmk_pt *pt = c->pt;
	uint64_t tag = ia >> pt->shift[1];
	int err = eng_map(pt, ia, pa, 0, flags, b);
	if (err)
		return err;
	/* Refill: find the leaf table now holding ia. */
	unsigned l = pt->fmt->levels - 1;
	uint64_t table = pt->root.v;
	c->table = NULL;
	for (; l > 0; l--) {
		mmk__pte_t e = eng_ld_acq(eng_tbl(table) + eng_idx(pt, ia, l));
		if (eng_is_empty(pt, e, l) || !fmt_is_table(e, l))
			return MMK_OK;
		table = fmt_table_pa(e, l);
	}
	mmk__pte_t tmpl;
	if (fmt_leaf_template(pt, flags, 0, &tmpl) != 0)
		return MMK_OK;
	c->table = eng_tbl(table);
	c->tag = tag;
	c->flags = flags;
	c->tmpl = tmpl;
	c->gen = atomic_load_explicit(&pt->gen, memory_order_relaxed);
	return MMK_OK;
}

/* Descend to the entry that ends the walk of @ia (a leaf or an empty
 * entry); fills the table addresses on the way in @path[level]. */
static mmk__pte_t *eng_lookup(const struct mmk_pt *pt, uint64_t ia,
			      unsigned *level, uint64_t *path)
{
	unsigned l = pt->fmt->levels - 1;
	uint64_t table = pt->root.v;
	for (;;) {
		mmk__pte_t *p = eng_tbl(table) + eng_idx(pt, ia, l);
		mmk__pte_t e = eng_ld_acq(p);
		if (path)
			path[l] = table;
		if (l == 0 || eng_is_empty(pt, e, l) || !fmt_is_table(e, l)) {
			*level = l;
			return p;
		}
		table = fmt_table_pa(e, l);
		l--;
	}
}

/*
 * The hot read path: a few instructions per level, nothing stored, so that
 * independent queries overlap their cache misses.  The walk is unrolled
 * per level count; a format whose levels all have FMT_BITS index bits over
 * FMT_PAGE_SHIFT-bit pages (it may #define both) gets constant shifts and
 * masks as well.
 */
#if defined(FMT_BITS) && defined(FMT_PAGE_SHIFT)
#define ENG_QSHIFT(pt, L) (FMT_PAGE_SHIFT + FMT_BITS * (L))
#define ENG_QMASK(pt, L)  ((1u << FMT_BITS) - 1)
#else
#define ENG_QSHIFT(pt, L) ((pt)->shift[L])
#define ENG_QMASK(pt, L)  ((pt)->idx_mask[L])
#endif

static inline __attribute__((always_inline)) int
eng_query_leaf(const struct mmk_pt *pt, uint64_t ia, mmk__pte_t e,
	       const unsigned l, uint64_t *pa, uint32_t *flags, unsigned *level)
{
	if (MMK_UNLIKELY(!fmt_is_leaf(e, l)))
		return MMK_ENOENT;
	*pa = fmt_leaf_pa(e, l) +
	      (ia & (((uint64_t)1 << ENG_QSHIFT(pt, l)) - 1));
	if (flags)
		*flags = fmt_leaf_flags(pt, e, l);
	*level = l;
	return MMK_OK;
}

#define ENG_QSTEP(L)                                                           \
	do {                                                                   \
		e = eng_ld_acq(eng_tbl(table) + ((ia >> ENG_QSHIFT(pt, L)) &   \
						 ENG_QMASK(pt, L)));           \
		if (MMK_UNLIKELY(eng_is_empty(pt, e, L)))                      \
			return MMK_ENOENT;                                     \
		if ((L) == 0 || !fmt_is_table(e, L))                           \
			return eng_query_leaf(pt, ia, e, L, pa, flags, level); \
		table = fmt_table_pa(e, L);                                    \
	} while (0)

static int eng_query(const struct mmk_pt *pt, uint64_t ia, uint64_t *pa,
		     uint32_t *flags, unsigned *level)
{
	uint64_t table = pt->root.v;
	mmk__pte_t e;
	switch (pt->fmt->levels) {
	case 5:
		ENG_QSTEP(4);
		/* fall through */
	case 4:
		ENG_QSTEP(3);
		/* fall through */
	case 3:
		ENG_QSTEP(2);
		/* fall through */
	case 2:
		ENG_QSTEP(1);
		/* fall through */
	default:
		ENG_QSTEP(0);
	}
	return MMK_ENOENT; /* not reached: level 0 always returns */
}

/* Unhook and queue every table on @path above @l that is now empty. */
static inline bool eng_pinned(const struct mmk_pt *pt, unsigned l, uint64_t ia)
{
	if (l + 1 != pt->fmt->levels)
		return false;
	unsigned i = eng_idx(pt, ia, l);
	return (pt->pinned[i / 64] >> (i % 64)) & 1;
}

static void eng_prune(struct mmk_pt *pt, uint64_t ia, unsigned l,
		      const uint64_t *path, struct mmk_tlb_gather *b)
{
	for (; l + 1 < pt->fmt->levels; l++) {
		if (eng_pinned(pt, l + 1, ia) ||
		    !eng_table_empty(pt, eng_tbl(path[l]), l))
			return;
		mmk__pte_t *p = eng_tbl(path[l + 1]) + eng_idx(pt, ia, l + 1);
		eng_st(p, fmt_empty(pt, l + 1));
		atomic_fetch_add_explicit(&pt->gen, 1, memory_order_relaxed);
		mmk__pt_gather_table(b, pt, path[l]);
		atomic_fetch_sub_explicit(&pt->tables, 1, memory_order_relaxed);
	}
}

static int eng_unmap(struct mmk_pt *pt, uint64_t ia, struct mmk_tlb_gather *b,
		     struct mmk_pt_leaf *out)
{
	uint64_t path[MMK_PT_MAX_LEVELS];
	unsigned l;
	mmk__pte_t *p = eng_lookup(pt, ia, &l, path);
	mmk__pte_t e = eng_ld(p);
	if (!fmt_is_leaf(e, l))
		return MMK_ENOENT;
	uint64_t span = eng_span(pt, l);
	if (ia & (span - 1))
		return MMK_EALIGN;
	uint32_t f = fmt_leaf_flags(pt, e, l);
	if (out) {
		out->va = mmk__pt_va(pt, ia);
		out->pa = mmk_pa(fmt_leaf_pa(e, l));
		out->size = out->page_size = span;
		out->flags = f;
		out->level = l;
	}
	eng_st(p, fmt_empty(pt, l));
	mmk__pt_gather_range(b, pt, ia, span, f & MMK_PT_GLOBAL);
	eng_prune(pt, ia, l, path, b);
	fmt_sync();
	return MMK_OK;
}

/* Must the change from @of to @nf be flushed? (lost access, or changed
 * user/global/memory type) */
static inline bool eng_protect_loses(uint32_t of, uint32_t nf)
{
	return (of & ~nf & MMK_PT_RWX) ||
	       ((of ^ nf) & (MMK_PT_USER | MMK_PT_GLOBAL | MMK_PT_MT_MASK));
}

/* Replace live leaf *p (@old) by @new, with break-before-make if needed. */
static inline void eng_replace(struct mmk_pt *pt, mmk__pte_t *p, mmk__pte_t old,
			       mmk__pte_t nw, unsigned l, uint64_t ia,
			       struct mmk_tlb_gather *b)
{
	if (fmt_needs_bbm(old, nw, l)) {
		eng_st(p, fmt_empty(pt, l));
		fmt_sync();
		mmk__pt_flush_now(b, pt, ia & ~(eng_span(pt, l) - 1),
				  eng_span(pt, l));
	}
	eng_st_rel(p, nw);
}

static int eng_protect(struct mmk_pt *pt, uint64_t ia, uint32_t flags,
		       struct mmk_tlb_gather *b)
{
	unsigned l;
	mmk__pte_t *p = eng_lookup(pt, ia, &l, NULL);
	mmk__pte_t e = eng_ld(p);
	if (!fmt_is_leaf(e, l))
		return MMK_ENOENT;
	if (ia & (eng_span(pt, l) - 1))
		return MMK_EALIGN;
	mmk__pte_t tmpl;
	int err = fmt_leaf_template(pt, flags, l, &tmpl);
	if (err)
		return err;
	mmk__pte_t nw = fmt_make_leaf(tmpl, fmt_leaf_pa(e, l), l) |
			fmt_leaf_hw_bits(e, l);
	uint32_t of = fmt_leaf_flags(pt, e, l);
	if (nw != e) {
		eng_replace(pt, p, e, nw, l, ia, b);
		if (eng_protect_loses(of, flags))
			mmk__pt_gather_range(b, pt, ia, eng_span(pt, l),
					     of & MMK_PT_GLOBAL);
		fmt_sync();
	}
	return MMK_OK;
}

/* ------------------------------------------------------- map_region */
struct eng_map_ctx {
	uint64_t delta; /* pa = ia + delta (mod 2^64) when !fn */
	mmk_pt_pa_fn fn;
	void *fctx;
	bool huge;
	int err;
	mmk__pte_t tmpl[MMK_PT_MAX_LEVELS];
	bool tmpl_ok[MMK_PT_MAX_LEVELS];
	struct eng_pool pool;
};

static inline uint64_t eng_map_pa(const struct mmk_pt *pt,
				  const struct eng_map_ctx *c, uint64_t ia)
{
	if (!c->fn)
		return ia + c->delta;
	return c->fn(c->fctx, mmk__pt_va(pt, ia)).v;
}

/* May [a, se) (one slot of level l) be mapped by one leaf?  *pa gets its
 * physical address when true. */
static inline bool eng_map_leaf_here(const struct mmk_pt *pt,
				     const struct eng_map_ctx *c, unsigned l,
				     uint64_t a, uint64_t se, uint64_t *pa)
{
	uint64_t span = eng_span(pt, l);
	if (!c->huge || !c->tmpl_ok[l] || se - a != span)
		return false;
	*pa = eng_map_pa(pt, c, a);
	return (*pa & (span - 1)) == 0;
}

/* Check a callback's addresses for [s, e) at level 0. */
static int eng_map_check_fn(const struct mmk_pt *pt,
			    const struct eng_map_ctx *c, uint64_t s, uint64_t e)
{
	uint64_t step = eng_span(pt, 0);
	for (uint64_t a = s; a < e; a += step) {
		uint64_t pa = eng_map_pa(pt, c, a);
		if (pa & (step - 1))
			return MMK_EALIGN;
		if (pt->fmt->pa_bits < 64 &&
		    (pa + step - 1) >> pt->fmt->pa_bits)
			return MMK_ERANGE;
	}
	return MMK_OK;
}

/* Prepare: conflicts, and the number of tables needed below @table (or
 * below an empty slot when table == ENG_NONE) for [s, e) at level @l. */
static long eng_map_count(const struct mmk_pt *pt, struct eng_map_ctx *c,
			  uint64_t table, unsigned l, uint64_t s, uint64_t e)
{
	const mmk__pte_t *t = table == ENG_NONE ? NULL : eng_tbl(table);
	if (l == 0) {
		if (t) {
			unsigned i = eng_idx(pt, s, 0);
			unsigned n = (unsigned)((e - s) >> pt->shift[0]);
			for (unsigned k = 0; k < n; k++)
				if (!eng_is_empty(pt, eng_ld(&t[i + k]), 0))
					return MMK_EEXIST;
		}
		return c->fn ? eng_map_check_fn(pt, c, s, e) : 0;
	}
	long n = 0;
	uint64_t span = eng_span(pt, l);
	for (uint64_t a = s; a < e;) {
		uint64_t se = MMK_MIN((a | (span - 1)) + 1, e), pa;
		mmk__pte_t ent =
			t ? eng_ld(&t[eng_idx(pt, a, l)]) : fmt_empty(pt, l);
		long r;
		if (!eng_is_empty(pt, ent, l)) {
			if (!fmt_is_table(ent, l))
				return MMK_EEXIST;
			r = eng_map_count(pt, c, fmt_table_pa(ent, l), l - 1, a,
					  se);
		} else if (eng_map_leaf_here(pt, c, l, a, se, &pa)) {
			r = 0;
			if (pt->fmt->pa_bits < 64 &&
			    (pa + span - 1) >> pt->fmt->pa_bits)
				return MMK_ERANGE;
		} else {
			r = eng_map_count(pt, c, ENG_NONE, l - 1, a, se);
			if (r >= 0)
				r++;
		}
		if (r < 0)
			return r;
		n += r;
		a = se;
	}
	return n;
}

static void eng_map_commit(struct mmk_pt *pt, struct eng_map_ctx *c,
			   uint64_t table, unsigned l, uint64_t s, uint64_t e)
{
	mmk__pte_t *t = eng_tbl(table);
	if (l == 0) {
		mmk__pte_t *p = t + eng_idx(pt, s, 0);
		size_t n = (size_t)((e - s) >> pt->shift[0]);
		uint64_t step = eng_span(pt, 0);
		mmk__pte_t tmpl = c->tmpl[0];
		if (!c->fn) {
			uint64_t pa = s + c->delta;
			for (size_t k = 0; k < n; k++, pa += step)
				p[k] = fmt_make_leaf(tmpl, pa, 0);
		} else {
			for (size_t k = 0; k < n; k++)
				p[k] = fmt_make_leaf(
					tmpl, eng_map_pa(pt, c, s + k * step),
					0);
		}
		return;
	}
	uint64_t span = eng_span(pt, l);
	for (uint64_t a = s; a < e;) {
		uint64_t se = MMK_MIN((a | (span - 1)) + 1, e), pa;
		mmk__pte_t *p = &t[eng_idx(pt, a, l)];
		mmk__pte_t ent = *p;
		if (!eng_is_empty(pt, ent, l)) {
			eng_map_commit(pt, c, fmt_table_pa(ent, l), l - 1, a,
				       se);
		} else if (eng_map_leaf_here(pt, c, l, a, se, &pa)) {
			*p = fmt_make_leaf(c->tmpl[l], pa, l);
		} else {
			uint64_t child = eng_pool_pop(pt, &c->pool);
			/* A leaf table written whole needs no clearing. */
			if (!(l == 1 && se - a == span))
				eng_init_table(pt, eng_tbl(child), l - 1);
			eng_map_commit(pt, c, child, l - 1, a, se);
			eng_st_rel(p, fmt_make_table(pt, child, l));
		}
		a = se;
	}
}

static int eng_map_region(struct mmk_pt *pt, uint64_t ia, uint64_t pa,
			  uint64_t size, uint32_t flags, unsigned opts,
			  mmk_pt_pa_fn fn, void *ctx, struct mmk_tlb_gather *b)
{
	struct eng_map_ctx c;
	c.delta = pa - ia;
	c.fn = fn;
	c.fctx = ctx;
	c.huge = (opts & MMK_PT_MAP_HUGE) != 0;
	c.err = 0;
	for (unsigned l = 0; l < pt->fmt->levels; l++) {
		c.tmpl_ok[l] = false;
		if (!eng_leaf_ok(pt, l))
			continue;
		int err = fmt_leaf_template(pt, flags, l, &c.tmpl[l]);
		if (err && l == 0)
			return err;
		c.tmpl_ok[l] = err == 0;
	}
	unsigned top = pt->fmt->levels - 1;
	long n = eng_map_count(pt, &c, pt->root.v, top, ia, ia + size);
	if (n < 0)
		return (int)n;
	if (eng_pool_fill(pt, &c.pool, n) != 0)
		return MMK_ENOMEM;
	eng_map_commit(pt, &c, pt->root.v, top, ia, ia + size);
	MMK_ASSERT_INTERNAL(c.pool.n == 0);
	if (pt->fmt->caps & MMK__FMT_MAP_NEEDS_FLUSH)
		mmk__pt_gather_range(b, pt, ia, size, flags & MMK_PT_GLOBAL);
	fmt_sync();
	return MMK_OK;
}

/* ------------------------------------------------------------ splits */
/* Level of the huge leaf that @x falls strictly inside, or -1. */
static int eng_straddle(const struct mmk_pt *pt, uint64_t x)
{
	unsigned l;
	if (x >> pt->fmt->va_bits)
		return -1; /* the end of the index space */
	mmk__pte_t e = eng_ld(eng_lookup(pt, x, &l, NULL));
	if (l == 0 || !fmt_is_leaf(e, l) || !(x & (eng_span(pt, l) - 1)))
		return -1;
	return (int)l;
}

/* Tables needed to split the leaves straddling @s and @e down to where the
 * boundaries fall between leaves; shared ones counted once. */
static long eng_split_count(const struct mmk_pt *pt, uint64_t s, uint64_t e)
{
	uint64_t key[2 * MMK_PT_MAX_LEVELS];
	unsigned nk = 0;
	uint64_t xs[2] = {s, e};
	for (int j = 0; j < 2; j++) {
		int L = eng_straddle(pt, xs[j]);
		if (L < 0)
			continue;
		for (unsigned l = (unsigned)L; l > 0; l--) {
			uint64_t k = (xs[j] & ~(eng_span(pt, l) - 1)) | l;
			bool dup = false;
			for (unsigned i = 0; i < nk; i++)
				dup |= key[i] == k;
			if (!dup)
				key[nk++] = k;
			if (!(xs[j] & (eng_span(pt, l - 1) - 1)))
				break;
		}
	}
	return nk;
}

/* Split the huge leaves @x falls inside until @x is a leaf boundary. */
static void eng_split_at(struct mmk_pt *pt, uint64_t x, struct eng_pool *pool,
			 struct mmk_tlb_gather *b)
{
	if (x >> pt->fmt->va_bits)
		return;
	unsigned l = pt->fmt->levels - 1;
	mmk__pte_t *p = eng_tbl(pt->root.v) + eng_idx(pt, x, l);
	for (;;) {
		mmk__pte_t e = eng_ld(p);
		if (eng_is_empty(pt, e, l))
			return;
		if (fmt_is_leaf(e, l)) {
			if (l == 0 || !(x & (eng_span(pt, l) - 1)))
				return;
			uint64_t child = eng_pool_pop(pt, pool);
			mmk__pte_t *ct = eng_tbl(child), tmpl = 0;
			uint64_t pa = fmt_leaf_pa(e, l),
				 step = eng_span(pt, l - 1);
			mmk__pte_t hw = fmt_leaf_hw_bits(e, l);
			/* Flags of a leaf the format wrote re-encode at any
			 * leaf level: the template cannot fail here. */
			(void)fmt_leaf_template(pt, fmt_leaf_flags(pt, e, l),
						l - 1, &tmpl);
			size_t n = (size_t)1 << pt->fmt->bits[l - 1];
			for (size_t i = 0; i < n; i++)
				ct[i] = fmt_make_leaf(tmpl, pa + i * step,
						      l - 1) |
					hw;
			eng_replace(pt, p, e, fmt_make_table(pt, child, l), l,
				    x, b);
			e = eng_ld(p);
		}
		l--;
		p = eng_tbl(fmt_table_pa(e, l + 1)) + eng_idx(pt, x, l);
	}
}

static int eng_prepare_splits(struct mmk_pt *pt, uint64_t s, uint64_t e,
			      struct mmk_tlb_gather *b)
{
	long n = eng_split_count(pt, s, e);
	if (n == 0)
		return MMK_OK;
	struct eng_pool pool;
	if (eng_pool_fill(pt, &pool, n) != 0)
		return MMK_ENOMEM;
	eng_split_at(pt, s, &pool, b);
	eng_split_at(pt, e, &pool, b);
	MMK_ASSERT_INTERNAL(pool.n == 0);
	return MMK_OK;
}

/* ------------------------------------------------------ unmap_region */
struct eng_unmap_ctx {
	struct mmk_tlb_gather *b;
	mmk_pt_unmap_fn fn;
	void *fctx;
	bool have_run, have_fl, fl_global;
	struct mmk_pt_leaf run;
	uint64_t fl_s, fl_e;
	/* Decoded flags of the last attribute bits seen: consecutive leaves
	 * almost always share them, so each leaf costs a compare. */
	mmk__pte_t last_attr;
	unsigned last_level;
	uint32_t last_flags;
};

static void eng_unmap_flush_pending(struct mmk_pt *pt, struct eng_unmap_ctx *c)
{
	if (c->have_fl)
		mmk__pt_gather_range(c->b, pt, c->fl_s, c->fl_e - c->fl_s,
				     c->fl_global);
	c->have_fl = false;
	c->fl_global = false;
	if (c->have_run)
		c->fn(c->fctx, &c->run);
	c->have_run = false;
}

static inline void eng_unmap_note(struct mmk_pt *pt, struct eng_unmap_ctx *c,
				  uint64_t a, mmk__pte_t e, unsigned l)
{
	uint64_t span = eng_span(pt, l);
	uint64_t pa = fmt_leaf_pa(e, l);
	mmk__pte_t attr = e ^ fmt_make_leaf(0, pa, l);
	if (MMK_UNLIKELY(attr != c->last_attr || l != c->last_level)) {
		c->last_attr = attr;
		c->last_level = l;
		c->last_flags = fmt_leaf_flags(pt, e, l);
	}
	uint32_t f = c->last_flags;
	if (c->have_fl && c->fl_e == a) {
		c->fl_e += span;
	} else {
		if (c->have_fl)
			mmk__pt_gather_range(c->b, pt, c->fl_s,
					     c->fl_e - c->fl_s, c->fl_global);
		c->have_fl = true;
		c->fl_global = false;
		c->fl_s = a;
		c->fl_e = a + span;
	}
	c->fl_global |= (f & MMK_PT_GLOBAL) != 0;
	if (!c->fn)
		return;
	mmk_vaddr_t va = mmk__pt_va(pt, a);
	if (c->have_run && c->run.page_size == span && c->run.flags == f &&
	    c->run.va + c->run.size == va && c->run.pa.v + c->run.size == pa) {
		c->run.size += span;
		return;
	}
	if (c->have_run)
		c->fn(c->fctx, &c->run);
	c->have_run = true;
	c->run.va = va;
	c->run.pa = mmk_pa(pa);
	c->run.size = c->run.page_size = span;
	c->run.flags = f;
	c->run.level = l;
}

/* Clear [s, e) below @table (level l); true if the table is now empty. */
static bool eng_unmap_commit(struct mmk_pt *pt, struct eng_unmap_ctx *c,
			     uint64_t table, unsigned l, uint64_t s, uint64_t e)
{
	mmk__pte_t *t = eng_tbl(table);
	uint64_t span = eng_span(pt, l);
	mmk__pte_t empty = fmt_empty(pt, l);
	if (l == 0 && c->fn) {
		unsigned i = eng_idx(pt, s, 0);
		size_t n = (size_t)((e - s) >> pt->shift[0]);
		for (size_t k = 0; k < n; k++) {
			mmk__pte_t ent = t[i + k];
			if (ent == empty)
				continue;
			eng_unmap_note(pt, c, s + k * span, ent, 0);
			t[i + k] = empty;
		}
	} else if (l == 0) {
		/* Runs of leaves: one flush range per run, the attribute
		 * decision cached, a load, a compare and a store per entry. */
		mmk__pte_t *q = t + eng_idx(pt, s, 0);
		size_t n = (size_t)((e - s) >> pt->shift[0]), k = 0;
		while (k < n) {
			while (k < n && q[k] == empty)
				k++;
			if (k == n)
				break;
			size_t k0 = k;
			for (; k < n && q[k] != empty; k++) {
				mmk__pte_t ent = q[k];
				mmk__pte_t attr =
					ent ^ fmt_make_leaf(0,
							    fmt_leaf_pa(ent, 0),
							    0);
				if (MMK_UNLIKELY(attr != c->last_attr ||
						 c->last_level != 0)) {
					c->last_attr = attr;
					c->last_level = 0;
					c->last_flags =
						fmt_leaf_flags(pt, ent, 0);
					c->fl_global |= (c->last_flags &
							 MMK_PT_GLOBAL) != 0;
				}
				q[k] = empty;
			}
			uint64_t rs = s + k0 * span, re = s + k * span;
			if (c->have_fl && c->fl_e == rs) {
				c->fl_e = re;
			} else {
				if (c->have_fl)
					mmk__pt_gather_range(c->b, pt, c->fl_s,
							     c->fl_e - c->fl_s,
							     c->fl_global);
				c->have_fl = true; /* fl_global stays: the
						      batch ORs it anyway */
				c->fl_s = rs;
				c->fl_e = re;
			}
		}
	} else {
		for (uint64_t a = s; a < e;) {
			uint64_t se = MMK_MIN((a | (span - 1)) + 1, e);
			mmk__pte_t *p = &t[eng_idx(pt, a, l)];
			mmk__pte_t ent = *p;
			if (ent == empty) {
				/* nothing */
			} else if (fmt_is_leaf(ent, l)) {
				eng_unmap_note(pt, c, a, ent, l);
				eng_st(p, empty);
			} else {
				uint64_t child = fmt_table_pa(ent, l);
				if (eng_unmap_commit(pt, c, child, l - 1, a,
						     se) &&
				    !eng_pinned(pt, l, a)) {
					eng_st(p, empty);
					atomic_fetch_add_explicit(
						&pt->gen, 1,
						memory_order_relaxed);
					mmk__pt_gather_table(c->b, pt, child);
					atomic_fetch_sub_explicit(
						&pt->tables, 1,
						memory_order_relaxed);
				}
			}
			a = se;
		}
	}
	if (e - s == (uint64_t)1 << pt->shift[l + 1])
		return true;
	return eng_table_empty(pt, t, l);
}

static int eng_unmap_region(struct mmk_pt *pt, uint64_t ia, uint64_t size,
			    struct mmk_tlb_gather *b, mmk_pt_unmap_fn fn,
			    void *ctx)
{
	int err = eng_prepare_splits(pt, ia, ia + size, b);
	if (err)
		return err;
	struct eng_unmap_ctx c = {
		.b = b, .fn = fn, .fctx = ctx, .last_attr = ~(mmk__pte_t)0};
	eng_unmap_commit(pt, &c, pt->root.v, pt->fmt->levels - 1, ia,
			 ia + size);
	eng_unmap_flush_pending(pt, &c);
	fmt_sync();
	return MMK_OK;
}

/* ---------------------------------------------------- protect_region */
struct eng_prot_ctx {
	struct mmk_tlb_gather *b;
	uint32_t flags;
	mmk__pte_t tmpl[MMK_PT_MAX_LEVELS];
	bool have_fl, fl_global;
	uint64_t fl_s, fl_e;
	/* The decision for the last attribute bits seen (see unmap). */
	mmk__pte_t last_attr, last_new;
	unsigned last_level;
	bool last_loses, last_global;
};

/* Record [a, a + size) to be flushed (global is sticky: the batch ORs it
 * anyway). */
static inline void eng_prot_note(struct mmk_pt *pt, struct eng_prot_ctx *c,
				 uint64_t a, uint64_t size, bool global)
{
	if (c->have_fl && c->fl_e == a) {
		c->fl_e += size;
	} else {
		if (c->have_fl)
			mmk__pt_gather_range(c->b, pt, c->fl_s,
					     c->fl_e - c->fl_s, c->fl_global);
		c->have_fl = true;
		c->fl_s = a;
		c->fl_e = a + size;
	}
	c->fl_global |= global;
}

static inline void eng_prot_one(struct mmk_pt *pt, struct eng_prot_ctx *c,
				mmk__pte_t *p, mmk__pte_t old, unsigned l,
				uint64_t a)
{
	mmk__pte_t addr = fmt_make_leaf(0, fmt_leaf_pa(old, l), l);
	mmk__pte_t attr = old ^ addr;
	if (MMK_UNLIKELY(attr != c->last_attr || l != c->last_level)) {
		uint32_t of = fmt_leaf_flags(pt, old, l);
		c->last_attr = attr;
		c->last_level = l;
		c->last_new = c->tmpl[l] | fmt_leaf_hw_bits(old, l);
		c->last_loses = eng_protect_loses(of, c->flags);
		c->last_global = (of & MMK_PT_GLOBAL) != 0;
	}
	mmk__pte_t nw = addr | c->last_new;
	if (nw == old)
		return;
	eng_replace(pt, p, old, nw, l, a, c->b);
	if (c->last_loses)
		eng_prot_note(pt, c, a, eng_span(pt, l), c->last_global);
}

static void eng_protect_commit(struct mmk_pt *pt, struct eng_prot_ctx *c,
			       uint64_t table, unsigned l, uint64_t s,
			       uint64_t e)
{
	mmk__pte_t *t = eng_tbl(table);
	uint64_t span = eng_span(pt, l);
	mmk__pte_t empty = fmt_empty(pt, l);
	if (l == 0) {
		/* The decision cache lives in locals here: the table stores
		 * would otherwise force it back to memory every entry.  A run
		 * of leaves sharing the cached attributes is rewritten by a
		 * tight loop (address bits | new attributes); whether the run
		 * needs break-before-make or a flush is decided once for it,
		 * since both depend only on the attributes. */
		mmk__pte_t *q = t + eng_idx(pt, s, 0);
		size_t n = (size_t)((e - s) >> pt->shift[0]), run = SIZE_MAX;
		mmk__pte_t last_attr = c->last_attr, last_new = c->last_new;
		bool loses = c->last_loses, glob = c->last_global;
		if (c->last_level != 0)
			last_attr = ~(mmk__pte_t)0;
		for (size_t k = 0; k < n;) {
			mmk__pte_t ent = q[k];
			size_t k0 = k;
			bool lost = false;
			if (ent != empty) {
				mmk__pte_t addr = fmt_make_leaf(
					0, fmt_leaf_pa(ent, 0), 0);
				if (MMK_UNLIKELY((ent ^ addr) != last_attr)) {
					uint32_t of =
						fmt_leaf_flags(pt, ent, 0);
					last_attr = ent ^ addr;
					last_new = c->tmpl[0] |
						   fmt_leaf_hw_bits(ent, 0);
					loses = eng_protect_loses(of, c->flags);
					glob = (of & MMK_PT_GLOBAL) != 0;
				}
				mmk__pte_t nw = addr | last_new;
				if (nw == ent) {
					k++; /* unchanged: no write, no flush */
				} else if (fmt_needs_bbm(ent, nw, 0)) {
					eng_replace(pt, &q[k], ent, nw, 0,
						    s + k * span, c->b);
					lost = loses;
					k++;
				} else {
					q[k++] = nw;
					for (; k < n; k++) {
						mmk__pte_t e2 = q[k];
						mmk__pte_t a2 = fmt_make_leaf(
							0, fmt_leaf_pa(e2, 0),
							0);
						if ((e2 ^ a2) != last_attr)
							break;
						q[k] = a2 | last_new;
					}
					lost = loses;
				}
			} else {
				k++;
			}
			if (lost) {
				if (run == SIZE_MAX)
					run = k0;
				c->fl_global |= glob;
			} else if (run != SIZE_MAX) {
				eng_prot_note(pt, c, s + run * span,
					      (k0 - run) * span, false);
				run = SIZE_MAX;
			}
		}
		if (run != SIZE_MAX)
			eng_prot_note(pt, c, s + run * span, (n - run) * span,
				      false);
		c->last_attr = last_attr;
		c->last_new = last_new;
		c->last_loses = loses;
		c->last_global = glob;
		c->last_level = 0;
		return;
	}
	for (uint64_t a = s; a < e;) {
		uint64_t se = MMK_MIN((a | (span - 1)) + 1, e);
		mmk__pte_t *p = &t[eng_idx(pt, a, l)];
		mmk__pte_t ent = *p;
		if (ent == empty) {
			/* hole */
		} else if (fmt_is_leaf(ent, l)) {
			eng_prot_one(pt, c, p, ent, l, a);
		} else {
			eng_protect_commit(pt, c, fmt_table_pa(ent, l), l - 1,
					   a, se);
		}
		a = se;
	}
}

static int eng_protect_region(struct mmk_pt *pt, uint64_t ia, uint64_t size,
			      uint32_t flags, struct mmk_tlb_gather *b)
{
	struct eng_prot_ctx c = {
		.b = b, .flags = flags, .last_attr = ~(mmk__pte_t)0};
	for (unsigned l = 0; l < pt->fmt->levels; l++) {
		if (!eng_leaf_ok(pt, l))
			continue;
		int err = fmt_leaf_template(pt, flags, l, &c.tmpl[l]);
		if (err)
			return err;
	}
	int err = eng_prepare_splits(pt, ia, ia + size, b);
	if (err)
		return err;
	eng_protect_commit(pt, &c, pt->root.v, pt->fmt->levels - 1, ia,
			   ia + size);
	if (c.have_fl)
		mmk__pt_gather_range(b, pt, c.fl_s, c.fl_e - c.fl_s,
				     c.fl_global);
	fmt_sync();
	return MMK_OK;
}

/* -------------------------------------------------------------- walk */
static int eng_walk_rec(const struct mmk_pt *pt, uint64_t table, unsigned l,
			uint64_t s, uint64_t e, mmk_pt_walk_fn fn, void *ctx)
{
	const mmk__pte_t *t = eng_tbl(table);
	uint64_t span = eng_span(pt, l);
	for (uint64_t a = s; a < e;) {
		uint64_t se = MMK_MIN((a | (span - 1)) + 1, e);
		mmk__pte_t ent = eng_ld_acq(&t[eng_idx(pt, a, l)]);
		int r = 0;
		if (eng_is_empty(pt, ent, l)) {
			/* hole */
		} else if (fmt_is_leaf(ent, l)) {
			struct mmk_pt_leaf lf;
			lf.va = mmk__pt_va(pt, a & ~(span - 1));
			lf.pa = mmk_pa(fmt_leaf_pa(ent, l));
			lf.size = lf.page_size = span;
			lf.flags = fmt_leaf_flags(pt, ent, l);
			lf.level = l;
			r = fn(ctx, &lf);
		} else if (l > 0) {
			r = eng_walk_rec(pt, fmt_table_pa(ent, l), l - 1, a, se,
					 fn, ctx);
		}
		if (r)
			return r;
		a = se;
	}
	return 0;
}

static int eng_walk(const struct mmk_pt *pt, uint64_t ia, uint64_t size,
		    mmk_pt_walk_fn fn, void *ctx)
{
	return eng_walk_rec(pt, pt->root.v, pt->fmt->levels - 1, ia, ia + size,
			    fn, ctx);
}

/* ----------------------------------------------------------- destroy */
static void eng_free_rec(struct mmk_pt *pt, uint64_t table, unsigned l)
{
	mmk__pte_t *t = eng_tbl(table);
	size_t n = (size_t)1 << pt->fmt->bits[l];
	bool root = l == pt->fmt->levels - 1u;
	for (size_t i = 0; i < n; i++) {
		mmk__pte_t ent = t[i];
		if (eng_is_empty(pt, ent, l) || !fmt_is_table(ent, l))
			continue;
		if (root && (pt->borrowed[i / 64] >> (i % 64) & 1))
			continue;
		uint64_t child = fmt_table_pa(ent, l);
		if (l > 1)
			eng_free_rec(pt, child, l - 1);
		mmk__pt_free_table(pt, l - 1, child);
		atomic_fetch_sub_explicit(&pt->tables, 1, memory_order_relaxed);
		t[i] = fmt_empty(pt, l);
	}
}

static void eng_free_tables(struct mmk_pt *pt)
{
	atomic_fetch_add_explicit(&pt->gen, 1, memory_order_relaxed);
	eng_free_rec(pt, pt->root.v, pt->fmt->levels - 1);
}

/* ------------------------------------------------ encodings, raw view */
static int eng_encode_leaf(const struct mmk_pt *pt, unsigned level, uint64_t pa,
			   uint32_t flags, uint64_t *pte)
{
	mmk__pte_t tmpl;
	int err = fmt_leaf_template(pt, flags, level, &tmpl);
	if (err)
		return err;
	*pte = fmt_make_leaf(tmpl, pa, level);
	return MMK_OK;
}

static int eng_decode_leaf(const struct mmk_pt *pt, unsigned level,
			   uint64_t pte, uint64_t *pa, uint32_t *flags)
{
	if (eng_is_empty(pt, pte, level) || !fmt_is_leaf(pte, level))
		return MMK_ENOENT;
	*pa = fmt_leaf_pa(pte, level);
	*flags = fmt_leaf_flags(pt, pte, level);
	return MMK_OK;
}

static int eng_raw_entry(const struct mmk_pt *pt, uint64_t ia, unsigned level,
			 uint64_t *pte)
{
	unsigned l = pt->fmt->levels - 1;
	uint64_t table = pt->root.v;
	for (;;) {
		mmk__pte_t e = eng_ld_acq(eng_tbl(table) + eng_idx(pt, ia, l));
		if (l == level) {
			*pte = e;
			return MMK_OK;
		}
		if (eng_is_empty(pt, e, l) || !fmt_is_table(e, l))
			return MMK_ENOENT;
		table = fmt_table_pa(e, l);
		l--;
	}
}

static const struct mmk__pt_ops MMK_ENGINE_OPS = {
	.map = eng_map,
	.map_cursor = eng_map_cursor,
	.unmap = eng_unmap,
	.query = eng_query,
	.protect = eng_protect,
	.map_region = eng_map_region,
	.unmap_region = eng_unmap_region,
	.protect_region = eng_protect_region,
	.walk = eng_walk,
	.free_tables = eng_free_tables,
	.encode_leaf = eng_encode_leaf,
	.decode_leaf = eng_decode_leaf,
	.raw_entry = eng_raw_entry,
	.init_table = eng_init_table,
	.empty = eng_empty,
};
