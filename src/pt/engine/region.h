/* SPDX-License-Identifier: MIT */
/*
 * mmkit — engine fragment: region edits (map, unmap, protect over a range),
 * splits of huge pages, and the reservations behind them.
 * Included by pt/engine.h only (after the fragments before it); every
 * function is static, instantiated once per format.
 */
/* ------------------------------------------------------- map_region */
/*
 * The iterative range walks (map_region, unmap_region, protect_region)
 * keep, instead of a frame per level, one cursor address and the table of
 * each level on the way down: a table's part of the range ends where its
 * parent's slot does (or at the range's end), so little else per level is
 * needed (map: the new table still to hook; unmap: whether the walk
 * entered the table at its first entry).  Level @l is done when the
 * cursor @a leaves its parent's slot, or reaches @e.
 */
static inline bool eng_rwalk_done(const struct mmk_pt *pt, unsigned l,
				  uint64_t a, uint64_t e)
{
	return a >= e || !(a & (eng_span(pt, l + 1) - 1));
}

/* The end of the range of the level-@l table the walk is in, just after
 * the slot before @a (a > the table's first address visited). */
static inline uint64_t eng_rwalk_end(const struct mmk_pt *pt, unsigned l,
				     unsigned top, uint64_t a, uint64_t e)
{
	if (l >= top)
		return e;
	return MMK_MIN(((a - 1) | (eng_span(pt, l + 1) - 1)) + 1, e);
}

struct eng_map_ctx {
	uint64_t delta; /* pa = ia + delta (mod 2^64) when !fn */
	mmk_pt_pa_fn fn;
	void *fctx;
	bool huge;
	int err;
	mmk__pte_t tmpl[MMK_PT_MAX_LEVELS];
	bool tmpl_ok[MMK_PT_MAX_LEVELS];
	bool unmapping; /* MMK_PT_MAP_WILL_UNMAP: count as if empty */
	struct mmk_pt_resv *pool;
	bool shared; /* the table points at shared leaf tables */
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

/*
 * The shared leaf tables under [s, e): with @pool NULL, how many are shared
 * now (each needs a copy); else each flagged one is made private from @pool
 * (exclusive).  Only asked when the table has shared tables, so the common
 * paths never walk twice.  Iterative (one descent from the root per leaf
 * table slot, a hole skipped whole): a recursion took a frame a level on
 * map's deepest chain, and this path is cold.  Needs levels > 1.
 */
static inline __attribute__((always_inline)) long
eng_shared_walk(struct mmk_pt *pt, uint64_t s, uint64_t e,
		struct mmk_pt_resv *pool, struct mmk_tlb_gather *b)
{
	unsigned top = pt->fmt->levels - 1;
	long n = 0;
	for (uint64_t a = s; a < e;) {
		uint64_t table = pt->root.v;
		unsigned l = top;
		mmk__pte_t *p;
		mmk__pte_t ent;
		bool tbl;
		for (;;) {
			p = &eng_tbl(table)[eng_idx(pt, a, l)];
			ent = eng_ld(p);
			tbl = !eng_is_empty(pt, ent, l) && fmt_is_table(ent, l);
			if (!tbl || l == 1)
				break;
			table = fmt_table_pa(ent, l);
			l--;
		}
		if (tbl) {
			uint64_t child = fmt_table_pa(ent, 1);
			if (!pool) {
				n += eng_shared_now(pt, child);
			} else if (!eng_private(pt, child)) {
				eng_own_pool(pt, p, a, pool, true, b, &child);
				n++;
			}
		}
		a = MMK_MIN((a | (eng_span(pt, l) - 1)) + 1, e);
	}
	return n;
}

/* The two uses of eng_shared_walk, each out of line: the count (the
 * prepare's) has no copy under it. */
__attribute__((noinline)) static long eng_shared_count(struct mmk_pt *pt,
						       uint64_t s, uint64_t e)
{
	return eng_shared_walk(pt, s, e, NULL, NULL);
}

__attribute__((noinline)) static void eng_shared_own(struct mmk_pt *pt,
						     uint64_t s, uint64_t e,
						     struct mmk_pt_resv *pool,
						     struct mmk_tlb_gather *b)
{
	(void)eng_shared_walk(pt, s, e, pool, b);
}

/* Prepare: conflicts, and the number of tables needed for [s, e) below
 * the root @root (ENG_NONE: as if the whole table were empty).  The
 * iterative walk of the commits; a NULL table is one still to be made. */
static long eng_map_count(const struct mmk_pt *pt, struct eng_map_ctx *c,
			  uint64_t root, uint64_t s, uint64_t e)
{
	const mmk__pte_t *t[MMK_PT_MAX_LEVELS];
	unsigned top = pt->fmt->levels - 1, l = top;
	uint64_t a = s;
	long n = 0;
	t[top] = root == ENG_NONE ? NULL : eng_tbl(root);
	while (a < e) {
		if (l == 0) {
			uint64_t le =
				top ? MMK_MIN((a | (eng_span(pt, 1) - 1)) + 1,
					      e)
				    : e;
			if (t[0]) {
				unsigned i = eng_idx(pt, a, 0);
				unsigned k1 =
					(unsigned)((le - a) >> pt->shift[0]);
				for (unsigned k = 0; k < k1; k++)
					if (!eng_is_empty(pt,
							  eng_ld(&t[0][i + k]),
							  0))
						return MMK_EEXIST;
			}
			if (c->fn) {
				int err = eng_map_check_fn(pt, c, a, le);
				if (err)
					return err;
			}
			a = le;
		} else {
			uint64_t span = eng_span(pt, l), pa;
			uint64_t se = MMK_MIN((a | (span - 1)) + 1, e);
			mmk__pte_t ent = t[l] ? eng_ld(&t[l][eng_idx(pt, a, l)])
					      : fmt_empty(pt, l);
			if (!eng_is_empty(pt, ent, l)) {
				if (!fmt_is_table(ent, l))
					return MMK_EEXIST;
				t[l - 1] = eng_tbl(fmt_table_pa(ent, l));
				l--;
				continue; /* the same address, below */
			}
			if (!eng_map_leaf_here(pt, c, l, a, se, &pa)) {
				n++; /* a new table here */
				t[--l] = NULL;
				continue;
			}
			if (pt->fmt->pa_bits < 64 &&
			    (pa + span - 1) >> pt->fmt->pa_bits)
				return MMK_ERANGE;
			a = se;
			/* the next empty slots of this table while they take
			 * leaves too (huge maps): no climb */
			uint64_t te = eng_rwalk_end(pt, l, top, a, e);
			while (a < te &&
			       (!t[l] ||
				eng_is_empty(pt,
					     eng_ld(&t[l][eng_idx(pt, a, l)]),
					     l)) &&
			       eng_map_leaf_here(pt, c, l, a,
						 MMK_MIN(a + span, te), &pa)) {
				if (pt->fmt->pa_bits < 64 &&
				    (pa + span - 1) >> pt->fmt->pa_bits)
					return MMK_ERANGE;
				a += span;
			}
		}
		while (l < top && eng_rwalk_done(pt, l, a, e))
			l++;
	}
	return n;
}

/*
 * Write [s, e): the leaves, and the tables the prepare counted (from
 * c->pool), each hooked into its parent only once everything below it is
 * written.  Iterative, as the unmap and protect walks: one cursor, the
 * table of each level, and the page of each new table still to hook.
 */
static void eng_map_commit(struct mmk_pt *pt, struct eng_map_ctx *c, uint64_t s,
			   uint64_t e)
{
	mmk__pte_t *t[MMK_PT_MAX_LEVELS];
	uint64_t fresh[MMK_PT_MAX_LEVELS]; /* a new table, or ENG_NONE */
	unsigned top = pt->fmt->levels - 1, l = top;
	uint64_t a = s;
	t[top] = eng_tbl(pt->root.v);
	while (a < e) {
		if (l == 0) {
			uint64_t le =
				top ? MMK_MIN((a | (eng_span(pt, 1) - 1)) + 1,
					      e)
				    : e;
			mmk__pte_t *p = t[0] + eng_idx(pt, a, 0);
			size_t n = (size_t)((le - a) >> pt->shift[0]);
			uint64_t step = eng_span(pt, 0);
			mmk__pte_t tmpl = c->tmpl[0];
			if (!c->fn) {
				uint64_t pa = a + c->delta;
				for (size_t k = 0; k < n; k++, pa += step)
					p[k] = fmt_make_leaf(tmpl, pa, 0);
			} else {
				for (size_t k = 0; k < n; k++)
					p[k] = fmt_make_leaf(
						tmpl,
						eng_map_pa(pt, c, a + k * step),
						0);
			}
			a = le;
		} else {
			uint64_t span = eng_span(pt, l), pa;
			uint64_t se = MMK_MIN((a | (span - 1)) + 1, e);
			mmk__pte_t *p = &t[l][eng_idx(pt, a, l)];
			mmk__pte_t ent = *p;
			if (!eng_is_empty(pt, ent, l)) {
				t[l - 1] = eng_tbl(fmt_table_pa(ent, l));
				fresh[l - 1] = ENG_NONE;
				l--;
				continue; /* the same address, below */
			}
			if (eng_map_leaf_here(pt, c, l, a, se, &pa)) {
				*p = fmt_make_leaf(c->tmpl[l], pa, l);
				a = se;
				/* the next slots of this table while they
				 * take leaves too (huge maps): no climb */
				uint64_t te = eng_rwalk_end(pt, l, top, a, e);
				while (a < te && eng_is_empty(pt, *++p, l) &&
				       eng_map_leaf_here(pt, c, l, a,
							 MMK_MIN(a + span, te),
							 &pa)) {
					*p = fmt_make_leaf(c->tmpl[l], pa, l);
					a += span;
				}
			} else {
				uint64_t child = eng_pool_pop(pt, c->pool);
				/* A leaf table written whole needs no
				 * clearing. */
				if (!(l == 1 && se - a == span))
					eng_init_table(pt, eng_tbl(child),
						       l - 1);
				t[l - 1] = eng_tbl(child);
				fresh[l - 1] = child;
				l--;
				continue;
			}
		}
		while (l < top && eng_rwalk_done(pt, l, a, e)) {
			l++;
			if (fresh[l - 1] != ENG_NONE)
				eng_st_rel(&t[l][eng_idx(pt, a - 1, l)],
					   fmt_make_table(pt, fresh[l - 1], l));
		}
	}
}

/* The context of one map: templates per level; ENOTSUP if level 0 cannot
 * encode @flags (levels above that cannot just take no huge pages). */
static inline __attribute__((always_inline)) int
eng_map_setup(struct mmk_pt *pt, struct eng_map_ctx *c, uint64_t ia,
	      uint64_t pa, uint32_t flags, unsigned opts, mmk_pt_pa_fn fn,
	      void *ctx, struct mmk_pt_resv *r)
{
	c->delta = pa - ia;
	c->fn = fn;
	c->fctx = ctx;
	c->huge = (opts & MMK_PT_MAP_HUGE) != 0;
	c->unmapping = (opts & MMK_PT_MAP_WILL_UNMAP) != 0;
	c->err = 0;
	c->pool = r;
	c->shared =
		atomic_load_explicit(&pt->nshared, memory_order_relaxed) != 0;
	for (unsigned l = 0; l < pt->fmt->levels; l++) {
		c->tmpl_ok[l] = false;
		if (!eng_leaf_ok(pt, l))
			continue;
		int err = fmt_leaf_template(pt, flags, l, &c->tmpl[l]);
		if (err && l == 0)
			return err;
		c->tmpl_ok[l] = err == 0;
	}
	return MMK_OK;
}

/* Prepare with a set-up context: every check, then the table pages into
 * c->pool.  Changes nothing. */
static inline __attribute__((always_inline)) int
eng_map_prepare(struct mmk_pt *pt, struct eng_map_ctx *c, uint64_t ia,
		uint64_t size)
{
	unsigned top = pt->fmt->levels - 1;
	/* A range that will be emptied first is counted as if nothing were
	 * there, root slots included: an upper bound whatever the unmap
	 * frees. */
	long n = eng_map_count(pt, c, c->unmapping ? ENG_NONE : pt->root.v, ia,
			       ia + size);
	if (MMK_UNLIKELY(c->shared) && n >= 0 && top > 0)
		n += eng_shared_count(pt, ia,
				      ia + size); /* copies of shared tables */
	if (n <= 0)
		return (int)n; /* an error, or nothing to allocate (common) */
	return eng_pool_add(pt, c->pool, n);
}

/* Commit with the context the prepare used: cannot fail. */
static inline __attribute__((always_inline)) void
eng_map_finish(struct mmk_pt *pt, struct eng_map_ctx *c, uint64_t ia,
	       uint64_t size, uint32_t flags, struct mmk_tlb_gather *b)
{
	if (MMK_UNLIKELY(c->shared) && pt->fmt->levels > 1)
		eng_shared_own(pt, ia, ia + size, c->pool, b);
	eng_map_commit(pt, c, ia, ia + size);
	if (pt->fmt->caps & MMK__FMT_MAP_NEEDS_FLUSH)
		mmk__pt_gather_range(b, pt, ia, size, flags & MMK_PT_GLOBAL);
	fmt_sync();
}

static int eng_map_reserve(struct mmk_pt *pt, struct mmk_pt_resv *r,
			   uint64_t ia, uint64_t pa, uint64_t size,
			   uint32_t flags, unsigned opts, mmk_pt_pa_fn fn,
			   void *ctx)
{
	struct eng_map_ctx c;
	int err = eng_map_setup(pt, &c, ia, pa, flags, opts, fn, ctx, r);
	return err ? err : eng_map_prepare(pt, &c, ia, size);
}

/* Commit: cannot fail (the tables come from @r). */
static void eng_map_reserved(struct mmk_pt *pt, struct mmk_pt_resv *r,
			     uint64_t ia, uint64_t pa, uint64_t size,
			     uint32_t flags, unsigned opts, mmk_pt_pa_fn fn,
			     void *ctx, struct mmk_tlb_gather *b)
{
	struct eng_map_ctx c;
	int err = eng_map_setup(pt, &c, ia, pa, flags, opts, fn, ctx, r);
	MMK_ASSERT(err == 0); /* the reserve checked the same */
	eng_map_finish(pt, &c, ia, size, flags, b);
}

/* Both steps in a row, sharing one context (the region map of old). */
static int eng_map_region(struct mmk_pt *pt, uint64_t ia, uint64_t pa,
			  uint64_t size, uint32_t flags, unsigned opts,
			  mmk_pt_pa_fn fn, void *ctx, struct mmk_tlb_gather *b)
{
	struct mmk_pt_resv r = {.pt = pt, .head = ENG_NONE, .n = 0};
	struct eng_map_ctx c;
	int err = eng_map_setup(pt, &c, ia, pa, flags, opts, fn, ctx, &r);
	if (!err)
		err = eng_map_prepare(pt, &c, ia, size);
	if (err)
		return err;
	eng_map_finish(pt, &c, ia, size, flags, b);
	if (MMK_UNLIKELY(r.n))
		eng_pool_release(pt, &r); /* a shared table taken back */
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

/* 1 if @x lies strictly inside the span of a leaf table of @pt that is
 * shared (an edit stopping at @x copies it first), else 0. */
static long eng_edge_shared(const struct mmk_pt *pt, uint64_t x)
{
	if (MMK_LIKELY(!atomic_load_explicit(&pt->nshared,
					     memory_order_relaxed)) ||
	    (x >> pt->fmt->va_bits) || !(x & (eng_span(pt, 1) - 1)))
		return 0;
	mmk__pte_t *p1 = eng_slot(pt, x, 1);
	if (!p1)
		return 0;
	mmk__pte_t e1 = eng_ld(p1);
	if (eng_is_empty(pt, e1, 1) || !fmt_is_table(e1, 1))
		return 0;
	return eng_shared_now(pt, fmt_table_pa(e1, 1));
}

/* Tables an edit of [s, e) needs at its ends: huge splits, shared leaf
 * tables the ends cut (counted once when both ends cut the same one). */
static long eng_edges_count(const struct mmk_pt *pt, uint64_t s, uint64_t e)
{
	long n = eng_split_count(pt, s, e) + eng_edge_shared(pt, s);
	if ((s >> pt->shift[1]) != (e >> pt->shift[1]) ||
	    !eng_edge_shared(pt, s))
		n += eng_edge_shared(pt, e);
	return n;
}

/* Make the shared leaf table @x cuts (if any) private, from @pool. */
static void eng_own_edge(struct mmk_pt *pt, uint64_t x,
			 struct mmk_pt_resv *pool, struct mmk_tlb_gather *b)
{
	if (!eng_edge_shared(pt, x))
		return;
	uint64_t own;
	eng_own_pool(pt, eng_slot(pt, x, 1), x, pool, true, b, &own);
}

/* Split the huge leaves @x falls inside until @x is a leaf boundary. */
static void eng_split_at(struct mmk_pt *pt, uint64_t x,
			 struct mmk_pt_resv *pool, struct mmk_tlb_gather *b)
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

/*
 * Split the huge pages straddling @s and @e.  The only failure of
 * unmap_region and protect_region: when neither end falls strictly inside
 * a huge page nothing is allocated and this cannot fail (the address space
 * relies on it after mmk_pt_cut at both ends).
 */
static int eng_prepare_splits(struct mmk_pt *pt, uint64_t s, uint64_t e,
			      long more, struct mmk_pt_resv *pool,
			      struct mmk_tlb_gather *b)
{
	long n = eng_edges_count(pt, s, e) + more;
	if (n == 0)
		return MMK_OK;
	if (eng_pool_add(pt, pool, n) != 0)
		return MMK_ENOMEM;
	eng_split_at(pt, s, pool, b);
	eng_split_at(pt, e, pool, b);
	return MMK_OK;
}

/* Reserve the tables a cut at @x needs (an upper bound however many other
 * cuts commit before it: earlier splits only remove needs). */
static int eng_reserve_cut(struct mmk_pt *pt, struct mmk_pt_resv *r, uint64_t x)
{
	return eng_pool_add(pt, r,
			    eng_split_count(pt, x, x) + eng_edge_shared(pt, x));
}

/* A cut also makes the shared leaf table it falls inside private, so the
 * edit between two cuts never needs a page for its ends. */
static void eng_cut(struct mmk_pt *pt, struct mmk_pt_resv *r, uint64_t x,
		    struct mmk_tlb_gather *b)
{
	eng_split_at(pt, x, r, b);
	eng_own_edge(pt, x, r, b);
	fmt_sync();
}

static void eng_resv_release(struct mmk_pt *pt, struct mmk_pt_resv *r)
{
	eng_pool_release(pt, r);
}

/* ------------------------------------------------------ unmap_region */
struct eng_unmap_ctx {
	struct mmk_tlb_gather *b;
	struct mmk_pt_resv *pool; /* copies of shared tables the ends cut */
	mmk_pt_unmap_fn fn;
	void *fctx;
	bool have_run;
	bool fl_global; /* a global leaf was seen (sticky: the gather ORs) */
	struct mmk_pt_leaf run;
	/* Decoded flags of the last attribute bits seen: consecutive leaves
	 * almost always share them, so each leaf costs a compare. */
	mmk__pte_t last_attr;
	unsigned last_level;
	uint32_t last_flags;
};

static void eng_unmap_flush_pending(struct mmk_pt *pt, struct eng_unmap_ctx *c)
{
	if (c->have_run)
		c->fn(c->fctx, &c->run);
	c->have_run = false;
}

/* Report the leaf @e at @va (index address @a) to the callback, merged
 * into the current run where it continues it. */
static inline void eng_unmap_report(struct mmk_pt *pt, struct eng_unmap_ctx *c,
				    mmk_vaddr_t va, mmk__pte_t e, unsigned l)
{
	uint64_t span = eng_span(pt, l);
	uint64_t pa = fmt_leaf_pa(e, l);
	mmk__pte_t attr = e ^ fmt_make_leaf(0, pa, l);
	if (MMK_UNLIKELY(attr != c->last_attr || l != c->last_level)) {
		c->last_attr = attr;
		c->last_level = l;
		c->last_flags = fmt_leaf_flags(pt, e, l);
		c->fl_global |= (c->last_flags & MMK_PT_GLOBAL) != 0;
	}
	uint32_t f = c->last_flags;
	if (!c->fn)
		return;
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

/* A leaf table's [s, e) with every leaf reported: as the loop of
 * eng_unmap_commit, out of line so that loop keeps its registers.  A leaf
 * table lies on one side of the canonical hole: one conversion to va. */
__attribute__((noinline)) static void
eng_unmap_leaves_fn(struct mmk_pt *pt, struct eng_unmap_ctx *c, mmk__pte_t *t,
		    uint64_t s, uint64_t e)
{
	uint64_t span = eng_span(pt, 0);
	mmk__pte_t empty = fmt_empty(pt, 0);
	mmk__pte_t *q = t + eng_idx(pt, s, 0);
	size_t n = (size_t)((e - s) >> pt->shift[0]), k = 0;
	mmk_vaddr_t va0 = mmk__pt_va(pt, s);
	while (k < n) {
		while (k < n && q[k] == empty)
			k++;
		if (k == n)
			break;
		size_t k0 = k;
		for (; k < n && q[k] != empty; k++) {
			eng_unmap_report(pt, c, va0 + k * span, q[k], 0);
			q[k] = empty;
		}
		mmk__pt_gather_range(c->b, pt, s + k0 * span, (k - k0) * span,
				     c->fl_global);
	}
}

/* Clear [s, e) of the leaf table @t (no callback): runs of leaves, one
 * flush range per run, the attribute decision cached, a load, a compare
 * and a store per entry. */
static inline __attribute__((always_inline)) void
eng_unmap_leaves(struct mmk_pt *pt, struct eng_unmap_ctx *c, mmk__pte_t *t,
		 uint64_t s, uint64_t e)
{
	uint64_t span = eng_span(pt, 0);
	mmk__pte_t empty = fmt_empty(pt, 0);
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
				ent ^ fmt_make_leaf(0, fmt_leaf_pa(ent, 0), 0);
			if (MMK_UNLIKELY(attr != c->last_attr ||
					 c->last_level != 0)) {
				c->last_attr = attr;
				c->last_level = 0;
				c->last_flags = fmt_leaf_flags(pt, ent, 0);
				c->fl_global |=
					(c->last_flags & MMK_PT_GLOBAL) != 0;
			}
			q[k] = empty;
		}
		uint64_t rs = s + k0 * span, re = s + k * span;
		mmk__pt_gather_range(c->b, pt, rs, re - rs, c->fl_global);
	}
}

/* The shared leaf tables an unmap of [s, e) cuts (it does not cover their
 * whole span: only at the ends), private before the walk, so the walk only
 * lets whole ones go and never copies: the copies' frame and their frame
 * references stay off its stack.  The pages come from @pool (the prepare
 * counted the edges).  Out of line: only tables that share pay. */
__attribute__((noinline)) static void
eng_unmap_own_edges(struct mmk_pt *pt, uint64_t s, uint64_t e,
		    struct mmk_pt_resv *pool, struct mmk_tlb_gather *b)
{
	uint64_t xs[2] = {s, e};
	for (int j = 0; j < 2; j++) {
		uint64_t x = xs[j], own;
		if ((x >> pt->fmt->va_bits) || !(x & (eng_span(pt, 1) - 1)))
			continue;
		mmk__pte_t *p1 = eng_slot(pt, x, 1);
		if (p1)
			eng_own_pool(pt, p1, x, pool, true, b, &own);
	}
}

/* Clear [s, e) (index addresses) from the root down, unhooking and
 * queueing the tables that become empty, each leaf to @fn.  Out of line,
 * with its context: their frame and that of the splits before it are
 * never on the stack together. */
__attribute__((noinline)) static void
eng_unmap_commit(struct mmk_pt *pt, struct mmk_pt_resv *pool,
		 struct mmk_tlb_gather *b, mmk_pt_unmap_fn fn, void *fctx,
		 uint64_t s, uint64_t e)
{
	struct eng_unmap_ctx cx = {.b = b,
				   .pool = pool,
				   .fn = fn,
				   .fctx = fctx,
				   .last_attr = ~(mmk__pte_t)0};
	struct eng_unmap_ctx *c = &cx;
	mmk__pte_t *t[MMK_PT_MAX_LEVELS];
	unsigned top = pt->fmt->levels - 1u, l = top, whole = 0;
	uint64_t a = s;
	t[top] = eng_tbl(pt->root.v);
	while (a < e) {
		if (l == 0) {
			uint64_t le =
				top ? MMK_MIN((a | (eng_span(pt, 1) - 1)) + 1,
					      e)
				    : e;
			if (c->fn)
				eng_unmap_leaves_fn(pt, c, t[0], a, le);
			else
				eng_unmap_leaves(pt, c, t[0], a, le);
			a = le;
		} else {
			uint64_t span = eng_span(pt, l);
			uint64_t se = MMK_MIN((a | (span - 1)) + 1, e);
			mmk__pte_t empty = fmt_empty(pt, l);
			mmk__pte_t *p = &t[l][eng_idx(pt, a, l)];
			mmk__pte_t ent = *p;
			if (ent != empty && fmt_is_leaf(ent, l)) {
				eng_unmap_report(pt, c, mmk__pt_va(pt, a), ent,
						 l);
				mmk__pt_gather_range(c->b, pt, a, span,
						     c->fl_global);
				eng_st(p, empty);
			} else if (ent != empty) {
				uint64_t child = fmt_table_pa(ent, l);
				/* a shared leaf table is covered whole here
				 * (eng_unmap_own_edges): let go, or ours
				 * again and zapped as any other */
				if (!(l == 1 && !eng_private(pt, child) &&
				      eng_drop_shared(pt, p, child, a, c->b))) {
					whole = (whole & ~(1u << (l - 1))) |
						(unsigned)!(a & (span - 1))
							<< (l - 1);
					t[--l] = eng_tbl(child);
					continue; /* the same address, below */
				}
			}
			a = se;
		}
		/* Each level done goes back to its parent, which unhooks the
		 * table if nothing is left in it. */
		while (l < top && eng_rwalk_done(pt, l, a, e)) {
			bool emptied = (((whole >> l) & 1) &&
					!(a & (eng_span(pt, l + 1) - 1))) ||
				       eng_table_empty(pt, t[l], l);
			l++;
			uint64_t in = a - 1; /* inside the slot just done */
			mmk__pte_t *up = &t[l][eng_idx(pt, in, l)];
			if (emptied && !eng_pinned(pt, l, in)) {
				uint64_t tpa = fmt_table_pa(*up, l);
				eng_st(up, fmt_empty(pt, l));
				eng_unhooked(pt);
				mmk__pt_gather_table(c->b, pt, tpa);
				atomic_fetch_sub_explicit(&pt->tables, 1,
							  memory_order_relaxed);
			}
		}
	}
	eng_unmap_flush_pending(pt, c);
}

static int eng_unmap_region(struct mmk_pt *pt, uint64_t ia, uint64_t size,
			    struct mmk_tlb_gather *b, mmk_pt_unmap_fn fn,
			    void *ctx)
{
	struct mmk_pt_resv pool = {.pt = pt, .head = ENG_NONE, .n = 0};
	int err = eng_prepare_splits(pt, ia, ia + size, 0, &pool, b);
	if (err)
		return err;
	if (MMK_UNLIKELY(
		    atomic_load_explicit(&pt->nshared, memory_order_relaxed)) &&
	    pt->fmt->levels > 1)
		eng_unmap_own_edges(pt, ia, ia + size, &pool, b);
	eng_unmap_commit(pt, &pool, b, fn, ctx, ia, ia + size);
	fmt_sync();
	if (MMK_UNLIKELY(pool.n))
		eng_pool_release(pt, &pool); /* taken back in place */
	return MMK_OK;
}

/* ---------------------------------------------------- protect_region */
struct eng_prot_ctx {
	struct mmk_tlb_gather *b;
	struct mmk_pt_resv *pool; /* copies of the shared tables it changes */
	uint32_t flags;
	mmk__pte_t tmpl[MMK_PT_MAX_LEVELS];
	bool fl_global; /* sticky, as in unmap */
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
	c->fl_global |= global;
	mmk__pt_gather_range(c->b, pt, a, size, c->fl_global);
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

/* [s, e) of the leaf table @t. */
static inline __attribute__((always_inline)) void
eng_protect_leaves(struct mmk_pt *pt, struct eng_prot_ctx *c, mmk__pte_t *t,
		   uint64_t s, uint64_t e)
{
	uint64_t span = eng_span(pt, 0);
	mmk__pte_t empty = fmt_empty(pt, 0);
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
			mmk__pte_t addr =
				fmt_make_leaf(0, fmt_leaf_pa(ent, 0), 0);
			if (MMK_UNLIKELY((ent ^ addr) != last_attr)) {
				uint32_t of = fmt_leaf_flags(pt, ent, 0);
				last_attr = ent ^ addr;
				last_new =
					c->tmpl[0] | fmt_leaf_hw_bits(ent, 0);
				loses = eng_protect_loses(of, c->flags);
				glob = (of & MMK_PT_GLOBAL) != 0;
			}
			mmk__pte_t nw = addr | last_new;
			if (nw == ent) {
				k++; /* unchanged: no write, no flush */
			} else if (fmt_needs_bbm(ent, nw, 0)) {
				eng_replace(pt, &q[k], ent, nw, 0, s + k * span,
					    c->b);
				lost = loses;
				k++;
			} else {
				q[k++] = nw;
				for (; k < n; k++) {
					mmk__pte_t e2 = q[k];
					mmk__pte_t a2 = fmt_make_leaf(
						0, fmt_leaf_pa(e2, 0), 0);
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
			eng_prot_note(pt, c, s + run * span, (k0 - run) * span,
				      false);
			run = SIZE_MAX;
		}
	}
	if (run != SIZE_MAX)
		eng_prot_note(pt, c, s + run * span, (n - run) * span, false);
	c->last_attr = last_attr;
	c->last_new = last_new;
	c->last_loses = loses;
	c->last_global = glob;
	c->last_level = 0;
}

/* Would the protect change a leaf of [s, e) in the leaf table @t?  @wp:
 * its directory entry refuses writes (the leaves as the hardware sees
 * them have no WRITE). */
static bool eng_prot_changes(const struct mmk_pt *pt,
			     const struct eng_prot_ctx *c, uint64_t t,
			     uint64_t s, uint64_t e, bool wp)
{
	const mmk__pte_t *q = eng_tbl(t) + eng_idx(pt, s, 0);
	size_t n = (size_t)((e - s) >> pt->shift[0]);
	for (size_t k = 0; k < n; k++) {
		mmk__pte_t ent = eng_ld(&q[k]);
		if (eng_is_empty(pt, ent, 0))
			continue;
		mmk__pte_t nw =
			fmt_make_leaf(c->tmpl[0], fmt_leaf_pa(ent, 0), 0) |
			fmt_leaf_hw_bits(ent, 0);
		if (nw != (wp ? eng_leaf_wrp(pt, ent, 0) : ent))
			return true;
	}
	return false;
}

/*
 * The shared leaf tables under [s, e) the protect changes: with @own
 * false, how many another table holds now (each needs a copy: the
 * prepare's count); with @own, each is made private (copies from
 * c->pool, or taken back in place) before the walk, so the walk never
 * copies one.  Iterative, one descent from the root per leaf table slot,
 * as eng_shared_walk; only run when the table shares some.  Inlined with
 * @own constant: the count has no copy under it.
 */
static inline __attribute__((always_inline)) long
eng_prot_shared(struct mmk_pt *pt, const struct eng_prot_ctx *c, uint64_t s,
		uint64_t e, bool own)
{
	unsigned top = pt->fmt->levels - 1;
	long n = 0;
	for (uint64_t a = s; a < e;) {
		mmk__pte_t *t = eng_tbl(pt->root.v), *p, ent;
		unsigned l = top;
		bool tbl;
		for (;;) {
			p = &t[eng_idx(pt, a, l)];
			ent = eng_ld(p);
			tbl = !eng_is_empty(pt, ent, l) && fmt_is_table(ent, l);
			if (!tbl || l == 1)
				break;
			t = eng_tbl(fmt_table_pa(ent, l));
			l--;
		}
		uint64_t se = MMK_MIN((a | (eng_span(pt, l) - 1)) + 1, e);
		if (tbl) {
			uint64_t child = fmt_table_pa(ent, 1);
			if ((own ? !eng_private(pt, child)
				 : eng_shared_now(pt, child)) &&
			    eng_prot_changes(pt, c, child, a, se,
					     fmt_dir_is_wp(ent))) {
				n++;
				if (own)
					eng_own_pool(pt, p, a, c->pool, true,
						     c->b, &child);
			}
		}
		a = se;
	}
	return n;
}

/* The protect's context: a template per leaf level (MMK_ENOTSUP if
 * @flags cannot be encoded at one). */
static inline __attribute__((always_inline)) int
eng_prot_setup(struct mmk_pt *pt, struct eng_prot_ctx *c, uint32_t flags,
	       struct mmk_pt_resv *pool, struct mmk_tlb_gather *b)
{
	*c = (struct eng_prot_ctx){.b = b,
				   .pool = pool,
				   .flags = flags,
				   .last_attr = ~(mmk__pte_t)0};
	for (unsigned l = 0; l < pt->fmt->levels; l++) {
		if (!eng_leaf_ok(pt, l))
			continue;
		int err = fmt_leaf_template(pt, flags, l, &c->tmpl[l]);
		if (err)
			return err;
	}
	return MMK_OK;
}

/* The checks of a protect, and the copies of shared tables it needs into
 * *@more.  Out of line: its context is not on the stack of the splits. */
__attribute__((noinline)) static int eng_protect_check(struct mmk_pt *pt,
						       uint64_t s, uint64_t e,
						       uint32_t flags,
						       long *more)
{
	struct eng_prot_ctx c;
	int err = eng_prot_setup(pt, &c, flags, NULL, NULL);
	*more = 0;
	if (!err &&
	    MMK_UNLIKELY(
		    atomic_load_explicit(&pt->nshared, memory_order_relaxed)) &&
	    pt->fmt->levels > 1)
		*more = eng_prot_shared(pt, &c, s, e, false);
	return err;
}

/* The shared tables the protect changes made private (from @pool), before
 * the walk and beside it.  Out of line: only tables that share pay. */
__attribute__((noinline)) static void eng_protect_own(struct mmk_pt *pt,
						      struct mmk_pt_resv *pool,
						      struct mmk_tlb_gather *b,
						      uint32_t flags,
						      uint64_t s, uint64_t e)
{
	struct eng_prot_ctx c;
	int err = eng_prot_setup(pt, &c, flags, pool, b);
	MMK_ASSERT(err == 0); /* eng_protect_check checked the same */
	(void)eng_prot_shared(pt, &c, s, e, true);
}

/* Give every leaf in [s, e) the new flags, from the root down, with the
 * iterative walk of unmap_region (no recursion).  Out of line, with its
 * context, as there. */
__attribute__((noinline)) static void
eng_protect_commit(struct mmk_pt *pt, struct mmk_pt_resv *pool,
		   struct mmk_tlb_gather *b, uint32_t flags, uint64_t s,
		   uint64_t e)
{
	struct eng_prot_ctx cx, *c = &cx;
	int err = eng_prot_setup(pt, c, flags, pool, b);
	MMK_ASSERT(err == 0); /* eng_protect_check checked the same */
	mmk__pte_t *t[MMK_PT_MAX_LEVELS];
	unsigned top = pt->fmt->levels - 1u, l = top;
	uint64_t a = s;
	t[top] = eng_tbl(pt->root.v);
	while (a < e) {
		if (l == 0) {
			uint64_t le =
				top ? MMK_MIN((a | (eng_span(pt, 1) - 1)) + 1,
					      e)
				    : e;
			eng_protect_leaves(pt, c, t[0], a, le);
			a = le;
		} else {
			uint64_t span = eng_span(pt, l);
			mmk__pte_t empty = fmt_empty(pt, l);
			mmk__pte_t *p = &t[l][eng_idx(pt, a, l)];
			mmk__pte_t ent = *p;
			if (ent != empty && fmt_is_leaf(ent, l)) {
				eng_prot_one(pt, c, p, ent, l, a);
			} else if (ent != empty) {
				uint64_t child = fmt_table_pa(ent, l);
				/* a shared table is never edited: the ones
				 * that change were copied (eng_prot_shared),
				 * the others are left */
				if (!(l == 1 && !eng_private(pt, child))) {
					t[--l] = eng_tbl(child);
					continue; /* the same address, below */
				}
			}
			a = MMK_MIN((a | (span - 1)) + 1, e);
		}
		while (l < top && eng_rwalk_done(pt, l, a, e))
			l++;
	}
}

static int eng_protect_region(struct mmk_pt *pt, uint64_t ia, uint64_t size,
			      uint32_t flags, struct mmk_tlb_gather *b)
{
	long more;
	int err = eng_protect_check(pt, ia, ia + size, flags, &more);
	if (err)
		return err;
	struct mmk_pt_resv pool = {.pt = pt, .head = ENG_NONE, .n = 0};
	err = eng_prepare_splits(pt, ia, ia + size, more, &pool, b);
	if (err)
		return err;
	if (MMK_UNLIKELY(
		    atomic_load_explicit(&pt->nshared, memory_order_relaxed)) &&
	    pt->fmt->levels > 1)
		eng_protect_own(pt, &pool, b, flags, ia, ia + size);
	eng_protect_commit(pt, &pool, b, flags, ia, ia + size);
	fmt_sync();
	if (MMK_UNLIKELY(pool.n))
		eng_pool_release(pt, &pool); /* taken back in place */
	return MMK_OK;
}
