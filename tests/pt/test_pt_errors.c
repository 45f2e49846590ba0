/* SPDX-License-Identifier: MIT */
/*
 * Page tables: every error code pt.h documents, provoked for each function
 * on every format compiled in, and each time the table is checked to be as
 * it was (every leaf, the table pages, the live frames, an empty gather).
 * docs/ERRORS.md names the test of each (function, code) pair;
 * tools/check-errors.py keeps the two in step.
 *
 * The world of every test, per format (ps the base page, p1 the level-1
 * leaf, slot the span of a root slot):
 *
 *   ps          one base page, RW
 *   2 * p1      one level-1 huge page, RW
 *   busy        one root slot borrowed from a second table (copy_from):
 *               edits there are MMK_EBUSY
 */
#include "pt_fixture.h"

#include <stdio.h>
#include <string.h>

static int setup(void **state)
{
	pt_fixture_setup(state);
	mmk_hosted_log_reset(true);
	return 0;
}

#define teardown pt_fixture_teardown

struct world {
	struct mmk_pt *pt;
	struct mmk_pt src; /* lends the busy root slot */
	struct mmk_pt_info in;
	uint64_t ps, p1, slot, busy, bad; /* bad: a non-canonical address */
	struct mmk_tlb_gather g;
};

static void world_init(struct world *w, struct mmk_pt *pt, int id)
{
	memset(w, 0, sizeof(*w));
	w->pt = pt;
	mmk_pt_info(pt, &w->in);
	assert_true(w->in.low_end != 0); /* pt_new makes lower tables */
	w->ps = leaf_size(pt, 0);
	w->p1 = leaf_size(pt, 1);
	assert_int_equal(w->p1, (uint64_t)1 << pt->shift[1]); /* level 1 */
	w->slot = (uint64_t)1 << pt->shift[w->in.levels - 1];
	w->busy = w->in.high_start ? w->in.high_start : w->in.low_end / 2;
	w->bad = w->in.low_end;
	assert_int_equal(
		mmk_pt_map(pt, w->ps, mmk_pa(w->ps), w->ps, MMK_PT_RW, NULL),
		0);
	assert_int_equal(mmk_pt_map(pt, 2 * w->p1, mmk_pa(w->p1), w->p1,
				    MMK_PT_RW, NULL),
			 0);
	assert_int_equal(mmk_pt_create(&w->src, id, pt->opts, fa), 0);
	assert_int_equal(mmk_pt_map(&w->src, w->busy, mmk_pa(0), w->ps,
				    MMK_PT_READ, NULL),
			 0);
	assert_int_equal(mmk_pt_copy_from(pt, &w->src, w->busy, w->slot), 0);
	mmk_tlb_gather_init(&w->g, &cpu0, 0);
}

static void world_fini(struct world *w)
{
	mmk_tlb_gather_finish(&w->g);
	mmk_pt_destroy(w->pt); /* before the table it borrows from */
	mmk_pt_destroy(&w->src);
	assert_int_equal(mmk_hosted_live_frames(), live0);
}

/* What "nothing changed" compares. */
struct before {
	struct snap leaves, src_leaves;
	long tables, src_tables, live;
};

static void take(struct world *w, struct before *b)
{
	memset(b, 0, sizeof(*b));
	snapshot(w->pt, &b->leaves);
	snapshot(&w->src, &b->src_leaves);
	b->tables = mmk_pt_table_pages(w->pt);
	b->src_tables = mmk_pt_table_pages(&w->src);
	b->live = mmk_hosted_live_frames();
}

static void unchanged(struct world *w, struct before *b)
{
	struct before now;
	mmk_hosted_fail_off();
	take(w, &now);
	assert_same(&b->leaves, &now.leaves);
	assert_same(&b->src_leaves, &now.src_leaves);
	assert_int_equal(now.tables, b->tables);
	assert_int_equal(now.src_tables, b->src_tables);
	assert_int_equal(now.live, b->live);
	assert_true(mmk_tlb_gather_empty(&w->g));
	free(b->leaves.v);
	free(b->src_leaves.v);
	free(now.leaves.v);
	free(now.src_leaves.v);
}

/* @call returns @code and changes nothing. */
#define FAILS(w, code, call)                                                   \
	do {                                                                   \
		struct before b_;                                              \
		take((w), &b_);                                                \
		assert_int_equal((call), (code));                              \
		unchanged((w), &b_);                                           \
	} while (0)

/* The same, with the next frame allocation failing. */
#define FAILS_NOMEM(w, call)                                                   \
	do {                                                                   \
		struct before b_;                                              \
		take((w), &b_);                                                \
		mmk_hosted_fail_nth(MMK_FAIL_FRAME, 1);                        \
		assert_int_equal((call), MMK_ENOMEM);                          \
		unchanged((w), &b_);                                           \
	} while (0)

#define FOR_EACH_WORLD(w)                                                      \
	struct mmk_pt pt_;                                                     \
	struct world w;                                                        \
	FOR_EACH_FORMAT(pt_, id_)                                              \
	for (int once_ = (world_init(&w, &pt_, id_), 1); once_;                \
	     once_ = 0, world_fini(&w))

static bool both_halves(const struct world *w)
{
	return w->in.low_end && w->in.high_start;
}

/* ------------------------------------------------------------ formats */
static void pt_format_info_and_create_errors(void **state)
{
	(void)state;
	struct mmk_pt_info in;
	struct mmk_pt pt;
	long live = mmk_hosted_live_frames();
	assert_int_equal(mmk_pt_format_info(MMK_PT_FORMAT_COUNT, &in),
			 MMK_EINVAL);
	assert_int_equal(mmk_pt_format_info((enum mmk_pt_format_id) - 1, &in),
			 MMK_EINVAL);
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_FORMAT_COUNT, 0, fa),
			 MMK_EINVAL);
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++) {
		int err = mmk_pt_format_info(id, &in);
		if (err == MMK_ENOTSUP) {
			/* Not compiled in (builds with a subset). */
			assert_int_equal(mmk_pt_create(&pt, id, 0, fa),
					 MMK_ENOTSUP);
			continue;
		}
		assert_int_equal(err, 0);
		assert_int_equal(mmk_pt_create(&pt, id, 0, NULL), MMK_EINVAL);
		assert_int_equal(mmk_pt_create(NULL, id, 0, fa), MMK_EINVAL);
		/* An option no format knows. */
		assert_int_equal(mmk_pt_create(&pt, id, 1u << 30, fa),
				 MMK_ENOTSUP);
		mmk_hosted_fail_nth(MMK_FAIL_FRAME, 1);
		assert_int_equal(mmk_pt_create(&pt, id, 0, fa), MMK_ENOMEM);
		mmk_hosted_fail_off();
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
	/* An option another architecture's format has. */
	if (mmk_pt_format_info(MMK_PT_X86_64_4L, &in) == 0)
		assert_int_equal(mmk_pt_create(&pt, MMK_PT_X86_64_4L,
					       MMK_PT_OPT_SVPBMT, fa),
				 MMK_ENOTSUP);
	assert_int_equal(mmk_hosted_live_frames(), live);
}

/* --------------------------------------------------------- single maps */
typedef int (*map1_fn)(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
		       uint64_t page_size, uint32_t flags);

static int map1_plain(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
		      uint64_t page_size, uint32_t flags)
{
	return mmk_pt_map(pt, va, pa, page_size, flags, NULL);
}

/* Through a cursor filled by a map next to @va first (so that the hit
 * path sees the call when it can), base pages only. */
static int map1_cursor(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
		       uint64_t page_size, uint32_t flags)
{
	assert_int_equal(page_size, leaf_size(pt, 0));
	struct mmk_pt_cursor c;
	mmk_pt_cursor_init(&c, pt);
	return mmk_pt_map_cursor(&c, va, pa, flags, NULL);
}

static void single_map_errors(map1_fn map, bool any_size)
{
	FOR_EACH_WORLD(w)
	{
		uint64_t ps = w.ps;
		struct mmk_pt *pt = w.pt;
		FAILS(&w, MMK_EWRAP,
		      map(pt, UINT64_MAX, mmk_pa(0), ps, MMK_PT_READ));
		FAILS(&w, MMK_EALIGN,
		      map(pt, 4 * ps + 8, mmk_pa(0), ps, MMK_PT_READ));
		FAILS(&w, MMK_EALIGN,
		      map(pt, 4 * ps, mmk_pa(8), ps, MMK_PT_READ));
		FAILS(&w, MMK_ENONCANON,
		      map(pt, w.bad, mmk_pa(0), ps, MMK_PT_READ));
		if (w.in.pa_bits < 64)
			FAILS(&w, MMK_ERANGE,
			      map(pt, 4 * ps,
				  mmk_pa((uint64_t)1 << w.in.pa_bits), ps,
				  MMK_PT_READ));
		FAILS(&w, MMK_EBUSY,
		      map(pt, w.busy + 4 * ps, mmk_pa(0), ps, MMK_PT_READ));
		FAILS(&w, MMK_ENOTSUP,
		      map(pt, 4 * ps, mmk_pa(0), ps, 1u << 20));
		if (any_size) {
			FAILS(&w, MMK_ENOTSUP,
			      map(pt, 4 * ps, mmk_pa(0), 2 * ps, MMK_PT_READ));
			/* EALIGN for a huge page: va inside it */
			FAILS(&w, MMK_EALIGN,
			      map(pt, 8 * w.p1 + ps, mmk_pa(0), w.p1,
				  MMK_PT_READ));
			/* a huge page over a table holding a page */
			FAILS(&w, MMK_EEXIST,
			      map(pt, 0, mmk_pa(0), w.p1, MMK_PT_READ));
		}
		/* a page over a page, and inside a huge page */
		FAILS(&w, MMK_EEXIST, map(pt, ps, mmk_pa(0), ps, MMK_PT_READ));
		FAILS(&w, MMK_EEXIST,
		      map(pt, 2 * w.p1 + ps, mmk_pa(0), ps, MMK_PT_READ));
		/* a new leaf table is needed there */
		FAILS_NOMEM(&w, map(pt, 8 * w.p1, mmk_pa(0), ps, MMK_PT_READ));
	}
}

static void pt_map_errors_change_nothing(void **state)
{
	(void)state;
	single_map_errors(map1_plain, true);
}

static void pt_map_cursor_errors_change_nothing(void **state)
{
	(void)state;
	single_map_errors(map1_cursor, false);
	/* The hit path: a cursor filled at a neighbour refuses a mapped
	 * page with EEXIST and leaves it. */
	FOR_EACH_WORLD(w)
	{
		struct mmk_pt_cursor c;
		mmk_pt_cursor_init(&c, w.pt);
		assert_int_equal(
			mmk_pt_map_cursor(&c, 0, mmk_pa(0), MMK_PT_READ, NULL),
			0);
		assert_int_not_equal(c.tag, MMK_PT_CURSOR_NONE);
		FAILS(&w, MMK_EEXIST,
		      mmk_pt_map_cursor(&c, w.ps, mmk_pa(0), MMK_PT_READ,
					NULL));
		FAILS(&w, MMK_EALIGN,
		      mmk_pt_map_cursor(&c, 2 * w.ps, mmk_pa(8), MMK_PT_READ,
					NULL));
	}
}

/* ------------------------------------------------- lookups and queries */
static void pt_lookup_query_errors(void **state)
{
	(void)state;
	FOR_EACH_WORLD(w)
	{
		struct mmk_pt_leaf lf;
		FAILS(&w, MMK_ENONCANON, mmk_pt_lookup(w.pt, w.bad, &lf));
		FAILS(&w, MMK_ENOENT, mmk_pt_lookup(w.pt, 4 * w.ps, &lf));
		FAILS(&w, MMK_ENONCANON,
		      mmk_pt_query(w.pt, w.bad, NULL, NULL, NULL));
		FAILS(&w, MMK_ENOENT,
		      mmk_pt_query(w.pt, 4 * w.ps, NULL, NULL, NULL));
	}
}

static void pt_replace_errors_change_nothing(void **state)
{
	(void)state;
	FOR_EACH_WORLD(w)
	{
		struct mmk_pt_leaf old, bad;
		struct mmk_pt *pt = w.pt;
		assert_int_equal(mmk_pt_lookup(pt, w.ps, &old), 0);
		mmk_paddr_t pa = mmk_pa(3 * w.ps);
		bad = old;
		bad.page_size = 0;
		FAILS(&w, MMK_EWRAP,
		      mmk_pt_replace(pt, &bad, pa, MMK_PT_READ, &w.g));
		bad = old;
		bad.va += 8;
		FAILS(&w, MMK_EALIGN,
		      mmk_pt_replace(pt, &bad, pa, MMK_PT_READ, &w.g));
		bad = old;
		bad.va = w.bad;
		FAILS(&w, MMK_ENONCANON,
		      mmk_pt_replace(pt, &bad, pa, MMK_PT_READ, &w.g));
		bad = old;
		bad.level = 1;
		FAILS(&w, MMK_EINVAL,
		      mmk_pt_replace(pt, &bad, pa, MMK_PT_READ, &w.g));
		bad.level = w.in.levels;
		FAILS(&w, MMK_EINVAL,
		      mmk_pt_replace(pt, &bad, pa, MMK_PT_READ, &w.g));
		struct mmk_pt_leaf lent;
		assert_int_equal(mmk_pt_lookup(pt, w.busy, &lent), 0);
		FAILS(&w, MMK_EBUSY,
		      mmk_pt_replace(pt, &lent, pa, MMK_PT_READ, &w.g));
		FAILS(&w, MMK_EALIGN,
		      mmk_pt_replace(pt, &old, mmk_pa(8), MMK_PT_READ, &w.g));
		if (w.in.pa_bits < 64)
			FAILS(&w, MMK_ERANGE,
			      mmk_pt_replace(
				      pt, &old,
				      mmk_pa((uint64_t)1 << w.in.pa_bits),
				      MMK_PT_READ, &w.g));
		FAILS(&w, MMK_ENOTSUP,
		      mmk_pt_replace(pt, &old, pa, 1u << 20, &w.g));
		/* The entry changed since it was read. */
		bad = old;
		bad.raw ^= (uint64_t)1 << 40;
		FAILS(&w, MMK_EAGAIN,
		      mmk_pt_replace(pt, &bad, pa, MMK_PT_READ, &w.g));
	}
}

static void pt_fit_flags_errors(void **state)
{
	(void)state;
	FOR_EACH_WORLD(w)
	{
		uint32_t have = 0x1234;
		FAILS(&w, MMK_EINVAL, mmk_pt_fit_flags(w.pt, 1u << 20, &have));
		assert_int_equal(have, 0x1234);
	}
	/* riscv64 without Svpbmt has no memory types at all. */
	struct mmk_pt pt;
	if (mmk_pt_create(&pt, MMK_PT_RISCV_SV39, 0, fa) == 0) {
		uint32_t have = 0x1234;
		assert_int_equal(mmk_pt_fit_flags(&pt,
						  MMK_PT_RW | MMK_PT_MT_DEVICE,
						  &have),
				 MMK_ENOTSUP);
		assert_int_equal(have, 0x1234);
		mmk_pt_destroy(&pt);
	}
}

/* ----------------------------------------------- single unmap, protect */
static void pt_unmap_errors_change_nothing(void **state)
{
	(void)state;
	FOR_EACH_WORLD(w)
	{
		struct mmk_pt_leaf out;
		struct mmk_pt *pt = w.pt;
		FAILS(&w, MMK_EWRAP, mmk_pt_unmap(pt, UINT64_MAX, &w.g, &out));
		FAILS(&w, MMK_EALIGN, mmk_pt_unmap(pt, w.ps + 8, &w.g, &out));
		/* inside a huge page */
		FAILS(&w, MMK_EALIGN,
		      mmk_pt_unmap(pt, 2 * w.p1 + w.ps, &w.g, &out));
		FAILS(&w, MMK_ENONCANON, mmk_pt_unmap(pt, w.bad, &w.g, &out));
		FAILS(&w, MMK_EBUSY, mmk_pt_unmap(pt, w.busy, &w.g, &out));
		FAILS(&w, MMK_ENOENT, mmk_pt_unmap(pt, 4 * w.ps, &w.g, &out));
	}
}

static void pt_protect_errors_change_nothing(void **state)
{
	(void)state;
	FOR_EACH_WORLD(w)
	{
		struct mmk_pt *pt = w.pt;
		uint32_t r = MMK_PT_READ;
		FAILS(&w, MMK_EWRAP, mmk_pt_protect(pt, UINT64_MAX, r, &w.g));
		FAILS(&w, MMK_EALIGN, mmk_pt_protect(pt, w.ps + 8, r, &w.g));
		FAILS(&w, MMK_EALIGN,
		      mmk_pt_protect(pt, 2 * w.p1 + w.ps, r, &w.g));
		FAILS(&w, MMK_ENONCANON, mmk_pt_protect(pt, w.bad, r, &w.g));
		FAILS(&w, MMK_EBUSY, mmk_pt_protect(pt, w.busy, r, &w.g));
		FAILS(&w, MMK_ENOTSUP,
		      mmk_pt_protect(pt, w.ps, 1u << 20, &w.g));
		FAILS(&w, MMK_ENOENT, mmk_pt_protect(pt, 4 * w.ps, r, &w.g));
	}
}

/* ------------------------------------------------------------ regions */
enum region_kind { REGION_PLAIN, REGION_FN, REGION_RESERVE };

/* mmk_pt_map_region_fn's address: @ctx is the offset pa - va. */
static mmk_paddr_t pa_at(void *ctx, mmk_vaddr_t va)
{
	return mmk_pa(va + *(uint64_t *)ctx);
}

static int region_map(struct world *w, enum region_kind k, mmk_vaddr_t va,
		      mmk_paddr_t pa, uint64_t size, uint32_t flags,
		      unsigned opts)
{
	uint64_t off = pa.v - va;
	struct mmk_pt_resv r;
	int err;
	switch (k) {
	case REGION_PLAIN:
		return mmk_pt_map_region(w->pt, va, pa, size, flags, opts,
					 &w->g);
	case REGION_FN:
		return mmk_pt_map_region_fn(w->pt, va, size, flags, opts, pa_at,
					    &off, &w->g);
	default:
		mmk_pt_resv_init(&r, w->pt);
		err = mmk_pt_reserve_map(w->pt, &r, va, pa, size, flags, opts);
		assert_true(err != 0); /* only failures here */
		assert_int_equal(r.n, 0);
		mmk_pt_resv_release(&r);
		return err;
	}
}

static void region_map_errors(enum region_kind k)
{
	FOR_EACH_WORLD(w)
	{
		uint64_t ps = w.ps;
		uint32_t rd = MMK_PT_READ;
		FAILS(&w, MMK_EWRAP,
		      region_map(&w, k, ps, mmk_pa(0), 0, rd, 0));
		FAILS(&w, MMK_EWRAP,
		      region_map(&w, k, -ps, mmk_pa(0), 2 * ps, rd, 0));
		FAILS(&w, MMK_EALIGN,
		      region_map(&w, k, 4 * ps, mmk_pa(0), ps + 8, rd, 0));
		FAILS(&w, MMK_EALIGN,
		      region_map(&w, k, 4 * ps + 8, mmk_pa(0), ps, rd, 0));
		FAILS(&w, MMK_ENONCANON,
		      region_map(&w, k, w.bad, mmk_pa(0), ps, rd, 0));
		if (both_halves(&w))
			FAILS(&w, MMK_ERANGE,
			      region_map(&w, k, w.in.low_end - ps, mmk_pa(0),
					 w.in.high_start - w.in.low_end +
						 2 * ps,
					 rd, 0));
		if (w.in.pa_bits < 64)
			FAILS(&w, MMK_ERANGE,
			      region_map(&w, k, 4 * ps,
					 mmk_pa((uint64_t)1 << w.in.pa_bits),
					 ps, rd, 0));
		FAILS(&w, MMK_EBUSY,
		      region_map(&w, k, w.busy, mmk_pa(0), ps, rd, 0));
		FAILS(&w, MMK_ENOTSUP,
		      region_map(&w, k, 4 * ps, mmk_pa(0), ps, 1u << 20, 0));
		FAILS(&w, MMK_EINVAL,
		      region_map(&w, k, 4 * ps, mmk_pa(0), ps, rd, 0x80));
		FAILS(&w, MMK_EEXIST,
		      region_map(&w, k, 0, mmk_pa(0), 4 * ps, rd, 0));
		FAILS(&w, MMK_EEXIST,
		      region_map(&w, k, 2 * w.p1 + ps, mmk_pa(0), ps, rd, 0));
		FAILS_NOMEM(&w,
			    region_map(&w, k, 8 * w.p1, mmk_pa(0), ps, rd, 0));
	}
}

static void pt_map_region_errors_change_nothing(void **state)
{
	(void)state;
	region_map_errors(REGION_PLAIN);
}

static void pt_reserve_map_errors_change_nothing(void **state)
{
	(void)state;
	region_map_errors(REGION_RESERVE);
}

/* The callback's own errors: a NULL one, a misaligned address, an
 * address beyond the format. */
static uint64_t fn_result;

static mmk_paddr_t pa_fixed(void *ctx, mmk_vaddr_t va)
{
	(void)ctx;
	(void)va;
	return mmk_pa(fn_result);
}

static void pt_map_region_fn_errors_change_nothing(void **state)
{
	(void)state;
	region_map_errors(REGION_FN);
	FOR_EACH_WORLD(w)
	{
		FAILS(&w, MMK_EINVAL,
		      mmk_pt_map_region_fn(w.pt, 4 * w.ps, w.ps, MMK_PT_READ, 0,
					   NULL, NULL, &w.g));
		fn_result = 8;
		FAILS(&w, MMK_EALIGN,
		      mmk_pt_map_region_fn(w.pt, 4 * w.ps, w.ps, MMK_PT_READ, 0,
					   pa_fixed, NULL, &w.g));
		if (w.in.pa_bits < 64) {
			fn_result = (uint64_t)1 << w.in.pa_bits;
			FAILS(&w, MMK_ERANGE,
			      mmk_pt_map_region_fn(w.pt, 4 * w.ps, w.ps,
						   MMK_PT_READ, 0, pa_fixed,
						   NULL, &w.g));
		}
	}
}

static void region_edit_errors(bool unmap)
{
	FOR_EACH_WORLD(w)
	{
		uint64_t ps = w.ps;
		struct mmk_pt *pt = w.pt;
		struct mmk_tlb_gather *g = &w.g;
#define EDIT(va, size, flags)                                                  \
	(unmap ? mmk_pt_unmap_region(pt, (va), (size), g, NULL, NULL)          \
	       : mmk_pt_protect_region(pt, (va), (size), (flags), g))
		FAILS(&w, MMK_EWRAP, EDIT(ps, 0, MMK_PT_READ));
		FAILS(&w, MMK_EWRAP, EDIT(-ps, 2 * ps, MMK_PT_READ));
		FAILS(&w, MMK_EALIGN, EDIT(ps, ps + 8, MMK_PT_READ));
		FAILS(&w, MMK_EALIGN, EDIT(ps + 8, ps, MMK_PT_READ));
		FAILS(&w, MMK_ENONCANON, EDIT(w.bad, ps, MMK_PT_READ));
		if (both_halves(&w))
			FAILS(&w, MMK_ERANGE,
			      EDIT(w.in.low_end - ps,
				   w.in.high_start - w.in.low_end + 2 * ps,
				   MMK_PT_READ));
		FAILS(&w, MMK_EBUSY, EDIT(w.busy, ps, MMK_PT_READ));
		if (!unmap)
			FAILS(&w, MMK_ENOTSUP, EDIT(ps, ps, 1u << 20));
		/* one base page out of the huge page: the split's table */
		FAILS_NOMEM(&w, EDIT(2 * w.p1 + ps, ps, MMK_PT_READ));
#undef EDIT
	}
}

static void pt_unmap_region_errors_change_nothing(void **state)
{
	(void)state;
	region_edit_errors(true);
}

static void pt_protect_region_errors_change_nothing(void **state)
{
	(void)state;
	region_edit_errors(false);
}

/* ------------------------------------------------------------ copy_from */
static void pt_copy_from_errors_change_nothing(void **state)
{
	(void)state;
	FOR_EACH_WORLD(w)
	{
		struct mmk_pt *pt = w.pt;
		uint64_t slot = w.slot;
		FAILS(&w, MMK_EINVAL, mmk_pt_copy_from(pt, pt, w.busy, slot));
		/* another format, if this build has two */
		struct mmk_pt other;
		int oid = -1;
		for (int id = 0; id < MMK_PT_FORMAT_COUNT && oid < 0; id++)
			if (id != id_ && mmk_pt_create(&other, id, 0, fa) == 0)
				oid = id;
		if (oid >= 0) {
			FAILS(&w, MMK_EINVAL,
			      mmk_pt_copy_from(pt, &other, 0, slot));
			mmk_pt_destroy(&other);
		}
		FAILS(&w, MMK_EWRAP, mmk_pt_copy_from(pt, &w.src, slot, 0));
		FAILS(&w, MMK_ENONCANON,
		      mmk_pt_copy_from(pt, &w.src, w.bad, slot));
		if (both_halves(&w))
			FAILS(&w, MMK_ERANGE,
			      mmk_pt_copy_from(pt, &w.src, w.in.low_end - slot,
					       w.in.high_start - w.in.low_end +
						       2 * slot));
		FAILS(&w, MMK_EALIGN,
		      mmk_pt_copy_from(pt, &w.src, w.busy + w.ps, slot));
		FAILS(&w, MMK_EALIGN,
		      mmk_pt_copy_from(pt, &w.src, w.busy, slot / 2));
		/* the busy slot is taken already; slot 0 holds our page */
		FAILS(&w, MMK_EEXIST,
		      mmk_pt_copy_from(pt, &w.src, w.busy, slot));
		FAILS(&w, MMK_EEXIST, mmk_pt_copy_from(pt, &w.src, 0, slot));
	}
}

/* ---------------------------------------------------------- reserve_cut */
static void pt_reserve_cut_errors_change_nothing(void **state)
{
	(void)state;
	FOR_EACH_WORLD(w)
	{
		struct mmk_pt_resv r;
		mmk_pt_resv_init(&r, w.pt);
		FAILS(&w, MMK_EALIGN, mmk_pt_reserve_cut(w.pt, &r, w.ps + 8));
		FAILS(&w, MMK_ENONCANON,
		      mmk_pt_reserve_cut(w.pt, &r, w.bad + w.ps));
		FAILS(&w, MMK_EBUSY, mmk_pt_reserve_cut(w.pt, &r, w.busy));
		FAILS_NOMEM(&w, mmk_pt_reserve_cut(w.pt, &r, 2 * w.p1 + w.ps));
		assert_int_equal(r.n, 0);
		/* A reservation already holding pages keeps exactly them. */
		assert_int_equal(mmk_pt_reserve_cut(w.pt, &r, 2 * w.p1 + w.ps),
				 0);
		long held = r.n;
		assert_true(held > 0);
		mmk_hosted_fail_nth(MMK_FAIL_FRAME, 1);
		assert_int_equal(mmk_pt_reserve_map(w.pt, &r, 8 * w.p1,
						    mmk_pa(0), w.ps,
						    MMK_PT_READ, 0),
				 MMK_ENOMEM);
		mmk_hosted_fail_off();
		assert_int_equal(r.n, held);
		mmk_pt_resv_release(&r);
	}
}

/* ----------------------------------------------------------- walk, dump */
static int count_leaf(void *ctx, const struct mmk_pt_leaf *lf)
{
	(void)lf;
	++*(int *)ctx;
	return 0;
}

static void nothing(void *ctx, const char *line)
{
	(void)line;
	++*(int *)ctx;
}

static void pt_walk_and_dump_errors(void **state)
{
	(void)state;
	FOR_EACH_WORLD(w)
	{
		int n = 0;
		uint64_t ps = w.ps;
		struct mmk_pt *pt = w.pt;
		FAILS(&w, MMK_EWRAP, mmk_pt_walk(pt, ps, 0, count_leaf, &n));
		FAILS(&w, MMK_EWRAP,
		      mmk_pt_walk(pt, -ps, 2 * ps, count_leaf, &n));
		FAILS(&w, MMK_ENONCANON,
		      mmk_pt_walk(pt, w.bad, ps, count_leaf, &n));
		if (both_halves(&w))
			FAILS(&w, MMK_ERANGE,
			      mmk_pt_walk(pt, w.in.low_end - ps,
					  w.in.high_start - w.in.low_end +
						  2 * ps,
					  count_leaf, &n));
		assert_int_equal(n, 0);
		FAILS(&w, MMK_EINVAL,
		      mmk_pt_dump(pt, 0, w.in.low_end,
				  (enum mmk_pt_dump_style)99, nothing, &n));
		FAILS(&w, MMK_EWRAP,
		      mmk_pt_dump(pt, ps, 0, MMK_PT_DUMP_RUNS, nothing, &n));
		FAILS(&w, MMK_ENONCANON,
		      mmk_pt_dump(pt, w.bad, ps, MMK_PT_DUMP_RUNS, nothing,
				  &n));
		if (both_halves(&w))
			FAILS(&w, MMK_ERANGE,
			      mmk_pt_dump(pt, w.in.low_end - ps,
					  w.in.high_start - w.in.low_end +
						  2 * ps,
					  MMK_PT_DUMP_RUNS, nothing, &n));
		assert_int_equal(n, 0);
	}
}

/* ------------------------------------------------------------ encodings */
static void pt_encoding_errors(void **state)
{
	(void)state;
	FOR_EACH_WORLD(w)
	{
		uint64_t pte = 0x1234;
		mmk_paddr_t pa = mmk_pa(0x5678);
		uint32_t fl = 0x9abc;
		struct mmk_pt *pt = w.pt;
		unsigned top = w.in.levels - 1;
		FAILS(&w, MMK_EINVAL,
		      mmk_pt_encode_leaf(pt, w.in.levels, mmk_pa(0),
					 MMK_PT_READ, &pte));
		if (!(w.in.page_sizes >> pt->shift[top] & 1))
			FAILS(&w, MMK_ENOTSUP,
			      mmk_pt_encode_leaf(pt, top, mmk_pa(0),
						 MMK_PT_READ, &pte));
		FAILS(&w, MMK_ENOTSUP,
		      mmk_pt_encode_leaf(pt, 0, mmk_pa(0), 1u << 20, &pte));
		FAILS(&w, MMK_EALIGN,
		      mmk_pt_encode_leaf(pt, 0, mmk_pa(8), MMK_PT_READ, &pte));
		FAILS(&w, MMK_EALIGN,
		      mmk_pt_encode_leaf(pt, 1, mmk_pa(w.ps), MMK_PT_READ,
					 &pte));
		if (w.in.pa_bits < 64)
			FAILS(&w, MMK_ERANGE,
			      mmk_pt_encode_leaf(
				      pt, 0,
				      mmk_pa((uint64_t)1 << w.in.pa_bits),
				      MMK_PT_READ, &pte));
		assert_int_equal(pte, 0x1234);
		FAILS(&w, MMK_EINVAL,
		      mmk_pt_decode_leaf(pt, w.in.levels, 0, &pa, &fl));
		FAILS(&w, MMK_ENOENT, mmk_pt_decode_leaf(pt, 0, 0, &pa, &fl));
		/* The root's entry of the mapped page is a table, not a leaf.
		 */
		uint64_t root_e;
		assert_int_equal(mmk_pt_raw_entry(pt, w.ps, top, &root_e), 0);
		FAILS(&w, MMK_ENOENT,
		      mmk_pt_decode_leaf(pt, top, root_e, &pa, &fl));
		assert_int_equal(pa.v, 0x5678);
		assert_int_equal(fl, 0x9abc);
		FAILS(&w, MMK_ENONCANON, mmk_pt_raw_entry(pt, w.bad, 0, &pte));
		FAILS(&w, MMK_EINVAL,
		      mmk_pt_raw_entry(pt, w.ps, w.in.levels, &pte));
		/* level 0 is not reached inside the huge page, nor in a hole */
		FAILS(&w, MMK_ENOENT, mmk_pt_raw_entry(pt, 2 * w.p1, 0, &pte));
		FAILS(&w, MMK_ENOENT, mmk_pt_raw_entry(pt, 8 * w.p1, 0, &pte));
		assert_int_equal(pte, 0x1234);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			pt_format_info_and_create_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(pt_map_errors_change_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			pt_map_cursor_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(pt_lookup_query_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			pt_replace_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(pt_fit_flags_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(pt_unmap_errors_change_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			pt_protect_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			pt_map_region_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			pt_map_region_fn_errors_change_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			pt_reserve_map_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			pt_unmap_region_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			pt_protect_region_errors_change_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			pt_copy_from_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			pt_reserve_cut_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(pt_walk_and_dump_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(pt_encoding_errors, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("pt_errors", tests, NULL, NULL);
}
