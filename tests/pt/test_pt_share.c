/* SPDX-License-Identifier: MIT */
/*
 * Leaf tables shared between tables (mmk_pt_clone_range with
 * MMK_PT_CLONE_SHARE, mmk_pt_unshare), on every format compiled in.
 *
 * Every test maps the same layout (T = span of one leaf table, p = base
 * page) with frames of its own, every page but every third one:
 *
 *   base        base+T       +2T        +3T        +4T        +5T
 *   |  table 0  |  table 1  |  table 2  |  table 3  |  table 4  |
 *            [lo = base+T-3p ........................ hi = base+4T+5p)
 *
 * plus one page just below lo and one at hi (the source's only).  A clone
 * of [lo, hi) shares tables 1-3 and copies the edges of tables 0 and 4.
 * After every step the frame reference counts are checked against the
 * uniform rule: one reference per leaf table mapping a page, a table
 * shared by several page tables counted once (two page tables point at
 * the same table when their level-1 entries are equal).
 */
#include "pt_fixture.h"

#include <pthread.h>
#include <stdio.h>

#define setup	 pt_fixture_setup
#define teardown pt_fixture_teardown

#define CLONE_COW                                                              \
	(MMK_PT_CLONE_GET | MMK_PT_CLONE_WRPROTECT | MMK_PT_CLONE_SHARE)

struct layout {
	uint64_t page, T, base, lo, hi;
	unsigned order; /* frame order of one page */
};

static void layout_of(const struct mmk_pt *pt, struct layout *L)
{
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	L->page = (uint64_t)1 << in.page_shift;
	L->T = L->page * (L->page / 8);
	L->order = in.page_shift - 12;
	L->base = (in.low_end ? 0 : in.high_start) + 8 * L->T;
	L->lo = L->base + L->T - 3 * L->page;
	L->hi = L->base + 4 * L->T + 5 * L->page;
}

static uint64_t new_frame(const struct layout *L)
{
	mmk_paddr_t pa;
	assert_int_equal(mmk_frame_alloc(fa, L->order, 0, &pa), 0);
	return pa.v;
}

static void map_page(struct mmk_pt *pt, uint64_t va, uint64_t pa,
		     uint32_t flags)
{
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, NULL, 0);
	assert_int_equal(
		mmk_pt_map(pt, va, mmk_pa(pa), leaf_size(pt, 0), flags, &g), 0);
	mmk_tlb_gather_finish(&g);
}

/* The source: every page of [lo, hi) but each third, and one page on
 * either side. */
static void populate(struct mmk_pt *pt, const struct layout *L)
{
	uint64_t n = (L->hi - L->lo) / L->page;
	for (uint64_t i = 0; i < n; i++)
		if (i % 3 != 1)
			map_page(pt, L->lo + i * L->page, new_frame(L),
				 MMK_PT_RW);
	map_page(pt, L->lo - L->page, new_frame(L), MMK_PT_RW);
	map_page(pt, L->hi, new_frame(L), MMK_PT_RW);
}

/* A hole of table @k (an address i with i % 3 == 1 from lo). */
static uint64_t hole_in(const struct layout *L, unsigned k)
{
	uint64_t va = L->base + k * L->T + 10 * L->page;
	while (((va - L->lo) / L->page) % 3 != 1)
		va += L->page;
	return va;
}

static uint64_t page_in(const struct layout *L, unsigned k)
{
	return hole_in(L, k) + L->page;
}

/* ------------------------------------------------- reference check */
struct ref {
	uint64_t pa, key, va;
};

struct refs {
	struct ref *v;
	size_t n, cap;
	const struct mmk_pt *pt;
};

static int ref_leaf(void *ctx, const struct mmk_pt_leaf *lf)
{
	struct refs *r = ctx;
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 1024;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
	}
	uint64_t key = 0;
	if (lf->level == 0)
		assert_int_equal(mmk_pt_raw_entry(r->pt, lf->va, 1, &key), 0);
	else
		key = (uint64_t)(uintptr_t)r->pt; /* a huge leaf: its own */
	r->v[r->n++] = (struct ref){lf->pa.v, key, lf->va};
	return 0;
}

static int by_key_va(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->va != y->va)
		return x->va < y->va ? -1 : 1;
	return 0;
}

static int by_pa(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	return x->pa < y->pa ? -1 : x->pa > y->pa;
}

/* Every frame mapped by @pts has one reference per leaf table mapping it
 * (equal level-1 entries: one table). */
static void check_refs(struct mmk_pt *const *pts, unsigned n)
{
	struct refs r = {0};
	for (unsigned i = 0; i < n; i++) {
		struct mmk_pt_info in;
		mmk_pt_info(pts[i], &in);
		r.pt = pts[i];
		if (in.low_end)
			assert_int_equal(mmk_pt_walk(pts[i], 0, in.low_end,
						     ref_leaf, &r),
					 0);
		else
			assert_int_equal(mmk_pt_walk(pts[i], in.high_start,
						     -in.high_start, ref_leaf,
						     &r),
					 0);
	}
	if (r.n == 0)
		return;
	qsort(r.v, r.n, sizeof(*r.v), by_key_va);
	size_t m = 0;
	for (size_t i = 0; i < r.n; i++)
		if (m == 0 || by_key_va(&r.v[m - 1], &r.v[i]) != 0)
			r.v[m++] = r.v[i];
	qsort(r.v, m, sizeof(*r.v), by_pa);
	for (size_t i = 0; i < m;) {
		size_t j = i;
		while (j < m && r.v[j].pa == r.v[i].pa)
			j++;
		int64_t have = mmk_frame_refcount(fa, mmk_pa(r.v[i].pa));
		if (have != (int64_t)(j - i))
			fail_msg("frame %#llx: %lld references, %zu expected",
				 (unsigned long long)r.v[i].pa, (long long)have,
				 j - i);
		i = j;
	}
	free(r.v);
}

/* -------------------------------------------------- state snapshots */
struct state {
	struct snap s;
	long tables;
};

static void state_take(const struct mmk_pt *pt, struct state *st)
{
	snapshot(pt, &st->s);
	st->tables = mmk_pt_table_pages(pt);
}

static void state_same(const struct mmk_pt *pt, const struct state *st)
{
	struct state now = {0};
	state_take(pt, &now);
	assert_same(&st->s, &now.s);
	assert_int_equal(now.tables, st->tables);
	free(now.s.v);
}

/* The unmap callback: each page's reference goes after the flush. */
static void put_run(void *ctx, const struct mmk_pt_leaf *run)
{
	struct mmk_tlb_gather *g = ctx;
	for (uint64_t o = 0; o < run->size; o += run->page_size)
		mmk_tlb_gather_put(g, fa, mmk_pa(run->pa.v + o));
}

static void unmap_put(struct mmk_pt *pt, uint64_t va, uint64_t size)
{
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, NULL, 0);
	assert_int_equal(mmk_pt_unmap_region(pt, va, size, &g, put_run, &g), 0);
	mmk_tlb_gather_finish(&g);
}

static void unmap_all_put(struct mmk_pt *pt, const struct layout *L)
{
	unmap_put(pt, L->base, 6 * L->T);
	assert_int_equal(mmk_pt_table_pages(pt), 1);
}

static int do_clone(struct mmk_pt *dst, struct mmk_pt *src, uint64_t lo,
		    uint64_t hi, unsigned flags)
{
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, NULL, 0);
	int err = mmk_pt_clone_range(dst, src, lo, hi, flags, &g);
	mmk_tlb_gather_finish(&g);
	return err;
}

static const char *fmt_name(const struct mmk_pt *pt)
{
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	return in.name;
}

static bool shared_at(const struct mmk_pt *pt, uint64_t va)
{
	struct mmk_pt_leaf lf;
	assert_int_equal(mmk_pt_lookup(pt, va, &lf), 0);
	return lf.shared;
}

/* Source populated, child created and cloned from it. */
static void forked(struct mmk_pt *src, struct mmk_pt *dst, struct layout *L,
		   int id)
{
	layout_of(src, L);
	populate(src, L);
	assert_true(pt_new(dst, id));
	assert_int_equal(do_clone(dst, src, L->lo, L->hi, CLONE_COW), 0);
}

/* ------------------------------------------------------------- tests */
static void clone_shares_whole_tables_copies_edges(void **state)
{
	(void)state;
	struct mmk_pt src, dst;
	FOR_EACH_FORMAT(src, id)
	{
		long live = live0;
		struct layout L;
		forked(&src, &dst, &L, id);
		struct snap a = {0}, b = {0};
		snapshot(&dst, &b);
		assert_int_equal(
			mmk_pt_walk(&src, L.lo, L.hi - L.lo, snap_leaf, &a), 0);
		assert_same(&a, &b);
		for (size_t i = 0; i < b.n; i++)
			assert_false(b.v[i].flags & MMK_PT_WRITE);
		/* the source's pages outside the range keep WRITE */
		uint32_t f = 0;
		assert_int_equal(mmk_pt_query(&src, L.hi, NULL, &f, NULL), 0);
		assert_true(f & MMK_PT_WRITE);
		assert_int_equal(
			mmk_pt_query(&src, L.lo - L.page, NULL, &f, NULL), 0);
		assert_true(f & MMK_PT_WRITE);
		for (unsigned k = 1; k <= 3; k++) {
			assert_true(shared_at(&src, page_in(&L, k)));
			assert_true(shared_at(&dst, page_in(&L, k)));
		}
		assert_false(shared_at(&dst, L.lo));
		assert_false(shared_at(&src, L.hi - 2 * L.page));
		struct mmk_pt *pts[] = {&src, &dst};
		check_refs(pts, 2);
		/* query and query_many see what the hardware applies: no
		 * WRITE (a format may refuse it at the directory entry) */
		for (unsigned k = 1; k <= 3; k++) {
			assert_int_equal(mmk_pt_query(&src, page_in(&L, k),
						      NULL, &f, NULL),
					 0);
			assert_false(f & MMK_PT_WRITE);
		}
		{
			mmk_vaddr_t v[3] = {page_in(&L, 1), page_in(&L, 2),
					    hole_in(&L, 3)};
			mmk_paddr_t qp[3];
			uint32_t qf[3];
			assert_int_equal(mmk_pt_query_many(&dst, 3, v, qp, qf),
					 2);
			assert_false(qf[0] & MMK_PT_WRITE);
			assert_true(qf[0] & MMK_PT_READ);
			assert_int_equal(qp[2].v, MMK_PT_QUERY_NONE);
			mmk_paddr_t one;
			assert_int_equal(
				mmk_pt_query(&src, v[1], &one, NULL, NULL), 0);
			assert_int_equal(qp[1].v, one.v);
		}
		/* a walk says it too */
		for (size_t i = 0; i < b.n; i++)
			assert_int_equal(b.v[i].shared,
					 b.v[i].va >= L.base + L.T &&
						 b.v[i].va < L.base + 4 * L.T);
		free(a.v);
		free(b.v);
		unmap_all_put(&dst, &L);
		check_refs(pts, 1);
		unmap_all_put(&src, &L);
		mmk_pt_destroy(&dst);
		mmk_pt_destroy(&src);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

enum edit {
	E_MAP,
	E_UNMAP,
	E_PROTECT,
	E_REPLACE,
	E_UNMAP_PART,
	E_UNMAP_WHOLE,
	E_PROTECT_REGION,
	E_MAP_REGION,
	E_CUT,
	E_CLONE,
	E_UNSHARE,
	E_COUNT
};

static const char *const edit_name[E_COUNT] = {
	"map",	      "unmap",	     "protect",	       "replace",
	"unmap part", "unmap whole", "protect region", "map region",
	"cut",	      "clone",	     "unshare"};

/* Apply edit @k to @pt (table 2 and around); @third receives the clone
 * of E_CLONE.  Returns the first error (ENOMEM under injection), having
 * allocated the leaf frames it maps before the point that may fail. */
static int edit(struct mmk_pt *pt, struct mmk_pt *third, int id,
		const struct layout *L, enum edit k, long inject)
{
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, NULL, 0);
	uint64_t va = page_in(L, 2), hole = hole_in(L, 2), pa = 0;
	struct mmk_pt_leaf lf;
	struct mmk_pt_resv r;
	int err = 0;
	if (k == E_MAP || k == E_MAP_REGION || k == E_REPLACE)
		pa = new_frame(L);
	if (k == E_REPLACE)
		assert_int_equal(mmk_pt_lookup(pt, va, &lf), 0);
	if (k == E_CLONE)
		assert_true(pt_new(third, id));
	if (inject)
		mmk_hosted_fail_nth(MMK_FAIL_FRAME, inject);
	switch (k) {
	case E_MAP:
		err = mmk_pt_map(pt, hole, mmk_pa(pa), L->page, MMK_PT_RW, &g);
		break;
	case E_UNMAP:
		err = mmk_pt_unmap(pt, va, &g, &lf);
		if (!err)
			mmk_tlb_gather_put(&g, fa, lf.pa);
		break;
	case E_PROTECT:
		err = mmk_pt_protect(pt, va, MMK_PT_RW, &g);
		break;
	case E_REPLACE:
		err = mmk_pt_replace(pt, &lf, mmk_pa(pa), MMK_PT_RW, &g);
		if (!err)
			mmk_tlb_gather_put(&g, fa, lf.pa);
		break;
	case E_UNMAP_PART:
		err = mmk_pt_unmap_region(pt, L->base + 2 * L->T + 7 * L->page,
					  L->T, &g, put_run, &g);
		break;
	case E_UNMAP_WHOLE:
		err = mmk_pt_unmap_region(pt, L->base + 2 * L->T, L->T, &g,
					  put_run, &g);
		break;
	case E_PROTECT_REGION:
		/* read-only again changes nothing: no copy, no page */
		err = mmk_pt_protect_region(pt, L->base + L->T, 3 * L->T,
					    MMK_PT_READ, &g);
		assert_int_equal(err, 0);
		assert_true(shared_at(pt, va));
		err = mmk_pt_protect_region(pt, L->base + 2 * L->T + L->page,
					    L->T, MMK_PT_RW, &g);
		break;
	case E_MAP_REGION:
		err = mmk_pt_map_region(pt, hole, mmk_pa(pa), L->page,
					MMK_PT_RW, 0, &g);
		break;
	case E_CUT:
		mmk_pt_resv_init(&r, pt);
		err = mmk_pt_reserve_cut(pt, &r, va);
		if (!err) {
			mmk_pt_cut(pt, &r, va, &g);
			/* after a cut the range's edit needs nothing */
			mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
			assert_int_equal(
				mmk_pt_unmap_region(pt, va,
						    L->base + 3 * L->T - va, &g,
						    put_run, &g),
				0);
			mmk_hosted_fail_off();
		}
		mmk_pt_resv_release(&r);
		break;
	case E_CLONE: {
		struct mmk_tlb_gather g2;
		mmk_tlb_gather_init(&g2, NULL, 0);
		err = mmk_pt_clone_range(third, pt, L->lo, L->hi, CLONE_COW,
					 &g2);
		mmk_tlb_gather_finish(&g2);
		break;
	}
	case E_UNSHARE:
		err = mmk_pt_unshare(pt, va, &g);
		break;
	default:
		break;
	}
	mmk_hosted_fail_off();
	if (err && pa)
		assert_int_equal(mmk_frame_free(fa, mmk_pa(pa)), 0);
	if (err && k == E_CLONE)
		mmk_pt_destroy(third);
	mmk_tlb_gather_finish(&g);
	return err;
}

static void any_edit_unshares_and_other_view_stays(void **state)
{
	(void)state;
	struct mmk_pt src, dst, third;
	for (int k = 0; k < E_COUNT; k++)
		for (int which = 0; which < 2; which++) {
			FOR_EACH_FORMAT(src, id)
			{
				long live = live0;
				struct layout L;
				forked(&src, &dst, &L, id);
				struct mmk_pt *ed = which ? &dst : &src;
				struct mmk_pt *other = which ? &src : &dst;
				struct state before = {0}, mine = {0};
				state_take(other, &before);
				state_take(ed, &mine);
				long live1 = mmk_hosted_live_frames();
				/* out of memory at each allocation in turn:
				 * nothing changes, until one succeeds */
				long nth = 1;
				for (; k != E_UNMAP_WHOLE; nth++) {
					int err = edit(ed, &third, id, &L, k,
						       nth);
					if (err == 0)
						break;
					if (err != MMK_ENOMEM)
						fail_msg("%s: %s: %d",
							 edit_name[k],
							 fmt_name(ed), err);
					state_same(other, &before);
					state_same(ed, &mine);
					assert_int_equal(
						mmk_hosted_live_frames(),
						live1);
				}
				if (k == E_UNMAP_WHOLE) {
					/* letting go needs no page */
					mmk_hosted_fail_after(MMK_FAIL_FRAME,
							      0);
					int err =
						edit(ed, &third, id, &L, k, 0);
					if (err)
						fail_msg("%s: %s: %d",
							 edit_name[k],
							 fmt_name(ed), err);
				} else {
					/* each edit here copies: a page */
					assert_true(nth > 1);
				}
				state_same(other, &before);
				struct mmk_pt *pts[] = {&src, &dst, &third};
				check_refs(pts, k == E_CLONE ? 3 : 2);
				if (k != E_PROTECT_REGION && k != E_CLONE &&
				    k != E_UNMAP_WHOLE) {
					struct mmk_pt_leaf lf;
					if (mmk_pt_lookup(
						    ed, page_in(&L, 2) + L.page,
						    &lf) == 0)
						assert_false(lf.shared);
				}
				/* the other keeps sharing tables 1 and 3 */
				assert_true(shared_at(other, page_in(&L, 1)));
				if (k == E_CLONE) {
					state_same(other, &before);
					unmap_all_put(&third, &L);
					mmk_pt_destroy(&third);
				}
				/* drop in either order */
				struct mmk_pt *first = (k & 1) ? ed : other;
				struct mmk_pt *second = (k & 1) ? other : ed;
				unmap_all_put(first, &L);
				check_refs(&second, 1);
				mmk_pt_destroy(first);
				unmap_all_put(second, &L);
				mmk_pt_destroy(second);
				free(before.s.v);
				free(mine.s.v);
				assert_int_equal(mmk_hosted_live_frames(),
						 live);
			}
		}
}

/* Destroy without unmapping the shared part: the count goes, the leaves
 * stay with the other table. */
static void destroy_lets_shared_tables_go(void **state)
{
	(void)state;
	struct mmk_pt src, dst;
	for (int order = 0; order < 2; order++) {
		FOR_EACH_FORMAT(src, id)
		{
			long live = live0;
			struct layout L;
			forked(&src, &dst, &L, id);
			struct mmk_pt *a = order ? &src : &dst;
			struct mmk_pt *b = order ? &dst : &src;
			struct state before = {0};
			state_take(b, &before);
			/* a's own pages: the edges (and the source's
			 * outside pages) */
			unmap_put(a, L.base, L.T);
			unmap_put(a, L.base + 4 * L.T, 2 * L.T);
			mmk_pt_destroy(a);
			state_same(b, &before);
			check_refs(&b, 1);
			assert_false(shared_at(b, page_in(&L, 2)));
			/* b takes its tables back in place: no copy */
			struct mmk_tlb_gather g;
			mmk_tlb_gather_init(&g, NULL, 0);
			mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
			assert_int_equal(mmk_pt_protect_region(b, L.base + L.T,
							       3 * L.T,
							       MMK_PT_RW, &g),
					 0);
			mmk_hosted_fail_off();
			mmk_tlb_gather_finish(&g);
			unmap_all_put(b, &L);
			mmk_pt_destroy(b);
			free(before.s.v);
			assert_int_equal(mmk_hosted_live_frames(), live);
		}
	}
}

/* A clone of a clone of a clone, edits in each generation. */
static void three_way_shares(void **state)
{
	(void)state;
	struct mmk_pt p[4];
	FOR_EACH_FORMAT(p[0], id)
	{
		long live = live0;
		struct layout L;
		forked(&p[0], &p[1], &L, id);
		assert_true(pt_new(&p[2], id));
		assert_int_equal(do_clone(&p[2], &p[1], L.lo, L.hi, CLONE_COW),
				 0);
		assert_true(pt_new(&p[3], id));
		assert_int_equal(do_clone(&p[3], &p[0], L.lo, L.hi, CLONE_COW),
				 0);
		struct mmk_pt *pts[] = {&p[0], &p[1], &p[2], &p[3]};
		check_refs(pts, 4);
		struct state st[4];
		for (int i = 0; i < 4; i++) {
			st[i] = (struct state){0};
			state_take(&p[i], &st[i]);
		}
		/* p2 replaces a page of table 2, p1 unmaps table 3 whole */
		struct mmk_pt_leaf lf;
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, NULL, 0);
		assert_int_equal(mmk_pt_lookup(&p[2], page_in(&L, 2), &lf), 0);
		assert_true(lf.shared);
		assert_int_equal(mmk_pt_unshare(&p[2], lf.va, &g), 0);
		assert_int_equal(mmk_pt_lookup(&p[2], page_in(&L, 2), &lf), 0);
		assert_false(lf.shared);
		assert_int_equal(mmk_pt_replace(&p[2], &lf,
						mmk_pa(new_frame(&L)),
						MMK_PT_RW, &g),
				 0);
		mmk_tlb_gather_put(&g, fa, lf.pa);
		mmk_tlb_gather_finish(&g);
		unmap_put(&p[1], L.base + 3 * L.T, L.T);
		state_same(&p[0], &st[0]);
		state_same(&p[3], &st[3]);
		check_refs(pts, 4);
		/* destroy in the order 1, 0, 3, 2 */
		int ord[4] = {1, 0, 3, 2};
		for (int i = 0; i < 4; i++) {
			unmap_all_put(&p[ord[i]], &L);
			mmk_pt_destroy(&p[ord[i]]);
			struct mmk_pt *rest[4];
			unsigned n = 0;
			for (int j = i + 1; j < 4; j++)
				rest[n++] = &p[ord[j]];
			check_refs(rest, n);
		}
		for (int i = 0; i < 4; i++)
			free(st[i].s.v);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

/* Out of memory at every allocation of a clone: all or nothing. */
static void clone_failure_at_every_allocation(void **state)
{
	(void)state;
	struct mmk_pt src, dst;
	FOR_EACH_FORMAT(src, id)
	{
		long live = live0;
		struct layout L;
		layout_of(&src, &L);
		populate(&src, &L);
		/* a huge leaf in the range too, copied whole */
		uint64_t H = leaf_size(&src, 1);
		mmk_paddr_t hpa;
		unsigned horder = 0;
		while (((uint64_t)4096 << horder) < H)
			horder++;
		assert_int_equal(mmk_frame_alloc(fa, horder, 0, &hpa), 0);
		{
			struct mmk_tlb_gather g;
			mmk_tlb_gather_init(&g, NULL, 0);
			assert_int_equal(mmk_pt_map(&src, L.base + 5 * L.T, hpa,
						    H, MMK_PT_RW, &g),
					 0);
			mmk_tlb_gather_finish(&g);
		}
		L.hi = L.base + 6 * L.T;
		assert_true(pt_new(&dst, id));
		struct state s0 = {0}, d0 = {0};
		state_take(&src, &s0);
		state_take(&dst, &d0);
		long live1 = mmk_hosted_live_frames();
		int err = MMK_ENOMEM;
		long n;
		for (n = 1; err == MMK_ENOMEM; n++) {
			mmk_hosted_fail_nth(MMK_FAIL_FRAME, n);
			err = do_clone(&dst, &src, L.lo, L.hi, CLONE_COW);
			mmk_hosted_fail_off();
			if (err == MMK_ENOMEM) {
				state_same(&src, &s0);
				state_same(&dst, &d0);
				assert_int_equal(mmk_hosted_live_frames(),
						 live1);
				struct mmk_pt *pts[] = {&src};
				check_refs(pts, 1);
			}
		}
		assert_int_equal(err, 0);
		assert_true(n > 3); /* the upper tables and two edges */
		uint32_t hf = 0;
		assert_int_equal(
			mmk_pt_query(&dst, L.base + 5 * L.T, NULL, &hf, NULL),
			0);
		assert_false(hf & MMK_PT_WRITE);
		assert_int_equal(mmk_frame_refcount(fa, hpa), 2);
		struct mmk_pt *pts[] = {&src, &dst};
		check_refs(pts, 2);
		unmap_all_put(&dst, &L);
		unmap_all_put(&src, &L);
		mmk_pt_destroy(&dst);
		mmk_pt_destroy(&src);
		free(s0.s.v);
		free(d0.s.v);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

/* A clone of a range over tables shared by an earlier fork, without
 * WRPROTECT (a fork's non-COW pass, or a COW run written-protected
 * later): the copies have no WRITE, as the source's pages have none. */
static void clone_of_shared_without_wrprotect(void **state)
{
	(void)state;
	struct mmk_pt src, dst, third;
	FOR_EACH_FORMAT(src, id)
	{
		long live = live0;
		struct layout L;
		forked(&src, &dst, &L, id);
		assert_true(pt_new(&third, id));
		assert_int_equal(do_clone(&third, &src, L.base + L.T,
					  L.base + 2 * L.T + 8 * L.page,
					  MMK_PT_CLONE_GET),
				 0);
		struct snap t = {0};
		snapshot(&third, &t);
		assert_true(t.n > 0);
		for (size_t i = 0; i < t.n; i++)
			assert_false(t.v[i].flags & MMK_PT_WRITE);
		free(t.v);
		struct mmk_pt *pts[] = {&src, &dst, &third};
		check_refs(pts, 3);
		unmap_all_put(&third, &L);
		mmk_pt_destroy(&third);
		unmap_all_put(&dst, &L);
		unmap_all_put(&src, &L);
		mmk_pt_destroy(&dst);
		mmk_pt_destroy(&src);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

/* Arguments: the contract's errors, nothing changed. */
static void clone_checks_arguments(void **state)
{
	(void)state;
	struct mmk_pt src, dst;
	FOR_EACH_FORMAT(src, id)
	{
		long live = live0;
		struct layout L;
		layout_of(&src, &L);
		map_page(&src, L.lo, new_frame(&L), MMK_PT_RW);
		assert_true(pt_new(&dst, id));
		assert_int_equal(do_clone(&src, &src, L.lo, L.hi, CLONE_COW),
				 MMK_EINVAL);
		assert_int_equal(
			do_clone(&dst, &src, L.lo, L.hi,
				 MMK_PT_CLONE_SHARE | MMK_PT_CLONE_GET),
			MMK_EINVAL);
		assert_int_equal(
			do_clone(&dst, &src, L.lo + 8, L.hi, CLONE_COW),
			MMK_EALIGN);
		assert_int_equal(do_clone(&dst, &src, L.hi, L.lo, CLONE_COW),
				 MMK_ERANGE);
		/* something mapped in dst's range */
		map_page(&dst, L.hi - L.page, new_frame(&L), MMK_PT_RW);
		assert_int_equal(do_clone(&dst, &src, L.lo, L.hi, CLONE_COW),
				 MMK_EEXIST);
		uint32_t f = 0;
		assert_int_equal(mmk_pt_query(&src, L.lo, NULL, &f, NULL), 0);
		assert_true(f & MMK_PT_WRITE);
		/* unshare: a non-canonical address, nothing changed */
		{
			struct mmk_pt_info in;
			mmk_pt_info(&src, &in);
			uint64_t bad = in.low_end ? in.low_end
						  : in.high_start - L.page;
			struct state s0 = {0};
			state_take(&src, &s0);
			long lv = mmk_hosted_live_frames();
			struct mmk_tlb_gather g;
			mmk_tlb_gather_init(&g, NULL, 0);
			assert_int_equal(mmk_pt_unshare(&src, bad, &g),
					 MMK_ENONCANON);
			assert_true(mmk_tlb_gather_empty(&g));
			mmk_tlb_gather_finish(&g);
			state_same(&src, &s0);
			assert_int_equal(mmk_hosted_live_frames(), lv);
			free(s0.s.v);
		}
		unmap_all_put(&dst, &L);
		unmap_all_put(&src, &L);
		mmk_pt_destroy(&dst);
		mmk_pt_destroy(&src);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

/* -------------------------------------------- the fault path's race */
struct racer {
	struct mmk_pt *pt;
	const struct layout *L;
	int bad;
};

/* What the fault path does on a write fault: lookup, unshare if shared,
 * look again, replace (here: the same frame made writable). */
static void *racer_main(void *arg)
{
	struct racer *r = arg;
	mmk_hosted_register_cpu();
	const struct layout *L = r->L;
	for (uint64_t va = L->base + 2 * L->T; va < L->base + 3 * L->T;
	     va += L->page) {
		struct mmk_pt_leaf lf;
		if (mmk_pt_lookup(r->pt, va, &lf) != 0)
			continue;
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, NULL, 0);
		if (lf.shared) {
			if (mmk_pt_unshare(r->pt, va, &g) != 0)
				r->bad++;
			if (mmk_pt_lookup(r->pt, va, &lf) != 0)
				r->bad++;
		}
		int err = mmk_pt_replace(r->pt, &lf, lf.pa, MMK_PT_RW, &g);
		if (err != 0 && err != MMK_EAGAIN)
			r->bad++;
		mmk_tlb_gather_finish(&g);
	}
	return NULL;
}

static void fault_path_unshare_raced(void **state)
{
	(void)state;
	struct mmk_pt src, dst;
	FOR_EACH_FORMAT(src, id)
	{
		long live = live0;
		struct layout L;
		forked(&src, &dst, &L, id);
		struct racer r[3] = {
			{&dst, &L, 0}, {&dst, &L, 0}, {&src, &L, 0}};
		pthread_t th[3];
		for (int t = 0; t < 3; t++)
			assert_int_equal(
				pthread_create(&th[t], NULL, racer_main, &r[t]),
				0);
		for (int t = 0; t < 3; t++)
			pthread_join(th[t], NULL);
		for (int t = 0; t < 3; t++)
			assert_int_equal(r[t].bad, 0);
		/* an old table an unshare held last under the shared lock
		 * waits for the next exclusive call: one on each */
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, NULL, 0);
		assert_int_equal(mmk_pt_protect_region(&src, L.base + 7 * L.T,
						       L.page, MMK_PT_READ, &g),
				 0);
		assert_int_equal(mmk_pt_protect_region(&dst, L.base + 7 * L.T,
						       L.page, MMK_PT_READ, &g),
				 0);
		mmk_tlb_gather_finish(&g);
		assert_int_equal(atomic_load(&src.zombies), 0);
		assert_int_equal(atomic_load(&dst.zombies), 0);
		assert_false(shared_at(&dst, page_in(&L, 2)));
		assert_false(shared_at(&src, page_in(&L, 2)));
		uint64_t p1 = 0;
		for (uint64_t va = L.base + 2 * L.T; va < L.base + 3 * L.T;
		     va += L.page) {
			mmk_paddr_t a, b;
			uint32_t fa_ = 0, fb = 0;
			int e1 = mmk_pt_query(&src, va, &a, &fa_, NULL);
			int e2 = mmk_pt_query(&dst, va, &b, &fb, NULL);
			assert_int_equal(e1, e2);
			if (e1)
				continue;
			assert_int_equal(a.v, b.v);
			assert_true(fa_ & fb & MMK_PT_WRITE);
			p1++;
		}
		assert_true(p1 > 0);
		struct mmk_pt *pts[] = {&src, &dst};
		check_refs(pts, 2);
		unmap_all_put(&dst, &L);
		unmap_all_put(&src, &L);
		mmk_pt_destroy(&dst);
		mmk_pt_destroy(&src);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

/*
 * The fault path's unshare takes no gather: mmk_pt_unshare(NULL) says 1
 * when it switched a shared table, 0 when the table is private, and
 * mmk_pt_unshare_flush names what the caller flushes (the first page of
 * the table's span; the whole ASID on riscv64, whose range flush keeps
 * cached table entries).
 */
static void unshare_without_a_gather_names_the_flush(void **state)
{
	(void)state;
	struct mmk_pt p[2];
	FOR_EACH_FORMAT(p[0], id)
	{
		long live = live0;
		struct layout L;
		forked(&p[0], &p[1], &L, id);
		struct mmk_pt *pts[] = {&p[0], &p[1]};
		uint64_t va = page_in(&L, 2);
		struct mmk_pt_leaf lf;
		assert_int_equal(mmk_pt_lookup(&p[1], va, &lf), 0);
		assert_true(lf.shared);
		assert_int_equal(mmk_pt_unshare(&p[1], va, NULL), 1);
		assert_int_equal(mmk_pt_lookup(&p[1], va, &lf), 0);
		assert_false(lf.shared);
		check_refs(pts, 2);
		struct mmk_tlb_range r;
		bool all = mmk_pt_unshare_flush(&p[1], va, &r);
		assert_int_equal(all, id == MMK_PT_RISCV_SV39 ||
					      id == MMK_PT_RISCV_SV48 ||
					      id == MMK_PT_RISCV_SV57);
		assert_int_equal(r.start, L.base + 2 * L.T);
		assert_int_equal(r.end, r.start + L.page);
		/* private now, and a private table of p[0] (table 0) too */
		assert_int_equal(mmk_pt_unshare(&p[1], va, NULL), 0);
		assert_int_equal(mmk_pt_unshare(&p[0], L.base, NULL), 0);
		for (int i = 1; i >= 0; i--) {
			unmap_all_put(&p[i], &L);
			mmk_pt_destroy(&p[i]);
		}
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			unshare_without_a_gather_names_the_flush, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			clone_shares_whole_tables_copies_edges, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			any_edit_unshares_and_other_view_stays, setup,
			teardown),
		cmocka_unit_test_setup_teardown(destroy_lets_shared_tables_go,
						setup, teardown),
		cmocka_unit_test_setup_teardown(three_way_shares, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			clone_failure_at_every_allocation, setup, teardown),
		cmocka_unit_test_setup_teardown(clone_checks_arguments, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			clone_of_shared_without_wrprotect, setup, teardown),
		cmocka_unit_test_setup_teardown(fault_path_unshare_raced, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
