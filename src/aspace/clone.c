/* SPDX-License-Identifier: MIT */
/*
 * mmk_aspace_clone: fork.  The child gets a copy of every area the
 * parent's backends do not DROP (each copy given its own hold on priv by
 * the dup hook), then the page-table side of each run of neighbouring
 * areas with one clone mode (holes between them are fine: nothing is
 * mapped there), one mmk_pt_clone_range per run:
 *
 *   mode    what the child gets                     parent
 *   SHARE   the same leaves (GET if OWNS_FRAMES)    unchanged
 *   COW     the same leaves, read-only (GET)        loses WRITE
 *   COPY    copies of the pages in fresh frames     unchanged
 *   DROP    nothing (no area)                       unchanged
 *
 * All or nothing.  Every step that can fail runs before the parent
 * changes, except the clone of one COW run, whose own failure leaves the
 * parent as it was:
 *
 *   1. checks; both locked (parent, then child)
 *   2. the child's areas (mset inserts, dup hooks)
 *   3. the child adopts the parent's zero page (a reference; cannot fail)
 *   4. every run but the largest COW run: SHARE and COPY as above, COW
 *      copied *without* write-protecting anything yet
 *   5. the largest COW run: clone_range with WRPROTECT (and SHARE, so the
 *      engine may share whole leaf tables: the big win is kept for the
 *      run that holds most of the memory)
 *   6. cannot fail: the writable pages of the COW runs of step 4 lose
 *      WRITE in both spaces
 *   then one flush of the parent (its gather, made one full flush if it
 *   holds several ranges), none of the child.
 * A failure in 2, 4 or 5 zaps whatever the child got, releases the dups,
 * empties its set and gives the zero page back: the child is empty, the
 * parent untouched, every count as before.
 *
 * The child must be active nowhere: nothing of it is flushed (it had no
 * mapping in its range before, so no CPU can cache one).
 */
#include "aspace_internal.h"
#include "lib/bits.h"

#define AD_BITS (MMK_PT_ACCESSED | MMK_PT_DIRTY)

/* The mode of @a in a fork of @as.  An area marked MMK_ASPACE_DONTFORK
 * (madvise(MADV_DONTFORK)) stays out of the child whatever its backend
 * says.  A COW area whose pages have no right
 * but WRITE (a write-only area, where the format has them) is copied
 * instead: without WRITE its pages would keep no access at all. */
static enum mmk_clone_mode area_mode(const struct mmk_aspace *as,
				     const struct mmk_mset_area *a)
{
	const struct mmk_backend *b = mmk_backend_of(a);
	if (a->flags & MMK_ASPACE_DONTFORK)
		return MMK_CLONE_DROP;
	enum mmk_clone_mode m = b->clone ? b->clone(a) : MMK_CLONE_COPY;
	if (m == MMK_CLONE_COW &&
	    (mmk_backend_page_flags(as, a->flags) & MMK_PT_RWX) == MMK_PT_WRITE)
		return MMK_CLONE_COPY;
	return m;
}

static bool area_owns(const struct mmk_mset_area *a)
{
	return mmk_backend_of(a)->props & MMK_BACKEND_OWNS_FRAMES;
}

/* A run: neighbouring areas (in address order, DROP ones excluded) with
 * one mode and one OWNS_FRAMES. */
struct run {
	const struct mmk_mset_area *first, *last, *after;
	enum mmk_clone_mode mode;
	bool owns;
};

/* The run starting at @a or the first non-DROP area after it; false at
 * the end of the set. */
static bool run_at(const struct mmk_aspace *as, const struct mmk_mset_area *a,
		   struct run *r)
{
	while (a && area_mode(as, a) == MMK_CLONE_DROP)
		a = mmk_mset_next(&as->areas, a);
	if (!a)
		return false;
	r->first = r->last = a;
	r->mode = area_mode(as, a);
	r->owns = area_owns(a);
	for (r->after = mmk_mset_next(&as->areas, a);
	     r->after && area_mode(as, r->after) == r->mode &&
	     area_owns(r->after) == r->owns;
	     r->after = mmk_mset_next(&as->areas, r->after))
		r->last = r->after;
	return true;
}

#define FOR_EACH_RUN(as, r)                                                    \
	for (bool more_ = run_at(                                              \
		     as, mmk_mset_find_first(&(as)->areas, 0, UINT64_MAX),     \
		     &(r));                                                    \
	     more_; more_ = run_at(as, (r).after, &(r)))

/* ------------------------------------------------------ checks */

static int check_pair(const struct mmk_aspace *p, const struct mmk_aspace *c)
{
	if (!p || !c || p == c)
		return MMK_EINVAL;
	if (p->base != c->base || p->end != c->end ||
	    p->page_size != c->page_size || p->frames != c->frames ||
	    p->pt.fmt != c->pt.fmt || p->pt.opts != c->pt.opts)
		return MMK_EINVAL;
	return 0;
}

/* COPY needs frames the child's zap will put. */
static int check_modes(const struct mmk_aspace *p)
{
	struct run r;
	FOR_EACH_RUN(p, r)
	{
		if (r.mode == MMK_CLONE_COPY && !r.owns)
			return MMK_ENOTSUP;
	}
	return 0;
}

/* ------------------------------------------------------ areas */

/* Insert a copy of every area the child gets; dup hooks. */
static int copy_areas(struct mmk_aspace *p, struct mmk_aspace *c,
		      struct mmk_mset_txn *t)
{
	for (const struct mmk_mset_area *a =
		     mmk_mset_find_first(&p->areas, 0, UINT64_MAX);
	     a; a = mmk_mset_next(&p->areas, a)) {
		if (area_mode(p, a) == MMK_CLONE_DROP)
			continue;
		struct mmk_mset_area tmpl = *a;
		tmpl.link = NULL;
		int err = mmk_mset_prepare_insert(&c->areas, &tmpl,
						  MMK_MSET_NOMERGE, t);
		const struct mmk_backend *b = mmk_backend_of(a);
		if (!err && b->dup) {
			err = b->dup(a, t->area);
			if (err) {
				mmk_mset_abort(&c->areas, t);
				return err < 0 ? err : MMK_EINVAL;
			}
		}
		if (err)
			return err;
		mmk_mset_commit(&c->areas, t);
	}
	return 0;
}

static int undo_one(struct mmk_mset_area *a, void *arg)
{
	struct mmk_aspace_op *op = arg;
	const struct mmk_backend *b = mmk_backend_of(a);
	mmk__as_zap(op, a, a->start, a->end);
	if (b->dup && b->release)
		b->release(a);
	return 0;
}

/* A failed clone: the child is empty again (its zero page restored by
 * the caller afterwards). */
static void child_undo(struct mmk_aspace_op *cop)
{
	struct mmk_aspace *c = cop->as;
	mmk_mset_foreach(&c->areas, 0, undo_one, cop);
	mmk_mset_clear(&c->areas);
}

/* ------------------------------------------------------ zero page */

static uint64_t zero_of(const struct mmk_aspace *as)
{
	return atomic_load_explicit(&as->zero_page, memory_order_acquire);
}

/* The child maps the parent's zero page wherever the parent does, and
 * uses it as its own from now on, with a reference of its own: set
 * before anything can be zapped, so the child's zaps know it. */
struct zero_swap {
	bool swapped;
	uint64_t old; /* the child's own before (0: none) */
};

static void adopt_zero(struct mmk_aspace *p, struct mmk_aspace *c,
		       struct zero_swap *zs)
{
	uint64_t z = zero_of(p);
	zs->swapped = z != 0;
	zs->old = zero_of(c);
	if (!z)
		return;
	int r = mmk_frame_get(c->frames, mmk_pa(z & ~(uint64_t)1));
	MMK_ASSERT(r == 0);
	atomic_store_explicit(&c->zero_page, z, memory_order_release);
}

static void put_zero(struct mmk_aspace *as, uint64_t z)
{
	if (z) {
		int r = mmk_frame_put(as->frames, mmk_pa(z & ~(uint64_t)1));
		MMK_ASSERT(r >= 0);
	}
}

/* Success: the child's old zero page (no leaf maps it: the child was
 * empty) goes.  Failure: the adopted one goes, the old one comes back. */
static void end_zero(struct mmk_aspace *c, const struct zero_swap *zs, bool ok)
{
	if (!zs->swapped)
		return;
	if (ok) {
		put_zero(c, zs->old);
		return;
	}
	put_zero(c, zero_of(c));
	atomic_store_explicit(&c->zero_page, zs->old, memory_order_release);
}

/* ------------------------------------------------------ page tables */

struct copy_ctx {
	struct mmk_aspace *c;
	struct mmk_tlb_gather *cg;
};

/* mmk_pt_walk of the parent: a copy of this leaf into the child (the
 * walk only reads the parent). */
static int copy_leaf(void *arg, const struct mmk_pt_leaf *l)
{
	struct copy_ctx *x = arg;
	mmk_paddr_t pa;
	unsigned order = (unsigned)mmk__ctz64(l->page_size) - MMK_PAGE_SHIFT;
	int err = mmk_frame_alloc(x->c->frames, order, 0, &pa);
	if (err)
		return err;
	__builtin_memcpy(mmk_phys_to_virt(pa), mmk_phys_to_virt(l->pa),
			 l->page_size);
	err = mmk_pt_map(&x->c->pt, l->va, pa, l->page_size,
			 l->flags & ~(uint32_t)AD_BITS, x->cg);
	if (err)
		(void)mmk_frame_free(x->c->frames, pa);
	return err < 0 ? err : 0;
}

static mmk_vaddr_t run_start(const struct run *r)
{
	return r->first->start;
}

static mmk_vaddr_t run_end(const struct run *r)
{
	return r->last->end;
}

/* Step 4 for run @r (not the chosen COW run). */
static int clone_run(struct mmk_aspace *p, struct mmk_aspace *c,
		     const struct run *r, struct mmk_tlb_gather *pg,
		     struct mmk_tlb_gather *cg)
{
	if (r->mode == MMK_CLONE_COPY) {
		struct copy_ctx x = {c, cg};
		return mmk_pt_walk(&p->pt, run_start(r),
				   run_end(r) - run_start(r), copy_leaf, &x);
	}
	return mmk_pt_clone_range(&c->pt, &p->pt, run_start(r), run_end(r),
				  r->owns ? MMK_PT_CLONE_GET : 0, pg);
}

/*
 * Step 6: the writable pages of a COW run lose WRITE in both spaces (the
 * child's are copies of the parent's, leaf for leaf).  Only leaves that
 * have WRITE are edited, so tables the parent shares with an older child
 * (read-only already) are never touched and nothing here can need memory:
 * whole leaves, flags the format took before.  The walk must not see its
 * table change, so it stops when its batch is full.
 */
#define WP_RUNS 8

struct wp_batch {
	unsigned n;
	mmk_vaddr_t next;
	struct {
		mmk_vaddr_t va, end;
		uint32_t flags;
	} run[WP_RUNS];
};

static int wp_collect(void *ctx, const struct mmk_pt_leaf *l)
{
	struct wp_batch *b = ctx;
	if (!(l->flags & MMK_PT_WRITE))
		return 0;
	uint32_t fl = l->flags & ~(uint32_t)(AD_BITS | MMK_PT_WRITE);
	if (b->n && b->run[b->n - 1].end == l->va &&
	    b->run[b->n - 1].flags == fl) {
		b->run[b->n - 1].end = l->va + l->page_size;
		return 0;
	}
	if (b->n == WP_RUNS) {
		b->next = l->va;
		return 1;
	}
	b->run[b->n].va = l->va;
	b->run[b->n].end = l->va + l->page_size;
	b->run[b->n].flags = fl;
	b->n++;
	return 0;
}

static void wrprotect_run(struct mmk_aspace *p, struct mmk_aspace *c,
			  const struct run *r, struct mmk_tlb_gather *pg,
			  struct mmk_tlb_gather *cg)
{
	struct wp_batch b;
	mmk_vaddr_t at = run_start(r), end = run_end(r);
	while (at < end) {
		b.n = 0;
		int w = mmk_pt_walk(&p->pt, at, end - at, wp_collect, &b);
		MMK_ASSERT(w >= 0);
		for (unsigned i = 0; i < b.n; i++) {
			uint64_t len = b.run[i].end - b.run[i].va;
			int e1 = mmk_pt_protect_region(&p->pt, b.run[i].va, len,
						       b.run[i].flags, pg);
			int e2 = mmk_pt_protect_region(&c->pt, b.run[i].va, len,
						       b.run[i].flags, cg);
			MMK_ASSERT(e1 == 0 && e2 == 0);
		}
		at = w > 0 ? b.next : end;
	}
}

/* The COW run holding the most address space (the one cloned last, with
 * WRPROTECT and SHARE); its first area, NULL if there is none. */
static const struct mmk_mset_area *largest_cow(const struct mmk_aspace *p)
{
	const struct mmk_mset_area *best = NULL;
	uint64_t span = 0;
	struct run r;
	FOR_EACH_RUN(p, r)
	{
		if (r.mode == MMK_CLONE_COW &&
		    run_end(&r) - run_start(&r) > span) {
			span = run_end(&r) - run_start(&r);
			best = r.first;
		}
	}
	return best;
}

static int clone_tables(struct mmk_aspace *p, struct mmk_aspace *c,
			struct mmk_tlb_gather *pg, struct mmk_tlb_gather *cg)
{
	const struct mmk_mset_area *big = largest_cow(p);
	struct run r, chosen = {0};
	FOR_EACH_RUN(p, r)
	{
		if (r.first == big) {
			chosen = r;
			continue;
		}
		int err = clone_run(p, c, &r, pg, cg);
		if (err)
			return err;
	}
	if (big) {
		unsigned fl = MMK_PT_CLONE_WRPROTECT;
		if (chosen.owns)
			fl |= MMK_PT_CLONE_GET | MMK_PT_CLONE_SHARE;
		int err = mmk_pt_clone_range(&c->pt, &p->pt, run_start(&chosen),
					     run_end(&chosen), fl, pg);
		if (err)
			return err;
	}
	FOR_EACH_RUN(p, r)
	{
		if (r.mode == MMK_CLONE_COW && r.first != big)
			wrprotect_run(p, c, &r, pg, cg);
	}
	return 0;
}

/* ------------------------------------------------------ the call */

int mmk_aspace_clone(struct mmk_aspace *parent, struct mmk_aspace *child)
{
	int err = check_pair(parent, child);
	if (err)
		return err;
	struct mmk__aspace_work *pw = mmk__op_begin(parent);
	struct mmk__aspace_work *cw = mmk__op_begin(child);
	cw->gather.cpus = NULL; /* the child is flushed nowhere */
	if (mmk_mset_count(&child->areas))
		err = MMK_EEXIST;
	if (!err)
		err = check_modes(parent);
	if (!err) {
		struct zero_swap zs;
		adopt_zero(parent, child, &zs);
		err = copy_areas(parent, child, &cw->txn);
		if (!err)
			err = clone_tables(parent, child, &pw->gather,
					   &cw->gather);
		if (err)
			child_undo(&cw->op); /* zero-page puts done at once */
		end_zero(child, &zs, err == 0);
	}
	/* One flush of the parent, whatever the number of ranges. */
	if (pw->gather.nranges > 1)
		mmk_tlb_gather_all(&pw->gather, pw->gather.global);
	mmk__op_end(child);
	mmk__op_end(parent);
	return err;
}
