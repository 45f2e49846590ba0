/* SPDX-License-Identifier: MIT */
/*
 * The fixture every page-table test shares: a hosted arena, one frame
 * allocator per test, CPU 0, and the helpers to create a table of each
 * format, encode a leaf, take and compare leaf snapshots.
 */
#ifndef MMK_PT_FIXTURE_H
#define MMK_PT_FIXTURE_H

#include "mmk_test.h"

#include <mmkit/pt.h>

#include <string.h>

static struct mmk_frames *fa __attribute__((unused));
static mmk_cpumask_t cpu0 __attribute__((unused)) = {{1}};

static inline int pt_fixture_setup(void **state)
{
	(void)state;
	mmk_hosted_init(MMK_GIB);
	mmk_hosted_fail_off();
	fa = mmk_hosted_frames_new();
	mmk_cpumask_clear(&cpu0);
	mmk_cpumask_set(&cpu0, 0);
	return 0;
}

static inline int pt_fixture_teardown(void **state)
{
	(void)state;
	mmk_hosted_frames_destroy(fa);
	return 0;
}

/* The raw entry mmk_pt_encode_leaf gives (asserting it succeeds). */
static inline uint64_t enc(struct mmk_pt *pt, unsigned level, uint64_t pa,
			   uint32_t flags)
{
	uint64_t pte = 0;
	assert_int_equal(mmk_pt_encode_leaf(pt, level, mmk_pa(pa), flags, &pte),
			 0);
	return pte;
}

/* Create a table of format @id; false if the format is not compiled in.
 * riscv64 gets Svpbmt so that memory types are exercised too. */
static inline bool pt_new(struct mmk_pt *pt, int id)
{
	int err = mmk_pt_create(pt, id, MMK_PT_OPT_SVPBMT, fa);
	if (err == MMK_ENOTSUP)
		err = mmk_pt_create(pt, id, 0, fa);
	if (err == MMK_ENOTSUP)
		return false;
	assert_int_equal(err, 0);
	return true;
}

/* Live frames before the current format's table was created. */
static long live0 __attribute__((unused));

#define FOR_EACH_FORMAT(pt, id)                                                \
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++)                       \
		if ((live0 = mmk_hosted_live_frames()), pt_new(&(pt), id))

/* Size of the leaves of @level (geometry from the format itself), 0 if
 * @level holds none. */
static inline uint64_t leaf_size(const struct mmk_pt *pt, unsigned level)
{
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	uint64_t sizes = in.page_sizes;
	for (unsigned l = 0; sizes; l++) {
		uint64_t s = sizes & -sizes;
		if (l == level)
			return s;
		sizes &= sizes - 1;
	}
	return 0;
}

/* --------------------------------------------------- leaf snapshots */
struct snap {
	struct mmk_pt_leaf *v;
	size_t n, cap;
};

static inline int snap_leaf(void *ctx, const struct mmk_pt_leaf *lf)
{
	struct snap *s = ctx;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = *lf;
	return 0;
}

/* Every leaf of @pt, both halves. */
static inline void snapshot(const struct mmk_pt *pt, struct snap *s)
{
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	s->n = 0;
	if (in.low_end)
		assert_int_equal(mmk_pt_walk(pt, 0, in.low_end, snap_leaf, s),
				 0);
	if (in.high_start)
		assert_int_equal(mmk_pt_walk(pt, in.high_start, -in.high_start,
					     snap_leaf, s),
				 0);
}

static inline void assert_same(const struct snap *a, const struct snap *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->v[i].va, b->v[i].va);
		assert_int_equal(a->v[i].pa.v, b->v[i].pa.v);
		assert_int_equal(a->v[i].page_size, b->v[i].page_size);
		assert_int_equal(a->v[i].flags, b->v[i].flags);
	}
}

/* Remove every mapping of @pt (both halves), flushing nothing. */
static inline void unmap_all(struct mmk_pt *pt)
{
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	struct mmk_tlb_gather b;
	mmk_tlb_gather_init(&b, NULL, 0);
	if (in.low_end)
		assert_int_equal(
			mmk_pt_unmap_region(pt, 0, in.low_end, &b, NULL, NULL),
			0);
	if (in.high_start)
		assert_int_equal(mmk_pt_unmap_region(pt, in.high_start,
						     -in.high_start, &b, NULL,
						     NULL),
				 0);
	mmk_tlb_gather_finish(&b);
}

#endif /* MMK_PT_FIXTURE_H */
