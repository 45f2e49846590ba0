/* SPDX-License-Identifier: MIT */
/*
 * mmkit — engine fragment: fork (mmk_pt_clone_range) and the fault path's
 * unshare.  Included by pt/engine.h only (after the fragments before it);
 * every function is static, instantiated once per format.
 *
 * Clone has the engine's two steps.  The prepare walks @src over the range
 * (and @dst beside it) and counts the tables @dst needs: the upper tables
 * down to every leaf it copies or leaf table it shares, a leaf table for
 * every edge it copies entry by entry, a copy of a shared table of @dst
 * the range would write into; they are allocated into a pool, the only
 * step that can fail.  The commit walks again and cannot fail: @dst's
 * tables are made when the first entry below them is (so a part of @src
 * that holds nothing costs @dst nothing), leaf tables wholly inside the
 * range are shared (SHARE), every other leaf is copied (a frame reference
 * with GET, WRITE cleared in both with WRPROTECT).
 */
/* ---------------------------------------------------------- clone */
struct eng_clone_ctx {
	struct mmk_pt *dst, *src;
	uint64_t s, e;
	bool get, wrp, share;
	struct mmk_tlb_gather *g;
	struct mmk_pt_resv *pool;
	/* @dst's table of each level over the current address, ENG_NONE
	 * while it has none there yet */
	uint64_t dt[MMK_PT_MAX_LEVELS];
	/* WRPROTECT's decision for the last attribute bits seen */
	mmk__pte_t last_attr, last_new;
	unsigned last_level;
	bool last_loses, last_global;
	bool fl_global; /* a global leaf lost WRITE (sticky) */
};

/* May the slot [a, se) of level @l (its src entry a table) be shared? */
static inline bool eng_clone_shares(const struct eng_clone_ctx *c, unsigned l,
				    uint64_t a, uint64_t se, mmk__pte_t dent)
{
	return l == 1 && c->share && se - a == eng_span(c->src, 1) &&
	       eng_is_empty(c->dst, dent, 1);
}

static int eng_clone_busy(void *ctx, const struct mmk_pt_leaf *lf)
{
	(void)ctx;
	(void)lf;
	return 1;
}

/* Prepare: tables @dst needs below @dtab (ENG_NONE: none there) for what
 * @src holds below @stab in [s, e) at level @l; *any: something there. */
static long eng_clone_count(const struct eng_clone_ctx *c, uint64_t stab,
			    uint64_t dtab, unsigned l, uint64_t s, uint64_t e,
			    bool *any)
{
	const struct mmk_pt *src = c->src, *dst = c->dst;
	const mmk__pte_t *t = eng_tbl(stab);
	const mmk__pte_t *d = dtab == ENG_NONE ? NULL : eng_tbl(dtab);
	if (l == 0) {
		const mmk__pte_t *q = t + eng_idx(src, s, 0);
		size_t n = (size_t)((e - s) >> src->shift[0]);
		for (size_t k = 0; k < n && !*any; k++)
			*any = !eng_is_empty(src, eng_ld(&q[k]), 0);
		return 0;
	}
	long n = 0;
	uint64_t span = eng_span(src, l);
	for (uint64_t a = s; a < e;) {
		uint64_t se = MMK_MIN((a | (span - 1)) + 1, e);
		mmk__pte_t ent = eng_ld(&t[eng_idx(src, a, l)]);
		mmk__pte_t dent =
			d ? eng_ld(&d[eng_idx(dst, a, l)]) : fmt_empty(dst, l);
		if (eng_is_empty(src, ent, l)) {
			/* hole */
		} else if (!fmt_is_table(ent, l) ||
			   eng_clone_shares(c, l, a, se, dent)) {
			*any = true; /* a leaf, or a table shared whole */
		} else {
			uint64_t dchild = ENG_NONE;
			if (!eng_is_empty(dst, dent, l) &&
			    fmt_is_table(dent, l))
				dchild = fmt_table_pa(dent, l);
			bool sub = false;
			n += eng_clone_count(c, fmt_table_pa(ent, l), dchild,
					     l - 1, a, se, &sub);
			if (sub) {
				*any = true;
				if (dchild == ENG_NONE ||
				    (l == 1 && eng_shared_now(dst, dchild)))
					n++;
			}
		}
		a = se;
	}
	return n;
}

/* @dst's table of level @l over @a, made (and hooked, empty) if missing;
 * a shared leaf table of @dst is copied first. */
static uint64_t eng_clone_ensure(struct eng_clone_ctx *c, unsigned l,
				 uint64_t a)
{
	struct mmk_pt *dst = c->dst;
	if (c->dt[l] != ENG_NONE) {
		if (l == 0 && !eng_private(dst, c->dt[0])) {
			mmk__pte_t *p1 = eng_tbl(c->dt[1]) + eng_idx(dst, a, 1);
			eng_own_pool(dst, p1, a, c->pool, true, c->g,
				     &c->dt[0]);
		}
		return c->dt[l];
	}
	/* the lowest table there is (the root always), then down to @l */
	unsigned h = l + 1;
	while (c->dt[h] == ENG_NONE)
		h++;
	for (; h > l; h--) {
		uint64_t t = eng_pool_pop(dst, c->pool);
		eng_init_table(dst, eng_tbl(t), h - 1);
		eng_st_rel(eng_tbl(c->dt[h]) + eng_idx(dst, a, h),
			   fmt_make_table(dst, t, h));
		c->dt[h - 1] = t;
	}
	return c->dt[l];
}

/* The source leaf @ent at level @l, WRITE cleared when WRPROTECT asks. */
static inline mmk__pte_t eng_clone_wrp(struct eng_clone_ctx *c, mmk__pte_t ent,
				       unsigned l)
{
	if (!c->wrp)
		return ent;
	mmk__pte_t addr = fmt_make_leaf(0, fmt_leaf_pa(ent, l), l);
	mmk__pte_t attr = ent ^ addr;
	if (MMK_UNLIKELY(attr != c->last_attr || l != c->last_level)) {
		uint32_t of = fmt_leaf_flags(c->src, ent, l);
		c->last_attr = attr;
		c->last_level = l;
		c->last_new = attr;
		c->last_loses = (of & MMK_PT_WRITE) != 0;
		c->last_global = (of & MMK_PT_GLOBAL) != 0;
		if (c->last_loses) {
			mmk__pte_t tmpl = 0;
			/* dropping WRITE from flags the format wrote is
			 * always expressible */
			int err = fmt_leaf_template(c->src, of & ~MMK_PT_WRITE,
						    l, &tmpl);
			MMK_ASSERT(err == 0);
			c->last_new = tmpl | fmt_leaf_hw_bits(ent, l);
		}
	}
	return addr | c->last_new;
}

/* Write-protect the source leaf *@p (@ent) in place, recording the flush;
 * returns the entry it holds now. */
static inline mmk__pte_t eng_clone_src(struct eng_clone_ctx *c, mmk__pte_t *p,
				       mmk__pte_t ent, unsigned l, uint64_t a,
				       bool in_place)
{
	mmk__pte_t nw = eng_clone_wrp(c, ent, l);
	if (nw != ent && in_place) {
		eng_replace(c->src, p, ent, nw, l, a, c->g);
		mmk__pt_gather_range(c->g, c->src, a, eng_span(c->src, l),
				     c->last_global);
	}
	return nw;
}

static inline void eng_clone_get(struct eng_clone_ctx *c, mmk__pte_t ent,
				 unsigned l)
{
	if (!c->get)
		return;
	int r = mmk_frame_get(c->src->frames, mmk_pa(fmt_leaf_pa(ent, l)));
	MMK_ASSERT(r == 0); /* GET: every leaf is a frame block's head */
}

/* Copy the leaves of [s, e) of the source leaf table @stab. */
/* @wp: the source's directory entry over the table refuses writes (a table
 * shared by an earlier fork): the copies get no WRITE either, even without
 * WRPROTECT, since the source's leaves are not what the hardware applies. */
static void eng_clone_leaves(struct eng_clone_ctx *c, uint64_t stab, uint64_t s,
			     uint64_t e, bool wp)
{
	struct mmk_pt *src = c->src;
	mmk__pte_t *q = eng_tbl(stab) + eng_idx(src, s, 0);
	size_t n = (size_t)((e - s) >> src->shift[0]);
	uint64_t span = eng_span(src, 0);
	/* a shared source table is never edited: its leaves are read-only */
	bool in_place = eng_private(src, stab);
	mmk__pte_t *d = NULL;
	for (size_t k = 0; k < n; k++) {
		mmk__pte_t ent = eng_ld(&q[k]);
		if (eng_is_empty(src, ent, 0))
			continue;
		uint64_t a = s + k * span;
		if (!d)
			d = eng_tbl(eng_clone_ensure(c, 0, a)) +
			    eng_idx(src, s, 0);
		mmk__pte_t nw = eng_clone_src(c, &q[k], ent, 0, a, in_place);
		if (MMK_UNLIKELY(wp))
			nw = eng_leaf_wrp(src, nw, 0);
		eng_clone_get(c, ent, 0);
		eng_st(&d[k], nw);
	}
}

/*
 * WRPROTECT of a whole leaf table @t over [a, a + span) about to be
 * shared, in place: the tight loop of protect_region (a decision per set
 * of attribute bits, a load, an or and a store per entry) and one flush
 * range for the table, from its first write-protected page to its last.
 */
static void eng_clone_wrp_table(struct eng_clone_ctx *c, uint64_t t, uint64_t a)
{
	struct mmk_pt *src = c->src;
	mmk__pte_t *q = eng_tbl(t);
	size_t n = (size_t)1 << src->fmt->bits[0], first = n, last = 0;
	for (size_t k = 0; k < n;) {
		mmk__pte_t ent = q[k];
		if (eng_is_empty(src, ent, 0)) {
			k++;
			continue;
		}
		mmk__pte_t nw = eng_clone_wrp(c, ent, 0);
		if (nw == ent) {
			k++;
			continue;
		}
		first = MMK_MIN(first, k);
		c->fl_global |= c->last_global;
		if (MMK_UNLIKELY(fmt_needs_bbm(ent, nw, 0))) {
			eng_replace(src, &q[k], ent, nw, 0,
				    a + k * eng_span(src, 0), c->g);
			last = k++;
			continue;
		}
		/* the run of leaves with the same attribute bits */
		mmk__pte_t attr = c->last_attr, nattr = c->last_new;
		q[k++] = nw;
		for (; k < n; k++) {
			mmk__pte_t e2 = q[k];
			mmk__pte_t a2 = fmt_make_leaf(0, fmt_leaf_pa(e2, 0), 0);
			if ((e2 ^ a2) != attr)
				break;
			q[k] = a2 | nattr;
		}
		last = k - 1;
	}
	if (first < n)
		mmk__pt_gather_range(c->g, src, a + first * eng_span(src, 0),
				     (last + 1 - first) * eng_span(src, 0),
				     c->fl_global);
}

/* Share the whole source leaf table @t (slot [a, a + span) of level 1). */
static void eng_clone_share(struct eng_clone_ctx *c, mmk__pte_t *p,
			    mmk__pte_t ent, uint64_t a)
{
	struct mmk_pt *src = c->src, *dst = c->dst;
	uint64_t t = fmt_table_pa(ent, 1);
	if (eng_private(src, t)) {
		if (fmt_dir_wp_ok()) {
			/* x86_64, aarch64: the directory entry refuses
			 * writes, no leaf is touched */
			ent = fmt_dir_wp(ent);
			eng_st_rel(p, ent);
			mmk__pt_gather_range(c->g, src, a, eng_span(src, 1),
					     false);
		} else {
			eng_clone_wrp_table(c, t, a);
		}
		eng_flag_set(src, t);
		atomic_fetch_add_explicit(&src->nshared, 1,
					  memory_order_relaxed);
		/* a cursor of @src may point at it: it must miss now */
		eng_unhooked(src);
	}
	int r = mmk_frame_get(src->frames, mmk_pa(t));
	MMK_ASSERT(r == 0);
	uint64_t up = eng_clone_ensure(c, 1, a);
	mmk__pte_t dent = fmt_make_table(dst, t, 1);
	if (fmt_dir_is_wp(ent))
		dent = fmt_dir_wp(dent);
	eng_st_rel(eng_tbl(up) + eng_idx(dst, a, 1), dent);
	atomic_fetch_add_explicit(&dst->nshared, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&dst->tables, 1, memory_order_relaxed);
}

/* Commit below the source table @stab of level @l over [s, e); c->dt[l]
 * is @dst's table there (or ENG_NONE). */
static void eng_clone_commit(struct eng_clone_ctx *c, uint64_t stab, unsigned l,
			     uint64_t s, uint64_t e, bool wp)
{
	if (l == 0) {
		eng_clone_leaves(c, stab, s, e, wp);
		return;
	}
	struct mmk_pt *src = c->src, *dst = c->dst;
	mmk__pte_t *t = eng_tbl(stab);
	uint64_t span = eng_span(src, l);
	for (uint64_t a = s; a < e;) {
		uint64_t se = MMK_MIN((a | (span - 1)) + 1, e);
		mmk__pte_t *p = &t[eng_idx(src, a, l)];
		mmk__pte_t ent = eng_ld(p);
		mmk__pte_t dent = c->dt[l] == ENG_NONE
					  ? fmt_empty(dst, l)
					  : eng_ld(eng_tbl(c->dt[l]) +
						   eng_idx(dst, a, l));
		if (eng_is_empty(src, ent, l)) {
			/* hole */
		} else if (!fmt_is_table(ent, l)) {
			/* a huge leaf, copied whole */
			mmk__pte_t nw = eng_clone_src(c, p, ent, l, a, true);
			eng_clone_get(c, ent, l);
			uint64_t dtab = eng_clone_ensure(c, l, a);
			eng_st(eng_tbl(dtab) + eng_idx(dst, a, l), nw);
		} else if (eng_clone_shares(c, l, a, se, dent)) {
			eng_clone_share(c, p, ent, a);
		} else {
			c->dt[l - 1] = !eng_is_empty(dst, dent, l) &&
						       fmt_is_table(dent, l)
					       ? fmt_table_pa(dent, l)
					       : ENG_NONE;
			eng_clone_commit(c, fmt_table_pa(ent, l), l - 1, a, se,
					 l == 1 && fmt_dir_is_wp(ent));
		}
		a = se;
	}
}

static int eng_clone_range(struct mmk_pt *dst, struct mmk_pt *src, uint64_t s,
			   uint64_t e, unsigned flags, struct mmk_tlb_gather *g)
{
	if (eng_straddle(src, s) >= 0 || eng_straddle(src, e) >= 0)
		return MMK_ERANGE; /* a huge leaf across an end */
	if (eng_walk(dst, s, e - s, eng_clone_busy, NULL))
		return MMK_EEXIST;
	struct mmk_pt_resv pool = {.pt = dst, .head = ENG_NONE, .n = 0};
	struct eng_clone_ctx c = {.dst = dst,
				  .src = src,
				  .s = s,
				  .e = e,
				  .get = (flags & MMK_PT_CLONE_GET) != 0,
				  .wrp = (flags & MMK_PT_CLONE_WRPROTECT) != 0,
				  .share = (flags & MMK_PT_CLONE_SHARE) != 0,
				  .g = g,
				  .pool = &pool,
				  .last_attr = ~(mmk__pte_t)0,
				  .last_level = ~0u};
	unsigned top = src->fmt->levels - 1;
	bool any = false;
	long n = eng_clone_count(&c, src->root.v, dst->root.v, top, s, e, &any);
	if (n > 0 && eng_pool_add(dst, &pool, n) != 0)
		return MMK_ENOMEM;
	for (unsigned l = 0; l < MMK_PT_MAX_LEVELS; l++)
		c.dt[l] = ENG_NONE;
	c.dt[top] = dst->root.v;
	eng_clone_commit(&c, src->root.v, top, s, e, false);
	fmt_sync();
	if (pool.n)
		eng_pool_release(dst, &pool); /* a table taken back in place */
	return MMK_OK;
}

/* ---------------------------------------------------------- unshare */
/* With no @g: 1 when the table was shared (this call or a racing one
 * switched it), and the caller flushes what mmk_pt_unshare_flush says. */
static int eng_unshare(struct mmk_pt *pt, uint64_t ia, struct mmk_tlb_gather *g)
{
	if (!atomic_load_explicit(&pt->nshared, memory_order_relaxed) ||
	    pt->fmt->levels < 2)
		return MMK_OK;
	mmk__pte_t *p1 = eng_slot(pt, ia, 1);
	if (!p1)
		return MMK_OK;
	bool shared = eng_table_shared_at(pt, p1);
	uint64_t own;
	int err = eng_own(pt, p1, ia, NULL,
			  g ? ENG_OWN_SHARED : ENG_OWN_CALLER_FLUSHES, g, &own);
	return err ? err : (!g && shared);
}
