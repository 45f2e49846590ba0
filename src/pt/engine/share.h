/* SPDX-License-Identifier: MIT */
/*
 * mmkit — engine fragment: leaf tables shared between tables (fork).
 * Included by pt/engine.h only (after core.h); every function is static,
 * instantiated once per format.
 *
 * A leaf table (level 0) may be pointed at by the level-1 entries of
 * several tables (mmk_pt_clone_range with MMK_PT_CLONE_SHARE).  Its share
 * count is its table page's frame reference count; the page's frame priv
 * carries ENG_SHARED, "this table was shared", with the invariant:
 *
 *   ENG_SHARED set  =>  every table pointing at it counts it in nshared,
 *                       and nobody edits its entries (they are all
 *                       write-protected since the clone that shared it).
 *
 * So a table with nshared == 0 never looks at a table page's metadata,
 * and every edit of a flagged table first makes it private (eng_own):
 *  - holding the table exclusively and being the only holder left (count
 *    1), it takes the table back in place (flag cleared, nshared - 1);
 *  - otherwise it copies it: a fresh page, the entries, a frame reference
 *    per leaf, the level-1 entry switched by compare-and-swap (CPUs of the
 *    same table under a shared lock race there; the loser undoes its
 *    copy), then the old table's count dropped with
 *    mmk_frame_put_unless_last.  If that finds the count at 1 every other
 *    holder left meanwhile: the old table is ours and unreachable, so its
 *    leaf references are put (the copy holds its own) and the page is
 *    freed after the flush.
 * Under a shared lock a table is never taken back in place, even at count
 * 1: another CPU of the same table may be copying it on an older count,
 * and its copy would miss an in-place edit.
 */
#define ENG_SHARED ((uint16_t)1) /* in the table page's frame priv */

static inline struct mmk_frame *eng_meta(const struct mmk_pt *pt, uint64_t pa)
{
	struct mmk_frame *f = mmk_frame_meta(pt->frames, mmk_pa(pa));
	MMK_ASSERT_INTERNAL(f != NULL);
	return f;
}

/* The leaf table at @tpa is flagged shared (only asked when nshared). */
static inline bool eng_flagged(const struct mmk_pt *pt, uint64_t tpa)
{
	return __atomic_load_n(&eng_meta(pt, tpa)->priv, __ATOMIC_ACQUIRE) &
	       ENG_SHARED;
}

/* May an edit through @pt touch the leaf table @tpa as it is? */
static inline bool eng_private(const struct mmk_pt *pt, uint64_t tpa)
{
	return MMK_LIKELY(!atomic_load_explicit(&pt->nshared,
						memory_order_relaxed)) ||
	       !eng_flagged(pt, tpa);
}

static inline uint32_t eng_tref(const struct mmk_pt *pt, uint64_t tpa)
{
	return atomic_load_explicit(&eng_meta(pt, tpa)->ref,
				    memory_order_acquire);
}

/* Does another table hold the leaf table @tpa now?  (what lookup and walk
 * report; an edit still copies a flagged table under a shared lock) */
static inline bool eng_shared_now(const struct mmk_pt *pt, uint64_t tpa)
{
	return !eng_private(pt, tpa) && eng_tref(pt, tpa) > 1;
}

/*
 * The flag is set and cleared with plain atomic stores, never a
 * read-modify-write (no 16-bit atomic RMW needed: some targets' compilers
 * would call libatomic): it is set while only @src holds the table,
 * exclusively (the clone), and cleared by the last holder alone; other
 * CPUs only read it.  The rest of priv is the allocator's 0.
 */
static inline void eng_flag_set(const struct mmk_pt *pt, uint64_t tpa)
{
	__atomic_store_n(&eng_meta(pt, tpa)->priv, ENG_SHARED,
			 __ATOMIC_RELEASE);
}

static inline void eng_flag_clear(const struct mmk_pt *pt, uint64_t tpa)
{
	__atomic_store_n(&eng_meta(pt, tpa)->priv, (uint16_t)0,
			 __ATOMIC_RELEASE);
}

/* Leaf @e of level @l without WRITE (the hardware bits kept). */
static inline mmk__pte_t eng_leaf_wrp(const struct mmk_pt *pt, mmk__pte_t e,
				      unsigned l)
{
	uint32_t f = fmt_leaf_flags(pt, e, l);
	if (!(f & MMK_PT_WRITE))
		return e;
	mmk__pte_t tmpl = 0;
	int err = fmt_leaf_template(pt, f & ~MMK_PT_WRITE, l, &tmpl);
	MMK_ASSERT(err == 0); /* dropping WRITE is always expressible */
	return fmt_make_leaf(tmpl, fmt_leaf_pa(e, l), l) |
	       fmt_leaf_hw_bits(e, l);
}

/*
 * Write-protect every leaf of the leaf table @t whose directory entry
 * refuses writes (fmt_dir_wp): before that entry lets writes through
 * again (a copy of the table, or the last holder taking it back), so the
 * rights the hardware applies never grow and nothing needs a flush.
 */
static void eng_table_wrp(const struct mmk_pt *pt, mmk__pte_t *t)
{
	size_t n = (size_t)1 << pt->fmt->bits[0];
	for (size_t i = 0; i < n; i++) {
		mmk__pte_t e = eng_ld(&t[i]);
		if (!eng_is_empty(pt, e, 0) && fmt_is_leaf(e, 0))
			eng_st(&t[i], eng_leaf_wrp(pt, e, 0));
	}
}

/* A frame reference off every leaf of the leaf table @t, none of them the
 * last (another table holds a reference to each: the copy of @t, or the
 * table a racing CPU switched to).  mmk_frame_put_unless_last, as it can
 * never free: the frame layer's free path stays off the stack of the
 * copies (eng_own_pool), under the region walks (docs/STACK.md). */
static void eng_leaf_drop(const struct mmk_pt *pt, const mmk__pte_t *t)
{
	size_t n = (size_t)1 << pt->fmt->bits[0];
	for (size_t i = 0; i < n; i++) {
		mmk__pte_t e = eng_ld(&t[i]);
		if (eng_is_empty(pt, e, 0) || !fmt_is_leaf(e, 0))
			continue;
		int r = mmk_frame_put_unless_last(pt->frames,
						  mmk_pa(fmt_leaf_pa(e, 0)));
		MMK_ASSERT(r > 0); /* another reference is held */
	}
}

/* A frame reference on (@get) or off every leaf of the leaf table @t.
 * Inlined with @get constant: the copies (get) never have the frame
 * layer's free path (put) under them. */
static inline __attribute__((always_inline)) void
eng_leaf_refs(const struct mmk_pt *pt, const mmk__pte_t *t, bool get)
{
	size_t n = (size_t)1 << pt->fmt->bits[0];
	for (size_t i = 0; i < n; i++) {
		mmk__pte_t e = eng_ld(&t[i]);
		if (eng_is_empty(pt, e, 0) || !fmt_is_leaf(e, 0))
			continue;
		mmk_paddr_t pa = mmk_pa(fmt_leaf_pa(e, 0));
		int r = get ? mmk_frame_get(pt->frames, pa)
			    : mmk_frame_put(pt->frames, pa);
		MMK_ASSERT(r >= 0); /* only frame-owning areas are shared */
	}
}

/*
 * The flush a switch of @pt's level-1 entry over @ia needs: the new table
 * is an exact copy (the translations are the same), but a CPU may still
 * cache the entry pointing at the old table, which another table frees
 * when it lets it go.  One page drops the cached directory entries on
 * x86_64 (INVLPG drops every paging-structure cache entry of the PCID)
 * and aarch64 (TLBI VAE1 drops the walk cache for that address); formats
 * whose range flush keeps them (riscv64) flush all.
 */
static inline void eng_note_switch(struct mmk_tlb_gather *g,
				   const struct mmk_pt *pt, uint64_t ia)
{
	MMK_ASSERT(g != NULL); /* an edit under a shared table needs @g */
	uint64_t s = ia & ~(eng_span(pt, 1) - 1);
	mmk__pt_gather_range(g, pt, s, eng_span(pt, 0), false);
	if (pt->fmt->caps & MMK__FMT_TABLE_FREE_FULL)
		mmk_tlb_gather_all(g, false);
}

/* A table page back into @pool (not counted in pt->tables). */
static inline void eng_pool_push(struct mmk_pt_resv *pool, uint64_t pa)
{
	*eng_tbl(pa) = pool->head;
	pool->head = pa;
	pool->n++;
}

/*
 * Zombies.  An unshare under a shared lock that finds itself the last
 * holder of the old table cannot free it: another CPU of the same table
 * may have descended into it before the switch and still read it (it
 * writes nothing there: the table stays flagged, so that CPU goes to
 * eng_own, whose compare-and-swap on the level-1 entry fails).  The page
 * keeps its leaves' references and goes on a list, linked through its
 * frame metadata (next/prev, the owner's while allocated: the frame
 * number, low and high half), until the next exclusive call frees it: by
 * then the unshare's flush is done and no CPU is inside it.
 */
static void eng_zombie_push(struct mmk_pt *pt, uint64_t t)
{
	struct mmk_frame *f = eng_meta(pt, t);
	uint64_t head =
		atomic_load_explicit(&pt->zombies, memory_order_relaxed);
	do {
		uint64_t pfn = head >> 12; /* 0: the end of the list */
		f->next = (uint32_t)pfn;
		f->prev = (uint32_t)(pfn >> 32);
	} while (!atomic_compare_exchange_weak_explicit(&pt->zombies, &head, t,
							memory_order_release,
							memory_order_relaxed));
}

/* Free every zombie of @pt: exclusive (pt.c calls it first thing). */
static void eng_reap(struct mmk_pt *pt)
{
	uint64_t t =
		atomic_exchange_explicit(&pt->zombies, 0, memory_order_acquire);
	while (t) {
		struct mmk_frame *f = eng_meta(pt, t);
		uint64_t next = ((uint64_t)f->prev << 32 | f->next) << 12;
		eng_flag_clear(pt, t);
		eng_leaf_refs(pt, eng_tbl(t), false);
		mmk__pt_free_table(pt, 0, t);
		t = next;
	}
}

/* How eng_own is called (true and false name the first two). */
#define ENG_OWN_SHARED 0u /* under a shared lock; the switch goes in @g */
#define ENG_OWN_EXCL   1u /* the caller holds @pt exclusively */
/* Under a shared lock with no gather: the caller flushes the switch
 * itself (mmk_pt_unshare with no gather, the fault path's). */
#define ENG_OWN_CALLER_FLUSHES 2u

/*
 * Make the leaf table level-1 entry *@p1 (over @ia) points at private to
 * @pt; *@out gets that table (ENG_NONE if *p1 holds none).  @mode: one of
 * ENG_OWN_* above (excl: the caller holds @pt exclusively).  The copy's page
 * comes from @pool (the reserved paths, or eng_own's one page): cannot fail,
 * allocates and frees nothing, so it adds little to the region walks that call
 * it.  Safe under a shared lock when !excl.
 */
static void eng_own_pool(struct mmk_pt *pt, mmk__pte_t *p1, uint64_t ia,
			 struct mmk_pt_resv *pool, unsigned mode,
			 struct mmk_tlb_gather *g, uint64_t *out)
{
	bool excl = mode == ENG_OWN_EXCL;
	for (;;) {
		mmk__pte_t e1 = eng_ld_acq(p1);
		*out = ENG_NONE;
		if (eng_is_empty(pt, e1, 1) || !fmt_is_table(e1, 1))
			return;
		uint64_t t = fmt_table_pa(e1, 1);
		*out = t;
		if (eng_private(pt, t))
			return;
		if (excl && eng_tref(pt, t) == 1) {
			/* the last holder, alone: take it back in place */
			if (fmt_dir_is_wp(e1)) {
				eng_table_wrp(pt, eng_tbl(t));
				eng_st_rel(p1, fmt_make_table(pt, t, 1));
			}
			eng_flag_clear(pt, t);
			atomic_fetch_sub_explicit(&pt->nshared, 1,
						  memory_order_relaxed);
			return;
		}
		uint64_t n = eng_pool_pop(pt, pool);
		atomic_fetch_sub_explicit(&pt->tables, 1, memory_order_relaxed);
		mmk__pte_t *nt = eng_tbl(n), *ot = eng_tbl(t);
		size_t cnt = (size_t)1 << pt->fmt->bits[0];
		for (size_t i = 0; i < cnt; i++)
			nt[i] = eng_ld(&ot[i]);
		if (fmt_dir_is_wp(e1))
			eng_table_wrp(pt, nt); /* the copy's entry allows */
		eng_leaf_refs(pt, nt, true);
		mmk__pte_t expect = e1;
		if (!eng_cas(p1, &expect, fmt_make_table(pt, n, 1))) {
			/* another CPU of @pt switched it first */
			eng_leaf_drop(pt, nt);
			eng_pool_push(pool, n);
			continue;
		}
		eng_unhooked(pt);
		atomic_fetch_sub_explicit(&pt->nshared, 1,
					  memory_order_relaxed);
		if (mode != ENG_OWN_CALLER_FLUSHES)
			eng_note_switch(g, pt, ia);
		int r = mmk_frame_put_unless_last(pt->frames, mmk_pa(t));
		MMK_ASSERT(r >= 0);
		if (r == 0) {
			/* every other holder left meanwhile: ours, unhooked */
			if (excl) {
				eng_flag_clear(pt, t);
				eng_leaf_drop(pt, ot); /* the copy holds them */
				mmk__pt_gather_table(g, pt, t);
			} else {
				eng_zombie_push(pt, t);
			}
		}
		*out = n;
		return;
	}
}

/*
 * eng_own_pool with the copy's page (if one is needed) allocated here,
 * beside the copy rather than under it: MMK_ENOMEM, nothing changed.
 * @pool: the caller's reservation instead (then it cannot fail).
 */
static int eng_own(struct mmk_pt *pt, mmk__pte_t *p1, uint64_t ia,
		   struct mmk_pt_resv *pool, unsigned mode,
		   struct mmk_tlb_gather *g, uint64_t *out)
{
	bool excl = mode == ENG_OWN_EXCL;
	if (pool) {
		eng_own_pool(pt, p1, ia, pool, mode, g, out);
		return MMK_OK;
	}
	mmk__pte_t e1 = eng_ld_acq(p1);
	struct mmk_pt_resv one = {.pt = pt, .head = ENG_NONE, .n = 0};
	if (!eng_is_empty(pt, e1, 1) && fmt_is_table(e1, 1) &&
	    !eng_private(pt, fmt_table_pa(e1, 1)) &&
	    !(excl && eng_tref(pt, fmt_table_pa(e1, 1)) == 1)) {
		mmk_paddr_t np;
		if (mmk_frame_alloc(pt->frames, mmk__pt_table_order(pt->fmt, 0),
				    0, &np) != 0)
			return MMK_ENOMEM;
		eng_pool_push(&one, np.v);
	}
	/* If the table changed meanwhile (a racing CPU's copy, now
	 * private), the copy needs no page or finds it in @one. */
	eng_own_pool(pt, p1, ia, &one, mode, g, out);
	if (MMK_UNLIKELY(one.n))
		mmk__pt_free_table(pt, 0, one.head); /* not needed after all */
	return MMK_OK;
}

/*
 * @pt lets go of the flagged leaf table @t that its level-1 entry *@p1
 * (over @ia) points at, exclusively held: true if others still hold it
 * (the entry is cleared, the span recorded in @g, nothing else touched:
 * the leaves' references stay with the others); false if @pt was the last
 * (the table is private again and the caller zaps it as any other).
 */
static bool eng_drop_shared(struct mmk_pt *pt, mmk__pte_t *p1, uint64_t t,
			    uint64_t ia, struct mmk_tlb_gather *g)
{
	atomic_fetch_sub_explicit(&pt->nshared, 1, memory_order_relaxed);
	int r = mmk_frame_put_unless_last(pt->frames, mmk_pa(t));
	MMK_ASSERT(r >= 0);
	if (r == 0) {
		eng_flag_clear(pt, t);
		return false;
	}
	uint64_t s = ia & ~(eng_span(pt, 1) - 1);
	eng_st(p1, fmt_empty(pt, 1));
	eng_unhooked(pt);
	atomic_fetch_sub_explicit(&pt->tables, 1, memory_order_relaxed);
	mmk__pt_gather_range(g, pt, s, eng_span(pt, 1), false);
	if (pt->fmt->caps & MMK__FMT_TABLE_FREE_FULL)
		mmk_tlb_gather_all(g, false);
	return true;
}

/* Is @ia in a leaf table of @pt shared now?  *@wp: its directory entry
 * refuses writes (lookup reports the leaf without WRITE then). */
__attribute__((noinline)) static bool eng_leaf_shared(const struct mmk_pt *pt,
						      uint64_t ia, bool *wp)
{
	unsigned l = pt->fmt->levels - 1;
	uint64_t table = pt->root.v;
	*wp = false;
	for (; l > 0; l--) {
		mmk__pte_t e = eng_ld_acq(eng_tbl(table) + eng_idx(pt, ia, l));
		if (eng_is_empty(pt, e, l) || !fmt_is_table(e, l))
			return false;
		if (l == 1)
			*wp = fmt_dir_is_wp(e);
		table = fmt_table_pa(e, l);
	}
	return eng_shared_now(pt, table);
}

/*
 * Destroy: @pt lets go of the flagged leaf table @t (its reference is then
 * put by the caller, which frees the page on the last).  The leaves are
 * not touched (destroy never puts leaf frames).  If @pt is the last
 * holder the flag goes with it.
 */
static void eng_release_shared(struct mmk_pt *pt, uint64_t t)
{
	atomic_fetch_sub_explicit(&pt->nshared, 1, memory_order_relaxed);
	if (eng_tref(pt, t) == 1)
		eng_flag_clear(pt, t);
}
