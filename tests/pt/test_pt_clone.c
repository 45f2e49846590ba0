/* SPDX-License-Identifier: MIT */
/*
 * mmk_pt_clone_range, its contract only (include/mmkit/pt.h), on every
 * format: whichever body it has (the simple copy of src/pt/clone.c or the
 * engine's, which shares leaf tables) must pass these.
 *
 *   src, for each format (P = base page, H = the level-1 leaf size):
 *     [A, A + H)           one whole leaf table of base pages, RW
 *     [A + H, +3P)         base pages: R, RW, PROT_NONE
 *     [A + 2H, A + 3H)     one huge leaf, RW
 *     [A + 3H + P, +P)     RW, outside the cloned range
 *   cloned range: [A, A + 3H)
 */
#include "pt_fixture.h"

#include <mmkit/frame.h>

#define AD (MMK_PT_ACCESSED | MMK_PT_DIRTY)

struct layout {
	uint64_t ps, huge, a;
	mmk_vaddr_t start, end;
	mmk_paddr_t hpa;
};

static uint64_t order_of(uint64_t size)
{
	return (uint64_t)__builtin_ctzll(size) - MMK_PAGE_SHIFT;
}

static void map_frame(struct mmk_pt *pt, mmk_vaddr_t va, uint64_t size,
		      uint32_t flags, mmk_paddr_t *out)
{
	mmk_paddr_t pa;
	assert_int_equal(mmk_frame_alloc(fa, (unsigned)order_of(size),
					 MMK_FRAME_ZERO, &pa),
			 0);
	assert_int_equal(mmk_pt_map(pt, va, pa, size, flags, NULL), 0);
	if (out)
		*out = pa;
}

/* Build src; false if the format has no level-1 leaves. */
static bool build(struct mmk_pt *src, struct layout *l)
{
	struct mmk_pt_info in;
	mmk_pt_info(src, &in);
	l->ps = (uint64_t)1 << in.page_shift;
	l->huge = leaf_size(src, 1);
	if (!l->huge || !in.low_end)
		return false;
	l->a = 4 * l->huge;
	l->start = l->a;
	l->end = l->a + 3 * l->huge;
	for (uint64_t va = l->a; va < l->a + l->huge; va += l->ps)
		map_frame(src, va, l->ps, MMK_PT_RW, NULL);
	map_frame(src, l->a + l->huge, l->ps, MMK_PT_READ, NULL);
	map_frame(src, l->a + l->huge + l->ps, l->ps, MMK_PT_RW, NULL);
	map_frame(src, l->a + l->huge + 2 * l->ps, l->ps, 0, NULL);
	map_frame(src, l->a + 2 * l->huge, l->huge, MMK_PT_RW, &l->hpa);
	map_frame(src, l->a + 3 * l->huge + l->ps, l->ps, MMK_PT_RW, NULL);
	return true;
}

static const char *fmt_name(const struct mmk_pt *pt)
{
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	return in.name;
}

static void refs_are(const struct snap *s, int64_t want)
{
	for (size_t i = 0; i < s->n; i++)
		assert_int_equal(mmk_frame_refcount(fa, s->v[i].pa), want);
}

/* Free every frame src maps (one put each) and its tables. */
static void teardown_src(struct mmk_pt *src)
{
	struct snap s = {0};
	snapshot(src, &s);
	unmap_all(src);
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(mmk_frame_put(fa, s.v[i].pa), 1);
	free(s.v);
	mmk_pt_destroy(src);
}

static void leaves_in(const struct snap *all, mmk_vaddr_t start,
		      mmk_vaddr_t end, struct snap *out)
{
	out->n = 0;
	for (size_t i = 0; i < all->n; i++)
		if (all->v[i].va >= start && all->v[i].va < end)
			snap_leaf(out, &all->v[i]);
}

static void clone_copies_leaves_and_write_protects_both(void **state)
{
	(void)state;
	struct mmk_pt src, dst;
	FOR_EACH_FORMAT(src, id)
	{
		struct layout l;
		if (!build(&src, &l)) {
			teardown_src(&src);
			continue;
		}
		assert_true(pt_new(&dst, id));
		struct snap before = {0}, after = {0}, copy = {0}, in = {0};
		snapshot(&src, &before);
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, &cpu0, 0);
		assert_int_equal(
			mmk_pt_clone_range(&dst, &src, l.start, l.end,
					   MMK_PT_CLONE_GET |
						   MMK_PT_CLONE_WRPROTECT |
						   MMK_PT_CLONE_SHARE,
					   &g),
			0);
		snapshot(&src, &after);
		snapshot(&dst, &copy);
		leaves_in(&before, l.start, l.end, &in);
		/* dst: exactly the leaves of the range, huge as huge,
		 * without WRITE */
		assert_int_equal(copy.n, in.n);
		assert_int_equal(after.n, before.n);
		for (size_t i = 0; i < in.n; i++) {
			assert_int_equal(copy.v[i].va, in.v[i].va);
			assert_int_equal(copy.v[i].pa.v, in.v[i].pa.v);
			assert_int_equal(copy.v[i].page_size,
					 in.v[i].page_size);
			assert_int_equal(copy.v[i].flags & ~AD,
					 in.v[i].flags & ~AD & ~MMK_PT_WRITE);
			/* one reference per table mapping it: a shared leaf
			 * table (SHARE) counts once for both */
			assert_int_equal(mmk_frame_refcount(fa, in.v[i].pa),
					 copy.v[i].shared ? 1 : 2);
		}
		/* src: the range lost WRITE (and was recorded), the rest
		 * did not */
		bool wrote = false;
		for (size_t i = 0; i < before.n; i++) {
			bool inside = before.v[i].va >= l.start &&
				      before.v[i].va < l.end;
			uint32_t want = before.v[i].flags & ~AD;
			if (inside)
				want &= ~MMK_PT_WRITE;
			wrote |= inside && (before.v[i].flags & MMK_PT_WRITE);
			assert_int_equal(after.v[i].flags & ~AD, want);
			assert_int_equal(after.v[i].pa.v, before.v[i].pa.v);
		}
		assert_true(wrote);
		assert_false(mmk_tlb_gather_empty(&g));
		mmk_tlb_gather_finish(&g);
		/* the child's references go with its leaves */
		struct mmk_tlb_gather d;
		mmk_tlb_gather_init(&d, NULL, 0);
		for (size_t i = 0; i < copy.n; i++)
			if (!copy.v[i].shared)
				assert_int_equal(
					mmk_frame_put(fa, copy.v[i].pa), 0);
		assert_int_equal(mmk_pt_unmap_region(&dst, l.start,
						     l.end - l.start, &d, NULL,
						     NULL),
				 0);
		mmk_tlb_gather_finish(&d);
		assert_int_equal(mmk_pt_table_pages(&dst), 1);
		mmk_pt_destroy(&dst);
		leaves_in(&after, l.start, l.end, &in);
		refs_are(&in, 1);
		teardown_src(&src);
		assert_int_equal(mmk_hosted_live_frames(), live0);
		free(before.v);
		free(after.v);
		free(copy.v);
		free(in.v);
	}
}

static void clone_without_get_or_wrprotect_leaves_src_alone(void **state)
{
	(void)state;
	struct mmk_pt src, dst;
	FOR_EACH_FORMAT(src, id)
	{
		struct layout l;
		if (!build(&src, &l)) {
			teardown_src(&src);
			continue;
		}
		assert_true(pt_new(&dst, id));
		struct snap before = {0}, after = {0}, copy = {0}, in = {0};
		snapshot(&src, &before);
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, &cpu0, 0);
		/* a sub-range starting inside the leaf table */
		mmk_vaddr_t s = l.start + 3 * l.ps;
		assert_int_equal(
			mmk_pt_clone_range(&dst, &src, s, l.end, 0, &g), 0);
		assert_true(mmk_tlb_gather_empty(&g));
		snapshot(&src, &after);
		assert_same(&before, &after);
		snapshot(&dst, &copy);
		leaves_in(&before, s, l.end, &in);
		assert_int_equal(copy.n, in.n);
		for (size_t i = 0; i < in.n; i++) {
			assert_int_equal(copy.v[i].va, in.v[i].va);
			assert_int_equal(copy.v[i].flags & ~AD,
					 in.v[i].flags & ~AD);
		}
		refs_are(&before, 1);
		unmap_all(&dst);
		mmk_pt_destroy(&dst);
		teardown_src(&src);
		assert_int_equal(mmk_hosted_live_frames(), live0);
		free(before.v);
		free(after.v);
		free(copy.v);
		free(in.v);
	}
}

static void clone_refuses_bad_input_and_changes_nothing(void **state)
{
	(void)state;
	struct mmk_pt src, dst, other;
	FOR_EACH_FORMAT(src, id)
	{
		struct layout l;
		if (!build(&src, &l)) {
			teardown_src(&src);
			continue;
		}
		assert_true(pt_new(&dst, id));
		assert_true(pt_new(&other, id == 0 ? 2 : 0));
		struct snap before = {0}, after = {0}, d = {0};
		snapshot(&src, &before);
		long live = mmk_hosted_live_frames();
		struct mmk_tlb_gather g;
		mmk_tlb_gather_init(&g, &cpu0, 0);
		unsigned all = MMK_PT_CLONE_GET | MMK_PT_CLONE_WRPROTECT |
			       MMK_PT_CLONE_SHARE;
		assert_int_equal(
			mmk_pt_clone_range(&src, &src, l.start, l.end, all, &g),
			MMK_EINVAL);
		assert_int_equal(mmk_pt_clone_range(&other, &src, l.start,
						    l.end, all, &g),
				 MMK_EINVAL);
		assert_int_equal(mmk_pt_clone_range(&dst, &src, l.start, l.end,
						    1u << 7, &g),
				 MMK_EINVAL);
		assert_int_equal(mmk_pt_clone_range(&dst, &src, l.start, l.end,
						    MMK_PT_CLONE_SHARE |
							    MMK_PT_CLONE_GET,
						    &g),
				 MMK_EINVAL);
		assert_int_equal(mmk_pt_clone_range(&dst, &src, l.start + 8,
						    l.end, all, &g),
				 MMK_EALIGN);
		assert_int_equal(mmk_pt_clone_range(&dst, &src, l.start,
						    l.end - 8, all, &g),
				 MMK_EALIGN);
		assert_int_equal(
			mmk_pt_clone_range(&dst, &src, l.end, l.start, all, &g),
			MMK_ERANGE);
		/* a huge leaf across either end */
		mmk_vaddr_t hmid = l.a + 2 * l.huge + l.ps;
		assert_int_equal(
			mmk_pt_clone_range(&dst, &src, hmid, l.end, all, &g),
			MMK_ERANGE);
		assert_int_equal(
			mmk_pt_clone_range(&dst, &src, l.start, hmid, all, &g),
			MMK_ERANGE);
		/* an empty range copies nothing */
		assert_int_equal(mmk_pt_clone_range(&dst, &src, l.start,
						    l.start, all, &g),
				 0);
		/* something mapped in dst's range */
		mmk_paddr_t pa;
		map_frame(&dst, l.end - l.huge - l.ps, l.ps, MMK_PT_READ, &pa);
		struct snap d0 = {0};
		snapshot(&dst, &d0);
		long live2 = mmk_hosted_live_frames();
		assert_int_equal(
			mmk_pt_clone_range(&dst, &src, l.start, l.end, all, &g),
			MMK_EEXIST);
		assert_int_equal(mmk_hosted_live_frames(), live2);
		snapshot(&dst, &d);
		assert_same(&d0, &d);
		unmap_all(&dst);
		assert_int_equal(mmk_frame_put(fa, pa), 1);
		assert_true(mmk_tlb_gather_empty(&g));
		snapshot(&src, &after);
		assert_same(&before, &after);
		refs_are(&before, 1);
		assert_int_equal(mmk_hosted_live_frames(), live);
		mmk_pt_destroy(&dst);
		mmk_pt_destroy(&other);
		teardown_src(&src);
		assert_int_equal(mmk_hosted_live_frames(), live0);
		free(before.v);
		free(after.v);
		free(d.v);
		free(d0.v);
	}
}

/*
 * The n-th frame allocation fails, n = 1, 2, ... until the clone
 * succeeds: each failure leaves dst empty (its root alone), src exactly
 * as it was (flags included), every count as it was, nothing recorded.
 */
static void clone_is_all_or_nothing_under_allocation_failure(void **state)
{
	(void)state;
	struct mmk_pt src, dst;
	FOR_EACH_FORMAT(src, id)
	{
		struct layout l;
		if (!build(&src, &l)) {
			teardown_src(&src);
			continue;
		}
		assert_true(pt_new(&dst, id));
		struct snap before = {0}, after = {0}, d = {0};
		snapshot(&src, &before);
		long live = mmk_hosted_live_frames();
		long dtables = mmk_pt_table_pages(&dst);
		int err = MMK_ENOMEM;
		long n;
		for (n = 1; err == MMK_ENOMEM; n++) {
			struct mmk_tlb_gather g;
			mmk_tlb_gather_init(&g, &cpu0, 0);
			mmk_hosted_fail_nth(MMK_FAIL_FRAME, n);
			err = mmk_pt_clone_range(
				&dst, &src, l.start, l.end,
				MMK_PT_CLONE_GET | MMK_PT_CLONE_WRPROTECT |
					MMK_PT_CLONE_SHARE,
				&g);
			mmk_hosted_fail_off();
			if (err == 0) {
				mmk_tlb_gather_finish(&g);
				break;
			}
			assert_int_equal(err, MMK_ENOMEM);
			assert_true(mmk_tlb_gather_empty(&g));
			mmk_tlb_gather_finish(&g);
			snapshot(&src, &after);
			assert_same(&before, &after);
			refs_are(&before, 1);
			snapshot(&dst, &d);
			assert_int_equal(d.n, 0);
			assert_int_equal(mmk_pt_table_pages(&dst), dtables);
			assert_int_equal(mmk_hosted_live_frames(), live);
			assert_true(n < 10000);
		}
		print_message("%-22s clone: %ld allocation failures undone\n",
			      fmt_name(&src), n - 1);
		assert_true(n > 1);
		snapshot(&dst, &d);
		for (size_t i = 0; i < d.n; i++)
			if (!d.v[i].shared)
				assert_int_equal(mmk_frame_put(fa, d.v[i].pa),
						 0);
		unmap_all(&dst);
		mmk_pt_destroy(&dst);
		teardown_src(&src);
		assert_int_equal(mmk_hosted_live_frames(), live0);
		free(before.v);
		free(after.v);
		free(d.v);
	}
}

static int setup(void **state)
{
	return pt_fixture_setup(state);
}

static int teardown(void **state)
{
	return pt_fixture_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			clone_copies_leaves_and_write_protects_both, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			clone_without_get_or_wrprotect_leaves_src_alone, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			clone_refuses_bad_input_and_changes_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			clone_is_all_or_nothing_under_allocation_failure, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
