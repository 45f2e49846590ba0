/* SPDX-License-Identifier: MIT */
/*
 * mmkit — engine fragment: moving whole leaf tables (mremap's move).
 * Included by pt/engine.h only (after core.h and single.h); every
 * function is static, instantiated once per format.
 *
 * Where a range and its target are both aligned to a leaf table's span
 * (span(1)), the level-1 entry itself moves: the target's level-1 slot
 * gets the entry, the source slot is emptied, and the leaf table with
 * every leaf in it stays where it is in memory (Linux's move_normal_pmd).
 * A shared leaf table (after a fork) moves as it is: the entry pointing at
 * it is still one entry of this table, so pt->nshared and the table's
 * share count are unchanged, and the next edit of it copies it as before.
 */

/* Reserve every table above the leaf tables that [ia, ia + size) may need,
 * counted as if the range were empty: one per slot of each level from 1
 * to top - 1.  MMK_ENOMEM with @r as it was. */
static int eng_move_reserve(struct mmk_pt *pt, struct mmk_pt_resv *r,
			    uint64_t ia, uint64_t size)
{
	unsigned top = pt->fmt->levels - 1;
	long n = 0;
	for (unsigned l = 1; l < top; l++) {
		unsigned sh = pt->shift[l + 1];
		n += (long)(((ia + size - 1) >> sh) - (ia >> sh) + 1);
	}
	return eng_pool_add(pt, r, n);
}

/* The level-1 slot for @ia, hooking in the tables above it from @r; NULL
 * when a huge leaf is in the way (the caller then keeps the leaf path). */
static mmk__pte_t *eng_move_slot(struct mmk_pt *pt, struct mmk_pt_resv *r,
				 uint64_t ia)
{
	uint64_t table = pt->root.v;
	for (unsigned l = pt->fmt->levels - 1; l > 1; l--) {
		mmk__pte_t *p = eng_tbl(table) + eng_idx(pt, ia, l);
		mmk__pte_t e = eng_ld(p);
		if (eng_is_empty(pt, e, l)) {
			uint64_t child = eng_pool_pop(pt, r);
			eng_init_table(pt, eng_tbl(child), l - 1);
			e = fmt_make_table(pt, child, l);
			eng_st_rel(p, e); /* filled before it is hooked in */
		} else if (!fmt_is_table(e, l)) {
			return NULL;
		}
		table = fmt_table_pa(e, l);
	}
	return eng_tbl(table) + eng_idx(pt, ia, 1);
}

/*
 * Move the leaf tables wholly inside [s, s + size) to @d - @s bytes
 * higher, where that distance is a multiple of span(1) and the target
 * slot is empty; everything else is left for the caller's leaf path.
 * Cannot fail (tables from eng_move_reserve of the target).  Records the
 * old range in @b when anything moved.  Returns the bytes moved.
 */
static uint64_t eng_move_tables(struct mmk_pt *pt, struct mmk_pt_resv *r,
				uint64_t s, uint64_t d, uint64_t size,
				struct mmk_tlb_gather *b)
{
	uint64_t span = eng_span(pt, 1), delta = d - s, moved = 0;
	if (pt->fmt->levels < 3 || (delta & (span - 1)))
		return 0;
	uint64_t a = (s + span - 1) & ~(span - 1), e = s + size;
	for (; a < e && e - a >= span; a += span) {
		mmk__pte_t *ps = eng_slot(pt, a, 1);
		if (!ps)
			continue;
		mmk__pte_t ent = eng_ld(ps);
		if (eng_is_empty(pt, ent, 1) || !fmt_is_table(ent, 1))
			continue;
		mmk__pte_t *pd = eng_move_slot(pt, r, a + delta);
		if (!pd || !eng_is_empty(pt, eng_ld(pd), 1))
			continue;
		eng_st_rel(pd, ent);
		eng_st(ps, fmt_empty(pt, 1));
		moved += span;
	}
	if (moved) {
		/* the moved tables now sit under other addresses: a cursor
		 * or hint of the old ones must miss */
		eng_unhooked(pt);
		mmk__pt_gather_range(b, pt, s, size, true);
	}
	fmt_sync();
	return moved;
}
