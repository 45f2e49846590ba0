/* SPDX-License-Identifier: MIT */
/*
 * mmkit — engine fragment: the hot single-page entry points of one paging
 * mode (query, query_many, lookup, map, cursor map), with the level count
 * and the virtual and physical widths as constants.
 *
 * pt.c dispatches the public calls straight to these through the format
 * descriptor (mmk__pt_format.query etc.), so each call is one indirect
 * jump, the checks that do not depend on the encoding are a few
 * instructions with constant shifts, and the walk is unrolled with the
 * format's hooks inlined.  A format instantiates them once per paging mode
 * after including pt/engine.h:
 *
 *     ENG_FAST(x86_64_4l, 4, 48, 52)
 *
 * and puts ENG_FAST_OPS(x86_64_4l) into that mode's descriptor.  Anything
 * off the common case (another page size, a misaligned or non-canonical
 * address, borrowed root slots, a missing table) goes to the general code
 * (pt.c's checks, eng_map_slow), so these are only faster, never
 * different.
 *
 * Addresses: the walk indexes with the canonical address itself (each
 * level's index bits lie below va_bits, so the sign-extension bits never
 * matter) and keeps no index address except where the general code needs
 * one.
 */
#define ENG_FIDX(pt, va, L)                                                    \
	((unsigned)((va) >> ENG_QSHIFT(pt, L)) & ENG_QMASK(pt, L))

/* The entry ends the descent at @L: empty, a leaf, or (never at level 0)
 * anything but a table.  Where empty is 0 no table entry is 0 (a table
 * entry has its valid bit), so one test does. */
#define ENG_FEND(pt, e, L)                                                     \
	(fmt_empty_is_zero() ? !fmt_is_table(e, L)                             \
			     : eng_is_empty(pt, e, L) || !fmt_is_table(e, L))

/*
 * fmt_table_next(pt, e, L, &pa): true if @e is a table entry exactly as the
 * format writes it (fmt_make_table: nothing else set), its table at *pa.
 * A format whose table entries are the address plus constant bits does it
 * in a subtract and a test (FMT_HAS_TABLE_NEXT); false sends the walk to
 * the full decode (ENG_FEND, fmt_table_pa), so a format may answer false
 * for any entry it would rather decode in full.
 */
#ifndef FMT_HAS_TABLE_NEXT
static inline __attribute__((always_inline)) bool
fmt_table_next(const struct mmk_pt *pt, mmk__pte_t e, unsigned l, uint64_t *pa)
{
	*pa = fmt_table_pa(e, l);
	return !ENG_FEND(pt, e, l);
}
#endif

/* Table pages by physical address, the linear offset read once per call
 * (the acquire loads of the walk would make the compiler read it again at
 * every level). */
#if MMK_CFG_HAL_LINEAR_MAP
#define ENG_FPV	     const uintptr_t pv_ = mmk_hal_pv_offset
#define ENG_FTBL(pa) ((mmk__pte_t *)(uintptr_t)((pa) + pv_))
/* Entry @L of @va in the table at @pa: the entry's offset added to the
 * address first (the empty asm keeps the compiler from reassociating),
 * so that the linear offset folds into the load's addressing: one add
 * less per level. */
static inline __attribute__((always_inline)) mmk__pte_t *
eng_fent(uint64_t pa, uint64_t off, uintptr_t pv)
{
	uintptr_t a = (uintptr_t)(pa + off);
	__asm__("" : "+r"(a));
	return (mmk__pte_t *)(a + pv);
}
#define ENG_FENT(pa, va, L)                                                    \
	eng_fent(pa, (uint64_t)ENG_FIDX(pt, va, L) * sizeof(mmk__pte_t), pv_)
#else
#define ENG_FPV		    (void)0
#define ENG_FTBL(pa)	    eng_tbl(pa)
#define ENG_FENT(pa, va, L) (eng_tbl(pa) + ENG_FIDX(pt, va, L))
#endif

/* The linear offset for a function that passes it on (0 without one). */
static inline uintptr_t eng_fpv(void)
{
#if MMK_CFG_HAL_LINEAR_MAP
	return mmk_hal_pv_offset;
#else
	return 0;
#endif
}

/*
 * Descend from the root for @va down to level 0, leaving the level-0 entry
 * in `e`; at any level above where the walk ends, run END(e, L), which
 * must return.  Needs `pt`, `va` and a constant `levels` in scope.
 */
#define ENG_FSTEP(L, END)                                                      \
	if ((L) < levels) {                                                    \
		e = eng_ld_acq(t_ + ENG_FIDX(pt, va, L));                      \
		if (MMK_UNLIKELY(ENG_FEND(pt, e, L)))                          \
			END(e, L);                                             \
		t_ = ENG_FTBL(fmt_table_pa(e, L));                             \
	}
#define ENG_FWALK(END)                                                         \
	ENG_FPV;                                                               \
	const mmk__pte_t *t_ = ENG_FTBL(pt->root.v);                           \
	mmk__pte_t e;                                                          \
	ENG_FSTEP(4, END)                                                      \
	ENG_FSTEP(3, END)                                                      \
	ENG_FSTEP(2, END)                                                      \
	ENG_FSTEP(1, END) e = eng_ld_acq(t_ + ENG_FIDX(pt, va, 0))

static inline bool eng_fcanonical(const struct mmk_pt *pt, mmk_vaddr_t va,
				  const unsigned va_bits)
{
	return ((va + pt->canon_add) >> va_bits) == 0;
}

/* ------------------------------------------------------------- hints */
/*
 * pt->hint[L] (L = 0, 1): the level-L table the last walk of a map (L = 0)
 * or query (L = 1) reached, with the address range it covers, in one word,
 * so that CPUs writing it at once can never pair one table with another's
 * tag.  With y = va + canon_add (canonical iff y >> va_bits == 0) and S the
 * span shift of a level-L table, the tag is T = (y >> (S - 1)) | 1 (bit 0:
 * "set") and the word is T << VB | table >> page_shift, VB = 63 - va_bits +
 * S, so (w >> VB) == T checks the address is canonical, in the table's
 * range and the hint set (0 never matches), all in one compare.  A table
 * whose page number needs more than VB bits is not hinted.  While no table
 * is unhooked, the table covering a range never changes (single maps only
 * add tables); everything that unhooks one clears the hints
 * (eng_unhooked), and it is never set where root slots are borrowed.
 */
#define ENG_HS(pt, L)		((unsigned)ENG_QSHIFT(pt, (L) + 1))
#define ENG_HVB(pt, L, va_bits) (63u - (va_bits) + ENG_HS(pt, L))

static inline __attribute__((always_inline)) uint64_t
eng_htag(const struct mmk_pt *pt, mmk_vaddr_t va, const unsigned L,
	 const unsigned va_bits)
{
	(void)va_bits;
	return ((va + pt->canon_add) >> (ENG_HS(pt, L) - 1)) | 1;
}

/* The table's physical address if hint word @w is for @va's tag, else 0
 * (no table is at 0 in a hint: a set hint has its tag bits). */
static inline __attribute__((always_inline)) bool
eng_hhit(const struct mmk_pt *pt, uint64_t w, mmk_vaddr_t va, const unsigned L,
	 const unsigned va_bits)
{
	return (w >> ENG_HVB(pt, L, va_bits)) == eng_htag(pt, va, L, va_bits);
}

static inline __attribute__((always_inline)) uint64_t
eng_hpa(const struct mmk_pt *pt, uint64_t w, const unsigned L,
	const unsigned va_bits)
{
	unsigned vb = ENG_HVB(pt, L, va_bits), ps = ENG_QSHIFT(pt, 0);
	if (vb + ps <= 64)
		return (w << (64 - vb)) >> (64 - vb - ps);
	return (w & (((uint64_t)1 << vb) - 1)) << ps;
}

/* Remember table @tpa (level @L) for canonical @va. */
static inline __attribute__((always_inline)) void
eng_hset(const struct mmk_pt *pt, mmk_vaddr_t va, uint64_t tpa,
	 const unsigned L, const unsigned va_bits)
{
	unsigned vb = ENG_HVB(pt, L, va_bits);
	uint64_t pn = tpa >> ENG_QSHIFT(pt, 0);
	if (MMK_UNLIKELY((pn >> vb) != 0 || pt->nborrowed))
		return;
	/* a cache in the table object that its const readers fill too */
	atomic_store_explicit((MMK_ATOMIC(uint64_t) *)&pt->hint[L],
			      eng_htag(pt, va, L, va_bits) << vb | pn,
			      memory_order_release);
}

static inline __attribute__((always_inline)) uint64_t
eng_hget(const struct mmk_pt *pt, const unsigned L)
{
	return atomic_load_explicit(&pt->hint[L], memory_order_acquire);
}

/* ------------------------------------------------------------- query */
static inline __attribute__((always_inline)) int
eng_fquery_leaf(const struct mmk_pt *pt, mmk_vaddr_t va, mmk__pte_t e,
		const unsigned l, mmk_paddr_t *pa, uint32_t *flags,
		uint64_t *page_size)
{
	if (MMK_UNLIKELY(eng_is_empty(pt, e, l) || !fmt_is_leaf(e, l)))
		return MMK_ENOENT;
	uint64_t span = (uint64_t)1 << ENG_QSHIFT(pt, l);
	if (pa)
		*pa = mmk_pa(fmt_leaf_pa(e, l) + (va & (span - 1)));
	if (flags)
		*flags = fmt_leaf_flags(pt, e, l);
	if (page_size)
		*page_size = span;
	return MMK_OK;
}

/* A query of a table with shared leaf tables on a format whose directory
 * entries refuse writes (fmt_dir_wp): the general walk, which sees that
 * bit.  Out of line: the common query never comes here. */
__attribute__((noinline)) static int
eng_query_shared(const struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t *pa,
		 uint32_t *flags, uint64_t *page_size)
{
	uint64_t ia = va & (((uint64_t)1 << pt->fmt->va_bits) - 1);
	unsigned l = pt->fmt->levels - 1;
	uint64_t table = pt->root.v;
	bool wp = false;
	mmk__pte_t e;
	for (;;) {
		e = eng_ld_acq(eng_tbl(table) + eng_idx(pt, ia, l));
		if (eng_is_empty(pt, e, l))
			return MMK_ENOENT;
		if (fmt_is_leaf(e, l))
			break;
		if (l == 0 || !fmt_is_table(e, l))
			return MMK_ENOENT;
		if (l == 1)
			wp = fmt_dir_is_wp(e);
		table = fmt_table_pa(e, l);
		l--;
	}
	uint64_t span = eng_span(pt, l);
	if (pa)
		*pa = mmk_pa(fmt_leaf_pa(e, l) + (va & (span - 1)));
	if (flags)
		*flags = fmt_leaf_flags(pt, e, l) &
			 ~(wp ? (uint32_t)MMK_PT_WRITE : 0u);
	if (page_size)
		*page_size = span;
	return MMK_OK;
}

#define ENG_FQ_END(e, L)                                                       \
	return eng_fquery_leaf(pt, va, e, L, pa, flags, page_size)

static inline __attribute__((always_inline)) int
eng_fquery(const struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t *pa,
	   uint32_t *flags, uint64_t *page_size, const unsigned levels,
	   const unsigned va_bits)
{
	if (MMK_UNLIKELY(!eng_fcanonical(pt, va, va_bits)))
		return MMK_ENONCANON;
	if (fmt_dir_wp_ok() && MMK_UNLIKELY(atomic_load_explicit(
				       &pt->nshared, memory_order_relaxed)))
		return eng_query_shared(pt, va, pa, flags, page_size);
	ENG_FWALK(ENG_FQ_END);
	ENG_FQ_END(e, 0);
}

#ifdef FMT_HAS_TABLE_NEXT
/*
 * With the format's fmt_table_next: the walk checks each level with it
 * alone, and anything else (a leaf or hole above level 0, a table entry
 * with other bits, a level-0 entry not present as the common leaf is)
 * goes to @full, eng_fquery out of line; so the walk keeps its constants
 * in registers and never decodes more than the common leaf.
 *
 * The query starts at the level-1 table of pt->hint[1] when that covers
 * @va (queries near each other share it: one level-1 table spans 1 GiB
 * with 4 KiB pages), from the root otherwise (eng_fquery_walk, which
 * hints the level-1 table it passes).
 */
typedef int (*eng_fquery_fn)(const struct mmk_pt *, mmk_vaddr_t, mmk_paddr_t *,
			     uint32_t *, uint64_t *);

#define ENG_FQSTEP(L)                                                          \
	if ((L) < levels) {                                                    \
		e = eng_ld_acq(ENG_FTBL(n_) + ENG_FIDX(pt, va, L));            \
		if (MMK_UNLIKELY(!fmt_table_next(pt, e, L, &n_)))              \
			return full(pt, va, pa, flags, page_size);             \
		if ((L) == 2)                                                  \
			eng_hset(pt, va, n_, 1, va_bits);                      \
	}

/* The end of the hot query: @n_ is the level-1 table. */
static inline __attribute__((always_inline)) int
eng_fquery_l1(const struct mmk_pt *pt, mmk_vaddr_t va, uint64_t n_,
	      mmk_paddr_t *pa, uint32_t *flags, uint64_t *page_size,
	      eng_fquery_fn full)
{
	ENG_FPV;
	mmk__pte_t e = eng_ld_acq(ENG_FENT(n_, va, 1));
	if (MMK_UNLIKELY(!fmt_table_next(pt, e, 1, &n_)))
		return full(pt, va, pa, flags, page_size);
	e = eng_ld_acq(ENG_FENT(n_, va, 0));
	if (MMK_UNLIKELY(!fmt_leaf0_fast(e)))
		return full(pt, va, pa, flags, page_size);
	if (pa)
		*pa = mmk_pa(fmt_leaf_pa(e, 0) +
			     (va & (((uint64_t)1 << ENG_QSHIFT(pt, 0)) - 1)));
	if (flags)
		*flags = fmt_leaf_flags(pt, e, 0);
	if (page_size)
		*page_size = (uint64_t)1 << ENG_QSHIFT(pt, 0);
	return MMK_OK;
}

static inline __attribute__((always_inline)) int
eng_fquery_walk(const struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t *pa,
		uint32_t *flags, uint64_t *page_size, const unsigned levels,
		const unsigned va_bits, eng_fquery_fn full)
{
	if (MMK_UNLIKELY(!eng_fcanonical(pt, va, va_bits)))
		return MMK_ENONCANON;
	ENG_FPV;
	uint64_t n_ = pt->root.v;
	mmk__pte_t e;
	ENG_FQSTEP(4)
	ENG_FQSTEP(3)
	ENG_FQSTEP(2)
	return eng_fquery_l1(pt, va, n_, pa, flags, page_size, full);
}

static inline __attribute__((always_inline)) int
eng_fquery_tn(const struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t *pa,
	      uint32_t *flags, uint64_t *page_size, const unsigned va_bits,
	      eng_fquery_fn walk, eng_fquery_fn full)
{
	uint64_t w = eng_hget(pt, 1);
	if (MMK_UNLIKELY(!eng_hhit(pt, w, va, 1, va_bits)))
		return walk(pt, va, pa, flags, page_size);
	return eng_fquery_l1(pt, va, eng_hpa(pt, w, 1, va_bits), pa, flags,
			     page_size, full);
}
#define ENG_FQUERY(NAME, LEVELS, VA_BITS)                                      \
	__attribute__((noinline)) static int NAME##_query_full(                \
		const struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t *pa,      \
		uint32_t *flags, uint64_t *page_size)                          \
	{                                                                      \
		return eng_fquery(pt, va, pa, flags, page_size, LEVELS,        \
				  VA_BITS);                                    \
	}                                                                      \
	__attribute__((noinline)) static int NAME##_query_walk(                \
		const struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t *pa,      \
		uint32_t *flags, uint64_t *page_size)                          \
	{                                                                      \
		return eng_fquery_walk(pt, va, pa, flags, page_size, LEVELS,   \
				       VA_BITS, NAME##_query_full);            \
	}                                                                      \
	static int NAME##_query(const struct mmk_pt *pt, mmk_vaddr_t va,       \
				mmk_paddr_t *pa, uint32_t *flags,              \
				uint64_t *page_size)                           \
	{                                                                      \
		return eng_fquery_tn(pt, va, pa, flags, page_size, VA_BITS,    \
				     NAME##_query_walk, NAME##_query_full);    \
	}
#else
#define ENG_FQUERY(NAME, LEVELS, VA_BITS)                                      \
	static int NAME##_query(const struct mmk_pt *pt, mmk_vaddr_t va,       \
				mmk_paddr_t *pa, uint32_t *flags,              \
				uint64_t *page_size)                           \
	{                                                                      \
		return eng_fquery(pt, va, pa, flags, page_size, LEVELS,        \
				  VA_BITS);                                    \
	}
#endif

/* ------------------------------------------------------------ lookup */
static inline __attribute__((always_inline)) int
eng_flookup_leaf(const struct mmk_pt *pt, mmk_vaddr_t va, mmk__pte_t e,
		 const unsigned l, struct mmk_pt_leaf *out)
{
	if (MMK_UNLIKELY(eng_is_empty(pt, e, l) || !fmt_is_leaf(e, l))) {
		out->level = l; /* where the walk ended: tables missing below */
		return MMK_ENOENT;
	}
	uint64_t span = (uint64_t)1 << ENG_QSHIFT(pt, l);
	out->va = va & ~(span - 1);
	out->pa = mmk_pa(fmt_leaf_pa(e, l));
	out->size = out->page_size = span;
	out->flags = fmt_leaf_flags(pt, e, l);
	out->level = l;
	out->raw = e;
	out->shared = false;
	if (MMK_UNLIKELY(
		    atomic_load_explicit(&pt->nshared, memory_order_relaxed)) &&
	    l == 0) {
		bool wp;
		out->shared = eng_leaf_shared(
			pt, va & (((uint64_t)1 << pt->fmt->va_bits) - 1), &wp);
		if (wp)
			out->flags &= ~(uint32_t)MMK_PT_WRITE;
	}
	return MMK_OK;
}

#define ENG_FL_END(e, L) return eng_flookup_leaf(pt, va, e, L, out)

static inline __attribute__((always_inline)) int
eng_flookup(const struct mmk_pt *pt, mmk_vaddr_t va, struct mmk_pt_leaf *out,
	    const unsigned levels, const unsigned va_bits)
{
	if (MMK_UNLIKELY(!eng_fcanonical(pt, va, va_bits)))
		return MMK_ENONCANON;
	ENG_FWALK(ENG_FL_END);
	ENG_FL_END(e, 0);
}

/* -------------------------------------------------------- query_many */
/*
 * Translate addresses ENG_QMANY_GROUP at a time, in two passes: first
 * every address of the group descends to the entry that ends its walk
 * (the upper levels are few tables, cache-hot; the entry itself is not
 * read), then those entries are read one after the other with nothing
 * between the loads but their decoding, so the group's misses on the
 * leaf tables overlap instead of queueing behind each other's walks.  An
 * entry a concurrent single map fills between the passes may or may not be
 * seen, as for mmk_pt_query.  The second pass's loads are relaxed: only
 * leaves are decoded there, nothing behind them is read.
 */
#define ENG_QMANY_GROUP 8

/*
 * Within one call the walk remembers the last level-0 table it reached
 * (tag va >> shift[1]) and the last level-1 table (tag va >> shift[2]):
 * nearby addresses (a dump, a copy of user memory, fork's walk) skip the
 * upper levels.  The pointers stay good for the call: tables are only
 * unhooked by exclusive operations, which cannot run alongside.
 */
struct eng_fmany_cache {
	uint64_t tag0, tag1;
	const mmk__pte_t *t0, *t1;
};

#define ENG_FDSTEP(L)                                                          \
	if ((L) < levels && (L) >= from) {                                     \
		uint64_t n_;                                                   \
		p_ = t_ + ENG_FIDX(pt, va, L);                                 \
		e = eng_ld_acq(p_);                                            \
		if (MMK_UNLIKELY(!fmt_table_next(pt, e, L, &n_))) {            \
			if (ENG_FEND(pt, e, L)) {                              \
				*lv = L;                                       \
				return p_;                                     \
			}                                                      \
			n_ = fmt_table_pa(e, L);                               \
		}                                                              \
		t_ = ENG_FTBL(n_);                                             \
		if ((L) == 2) {                                                \
			c->tag1 = va >> ENG_QSHIFT(pt, 2);                     \
			c->t1 = t_;                                            \
		}                                                              \
	}

/* The entry that ends the walk of @va, its level in *lv. */
static inline __attribute__((always_inline)) const mmk__pte_t *
eng_fmany_descend(const struct mmk_pt *pt, mmk_vaddr_t va, unsigned *lv,
		  struct eng_fmany_cache *c, const unsigned levels)
{
	ENG_FPV;
	*lv = 0;
	if (va >> ENG_QSHIFT(pt, 1) == c->tag0)
		return c->t0 + ENG_FIDX(pt, va, 0);
	const mmk__pte_t *t_ = ENG_FTBL(pt->root.v), *p_;
	unsigned from = 0;
	if (levels > 2 && va >> ENG_QSHIFT(pt, 2) == c->tag1) {
		t_ = c->t1;
		from = 1;
	} else {
		from = 0;
	}
	mmk__pte_t e;
	if (from == 0) {
		ENG_FDSTEP(4)
		ENG_FDSTEP(3)
		ENG_FDSTEP(2)
	}
	ENG_FDSTEP(1)
	c->tag0 = va >> ENG_QSHIFT(pt, 1);
	c->t0 = t_;
	*lv = 0;
	return t_ + ENG_FIDX(pt, va, 0);
}

/* Address @va ended its walk at level @l with entry @e. */
static inline __attribute__((always_inline)) void
eng_fmany_end(const struct mmk_pt *pt, mmk_vaddr_t va, mmk__pte_t e,
	      const unsigned l, mmk_paddr_t *pa, uint32_t *flags, size_t *found)
{
	if (eng_is_empty(pt, e, l) || !fmt_is_leaf(e, l))
		return; /* a hole: *pa stays MMK_PT_QUERY_NONE */
	uint64_t span = (uint64_t)1 << ENG_QSHIFT(pt, l);
	*pa = mmk_pa(fmt_leaf_pa(e, l) + (va & (span - 1)));
	if (flags)
		*flags = fmt_leaf_flags(pt, e, l);
	(*found)++;
}

/* One group of ENG_QMANY_GROUP addresses; each end entry is prefetched
 * as soon as it is known, so its miss overlaps the next descents. */
static inline __attribute__((always_inline)) void
eng_fmany_group(const struct mmk_pt *pt, const mmk_vaddr_t *va, mmk_paddr_t *pa,
		uint32_t *flags, size_t *found, struct eng_fmany_cache *c,
		const unsigned levels, const unsigned va_bits)
{
	const mmk__pte_t *p[ENG_QMANY_GROUP];
	unsigned lv[ENG_QMANY_GROUP];
	for (unsigned k = 0; k < ENG_QMANY_GROUP; k++) {
		pa[k] = mmk_pa(MMK_PT_QUERY_NONE);
		if (flags)
			flags[k] = 0;
		p[k] = NULL;
		if (MMK_LIKELY(eng_fcanonical(pt, va[k], va_bits))) {
			p[k] = eng_fmany_descend(pt, va[k], &lv[k], c, levels);
			__builtin_prefetch(p[k]);
		}
	}
	for (unsigned k = 0; k < ENG_QMANY_GROUP; k++) {
		if (MMK_UNLIKELY(!p[k]))
			continue;
		mmk__pte_t e = eng_ld(p[k]);
		if (MMK_LIKELY(lv[k] == 0))
			eng_fmany_end(pt, va[k], e, 0, pa + k,
				      flags ? flags + k : NULL, found);
		else
			eng_fmany_end(pt, va[k], e, lv[k], pa + k,
				      flags ? flags + k : NULL, found);
	}
}

/* The tail runs as a full group too, padded with an address no format
 * holds (bit 63 alone is canonical nowhere), so the loops have a constant
 * count. */
static inline __attribute__((always_inline)) size_t
eng_fquery_many(const struct mmk_pt *pt, size_t n, const mmk_vaddr_t *va,
		mmk_paddr_t *pa, uint32_t *flags, const unsigned levels,
		const unsigned va_bits)
{
	size_t found = 0, i = 0;
	if (fmt_dir_wp_ok() && MMK_UNLIKELY(atomic_load_explicit(
				       &pt->nshared, memory_order_relaxed))) {
		/* the general walk, which sees a directory's write bit */
		for (; i < n; i++) {
			uint32_t f = 0;
			pa[i] = mmk_pa(MMK_PT_QUERY_NONE);
			if (eng_fcanonical(pt, va[i], va_bits) &&
			    eng_query_shared(pt, va[i], pa + i, &f, NULL) == 0)
				found++;
			else
				pa[i] = mmk_pa(MMK_PT_QUERY_NONE);
			if (flags)
				flags[i] = f;
		}
		return found;
	}
	struct eng_fmany_cache c = {MMK_PT_CURSOR_NONE, MMK_PT_CURSOR_NONE,
				    NULL, NULL};
	for (; n - i >= ENG_QMANY_GROUP; i += ENG_QMANY_GROUP)
		eng_fmany_group(pt, va + i, pa + i, flags ? flags + i : NULL,
				&found, &c, levels, va_bits);
	if (i < n) {
		mmk_vaddr_t tva[ENG_QMANY_GROUP];
		mmk_paddr_t tpa[ENG_QMANY_GROUP];
		uint32_t tfl[ENG_QMANY_GROUP];
		size_t m = n - i;
		for (size_t k = 0; k < ENG_QMANY_GROUP; k++)
			tva[k] = k < m ? va[i + k] : (uint64_t)1 << 63;
		eng_fmany_group(pt, tva, tpa, flags ? tfl : NULL, &found, &c,
				levels, va_bits);
		for (size_t k = 0; k < m; k++) {
			pa[i + k] = tpa[k];
			if (flags)
				flags[i + k] = tfl[k];
		}
	}
	return found;
}

#ifdef FMT_HAS_TABLE_NEXT
/*
 * query_many with the format's fmt_table_next, in two passes over groups
 * of ENG_QMANY_GROUP addresses: the first finds each address's level-1
 * table (the call keeps the last one, pt->hint[1] to begin with: one
 * spans 1 GiB of 4 KiB pages, so scattered addresses of one area share
 * it), reads its entry there and prefetches the leaf; the second reads the
 * leaves, whose misses the first pass has overlapped.  Whatever is off the
 * common case (not canonical, a hole or huge page above, a directory that
 * refuses writes, a leaf not present) goes through the single query's
 * full walk.
 *
 * The cost is instructions, not misses (the leaves of 1 GiB are 2 MiB and
 * the prefetches overlap them), so the common case is kept short: a full
 * group's two loops are unrolled, the flags are a constant of the loop,
 * an address off the common case points its pass-two load at
 * eng_fmany_none (no format's fast leaf is 0, so it takes the full walk)
 * instead of a test, and the level-1 table and its tag stay in registers.
 */
#define ENG_FUSTEP(L)                                                          \
	if ((L) < levels) {                                                    \
		mmk__pte_t e_ =                                                \
			eng_ld_acq(ENG_FTBL(n_) + ENG_FIDX(pt, va, L));        \
		if (MMK_UNLIKELY(!fmt_table_next(pt, e_, L, &n_)))             \
			return ENG_FMANY_NO_TABLE;                             \
	}

/* No table is there (tables are page aligned). */
#define ENG_FMANY_NO_TABLE UINT64_MAX

static const mmk__pte_t eng_fmany_none;

/* The level-1 table of canonical @va (hinted), ENG_FMANY_NO_TABLE if the
 * walk leaves the common case above it. */
__attribute__((noinline)) static uint64_t
eng_fmany_upper(const struct mmk_pt *pt, mmk_vaddr_t va, const unsigned levels,
		const unsigned va_bits)
{
	ENG_FPV;
	uint64_t n_ = pt->root.v;
	ENG_FUSTEP(4)
	ENG_FUSTEP(3)
	ENG_FUSTEP(2)
	eng_hset(pt, va, n_, 1, va_bits);
	return n_;
}

/* The level-1 table of the addresses of tag @tag, at @n1. */
struct eng_fmany_l1 {
	uint64_t tag, n1;
};

/* Pass one for @v: the level-0 entry to read, eng_fmany_none if @v is
 * off the common case; prefetched.  @canon is pt->canon_add and @pv_ the
 * linear offset (unused without a linear map), read once by the caller:
 * after the acquire loads the compiler would read them again for every
 * address. */
static inline __attribute__((always_inline)) const mmk__pte_t *
eng_fmany_leafp(const struct mmk_pt *pt, mmk_vaddr_t v, struct eng_fmany_l1 *l1,
		const uint64_t canon, const uintptr_t pv_,
		const unsigned levels, const unsigned va_bits)
{
	(void)pv_;
	/* eng_htag's tag */
	uint64_t t = ((v + canon) >> (ENG_HS(pt, 1) - 1)) | 1, n0;
	if (MMK_UNLIKELY(t != l1->tag)) {
		/* the tag holds the canonical check for the addresses it
		 * matches, not for a new one */
		uint64_t n1 = ENG_FMANY_NO_TABLE;
		if (eng_fcanonical(pt, v, va_bits))
			n1 = eng_fmany_upper(pt, v, levels, va_bits);
		if (n1 == ENG_FMANY_NO_TABLE)
			return &eng_fmany_none;
		l1->tag = t;
		l1->n1 = n1;
	}
	mmk__pte_t e = eng_ld_acq(ENG_FENT(l1->n1, v, 1));
	if (MMK_UNLIKELY(!fmt_table_next(pt, e, 1, &n0)))
		return &eng_fmany_none;
	const mmk__pte_t *p = ENG_FENT(n0, v, 0);
	__builtin_prefetch(p);
	return p;
}

/* Pass two for @v: its level-0 entry's answer, or the full walk's; 1 if
 * found. */
static inline __attribute__((always_inline)) size_t
eng_fmany_answer(const struct mmk_pt *pt, mmk_vaddr_t v, const mmk__pte_t *p,
		 mmk_paddr_t *pa, uint32_t *flags, eng_fquery_fn full,
		 const bool want_flags)
{
	mmk__pte_t e = eng_ld(p);
	if (MMK_LIKELY(fmt_leaf0_fast(e))) {
		*pa = mmk_pa(fmt_leaf_pa(e, 0) +
			     (v & (((uint64_t)1 << ENG_QSHIFT(pt, 0)) - 1)));
		if (want_flags)
			*flags = fmt_leaf_flags(pt, e, 0);
		return 1;
	}
	uint32_t f = 0;
	size_t hit = full(pt, v, pa, want_flags ? &f : NULL, NULL) == MMK_OK;
	if (!hit)
		*pa = mmk_pa(MMK_PT_QUERY_NONE);
	if (want_flags)
		*flags = f;
	return hit;
}

static inline __attribute__((always_inline)) size_t
eng_fmany_tn_loop(const struct mmk_pt *pt, size_t n, const mmk_vaddr_t *va,
		  mmk_paddr_t *pa, uint32_t *flags, const unsigned levels,
		  const unsigned va_bits, eng_fquery_fn full,
		  const bool want_flags)
{
	uint64_t w = eng_hget(pt, 1);
	struct eng_fmany_l1 l1 = {
		/* 0 when unset: no tag is 0 */
		.tag = w >> ENG_HVB(pt, 1, va_bits),
		.n1 = eng_hpa(pt, w, 1, va_bits),
	};
	const uint64_t canon = pt->canon_add;
	const uintptr_t pv = eng_fpv();
	size_t found = 0, i = 0;
	for (; n - i >= ENG_QMANY_GROUP; i += ENG_QMANY_GROUP) {
		const mmk__pte_t *p[ENG_QMANY_GROUP];
#pragma GCC unroll 8
		for (size_t k = 0; k < ENG_QMANY_GROUP; k++)
			p[k] = eng_fmany_leafp(pt, va[i + k], &l1, canon, pv,
					       levels, va_bits);
#pragma GCC unroll 8
		for (size_t k = 0; k < ENG_QMANY_GROUP; k++)
			found += eng_fmany_answer(
				pt, va[i + k], p[k], pa + i + k,
				want_flags ? flags + i + k : NULL, full,
				want_flags);
	}
	for (; i < n; i++) /* the tail, one address at a time */
		found += eng_fmany_answer(pt, va[i],
					  eng_fmany_leafp(pt, va[i], &l1, canon,
							  pv, levels, va_bits),
					  pa + i, want_flags ? flags + i : NULL,
					  full, want_flags);
	return found;
}

static inline __attribute__((always_inline)) size_t
eng_fquery_many_tn(const struct mmk_pt *pt, size_t n, const mmk_vaddr_t *va,
		   mmk_paddr_t *pa, uint32_t *flags, const unsigned levels,
		   const unsigned va_bits, eng_fquery_fn full)
{
	if (flags)
		return eng_fmany_tn_loop(pt, n, va, pa, flags, levels, va_bits,
					 full, true);
	return eng_fmany_tn_loop(pt, n, va, pa, NULL, levels, va_bits, full,
				 false);
}
#define ENG_FQMANY(NAME, LEVELS, VA_BITS)                                      \
	return eng_fquery_many_tn(pt, n, va, pa, flags, LEVELS, VA_BITS,       \
				  NAME##_query_full)
#else
#define ENG_FQMANY(NAME, LEVELS, VA_BITS)                                      \
	return eng_fquery_many(pt, n, va, pa, flags, LEVELS, VA_BITS)
#endif

/* --------------------------------------------------------------- map */
/* Must a new leaf be flushed?  A format none of whose modes ever needs it
 * (MMK__FMT_MAP_NEEDS_FLUSH in no descriptor) defines FMT_MAP_NO_FLUSH:
 * no load of the descriptor on the hot maps. */
#ifdef FMT_MAP_NO_FLUSH
#define ENG_FMAP_FLUSHES(pt) ((void)(pt), 0)
#else
#define ENG_FMAP_FLUSHES(pt) ((pt)->fmt->caps & MMK__FMT_MAP_NEEDS_FLUSH)
#endif

/* One level of the map's descent (unrolled: constant shifts, no loop
 * counter).  With fmt_table_next a missing table or a huge page goes to
 * the general map (a tail call, once per new leaf table: it walks again
 * and builds the tables or says EEXIST), so this one needs no stack
 * frame; otherwise straight to eng_map_slow. */
/* (@alloc, a constant of the walk: the private map's way out never
 * allocates, mmk__pt_map_private) */
#define ENG_FMAP_CHECKED()                                                     \
	(alloc ? mmk__pt_map_checked(pt, va, pa, page_size, flags, g)          \
	       : mmk__pt_map_checked_private(pt, va, pa, page_size, flags,     \
					     NULL))
#ifdef FMT_HAS_TABLE_NEXT
#define ENG_FMAP_OFF(L) return ENG_FMAP_CHECKED()
#else /* (loongarch64: the frameless form walks slower) */
#define ENG_FMAP_OFF(L)                                                        \
	return !eng_is_empty(pt, e, L) ? MMK_EEXIST /* a huge page */          \
	       : !alloc                                                        \
		       ? MMK_EAGAIN                                            \
		       : eng_map_slow(pt, ia, leaf, p,                         \
				      ENG_MAP_LV(0, L, flags & MMK_PT_GLOBAL), \
				      g)
#endif
#define ENG_FMSTEP(L)                                                          \
	if ((L) < levels) {                                                    \
		p = t_ + ENG_FIDX(pt, va, L);                                  \
		e = eng_ld_acq(p);                                             \
		if (MMK_UNLIKELY(!fmt_table_next(pt, e, L, &n_))) {            \
			if (ENG_FEND(pt, e, L))                                \
				ENG_FMAP_OFF(L);                               \
			n_ = fmt_table_pa(e, L);                               \
		}                                                              \
		t_ = ENG_FTBL(n_);                                             \
	}

/* Install @leaf at level-0 slot @p (empty expected). */
static inline __attribute__((always_inline)) int
eng_fmap_put(struct mmk_pt *pt, mmk__pte_t *p, mmk__pte_t leaf, uint64_t ia,
	     uint32_t flags, struct mmk_tlb_gather *g)
{
	mmk__pte_t expect = fmt_empty(pt, 0);
	if (MMK_UNLIKELY(eng_ld(p) != expect || !eng_cas(p, &expect, leaf)))
		return MMK_EEXIST;
	if (ENG_FMAP_FLUSHES(pt))
		mmk__pt_gather_range(g, pt, ia,
				     (uint64_t)1 << ENG_QSHIFT(pt, 0),
				     flags & MMK_PT_GLOBAL);
	fmt_sync();
	return MMK_OK;
}

/* The map's walk from the root (pt->hint[0] did not cover @va): hints
 * the level-0 table it reaches. */
static inline __attribute__((always_inline)) int
eng_fmap_walk(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
	      mmk__pte_t leaf, uint32_t flags, struct mmk_tlb_gather *g,
	      const unsigned levels, const unsigned va_bits, const bool alloc)
{
	uint64_t page_size = (uint64_t)1 << ENG_QSHIFT(pt, 0);
	if (MMK_UNLIKELY(!eng_fcanonical(pt, va, va_bits) ||
			 (pt->nborrowed |
			  (unsigned long)atomic_load_explicit(
				  &pt->nshared, memory_order_relaxed))))
		return ENG_FMAP_CHECKED();
	uint64_t ia = va & (((uint64_t)1 << va_bits) - 1);
	ENG_FPV;
	mmk__pte_t *t_ = ENG_FTBL(pt->root.v), *p, e;
	uint64_t n_ = pt->root.v;
	ENG_FMSTEP(4)
	ENG_FMSTEP(3)
	ENG_FMSTEP(2)
	ENG_FMSTEP(1)
	eng_hset(pt, va, n_, 0, va_bits);
	return eng_fmap_put(pt, t_ + ENG_FIDX(pt, va, 0), leaf, ia, flags, g);
}

/*
 * The checks, the flags' encoding, then pt->hint[0]'s table if it covers
 * @va (maps in address order fill one leaf table), the walk otherwise.  A
 * hit needs no look at nshared or nborrowed: the hint is only set by a
 * walk that found both 0, a clone that shares a leaf table clears it, and
 * copy_from only borrows empty root slots (no hinted table is under one).
 */
static inline __attribute__((always_inline)) int
eng_fmap(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa, uint64_t page_size,
	 uint32_t flags, struct mmk_tlb_gather *g, const unsigned va_bits,
	 const unsigned pa_bits,
	 int (*walk)(struct mmk_pt *, mmk_vaddr_t, mmk_paddr_t, mmk__pte_t,
		     uint32_t, struct mmk_tlb_gather *),
	 const bool alloc)
{
	uint64_t base = (uint64_t)1 << ENG_QSHIFT(pt, 0);
	mmk__pte_t tmpl;
	if (MMK_UNLIKELY(page_size != base || ((va | pa.v) & (base - 1)) ||
			 (pa.v >> pa_bits) ||
			 fmt_leaf_template(pt, flags, 0, &tmpl) != 0))
		return ENG_FMAP_CHECKED();
	mmk__pte_t leaf = fmt_make_leaf(tmpl, pa.v, 0);
	uint64_t w = eng_hget(pt, 0);
	if (MMK_UNLIKELY(!eng_hhit(pt, w, va, 0, va_bits)))
		return walk(pt, va, pa, leaf, flags, g);
	ENG_FPV;
	return eng_fmap_put(
		pt, ENG_FTBL(eng_hpa(pt, w, 0, va_bits)) + ENG_FIDX(pt, va, 0),
		leaf, va & (((uint64_t)1 << va_bits) - 1), flags, g);
}

/* -------------------------------------------------------- cursor map */
/*
 * The cursor remembers the level-0 table covering the range that starts
 * at c->tag (va & ~(span of a level-1 entry - 1)), which stays hooked
 * there while pt->gen does not move (only exclusive operations unhook
 * tables, and they bump gen).  One masked compare checks that @va is in
 * that range and page aligned; it needs no other check of the address: a
 * va with the range of a canonical one is canonical, and the slot it lies
 * in was not borrowed when the cursor was filled (and copy_from only
 * borrows empty slots).  An empty cursor has gen 0, which no table has
 * (so MMK_PT_CURSOR_NONE, which a misaligned va could pass the compare
 * with, never hits).  The flags were checked when the template was made.
 */
static int eng_fmap_cursor_miss(struct mmk_pt_cursor *c, mmk_vaddr_t va,
				mmk_paddr_t pa, uint32_t flags,
				struct mmk_tlb_gather *g);
static int eng_fmap_cursor_miss_private(struct mmk_pt_cursor *c, mmk_vaddr_t va,
					mmk_paddr_t pa, uint32_t flags,
					struct mmk_tlb_gather *g);

static inline __attribute__((always_inline)) int
eng_fmap_cursor(struct mmk_pt_cursor *c, mmk_vaddr_t va, mmk_paddr_t pa,
		uint32_t flags, struct mmk_tlb_gather *g,
		const unsigned pa_bits, const bool alloc)
{
	struct mmk_pt *pt = c->pt;
	uint64_t base = (uint64_t)1 << ENG_QSHIFT(pt, 0);
	uint64_t span1 = (uint64_t)1 << ENG_QSHIFT(pt, 1);
	uint64_t pa_bad = ~((((uint64_t)1 << pa_bits) - 1) & ~(base - 1));
#if defined(FMT_BITS) && defined(FMT_PAGE_SHIFT)
	/* constant masks: the range and va's alignment in one compare */
	bool in = !((va ^ c->tag) & ~(span1 - base)) && !(pa.v & pa_bad);
#else
	/* shifts from the table: fewer of them this way */
	bool in = !((va ^ c->tag) >> ENG_QSHIFT(pt, 1)) &&
		  !((va | pa.v) & (base - 1)) && !(pa.v >> pa_bits);
	(void)span1;
	(void)pa_bad;
#endif
	if (MMK_LIKELY(in && c->flags == flags &&
		       c->gen == atomic_load_explicit(&pt->gen,
						      memory_order_relaxed))) {
		mmk__pte_t *p = (mmk__pte_t *)c->table + ENG_FIDX(pt, va, 0);
		mmk__pte_t expect = fmt_empty(pt, 0);
		if (MMK_UNLIKELY(eng_ld(p) != expect ||
				 !eng_cas(p, &expect,
					  fmt_make_leaf(c->tmpl, pa.v, 0))))
			return MMK_EEXIST;
		if (ENG_FMAP_FLUSHES(pt))
			mmk__pt_gather_range(
				g, pt,
				va & (((uint64_t)1 << pt->fmt->va_bits) - 1),
				base, flags & MMK_PT_GLOBAL);
		fmt_sync();
		return MMK_OK;
	}
	return alloc ? eng_fmap_cursor_miss(c, va, pa, flags, g)
		     : eng_fmap_cursor_miss_private(c, va, pa, flags, g);
}

/* Out of line, so that the hit path above needs no stack frame: the map
 * with every check, then the cursor refilled for the leaf table now
 * holding @va (left empty if there is none, e.g. a huge page). */
static inline __attribute__((always_inline)) int
eng_fmap_cursor_refill(struct mmk_pt_cursor *c, mmk_vaddr_t va, mmk_paddr_t pa,
		       uint32_t flags, struct mmk_tlb_gather *g,
		       const bool alloc)
{
	struct mmk_pt *pt = c->pt;
	int err = alloc ? mmk_pt_map(pt, va, pa, eng_span(pt, 0), flags, g)
			: mmk__pt_map_private(pt, va, pa, eng_span(pt, 0),
					      flags, NULL);
	if (err)
		return err;
	uint64_t ia = va & (((uint64_t)1 << pt->fmt->va_bits) - 1);
	uint64_t table = pt->root.v;
	c->tag = MMK_PT_CURSOR_NONE;
	c->gen = 0;
	for (unsigned l = pt->fmt->levels - 1u; l > 0; l--) {
		mmk__pte_t e = eng_ld_acq(eng_tbl(table) + eng_idx(pt, ia, l));
		if (eng_is_empty(pt, e, l) || !fmt_is_table(e, l))
			return MMK_OK;
		table = fmt_table_pa(e, l);
	}
	mmk__pte_t tmpl;
	if (fmt_leaf_template(pt, flags, 0, &tmpl) != 0)
		return MMK_OK;
	c->table = eng_tbl(table);
	c->tag = va & ~(((uint64_t)1 << pt->shift[1]) - 1);
	c->flags = flags;
	c->tmpl = tmpl;
	c->gen = atomic_load_explicit(&pt->gen, memory_order_relaxed);
	return MMK_OK;
}

__attribute__((noinline)) static int
eng_fmap_cursor_miss(struct mmk_pt_cursor *c, mmk_vaddr_t va, mmk_paddr_t pa,
		     uint32_t flags, struct mmk_tlb_gather *g)
{
	return eng_fmap_cursor_refill(c, va, pa, flags, g, true);
}

__attribute__((noinline)) static int
eng_fmap_cursor_miss_private(struct mmk_pt_cursor *c, mmk_vaddr_t va,
			     mmk_paddr_t pa, uint32_t flags,
			     struct mmk_tlb_gather *g)
{
	return eng_fmap_cursor_refill(c, va, pa, flags, g, false);
}

/*
 * Instantiate the entry points for one paging mode: NAME_query etc.  The
 * mode's descriptor takes them with ENG_FAST_OPS(NAME).
 */
#define ENG_FAST(NAME, LEVELS, VA_BITS, PA_BITS)                               \
	ENG_FQUERY(NAME, LEVELS, VA_BITS)                                      \
	static size_t NAME##_query_many(const struct mmk_pt *pt, size_t n,     \
					const mmk_vaddr_t *va,                 \
					mmk_paddr_t *pa, uint32_t *flags)      \
	{                                                                      \
		ENG_FQMANY(NAME, LEVELS, VA_BITS);                             \
	}                                                                      \
	static int NAME##_lookup(const struct mmk_pt *pt, mmk_vaddr_t va,      \
				 struct mmk_pt_leaf *out)                      \
	{                                                                      \
		return eng_flookup(pt, va, out, LEVELS, VA_BITS);              \
	}                                                                      \
	ENG_FAST_MAP(NAME, , LEVELS, VA_BITS, PA_BITS, true)                   \
	ENG_FAST_MAP(NAME, _private, LEVELS, VA_BITS, PA_BITS, false)

/* The map, its walk and the cursor map: NAME_map* (@ALLOC true) and
 * NAME_map*_private (false: never allocates, mmk__pt_map_private). */
#define ENG_FAST_MAP(NAME, SFX, LEVELS, VA_BITS, PA_BITS, ALLOC)               \
	__attribute__((noinline)) static int NAME##_map_walk##SFX(             \
		struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,             \
		mmk__pte_t leaf, uint32_t flags, struct mmk_tlb_gather *g)     \
	{                                                                      \
		return eng_fmap_walk(pt, va, pa, leaf, flags, g, LEVELS,       \
				     VA_BITS, ALLOC);                          \
	}                                                                      \
	static int NAME##_map##SFX(struct mmk_pt *pt, mmk_vaddr_t va,          \
				   mmk_paddr_t pa, uint64_t page_size,         \
				   uint32_t flags, struct mmk_tlb_gather *g)   \
	{                                                                      \
		return eng_fmap(pt, va, pa, page_size, flags, g, VA_BITS,      \
				PA_BITS, NAME##_map_walk##SFX, ALLOC);         \
	}                                                                      \
	static int NAME##_map_cursor##SFX(                                     \
		struct mmk_pt_cursor *c, mmk_vaddr_t va, mmk_paddr_t pa,       \
		uint32_t flags, struct mmk_tlb_gather *g)                      \
	{                                                                      \
		return eng_fmap_cursor(c, va, pa, flags, g, PA_BITS, ALLOC);   \
	}

#define ENG_FAST_OPS(NAME)                                                     \
	.query = NAME##_query, .query_many = NAME##_query_many,                \
	.lookup = NAME##_lookup, .map = NAME##_map,                            \
	.map_cursor = NAME##_map_cursor, .map_private = NAME##_map_private,    \
	.map_cursor_private = NAME##_map_cursor_private
