/* SPDX-License-Identifier: MIT */
/*
 * mmkit — engine fragment: single-page edits (map, cursor, lookup, query,
 * unmap, protect, replace), the concurrent ones.
 * Included by pt/engine.h only (after the fragments before it); every
 * function is static, instantiated once per format.
 */
/* ------------------------------------------------------ single pages */
/*
 * Map one leaf at level @tl.  Safe against concurrent eng_map calls: the
 * descent reads with acquire, missing tables are allocated first (tables
 * are only ever added while single maps run, so the count found can only
 * shrink), built into a private chain, and published with one CAS on the
 * empty entry; losing a CAS means descending into the winner's table and
 * freeing our page for that level.
 */
static int eng_map_slow(struct mmk_pt *pt, uint64_t ia, mmk__pte_t leaf,
			mmk__pte_t *p, unsigned lv, struct mmk_tlb_gather *b);
static int eng_map_slow_pool(struct mmk_pt *pt, uint64_t ia, mmk__pte_t leaf,
			     mmk__pte_t *p, unsigned lv,
			     struct mmk_pt_resv *pool);

/* eng_map_slow's @lv: the leaf's level @tl, the level @l of the empty
 * entry *p and the leaf's global bit in one argument, so that all six
 * go in registers (no outgoing stack arguments in the callers' frames:
 * they are on the fault's deepest chain, docs/STACK.md). */
#define ENG_MAP_LV(tl, l, global)                                              \
	((unsigned)(tl) | (unsigned)(l) << 8 | (unsigned)((global) != 0) << 16)

/* eng_map and eng_map_private; @alloc a constant: the private one has no
 * call that allocates (the stack-depth tool sees none). */
static inline __attribute__((always_inline)) int
eng_map_body(struct mmk_pt *pt, uint64_t ia, uint64_t pa, unsigned tl,
	     uint32_t flags, struct mmk_tlb_gather *b, struct mmk_pt_resv *pool,
	     const bool alloc)
{
	mmk__pte_t tmpl;
	int err = fmt_leaf_template(pt, flags, tl, &tmpl);
	if (MMK_UNLIKELY(err))
		return err;
	mmk__pte_t leaf = fmt_make_leaf(tmpl, pa, tl);

retry:;
	unsigned l = pt->fmt->levels - 1;
	mmk__pte_t *p = eng_tbl(pt->root.v) + eng_idx(pt, ia, l), *up = NULL;
	mmk__pte_t e, upe = 0;
	for (;;) {
		e = eng_ld_acq(p);
		if (l == tl)
			break;
		if (MMK_UNLIKELY(eng_is_empty(pt, e, l))) {
			unsigned lv = ENG_MAP_LV(tl, l, flags & MMK_PT_GLOBAL);
			if (alloc)
				return eng_map_slow(pt, ia, leaf, p, lv, b);
			if (!pool || pool->n < (long)(l - tl))
				return MMK_EAGAIN;
			return eng_map_slow_pool(pt, ia, leaf, p, lv, pool);
		}
		if (MMK_UNLIKELY(!fmt_is_table(e, l)))
			return MMK_EEXIST;
		l--;
		up = p;
		upe = e;
		p = eng_tbl(fmt_table_pa(e, l + 1)) + eng_idx(pt, ia, l);
	}
	/* the table descended into, not the entry as it is now: a table an
	 * unshare switched away stays flagged, so we never write into it */
	if (MMK_UNLIKELY(l == 0 && up &&
			 !eng_private(pt, fmt_table_pa(upe, 1)))) {
		/* a shared leaf table: our own copy first (a shared lock) */
		if (!alloc)
			return MMK_EAGAIN;
		uint64_t own;
		err = eng_own(pt, up, ia, NULL, false, b, &own);
		if (err)
			return err;
		goto retry;
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

static int eng_map(struct mmk_pt *pt, uint64_t ia, uint64_t pa, unsigned tl,
		   uint32_t flags, struct mmk_tlb_gather *b)
{
	return eng_map_body(pt, ia, pa, tl, flags, b, NULL, true);
}

/* mmk__pt_map_private: the missing tables from @pool (may be NULL);
 * MMK_EAGAIN where it holds too few, or the leaf table is shared. */
static int eng_map_private(struct mmk_pt *pt, uint64_t ia, uint64_t pa,
			   unsigned tl, uint32_t flags,
			   struct mmk_pt_resv *pool)
{
	return eng_map_body(pt, ia, pa, tl, flags, NULL, pool, false);
}

/* A table page of the map's chain: from @pool (a fault's reservation,
 * then not counted in pt->tables until hooked, as an allocated one) or
 * allocated; back to @pool or freed.  @pool is a constant of each
 * eng_map_slow instance. */
static inline __attribute__((always_inline)) int
eng_chain_take(struct mmk_pt *pt, struct mmk_pt_resv *pool, unsigned level,
	       uint64_t *t)
{
	if (!pool) /* (a constant NULL in eng_map_slow, see there) */
		return mmk__pt_alloc_table(pt, level, t);
	*t = eng_pool_pop(pt, pool);
	atomic_fetch_sub_explicit(&pt->tables, 1, memory_order_relaxed);
	pt->fmt->ops->init_table(pt, eng_tbl(*t), level);
	return MMK_OK;
}

static inline __attribute__((always_inline)) void
eng_chain_put(struct mmk_pt *pt, struct mmk_pt_resv *pool, unsigned level,
	      uint64_t t)
{
	if (pool)
		eng_pool_push(pool, t);
	else
		mmk__pt_free_table(pt, level, t);
}

/* Free a private chain of new tables for @ia: @t at level @lvl and the
 * ones its entries for @ia point at, down to level @tl. */
static inline __attribute__((always_inline)) void
eng_chain_free(struct mmk_pt *pt, uint64_t ia, uint64_t t, unsigned lvl,
	       unsigned tl, struct mmk_pt_resv *pool)
{
	for (;;) {
		uint64_t next = 0;
		if (lvl > tl)
			next = fmt_table_pa(eng_tbl(t)[eng_idx(pt, ia, lvl)],
					    lvl);
		eng_chain_put(pt, pool, lvl, t);
		if (lvl == tl)
			return;
		t = next;
		lvl--;
	}
}

/*
 * eng_map when tables are missing below level @l (entry *p was empty).
 * The tables for levels l-1 .. tl are built bottom-up, each one's entry
 * for @ia pointing at the one below (the lowest holds the leaf), so the
 * chain needs no array: its top is its head, and losing a level to
 * another CPU frees the top and goes on with the table under it.
 */
static inline __attribute__((always_inline)) int
eng_map_slow_body(struct mmk_pt *pt, uint64_t ia, mmk__pte_t leaf,
		  mmk__pte_t *p, unsigned lv, struct mmk_tlb_gather *b,
		  struct mmk_pt_resv *pool)
{
	unsigned tl = lv & 0xff, l = (lv >> 8) & 0xff;
	bool global = (lv >> 16) & 1;
	mmk__pte_t e = eng_ld_acq(p); /* as the caller found it, or newer */
	uint64_t top = ENG_NONE;      /* table of level l-1 (chain head) */
	mmk__pte_t down = leaf;
	for (unsigned cl = tl; cl < l; cl++) {
		uint64_t t;
		if (eng_chain_take(pt, pool, cl, &t) != 0) {
			if (cl > tl)
				eng_chain_free(pt, ia, top, cl - 1, tl, pool);
			return MMK_ENOMEM;
		}
		eng_tbl(t)[eng_idx(pt, ia, cl)] = down;
		down = fmt_make_table(pt, t, cl + 1);
		top = t;
	}
	for (;;) {
		mmk__pte_t want =
			top != ENG_NONE ? fmt_make_table(pt, top, l) : leaf;
		mmk__pte_t expect = fmt_empty(pt, l);
		if (eng_is_empty(pt, e, l) && eng_cas(p, &expect, want)) {
			atomic_fetch_add_explicit(
				&pt->tables,
				top != ENG_NONE ? (long)(l - tl) : 0,
				memory_order_relaxed);
			break;
		}
		/* Lost, or the slot was already taken. */
		if (!eng_is_empty(pt, expect, l))
			e = expect;
		if (top == ENG_NONE || !fmt_is_table(e, l)) {
			if (top != ENG_NONE)
				eng_chain_free(pt, ia, top, l - 1, tl, pool);
			return MMK_EEXIST;
		}
		/* Another CPU installed the table this level needed: ours
		 * goes, the rest of the chain hangs under the winner's. */
		uint64_t next = ENG_NONE;
		if (l - 1 > tl)
			next = fmt_table_pa(
				eng_tbl(top)[eng_idx(pt, ia, l - 1)], l - 1);
		eng_chain_put(pt, pool, l - 1, top);
		top = next;
		l--;
		p = eng_tbl(fmt_table_pa(e, l + 1)) + eng_idx(pt, ia, l);
		e = eng_ld_acq(p);
	}
	if (pt->fmt->caps & MMK__FMT_MAP_NEEDS_FLUSH)
		mmk__pt_gather_range(b, pt, ia, eng_span(pt, tl), global);
	fmt_sync();
	return MMK_OK;
}

__attribute__((noinline)) static int eng_map_slow(struct mmk_pt *pt,
						  uint64_t ia, mmk__pte_t leaf,
						  mmk__pte_t *p, unsigned lv,
						  struct mmk_tlb_gather *b)
{
	return eng_map_slow_body(pt, ia, leaf, p, lv, b, NULL);
}

/* The same with the tables from @pool, which holds enough: no call that
 * allocates (the fault path's, mmk__pt_map_private). */
__attribute__((noinline)) static int
eng_map_slow_pool(struct mmk_pt *pt, uint64_t ia, mmk__pte_t leaf,
		  mmk__pte_t *p, unsigned lv, struct mmk_pt_resv *pool)
{
	/* the caller's pool is never NULL: say so, so that the allocating
	 * branch of eng_chain_take is dropped from this instance */
	if (!pool)
		__builtin_unreachable();
	return eng_map_slow_body(pt, ia, leaf, p, lv, NULL, pool);
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
 * mmk__pt_reserve_fault: as many table pages in @r as a leaf at level @tl
 * over @ia lacks tables now (from the empty entry that ends the walk down
 * to @tl; none if a leaf is in the way).  Tables only ever get added under
 * a shared lock, so the count stays an upper bound.
 */
static int eng_reserve_fault(struct mmk_pt *pt, struct mmk_pt_resv *r,
			     uint64_t ia, unsigned tl)
{
	unsigned l;
	mmk__pte_t *p = eng_lookup(pt, ia, &l, NULL);
	long need =
		l > tl && eng_is_empty(pt, eng_ld(p), l) ? (long)(l - tl) : 0;
	return need > r->n ? eng_pool_add(pt, r, need - r->n) : MMK_OK;
}

/* Exclusive edits: make the leaf table on @path (eng_lookup's, level 0
 * reached) private to @pt before editing it.  MMK_ENOMEM. */
static int eng_own_at(struct mmk_pt *pt, uint64_t ia, const uint64_t *path,
		      struct mmk_tlb_gather *b)
{
	uint64_t own;
	return eng_own(pt, eng_tbl(path[1]) + eng_idx(pt, ia, 1), ia, NULL,
		       true, b, &own);
}

/*
 * Shifts and masks of the hot walks (pt/engine/fast.h): constants for a
 * format whose levels all have FMT_BITS index bits over FMT_PAGE_SHIFT-bit
 * pages (it may #define both), the table's own otherwise.
 */
#if defined(FMT_BITS) && defined(FMT_PAGE_SHIFT)
#define ENG_QSHIFT(pt, L) (FMT_PAGE_SHIFT + FMT_BITS * (L))
#define ENG_QMASK(pt, L)  ((1u << FMT_BITS) - 1)
#else
#define ENG_QSHIFT(pt, L) ((pt)->shift[L])
#define ENG_QMASK(pt, L)  ((pt)->idx_mask[L])
#endif

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
		eng_unhooked(pt);
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
	if (MMK_UNLIKELY(l == 0 && !eng_private(pt, path[0]))) {
		int err = eng_own_at(pt, ia, path, b);
		if (err)
			return err;
		p = eng_lookup(pt, ia, &l, path);
	}
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
	uint64_t path[MMK_PT_MAX_LEVELS];
	mmk__pte_t *p = eng_lookup(pt, ia, &l, path);
	mmk__pte_t e = eng_ld(p);
	if (!fmt_is_leaf(e, l))
		return MMK_ENOENT;
	if (ia & (eng_span(pt, l) - 1))
		return MMK_EALIGN;
	mmk__pte_t tmpl;
	int err = fmt_leaf_template(pt, flags, l, &tmpl);
	if (err)
		return err;
	if (MMK_UNLIKELY(l == 0 && !eng_private(pt, path[0]))) {
		err = eng_own_at(pt, ia, path, b);
		if (err)
			return err;
		p = eng_lookup(pt, ia, &l, path);
		e = eng_ld(p);
	}
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

/* ---------------------------------------------- the fault path's pair */
/* The slot at level @tl on the path of @ia, or NULL if the path no longer
 * reaches that level (a table was unhooked or a huge page sits above). */
static mmk__pte_t *eng_slot(const struct mmk_pt *pt, uint64_t ia, unsigned tl)
{
	unsigned l = pt->fmt->levels - 1;
	uint64_t table = pt->root.v;
	for (; l > tl; l--) {
		mmk__pte_t e = eng_ld_acq(eng_tbl(table) + eng_idx(pt, ia, l));
		if (eng_is_empty(pt, e, l) || !fmt_is_table(e, l))
			return NULL;
		table = fmt_table_pa(e, l);
	}
	return eng_tbl(table) + eng_idx(pt, ia, tl);
}

/*
 * Replace the leaf @old by one from the template @tmpl for @pa (see
 * mmk_pt_replace), its leaf table private already.  @owned: this call
 * just made it so (eng_replace_leaf), and the copy's leaf may read
 * without WRITE.  Every write is a compare-and-swap on the entry, so two
 * CPUs replacing (or one mapping into a hole and one replacing) never both
 * win.
 */
static inline __attribute__((always_inline)) int
eng_replace_in(struct mmk_pt *pt, uint64_t ia, const struct mmk_pt_leaf *old,
	       uint64_t pa, mmk__pte_t tmpl, uint32_t flags, bool owned,
	       struct mmk_tlb_gather *b)
{
	unsigned l = old->level;
	uint64_t span = eng_span(pt, l);
	mmk__pte_t raw = old->raw;
	uint64_t opa = fmt_leaf_pa(raw, l);
	mmk__pte_t nw = fmt_make_leaf(tmpl, pa, l);
	if (pa == opa)
		nw |= fmt_leaf_hw_bits(raw, l);
	ia &= ~(span - 1);
	mmk__pte_t *p = eng_slot(pt, ia, l);
	if (!p)
		return MMK_EAGAIN;
	mmk__pte_t cur = eng_ld(p);
	if (cur != raw) {
		/* A copy of a table whose directory entry refused writes has
		 * the leaf without WRITE, as the lookup reported it: the same
		 * leaf (the compare-and-swaps below expect it).  Anything else
		 * changed meanwhile. */
		if (!owned || cur != eng_leaf_wrp(pt, raw, l))
			return MMK_EAGAIN;
		raw = cur;
	}
	if (nw == raw)
		return MMK_OK;
	uint32_t of = fmt_leaf_flags(pt, raw, l);
	bool global = ((of | flags) & MMK_PT_GLOBAL) != 0;
	mmk__pte_t expect = raw;
	if (fmt_needs_bbm(raw, nw, l)) {
		/* Break: the PROT_NONE form of the old leaf keeps single maps
		 * out (it is a leaf) while the hardware sees nothing. */
		mmk__pte_t none;
		uint32_t nf =
			of & ~(MMK_PT_RWX | MMK_PT_ACCESSED | MMK_PT_DIRTY);
		if (fmt_leaf_template(pt, nf, l, &none) != 0)
			return MMK_ENOTSUP; /* not on any format today */
		none = fmt_make_leaf(none, opa, l);
		if (!eng_cas(p, &expect, none))
			return MMK_EAGAIN;
		fmt_sync();
		mmk__pt_flush_now(b, pt, ia, span);
		/* Make: a racing replace may have taken the broken entry. */
		expect = none;
		bool won = eng_cas(p, &expect, nw);
		fmt_sync();
		return won ? MMK_OK : MMK_EAGAIN;
	}
	if (!eng_cas(p, &expect, nw))
		return MMK_EAGAIN;
	if ((pa != opa && (of & MMK_PT_RWX)) || eng_protect_loses(of, flags) ||
	    (pt->fmt->caps & MMK__FMT_MAP_NEEDS_FLUSH))
		mmk__pt_gather_range(b, pt, ia, span, global);
	fmt_sync();
	return MMK_OK;
}

/* Does the level-1 entry *@p1 point at a leaf table that is not private
 * (shared now, or flagged: a fork left it shared)? */
static bool eng_table_shared_at(const struct mmk_pt *pt, const mmk__pte_t *p1)
{
	mmk__pte_t e1 = eng_ld_acq(p1);
	return !eng_is_empty(pt, e1, 1) && fmt_is_table(e1, 1) &&
	       !eng_private(pt, fmt_table_pa(e1, 1));
}

/* Is the leaf table over @ia (a level-0 leaf's) shared now? */
static bool eng_leaf_table_shared(const struct mmk_pt *pt, uint64_t ia)
{
	if (!atomic_load_explicit(&pt->nshared, memory_order_relaxed))
		return false;
	mmk__pte_t *p1 = eng_slot(pt, ia, 1);
	return p1 && eng_table_shared_at(pt, p1);
}

/* mmk__pt_replace_private: MMK_EAGAIN if the leaf's table is shared
 * (the caller unshares, then looks again); allocates nothing. */
static int eng_replace_private(struct mmk_pt *pt, uint64_t ia,
			       const struct mmk_pt_leaf *old, uint64_t pa,
			       uint32_t flags, struct mmk_tlb_gather *b)
{
	mmk__pte_t tmpl;
	int err = fmt_leaf_template(pt, flags, old->level, &tmpl);
	if (err)
		return err;
	if (MMK_UNLIKELY(old->level == 0 && eng_leaf_table_shared(pt, ia)))
		return MMK_EAGAIN;
	return eng_replace_in(pt, ia, old, pa, tmpl, flags, false, b);
}

/* mmk_pt_replace: a leaf in a shared leaf table gets its own table first. */
static int eng_replace_leaf(struct mmk_pt *pt, uint64_t ia,
			    const struct mmk_pt_leaf *old, uint64_t pa,
			    uint32_t flags, struct mmk_tlb_gather *b)
{
	mmk__pte_t tmpl;
	int err = fmt_leaf_template(pt, flags, old->level, &tmpl);
	if (err)
		return err;
	bool owned = false;
	if (MMK_UNLIKELY(
		    old->level == 0 &&
		    atomic_load_explicit(&pt->nshared, memory_order_relaxed))) {
		uint64_t a = ia & ~(eng_span(pt, 0) - 1);
		mmk__pte_t *p1 = eng_slot(pt, a, 1);
		uint64_t own;
		if (p1) {
			err = eng_own(pt, p1, a, NULL, false, b, &own);
			if (err)
				return err;
			owned = true;
		}
	}
	return eng_replace_in(pt, ia, old, pa, tmpl, flags, owned, b);
}
