/* SPDX-License-Identifier: MIT */
/* Helpers shared by the address-space tests: snapshots and comparisons. */
#ifndef ASPACE_TEST_H
#define ASPACE_TEST_H

#include "mmk_test.h"

#include <mmkit/aspace.h>

#include <stdio.h>
#include <string.h>

#define AS_MAX_AREAS  512
#define AS_MAX_LEAVES 8192

/*
 * Everything the all-or-nothing guarantee covers: the areas, every leaf of
 * the page table (address, physical address, size, flags), the reference
 * count of every mapped frame, the live frame and object counts, the
 * table pages.
 */
struct as_snap {
	size_t nareas;
	struct mmk_aspace_area areas[AS_MAX_AREAS];
	size_t nleaves;
	struct mmk_pt_leaf leaves[AS_MAX_LEAVES];
	int64_t refs[AS_MAX_LEAVES];
	long live_frames, live_objs, tables;
};

static int snap_area(const struct mmk_aspace_area *a, void *arg)
{
	struct as_snap *s = arg;
	assert_true(s->nareas < AS_MAX_AREAS);
	s->areas[s->nareas++] = *a;
	return 0;
}

static int snap_leaf(void *arg, const struct mmk_pt_leaf *l)
{
	struct as_snap *s = arg;
	assert_true(s->nleaves < AS_MAX_LEAVES);
	s->leaves[s->nleaves++] = *l;
	return 0;
}

static inline void as_snapshot(struct mmk_aspace *as, struct mmk_frames *fa,
			       struct as_snap *s)
{
	s->nareas = s->nleaves = 0;
	assert_int_equal(mmk_aspace_foreach_area(as, 0, snap_area, s), 0);
	assert_int_equal(mmk_pt_walk(mmk_aspace_pt(as), as->base,
				     as->end - as->base, snap_leaf, s),
			 0);
	for (size_t i = 0; i < s->nleaves; i++) {
		/* frames outside the allocator (device memory) have none */
		int64_t r = mmk_frame_refcount(fa, s->leaves[i].pa);
		s->refs[i] = r < 0 ? -1 : r;
	}
	s->live_frames = mmk_hosted_live_frames();
	/* mset keeps a bounded reserve of free tree nodes between calls (a
	 * cache, like the frame allocator's per-CPU lists): not live */
	s->live_objs = mmk_hosted_live_objs() - (long)as->areas.nspare_leaf -
		       (long)as->areas.nspare_inner;
	s->tables = mmk_pt_table_pages(mmk_aspace_pt(as));
}

static inline void as_snap_equal(const struct as_snap *a,
				 const struct as_snap *b, const char *what)
{
	if (a->nareas != b->nareas || a->nleaves != b->nleaves ||
	    a->live_frames != b->live_frames || a->live_objs != b->live_objs ||
	    a->tables != b->tables)
		fail_msg("%s: areas %zu/%zu leaves %zu/%zu frames %ld/%ld "
			 "objs %ld/%ld tables %ld/%ld",
			 what, a->nareas, b->nareas, a->nleaves, b->nleaves,
			 a->live_frames, b->live_frames, a->live_objs,
			 b->live_objs, a->tables, b->tables);
	for (size_t i = 0; i < a->nareas; i++) {
		const struct mmk_aspace_area *x = &a->areas[i],
					     *y = &b->areas[i];
		if (x->start != y->start || x->end != y->end ||
		    x->flags != y->flags || x->offset != y->offset ||
		    x->backend != y->backend)
			fail_msg("%s: area %zu differs", what, i);
	}
	for (size_t i = 0; i < a->nleaves; i++) {
		const struct mmk_pt_leaf *x = &a->leaves[i], *y = &b->leaves[i];
		if (x->va != y->va || x->pa.v != y->pa.v ||
		    x->size != y->size || x->flags != y->flags ||
		    a->refs[i] != b->refs[i])
			fail_msg("%s: leaf %zu (va %#llx) differs", what, i,
				 (unsigned long long)x->va);
	}
}

/* Format @id is compiled in and has 4 KiB base pages (2 MiB huge pages
 * exist on every such format); its description in *@info. */
static inline bool as_format_4k(int id, struct mmk_pt_info *info)
{
	return mmk_pt_format_info((enum mmk_pt_format_id)id, info) == 0 &&
	       info->page_shift == 12;
}

/* Lines of a dump, kept for comparison. */
struct lines {
	int n;
	char l[8][128];
};

static inline void take_line(void *ctx, const char *line)
{
	struct lines *d = ctx;
	if (d->n < 8)
		snprintf(d->l[d->n++], 128, "%s", line);
}

/* Valid area flag sets of the format of @as, from a fixed list. */
static inline unsigned as_valid_flags(struct mmk_aspace *as, uint32_t *out)
{
	static const uint32_t cand[] = {
		MMK_PT_READ,
		MMK_PT_RW,
		MMK_PT_RX,
		MMK_PT_RWX,
		0,
		MMK_PT_RW | MMK_PT_USER,
		MMK_PT_READ | MMK_PT_USER,
		MMK_PT_WRITE,
		MMK_PT_EXEC,
	};
	unsigned n = 0;
	for (size_t i = 0; i < MMK_ARRAY_SIZE(cand); i++) {
		uint64_t pte;
		if (mmk_pt_encode_leaf(mmk_aspace_pt(as), 0, mmk_pa(0), cand[i],
				       &pte) == 0)
			out[n++] = cand[i];
	}
	return n;
}

#endif
