/* SPDX-License-Identifier: MIT */
/*
 * The two built-in backends.
 *
 * linear: [start, end) maps to [offset, offset + (end - start)), all at
 *   map time, with the largest pages alignment allows.  The area's offset
 *   is the physical address of its start, so two linear areas merge only
 *   when they are physically contiguous.  Never faults; frames are not
 *   its own (nothing is put on unmap).
 *
 * alloc: zero-filled frames from the space's frame allocator, one base
 *   page each, mapped at map time (populate) or on first touch (fault).
 *   offset = start, so neighbours merge.  Frames go back on unmap, after
 *   the flush (mmk_backend_put_run).
 *
 * Every callback here runs with the space's lock held: exclusive for the
 * mset callbacks and populate, shared for fault.
 */
#include "aspace_internal.h"

/* ------------------------------------------------------------ common */

static void pt_unmap_part(struct mmk_mset_area *a, mmk_vaddr_t start,
			  mmk_vaddr_t end, void *ctx, bool put)
{
	struct mmk_aspace_op *op = ctx;
	(void)a;
	if (op->pt_done)
		return; /* done in one call by mmk_aspace_unmap (aspace.c) */
	/* Cannot fail: the range is ours and no huge page straddles its
	 * edges (mmk_aspace_unmap split them first). */
	int err =
		mmk_pt_unmap_region(&op->as->pt, start, end - start, op->batch,
				    put ? mmk_backend_put_run : NULL, op);
	MMK_ASSERT(err == 0);
}

static void pt_protect_area(struct mmk_mset_area *a, uint32_t new_flags,
			    void *ctx)
{
	struct mmk_aspace_op *op = ctx;
	if (op->cutting || op->pt_done)
		return; /* only the areas are being cut, or the page table
			   was done in one call (aspace.c) */
	int err = mmk_pt_protect_region(
		&op->as->pt, a->start, a->end - a->start, new_flags, op->batch);
	MMK_ASSERT(err == 0);
}

/* ------------------------------------------------------------ linear */

static int linear_map(struct mmk_mset_area *a, mmk_vaddr_t start,
		      mmk_vaddr_t end, void *ctx)
{
	struct mmk_aspace_op *op = ctx;
	uint64_t pa = a->offset + (start - a->start);
	return mmk_pt_map_region(&op->as->pt, start, mmk_pa(pa), end - start,
				 a->flags, MMK_PT_MAP_HUGE, op->batch);
}

static void linear_unmap(struct mmk_mset_area *a, mmk_vaddr_t start,
			 mmk_vaddr_t end, void *ctx)
{
	pt_unmap_part(a, start, end, ctx, false);
}

const struct mmk_backend mmk_backend_linear = {
	.mset =
		{
			.name = "linear",
			.map = linear_map,
			.unmap = linear_unmap,
			.protect = pt_protect_area,
		},
	.shared = true,
	.show_offset = true,
};

/* ------------------------------------------------------------- alloc */

/* Frames are taken and mapped this many pages at a time. */
#define ALLOC_CHUNK 64

struct chunk {
	mmk_vaddr_t start;
	unsigned shift;
	mmk_paddr_t pa[ALLOC_CHUNK];
};

static mmk_paddr_t chunk_pa(void *ctx, mmk_vaddr_t va)
{
	struct chunk *c = ctx;
	return c->pa[(va - c->start) >> c->shift];
}

static void alloc_unmap(struct mmk_mset_area *a, mmk_vaddr_t start,
			mmk_vaddr_t end, void *ctx)
{
	pt_unmap_part(a, start, end, ctx, true);
}

/*
 * Fill [start, end), where nothing is mapped: ALLOC_CHUNK zeroed frames,
 * then one region map of them, chunk after chunk.  On failure the chunk's
 * frames go straight back (never mapped) and the chunks before it are
 * unmapped again (their frames after the flush), so nothing changed.
 */
static int alloc_populate(struct mmk_aspace_op *op, struct mmk_mset_area *a,
			  mmk_vaddr_t start, mmk_vaddr_t end)
{
	struct mmk_aspace *as = op->as;
	struct chunk c;
	c.shift = as->page_shift;
	int err = 0;
	mmk_vaddr_t va = start;
	while (va < end) {
		uint64_t n = MMK_MIN((end - va) >> c.shift, ALLOC_CHUNK);
		uint64_t got = 0;
		c.start = va;
		while (got < n && !err)
			err = mmk_backend_alloc_page(as, &c.pa[got++]);
		if (err)
			got--;
		else
			err = mmk_pt_map_region_fn(&as->pt, va, n << c.shift,
						   a->flags, 0, chunk_pa, &c,
						   op->batch);
		if (err) {
			for (uint64_t i = 0; i < got; i++)
				mmk_backend_free_page(as, c.pa[i]);
			if (va > start)
				alloc_unmap(a, start, va, op);
			return err;
		}
		va += n << c.shift;
	}
	return 0;
}

static int alloc_map(struct mmk_mset_area *a, mmk_vaddr_t start,
		     mmk_vaddr_t end, void *ctx)
{
	struct mmk_aspace_op *op = ctx;
	return op->populate ? alloc_populate(op, a, start, end) : 0;
}

/*
 * One page on first touch, the lock held shared: other CPUs may fault the
 * same page now.  The single-page map installs with a compare-and-swap;
 * the loser finds MMK_EEXIST, gives its frame back (never visible to
 * anyone) and reports success, since the page is there with the area's
 * flags.
 */
static int alloc_fault(struct mmk_fault *f)
{
	struct mmk_aspace *as = f->as;
	mmk_paddr_t pa;
	int err = mmk_backend_alloc_page(as, &pa);
	if (err)
		return err;
	if (MMK_LIKELY(!as->map_flushes)) {
		err = mmk_pt_map(&as->pt, f->page, pa, f->page_size, f->flags,
				 NULL);
	} else {
		/* The format's TLB may cache the invalid entry: flush it. */
		struct mmk_aspace_op op = {.as = as};
		struct mmk_tlb_gather b;
		for (size_t i = 0; i < MMK_ARRAY_SIZE(op.cpus.bits); i++)
			op.cpus.bits[i] = __atomic_load_n(&as->active.bits[i],
							  __ATOMIC_SEQ_CST);
		mmk_tlb_gather_init(
			&b, mmk_cpumask_empty(&op.cpus) ? NULL : &op.cpus,
			as->asid);
		err = mmk_pt_map(&as->pt, f->page, pa, f->page_size, f->flags,
				 &b);
		mmk_tlb_gather_finish(&b);
	}
	if (err) {
		mmk_backend_free_page(as, pa);
		if (err == MMK_EEXIST)
			err = 0; /* another CPU mapped it first */
	}
	return err;
}

const struct mmk_backend mmk_backend_alloc = {
	.mset =
		{
			.name = "alloc",
			.map = alloc_map,
			.unmap = alloc_unmap,
			.protect = pt_protect_area,
		},
	.populate = alloc_populate,
	.fault = alloc_fault,
};
