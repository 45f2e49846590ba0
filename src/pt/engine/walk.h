/* SPDX-License-Identifier: MIT */
/*
 * mmkit — engine fragment: read-only walks, destroy, encodings and the raw
 * view.
 * Included by pt/engine.h only (after the fragments before it); every
 * function is static, instantiated once per format.
 */
/* -------------------------------------------------------------- walk */
/*
 * Every leaf over [ia, ia + size), in address order, to @fn; stops at the
 * first nonzero return.  Iterative: one cursor address and the table of
 * each level on the way down (a recursion took a frame per level, on the
 * deepest chains of the fault path, docs/STACK.md).  A level is done when
 * the cursor reaches the end of its parent's slot (or the range's end).
 * @wp: the entry pointing at the current leaf table refuses writes (a
 * table a fork shares, fmt_dir_wp): its leaves are reported without WRITE;
 * @shared: another table holds it.  Both hold for level 0 only.
 */
static int eng_walk(const struct mmk_pt *pt, uint64_t ia, uint64_t size,
		    mmk_pt_walk_fn fn, void *ctx)
{
	const mmk__pte_t *t[MMK_PT_MAX_LEVELS];
	unsigned top = pt->fmt->levels - 1, l = top;
	uint64_t a = ia, e = ia + size;
	bool wp = false;
	bool shared = top == 0 && eng_shared_now(pt, pt->root.v);
	t[top] = eng_tbl(pt->root.v);
	while (a < e) {
		uint64_t span = eng_span(pt, l);
		mmk__pte_t ent = eng_ld_acq(&t[l][eng_idx(pt, a, l)]);
		if (eng_is_empty(pt, ent, l)) {
			/* hole */
		} else if (fmt_is_leaf(ent, l)) {
			struct mmk_pt_leaf lf;
			lf.va = mmk__pt_va(pt, a & ~(span - 1));
			lf.pa = mmk_pa(fmt_leaf_pa(ent, l));
			lf.size = lf.page_size = span;
			lf.flags = fmt_leaf_flags(pt, ent, l);
			if (l == 0 && wp)
				lf.flags &= ~(uint32_t)MMK_PT_WRITE;
			lf.level = l;
			lf.raw = 0;
			lf.shared = l == 0 && shared;
			int r = fn(ctx, &lf);
			if (r)
				return r;
		} else if (l > 0) {
			uint64_t child = fmt_table_pa(ent, l);
			if (l == 1) {
				wp = fmt_dir_is_wp(ent);
				shared = eng_shared_now(pt, child);
			}
			t[--l] = eng_tbl(child);
			continue; /* the same address, one level down */
		}
		a = MMK_MIN((a | (span - 1)) + 1, e);
		/* up while the cursor left the parent's slot */
		while (l < top && !(a & (eng_span(pt, l + 1) - 1)))
			l++;
	}
	return 0;
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
		else if (!eng_private(pt, child))
			eng_release_shared(pt, child);
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
