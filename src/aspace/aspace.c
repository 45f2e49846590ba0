/* SPDX-License-Identifier: MIT */
/*
 * Address spaces: the calls that change areas (exclusive lock), the
 * queries (shared lock), activation and the writer's operation life cycle.
 *
 * Every changing call has the same shape (check, then lock, then the
 * memory set's all-or-nothing call whose backend callbacks edit the page
 * table, then one flush):
 *
 *   check arguments                       -> error, nothing touched
 *   mmk__as_write_lock
 *   mmk__op_begin: batch with an empty cpumask, empty put list
 *   [prepare what may fail: huge-page splits at the edges, hole list]
 *   mmk_mset_*: allocations first, then callbacks that cannot fail
 *   mmk__op_finish: flush where active, free tables, put frames
 *   mmk__as_write_unlock
 */
#include "aspace_internal.h"

/* ------------------------------------------------------------- lock */

void mmk__as_write_lock(struct mmk_aspace *as)
{
	mmk_spin_lock_noirq(&as->wlock);
	atomic_store_explicit(&as->writer, 1, memory_order_seq_cst);
	for (;;) {
		long sum = 0;
		for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++)
			sum += atomic_load_explicit(&as->readers[c].n,
						    memory_order_seq_cst);
		if (sum == 0)
			return;
		mmk_hal_cpu_relax();
	}
}

void mmk__as_write_unlock(struct mmk_aspace *as)
{
	atomic_store_explicit(&as->writer, 0, memory_order_release);
	mmk_spin_unlock_noirq(&as->wlock);
}

/* ------------------------------------------------------ operations */

static void snapshot_active(struct mmk_aspace_op *op)
{
	atomic_thread_fence(memory_order_seq_cst);
	for (size_t i = 0; i < MMK_ARRAY_SIZE(op->cpus.bits); i++)
		op->cpus.bits[i] = __atomic_load_n(&op->as->active.bits[i],
						   __ATOMIC_RELAXED);
}

void mmk__op_begin(struct mmk_aspace_op *op, struct mmk_tlb_gather *b,
		   struct mmk_aspace *as)
{
	op->as = as;
	op->batch = b;
	op->populate = false;
	op->cutting = false;
	op->pt_done = false;
	op->put_head = 0;
	op->nput = 0;
	/* A snapshot now serves break-before-make flushes during the edits;
	 * the one taken at finish (after the edits) decides the real flush. */
	snapshot_active(op);
	mmk_tlb_gather_init(b, &op->cpus, as->asid);
	as->op = op;
}

void mmk__op_finish(struct mmk_aspace_op *op)
{
	struct mmk_aspace *as = op->as;
	/* A CPU that activates the space after this snapshot loads the
	 * edited entries fresh; one that was active before is in it. */
	snapshot_active(op);
	if (mmk_cpumask_empty(&op->cpus))
		op->batch->cpus = NULL; /* active nowhere: no flush */
	if (!mmk_tlb_gather_empty(op->batch))
		mmk_tlb_gather_finish(op->batch);
	/* Only now, after the flush, may the frames be reused. */
	uint64_t head = op->put_head;
	while (head) {
		mmk_paddr_t pa = mmk_pa((head - 1) << MMK_PAGE_SHIFT);
		struct mmk_frame *m = mmk_frame_meta(as->frames, pa);
		head = (uint64_t)m->next | (uint64_t)m->prev << 32;
		m->next = m->prev = 0;
		int r = mmk_frame_put(as->frames, pa);
		MMK_ASSERT(r >= 0);
	}
	op->put_head = 0;
	op->nput = 0;
	as->op = NULL;
}

void mmk_backend_defer_put(struct mmk_aspace_op *op, mmk_paddr_t pa)
{
	struct mmk_frame *m = mmk_frame_meta(op->as->frames, pa);
	MMK_ASSERT(m != NULL);
	uint64_t next = op->put_head;
	m->next = (uint32_t)next;
	m->prev = (uint32_t)(next >> 32);
	op->put_head = (pa.v >> MMK_PAGE_SHIFT) + 1;
	op->nput++;
}

void mmk_backend_put_run(void *ctx, const struct mmk_pt_leaf *run)
{
	struct mmk_aspace_op *op = ctx;
	for (uint64_t off = 0; off < run->size; off += run->page_size)
		mmk_backend_defer_put(op, mmk_pa_add(run->pa, off));
}

int mmk_backend_alloc_page(struct mmk_aspace *as, mmk_paddr_t *pa)
{
	return mmk_frame_alloc(as->frames, as->page_shift - MMK_PAGE_SHIFT,
			       MMK_FRAME_ZERO, pa);
}

void mmk_backend_free_page(struct mmk_aspace *as, mmk_paddr_t pa)
{
	int r = mmk_frame_free(as->frames, pa);
	MMK_ASSERT(r >= 0);
}

/* ------------------------------------------------------- checks */

static int check_range(const struct mmk_aspace *as, mmk_vaddr_t start,
		       uint64_t size)
{
	if (size == 0 || start + size < start)
		return MMK_EWRAP;
	if ((start | size) & (as->page_size - 1))
		return MMK_EALIGN;
	if (start < as->base || start + size > as->end)
		return MMK_ERANGE;
	return 0;
}

static int check_flags(struct mmk_aspace *as, uint32_t flags)
{
	if (flags & ~MMK_ASPACE_FLAGS)
		return MMK_EINVAL;
	/* The format says whether it can express them (WRITE without READ,
	 * EXEC without READ, memory types without Svpbmt, ...). */
	uint64_t pte;
	return mmk_pt_encode_leaf(&as->pt, 0, mmk_pa(0), flags, &pte);
}

static int check_access(uint32_t access)
{
	return access == 0 || (access & ~MMK_PT_RWX) ? MMK_EINVAL : 0;
}

/* ----------------------------------------------------- life cycle */

int mmk_aspace_create(struct mmk_aspace *as, mmk_vaddr_t base, uint64_t size,
		      enum mmk_pt_format_id fmt, unsigned pt_opts,
		      struct mmk_frames *frames)
{
	struct mmk_pt_info info;
	if (!as || !frames)
		return MMK_EINVAL;
	int err = mmk_pt_format_info(fmt, &info);
	if (err)
		return err;
	uint64_t ps = (uint64_t)1 << info.page_shift;
	if (size == 0 || base + size < base)
		return MMK_EWRAP;
	if ((base | size) & (ps - 1))
		return MMK_EALIGN;
	__builtin_memset(as, 0, sizeof(*as));
	as->base = base;
	as->end = base + size;
	as->page_size = ps;
	as->page_shift = info.page_shift;
	as->frames = frames;
	mmk_mset_init(&as->areas);
	mmk_spin_init(&as->wlock);
	err = mmk_pt_create(&as->pt, fmt, pt_opts, frames);
	if (err)
		return err;
	/* The empty table validates the range for us: canonical, not
	 * across the hole, encodable.  Nothing is mapped, so nothing moves. */
	struct mmk_tlb_gather b;
	mmk_tlb_gather_init(&b, NULL, 0);
	err = mmk_pt_unmap_region(&as->pt, base, size, &b, NULL, NULL);
	if (err) {
		mmk_pt_destroy(&as->pt);
		return err;
	}
	as->map_flushes = mmk_pt_map_needs_flush(&as->pt);
	return 0;
}

void mmk_aspace_clear(struct mmk_aspace *as)
{
	struct mmk_aspace_op op;
	struct mmk_tlb_gather b;
	mmk__as_write_lock(as);
	mmk__op_begin(&op, &b, as);
	mmk_mset_clear(&as->areas, &op);
	mmk__op_finish(&op);
	mmk__as_write_unlock(as);
}

void mmk_aspace_destroy(struct mmk_aspace *as)
{
	mmk_aspace_clear(as);
	mmk_aspace_deactivate(as);
	mmk_pt_destroy(&as->pt);
}

struct mmk_pt *mmk_aspace_pt(struct mmk_aspace *as)
{
	return &as->pt;
}

void mmk_aspace_set_asid(struct mmk_aspace *as, uint32_t asid)
{
	/* faults read it (formats whose faults flush): exclusive */
	mmk__as_write_lock(as);
	as->asid = asid;
	mmk__as_write_unlock(as);
}

void mmk_aspace_activate(struct mmk_aspace *as)
{
	unsigned cpu = mmk_hal_cpu_id();
	/* In the mask before the root is written: a writer that edits after
	 * this point flushes here too. */
	__atomic_fetch_or(&as->active.bits[cpu / 64], (uint64_t)1 << (cpu % 64),
			  __ATOMIC_SEQ_CST);
	mmk_pt_activate(&as->pt, as->asid);
}

void mmk_aspace_deactivate(struct mmk_aspace *as)
{
	unsigned cpu = mmk_hal_cpu_id();
	__atomic_fetch_and(&as->active.bits[cpu / 64],
			   ~((uint64_t)1 << (cpu % 64)), __ATOMIC_SEQ_CST);
}

bool mmk_aspace_is_active(const struct mmk_aspace *as)
{
	for (size_t i = 0; i < MMK_ARRAY_SIZE(as->active.bits); i++)
		if (__atomic_load_n(&as->active.bits[i], __ATOMIC_RELAXED))
			return true;
	return false;
}

int mmk_aspace_copy_mappings_from(struct mmk_aspace *as,
				  const struct mmk_aspace *other)
{
	if (other->base < as->end && as->base < other->end)
		return MMK_ERANGE;
	/* Exclusive on both: the copy marks the source's root slots pinned.
	 * Lock order: the destination, then the source. */
	struct mmk_aspace *o = (struct mmk_aspace *)(uintptr_t)other;
	mmk__as_write_lock(as);
	mmk__as_write_lock(o);
	int err = mmk_pt_copy_from(&as->pt, &o->pt, o->base, o->end - o->base);
	mmk__as_write_unlock(o);
	mmk__as_write_unlock(as);
	return err;
}

/* --------------------------------------------------------- queries */

static void area_copy(const struct mmk_mset_area *a, struct mmk_aspace_area *o)
{
	o->start = a->start;
	o->end = a->end;
	o->flags = a->flags;
	o->offset = a->offset;
	o->backend = mmk__backend_of(a);
	o->priv = a->priv;
}

bool mmk_aspace_find_area(struct mmk_aspace *as, mmk_vaddr_t addr,
			  struct mmk_aspace_area *out)
{
	_Atomic long *rl = mmk__as_read_lock(as);
	const struct mmk_mset_area *a = mmk_mset_find(&as->areas, addr);
	if (a && out)
		area_copy(a, out);
	mmk__as_read_unlock(rl);
	return a != NULL;
}

struct foreach_ctx {
	int (*fn)(const struct mmk_aspace_area *a, void *arg);
	void *arg;
};

static int foreach_one(struct mmk_mset_area *a, void *arg)
{
	struct foreach_ctx *c = arg;
	struct mmk_aspace_area copy;
	area_copy(a, &copy);
	return c->fn(&copy, c->arg);
}

int mmk_aspace_foreach_area(struct mmk_aspace *as, mmk_vaddr_t from,
			    int (*fn)(const struct mmk_aspace_area *a,
				      void *arg),
			    void *arg)
{
	struct foreach_ctx c = {fn, arg};
	_Atomic long *rl = mmk__as_read_lock(as);
	int r = mmk_mset_foreach(&as->areas, from, foreach_one, &c);
	mmk__as_read_unlock(rl);
	return r;
}

size_t mmk_aspace_area_count(struct mmk_aspace *as)
{
	_Atomic long *rl = mmk__as_read_lock(as);
	size_t n = mmk_mset_count(&as->areas);
	mmk__as_read_unlock(rl);
	return n;
}

int mmk_aspace_find_free_area(struct mmk_aspace *as, mmk_vaddr_t hint,
			      uint64_t size, mmk_vaddr_t lo, mmk_vaddr_t hi,
			      uint64_t align, mmk_vaddr_t *out)
{
	if (align == 0)
		align = as->page_size;
	if (!MMK_IS_POW2(align) || align < as->page_size)
		return MMK_EALIGN;
	if (size == 0)
		return MMK_EWRAP;
	if (size & (as->page_size - 1))
		return MMK_EALIGN;
	lo = MMK_MAX(lo, as->base);
	hi = MMK_MIN(hi, as->end);
	if (lo >= hi)
		return MMK_ENOMEM;
	hint = MMK_MIN(MMK_MAX(hint, lo), hi);
	_Atomic long *rl = mmk__as_read_lock(as);
	int err = mmk_mset_find_free(&as->areas, hint, size, lo, hi, align,
				     MMK_MSET_BOTTOM_UP, out);
	mmk__as_read_unlock(rl);
	return err;
}

struct dump_ctx {
	mmk_pt_line_fn out;
	void *ctx;
};

static int dump_one(struct mmk_mset_area *a, void *arg)
{
	struct dump_ctx *d = arg;
	const struct mmk_backend *b = mmk__backend_of(a);
	char line[160];
	uint32_t f = a->flags;
	mmk_snprintf(line, sizeof(line),
		     "%08llx-%08llx %c%c%c%c %08llx 00:00 0 %s",
		     (unsigned long long)a->start, (unsigned long long)a->end,
		     f & MMK_PT_READ ? 'r' : '-', f & MMK_PT_WRITE ? 'w' : '-',
		     f & MMK_PT_EXEC ? 'x' : '-', b->shared ? 's' : 'p',
		     (unsigned long long)(b->show_offset ? a->offset : 0),
		     b->mset.name ? b->mset.name : "");
	d->out(d->ctx, line);
	return 0;
}

int mmk_aspace_dump_maps(struct mmk_aspace *as, mmk_pt_line_fn out, void *ctx)
{
	struct dump_ctx d = {out, ctx};
	_Atomic long *rl = mmk__as_read_lock(as);
	int r = mmk_mset_foreach(&as->areas, 0, dump_one, &d);
	mmk__as_read_unlock(rl);
	return r;
}

bool mmk__as_can_access_locked(struct mmk_aspace *as, mmk_vaddr_t start,
			       uint64_t size, uint32_t access)
{
	if (size == 0)
		return true;
	mmk_vaddr_t end = start + size;
	if (end < start)
		return false;
	const struct mmk_mset_area *a = mmk_mset_find(&as->areas, start);
	mmk_vaddr_t cur = start;
	while (a && a->start <= cur) {
		if ((a->flags & access) != access)
			return false;
		if (a->end >= end)
			return true;
		cur = a->end;
		a = mmk_mset_next(&as->areas, a);
	}
	return false;
}

bool mmk_aspace_can_access_range(struct mmk_aspace *as, mmk_vaddr_t start,
				 uint64_t size, uint32_t access)
{
	if (check_access(access))
		return false;
	_Atomic long *rl = mmk__as_read_lock(as);
	bool ok = mmk__as_can_access_locked(as, start, size, access);
	mmk__as_read_unlock(rl);
	return ok;
}

/* --------------------------------------------------------- map */

int mmk_aspace_map(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
		   uint32_t flags, bool populate, const struct mmk_backend *b,
		   uint64_t offset, void *priv)
{
	int err = check_range(as, start, size);
	if (err)
		return err;
	if (!b)
		return MMK_EINVAL;
	err = check_flags(as, flags);
	if (err)
		return err;
	struct mmk_mset_area tmpl = {
		.start = start,
		.end = start + size,
		.offset = offset,
		.flags = flags,
		.ops = &b->mset,
		.priv = priv,
	};
	struct mmk_aspace_op op;
	struct mmk_tlb_gather batch;
	mmk__as_write_lock(as);
	mmk__op_begin(&op, &batch, as);
	op.populate = populate;
	err = mmk_mset_insert(&as->areas, &tmpl, 0, &op, NULL);
	mmk__op_finish(&op);
	mmk__as_write_unlock(as);
	return err;
}

int mmk_aspace_map_linear(struct mmk_aspace *as, mmk_vaddr_t va, mmk_paddr_t pa,
			  uint64_t size, uint32_t flags)
{
	int err = check_range(as, va, size);
	if (err)
		return err;
	if (pa.v & (as->page_size - 1))
		return MMK_EALIGN;
	if (pa.v + size < pa.v)
		return MMK_ERANGE;
	return mmk_aspace_map(as, va, size, flags, true, &mmk_backend_linear,
			      pa.v, NULL);
}

int mmk_aspace_map_alloc(struct mmk_aspace *as, mmk_vaddr_t start,
			 uint64_t size, uint32_t flags, bool populate)
{
	/* offset = start: neighbouring alloc areas with equal flags merge */
	return mmk_aspace_map(as, start, size, flags, populate,
			      &mmk_backend_alloc, start, NULL);
}

/* ------------------------------------------------- unmap, protect */

/*
 * Huge pages across an edge.  A linear area's huge page that an unmap or
 * protect cuts must be split in the page table, which needs table pages
 * (it may fail), while the backend callbacks run in mset's commit, which
 * must not fail.  So such a cut is prepared before the real call, each
 * fallible step undone if a later one fails:
 *
 *   1. cut the area(s) at the edge in the memory set: protect the piece
 *      inside the range to its own flags plus MMK__AREA_CUT (op->cutting
 *      tells the backends to leave the page table alone).  Undo: protect
 *      it back, which merges and allocates nothing.
 *   2. the page table:
 *      - one edge inside a huge page: split it, by protecting the base
 *        page at the edge to the flags it already has (same translations,
 *        no flush recorded);
 *      - both edges inside huge pages and only built-in backends in the
 *        range: do the whole page-table edit now, in one call, which
 *        splits both or neither (op->pt_done: the callbacks then leave
 *        the page table alone).
 *   3. the real mset call, whose areas now end exactly at the edges: it
 *      allocates nothing and cannot fail.
 *
 * The one gap left: both edges inside *different* huge pages of areas of
 * a kernel's own backend, and the second split runs out of memory: the
 * first stays split (translations and areas unchanged, one or two more
 * table pages), since the page-table API cannot undo a split without
 * allocating.
 */
#define MMK__AREA_CUT 0x80000000u

struct cut {
	mmk_vaddr_t start, end; /* the piece marked, start == end: none */
	uint32_t flags;		/* its flags before */
};

/* True if a leaf larger than the base page has @x strictly inside. */
static bool huge_across(struct mmk_aspace *as, mmk_vaddr_t x)
{
	uint64_t psz;
	if (x <= as->base || x >= as->end)
		return false;
	if (mmk_pt_query(&as->pt, x, NULL, NULL, &psz) != 0)
		return false;
	return psz > as->page_size && !MMK_IS_ALIGNED(x, psz);
}

static int cut_area(struct mmk_aspace_op *op, mmk_vaddr_t x, mmk_vaddr_t start,
		    mmk_vaddr_t end, struct cut *c)
{
	struct mmk_aspace *as = op->as;
	const struct mmk_mset_area *a = mmk_mset_find(&as->areas, x);
	c->start = c->end = 0;
	if (!a || a->start >= x || (a->flags & MMK__AREA_CUT))
		return 0;
	c->start = MMK_MAX(a->start, start);
	c->end = MMK_MIN(a->end, end);
	c->flags = a->flags;
	op->cutting = true;
	int err = mmk_mset_protect(&as->areas, c->start, c->end - c->start,
				   c->flags | MMK__AREA_CUT, op);
	op->cutting = false;
	if (err)
		c->start = c->end = 0;
	return err;
}

static void uncut_area(struct mmk_aspace_op *op, struct cut *c)
{
	if (c->start == c->end)
		return;
	op->cutting = true;
	int err = mmk_mset_protect(&op->as->areas, c->start, c->end - c->start,
				   c->flags, op);
	op->cutting = false;
	MMK_ASSERT(err == 0);
}

static int split_edge(struct mmk_aspace *as, mmk_vaddr_t x,
		      struct mmk_tlb_gather *b)
{
	mmk_paddr_t pa;
	uint32_t fl;
	if (!huge_across(as, x))
		return 0;
	int err = mmk_pt_query(&as->pt, x, &pa, &fl, NULL);
	MMK_ASSERT(err == 0);
	return mmk_pt_protect_region(&as->pt, x, as->page_size,
				     fl & ~(MMK_PT_ACCESSED | MMK_PT_DIRTY), b);
}

static bool builtin_only(struct mmk_aspace *as, mmk_vaddr_t start,
			 mmk_vaddr_t end)
{
	for (const struct mmk_mset_area *a =
		     mmk_mset_find_first(&as->areas, start, end);
	     a && a->start < end; a = mmk_mset_next(&as->areas, a))
		if (a->ops != &mmk_backend_linear.mset &&
		    a->ops != &mmk_backend_alloc.mset)
			return false;
	return true;
}

/* unmap_region callback of the one-call path: put the frames of the
 * alloc areas' pages (a run may span areas: cut it at their ends). */
static void put_alloc_runs(void *ctx, const struct mmk_pt_leaf *run)
{
	struct mmk_aspace_op *op = ctx;
	mmk_vaddr_t end = run->va + run->size;
	for (mmk_vaddr_t va = run->va; va < end;) {
		const struct mmk_mset_area *a =
			mmk_mset_find(&op->as->areas, va);
		MMK_ASSERT(a != NULL);
		mmk_vaddr_t e = MMK_MIN(end, a->end);
		if (a->ops == &mmk_backend_alloc.mset) {
			struct mmk_pt_leaf part = *run;
			part.va = va;
			part.pa = mmk_pa_add(run->pa, va - run->va);
			part.size = e - va;
			mmk_backend_put_run(op, &part);
		}
		va = e;
	}
}

/* Steps 1 and 2 above for an unmap (@unmap) or a protect to @flags of
 * [start, end); 0, or an error with nothing changed. */
static int prepare_cuts(struct mmk_aspace_op *op, mmk_vaddr_t start,
			mmk_vaddr_t end, bool unmap, uint32_t flags)
{
	struct mmk_aspace *as = op->as;
	bool hs = huge_across(as, start), he = huge_across(as, end);
	if (MMK_LIKELY(!hs && !he))
		return 0;
	struct cut c1 = {0, 0, 0}, c2 = {0, 0, 0};
	int err = hs ? cut_area(op, start, start, end, &c1) : 0;
	if (!err && he)
		err = cut_area(op, end, start, end, &c2);
	if (!err && hs && he && builtin_only(as, start, end)) {
		err = unmap ? mmk_pt_unmap_region(&as->pt, start, end - start,
						  op->batch, put_alloc_runs, op)
			    : mmk_pt_protect_region(&as->pt, start, end - start,
						    flags, op->batch);
		op->pt_done = !err;
	} else {
		if (!err)
			err = split_edge(as, start, op->batch);
		if (!err)
			err = split_edge(as, end, op->batch);
	}
	if (err) {
		uncut_area(op, &c2);
		uncut_area(op, &c1);
	}
	return err;
}

int mmk_aspace_unmap(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size)
{
	int err = check_range(as, start, size);
	if (err)
		return err;
	struct mmk_aspace_op op;
	struct mmk_tlb_gather batch;
	mmk__as_write_lock(as);
	mmk__op_begin(&op, &batch, as);
	err = prepare_cuts(&op, start, start + size, true, 0);
	if (!err)
		err = mmk_mset_unmap(&as->areas, start, size, &op);
	mmk__op_finish(&op);
	mmk__as_write_unlock(as);
	return err;
}

int mmk_aspace_protect(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
		       uint32_t flags)
{
	int err = check_range(as, start, size);
	if (err)
		return err;
	err = check_flags(as, flags);
	if (err)
		return err;
	struct mmk_aspace_op op;
	struct mmk_tlb_gather batch;
	mmk__as_write_lock(as);
	mmk__op_begin(&op, &batch, as);
	err = prepare_cuts(&op, start, start + size, false, flags);
	if (!err)
		err = mmk_mset_protect(&as->areas, start, size, flags, &op);
	mmk__op_finish(&op);
	mmk__as_write_unlock(as);
	return err;
}

/* -------------------------------------------------------- populate */

/*
 * populate first lists the holes of the range (pages with no mapping, cut
 * at area boundaries), then asks each hole's backend to fill it.  If one
 * fails, the holes filled before it are unmapped again through their
 * backends, so the call changes nothing.  The list lives on the stack
 * while it is short and in frames borrowed from the allocator past that
 * (allocating them is part of the fallible phase).
 */
struct run {
	mmk_vaddr_t start, end;
};

#define RUNS_INLINE   16
#define RUNS_PER_PAGE ((MMK_PAGE_SIZE - 16) / sizeof(struct run))

struct run_page {
	uint64_t next; /* physical address of the next page, 0 = none */
	uint64_t count;
	struct run runs[RUNS_PER_PAGE];
};

struct runlog {
	struct mmk_aspace *as;
	struct run inl[RUNS_INLINE];
	unsigned ninl;
	uint64_t first, last; /* run pages, physical addresses, 0 = none */
};

static int runlog_add(struct runlog *l, mmk_vaddr_t s, mmk_vaddr_t e)
{
	if (l->ninl < RUNS_INLINE) {
		l->inl[l->ninl++] = (struct run){s, e};
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
	p->runs[p->count++] = (struct run){s, e};
	return 0;
}

/* Call @fn on every run in order, stopping after @limit runs. */
static void runlog_each(struct runlog *l, unsigned long limit,
			void (*fn)(struct runlog *l, const struct run *r,
				   void *arg),
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

static void fill_run(struct runlog *l, const struct run *r, void *arg)
{
	struct fill_ctx *f = arg;
	if (f->err)
		return;
	struct mmk_mset_area *a = mmk_mset_find(&l->as->areas, r->start);
	f->err = mmk__backend_of(a)->populate(f->op, a, r->start, r->end);
	if (!f->err)
		f->done++;
}

static void unfill_run(struct runlog *l, const struct run *r, void *arg)
{
	struct mmk_mset_area *a = mmk_mset_find(&l->as->areas, r->start);
	a->ops->unmap(a, r->start, r->end, arg);
}

int mmk_aspace_populate(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
			uint32_t access)
{
	int err = check_range(as, start, size);
	if (err)
		return err;
	err = check_access(access);
	if (err)
		return err;
	mmk_vaddr_t end = start + size;
	struct mmk_aspace_op op;
	struct mmk_tlb_gather batch;
	struct runlog log = {.as = as};
	mmk__as_write_lock(as);
	mmk__op_begin(&op, &batch, as);
	if (!mmk_mset_covers(&as->areas, start, size)) {
		err = MMK_ENOMEM;
		goto out;
	}
	/* Check every area, then list the holes (fallible, changes nothing). */
	for (struct mmk_mset_area *a = mmk_mset_find(&as->areas, start);
	     a && a->start < end; a = mmk_mset_next(&as->areas, a)) {
		if ((a->flags & access) != access) {
			err = MMK_EACCES;
			goto out;
		}
	}
	for (struct mmk_mset_area *a = mmk_mset_find(&as->areas, start);
	     a && a->start < end && !err; a = mmk_mset_next(&as->areas, a)) {
		if (!mmk__backend_of(a)->populate)
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
	struct fill_ctx f = {&op, 0, 0};
	runlog_each(&log, ~0ul, fill_run, &f);
	err = f.err;
	if (err)
		runlog_each(&log, f.done, unfill_run, &op);
out:
	mmk__op_finish(&op);
	mmk__as_write_unlock(as);
	runlog_free(&log);
	return err;
}
