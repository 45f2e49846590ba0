/* SPDX-License-Identifier: MIT */
/*
 * populate: fault a range in ahead of use, all or nothing.  It first lists
 * the holes of the range (pages with no mapping, cut at area boundaries),
 * then asks each hole's backend to fill it.  If one fails, the holes filled
 * before it are zapped again through their backends, so the call changes
 * nothing.  The list lives in the writer's working state while it is
 * short (struct mmk__aspace_work: off the stack, which stays small) and in
 * frames borrowed from the allocator past that (allocating them is part
 * of the fallible phase).
 */
#include "aspace_internal.h"

#define RUNS_INLINE   MMK__AS_RUNS /* more holes borrow a frame */
#define RUNS_PER_PAGE ((MMK_PAGE_SIZE - 16) / sizeof(struct mmk__as_run))

struct run_page {
	uint64_t next; /* physical address of the next page, 0 = none */
	uint64_t count;
	struct mmk__as_run runs[RUNS_PER_PAGE];
};

struct runlog {
	struct mmk_aspace *as;
	struct mmk__as_run *inl; /* RUNS_INLINE of them, in the working state */
	unsigned ninl;
	uint64_t first, last; /* run pages, physical addresses, 0 = none */
};

static int runlog_add(struct runlog *l, mmk_vaddr_t s, mmk_vaddr_t e)
{
	if (l->ninl < RUNS_INLINE) {
		l->inl[l->ninl++] = (struct mmk__as_run){s, e};
		return 0;
	}
	struct run_page *p = l->last ? mmk_phys_to_virt(mmk_pa(l->last)) : NULL;
	if (!p || p->count == RUNS_PER_PAGE) {
		mmk_paddr_t pa;
		int err = mmk_frame_alloc(l->as->frames, 0, 0, &pa);
		if (err)
			return err;
		struct run_page *np = mmk_phys_to_virt(pa);
		np->next = 0;
		np->count = 0;
		if (p)
			p->next = pa.v;
		else
			l->first = pa.v;
		l->last = pa.v;
		p = np;
	}
	p->runs[p->count++] = (struct mmk__as_run){s, e};
	return 0;
}

/* Call @fn on every run in order, stopping after @limit runs. */
static void runlog_each(struct runlog *l, unsigned long limit,
			void (*fn)(struct runlog *l,
				   const struct mmk__as_run *r, void *arg),
			void *arg)
{
	unsigned long n = 0;
	for (unsigned i = 0; i < l->ninl && n < limit; i++, n++)
		fn(l, &l->inl[i], arg);
	for (uint64_t pa = l->first; pa && n < limit;) {
		struct run_page *p = mmk_phys_to_virt(mmk_pa(pa));
		for (uint64_t i = 0; i < p->count && n < limit; i++, n++)
			fn(l, &p->runs[i], arg);
		pa = p->next;
	}
}

static void runlog_free(struct runlog *l)
{
	for (uint64_t pa = l->first; pa;) {
		struct run_page *p = mmk_phys_to_virt(mmk_pa(pa));
		uint64_t next = p->next;
		mmk_frame_free(l->as->frames, mmk_pa(pa));
		pa = next;
	}
	l->first = l->last = 0;
}

struct holes_ctx {
	struct runlog *log;
	mmk_vaddr_t cur;
};

static int holes_leaf(void *arg, const struct mmk_pt_leaf *leaf)
{
	struct holes_ctx *h = arg;
	if (leaf->va > h->cur) {
		int err = runlog_add(h->log, h->cur, leaf->va);
		if (err)
			return err;
	}
	if (leaf->va + leaf->size > h->cur)
		h->cur = leaf->va + leaf->size;
	return 0;
}

struct fill_ctx {
	struct mmk_aspace_op *op;
	int err;
	unsigned long done; /* runs filled */
};

static void fill_run(struct runlog *l, const struct mmk__as_run *r, void *arg)
{
	struct fill_ctx *f = arg;
	if (f->err)
		return;
	const struct mmk_mset_area *a = mmk_mset_find(&l->as->areas, r->start);
	f->err = mmk_backend_of(a)->populate(f->op, a, r->start, r->end);
	if (!f->err)
		f->done++;
}

static void unfill_run(struct runlog *l, const struct mmk__as_run *r, void *arg)
{
	const struct mmk_mset_area *a = mmk_mset_find(&l->as->areas, r->start);
	mmk__as_zap(arg, a, r->start, r->end);
}

int mmk_aspace_populate(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
			uint32_t access)
{
	int err = mmk__as_check_range(as, start, size);
	if (err)
		return err;
	err = mmk__as_check_access(access);
	if (err)
		return err;
	mmk_vaddr_t end = start + size;
	struct runlog log = {.as = as};
	struct mmk__aspace_work *w = mmk__op_begin(as);
	log.inl = w->runs;
	if (!mmk_mset_covers(&as->areas, start, size)) {
		err = MMK_ENOMEM;
		goto out;
	}
	/* Check every area, then list the holes (fallible, changes nothing). */
	for (struct mmk_mset_area *a = mmk_mset_find(&as->areas, start);
	     a && a->start < end; a = mmk_mset_next(&as->areas, a)) {
		if ((mmk__as_rights(as, a->flags) & access) != access) {
			err = MMK_EACCES;
			goto out;
		}
	}
	for (struct mmk_mset_area *a = mmk_mset_find(&as->areas, start);
	     a && a->start < end && !err; a = mmk_mset_next(&as->areas, a)) {
		if (!mmk_backend_of(a)->populate)
			continue;
		struct holes_ctx h = {&log, MMK_MAX(a->start, start)};
		mmk_vaddr_t e = MMK_MIN(a->end, end);
		err = mmk_pt_walk(&as->pt, h.cur, e - h.cur, holes_leaf, &h);
		if (!err && h.cur < e)
			err = runlog_add(&log, h.cur, e);
	}
	if (err)
		goto out;
	/* Fill; on failure empty the holes filled so far again. */
	struct fill_ctx f = {&w->op, 0, 0};
	runlog_each(&log, ~0ul, fill_run, &f);
	err = f.err;
	if (err)
		runlog_each(&log, f.done, unfill_run, &w->op);
out:
	mmk__op_end(as);
	runlog_free(&log);
	return err;
}
