/* SPDX-License-Identifier: MIT */
/*
 * mmkit — engine fragment: entry access, tables, the pool of table pages.
 * Included by pt/engine.h only (after the fragments before it); every
 * function is static, instantiated once per format.
 */
/*
 * Defaults for the hooks most formats would write the same way; a format
 * with its own defines FMT_HAS_<NAME> before including pt/engine.h.
 */
#ifndef FMT_HAS_EMPTY
/* Every empty entry is 0. */
static inline bool fmt_empty_is_zero(void)
{
	return true;
}

static inline mmk__pte_t fmt_empty(const struct mmk_pt *pt, unsigned level)
{
	(void)pt;
	(void)level;
	return 0;
}
#endif

#ifndef FMT_HAS_BBM
/* No change of a live entry needs break-before-make. */
static inline bool fmt_needs_bbm(mmk__pte_t old, mmk__pte_t nw, unsigned level)
{
	(void)old;
	(void)nw;
	(void)level;
	return false;
}
#endif

#ifndef FMT_HAS_DIR_WP
/* No directory entry can refuse writes below it: a shared leaf table's
 * leaves are write-protected one by one. */
static inline bool fmt_dir_wp_ok(void)
{
	return false;
}

static inline mmk__pte_t fmt_dir_wp(mmk__pte_t e)
{
	return e;
}

static inline bool fmt_dir_is_wp(mmk__pte_t e)
{
	(void)e;
	return false;
}
#endif

#ifndef FMT_HAS_SYNC
/* Stores reach the walker in program order; the flush orders the rest. */
static inline void fmt_sync(void)
{
	__asm__ volatile("" ::: "memory");
}
#endif

#define ENG_NONE UINT64_MAX /* "no table" in prepare, "empty" pool */

/* A table page of @pt was unhooked (or a leaf table became shared): every
 * cursor of @pt must miss from now on (gen), and the hints of the fast
 * paths (pt/engine/fast.h) are forgotten. */
static inline void eng_unhooked(struct mmk_pt *pt)
{
	atomic_fetch_add_explicit(&pt->gen, 1, memory_order_relaxed);
	atomic_store_explicit(&pt->hint[0], 0, memory_order_relaxed);
	atomic_store_explicit(&pt->hint[1], 0, memory_order_relaxed);
}

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

/*
 * The pool of a reservation (struct mmk_pt_resv): table pages taken before
 * a commit, linked through their first word (private until hooked in, so
 * nothing else reads them).  Not yet counted in pt->tables: a page counts
 * once it is popped into the table.
 */
static void eng_pool_free(struct mmk_pt *pt, uint64_t head)
{
	while (head != ENG_NONE) {
		uint64_t next = *eng_tbl(head);
		mmk__pt_free_table(pt, 0, head);
		head = next;
	}
}

/* Add @n table pages to @r; on ENOMEM @r is as it was. */
static int eng_pool_add(struct mmk_pt *pt, struct mmk_pt_resv *r, long n)
{
	uint64_t head = ENG_NONE, tail = ENG_NONE;
	for (long i = 0; i < n; i++) {
		mmk_paddr_t pa;
		if (mmk__pt_take_page(pt, mmk__pt_table_order(pt->fmt, 0),
				      &pa) != 0) {
			eng_pool_free(pt, head);
			return MMK_ENOMEM;
		}
		*eng_tbl(pa.v) = head;
		if (head == ENG_NONE)
			tail = pa.v;
		head = pa.v;
	}
	if (n == 0)
		return MMK_OK;
	*eng_tbl(tail) = r->head;
	r->head = head;
	r->n += n;
	return MMK_OK;
}

static void eng_pool_release(struct mmk_pt *pt, struct mmk_pt_resv *r)
{
	eng_pool_free(pt, r->head);
	r->head = ENG_NONE;
	r->n = 0;
}

static uint64_t eng_pool_pop(struct mmk_pt *pt, struct mmk_pt_resv *p)
{
	uint64_t pa = p->head;
	MMK_ASSERT(pa != ENG_NONE); /* a commit without its reservation */
	p->head = *eng_tbl(pa);
	p->n--;
	atomic_fetch_add_explicit(&pt->tables, 1, memory_order_relaxed);
	return pa;
}
