/* SPDX-License-Identifier: MIT */
/*
 * The huge backend: anonymous memory in huge pages (2 MiB, or 1 GiB where
 * the format has it), as Linux's hugetlb and THP give.  The area's page
 * size is its priv (mmk_aspace_map_huge checked it against the format).
 *
 *   populate  every huge page wholly inside the range, a zeroed block of
 *             its order each; base pages for the parts that are not
 *   fault     absent: a whole zeroed huge page (the page_size hook said
 *             which size fits there); present, read-only, write:
 *             copy-on-write of the whole huge page, or take-over when
 *             this table holds the block's only reference
 *   clone     MMK_CLONE_COW
 *   zap       the default: every leaf maps one whole block
 *             (MMK_BACKEND_SPLIT_FRAMES), so a leaf is one reference
 *   protect   mmk_backend_protect_private: a page shared after a fork
 *             does not get WRITE back (its next write copies)
 *
 * Splitting: an unmap or protect that cuts a huge page splits the leaf
 * (mmk_pt_cut) and, for SPLIT_FRAMES, the frame block along the same
 * lines (src/aspace/edit.c).  The page_size hook then finds leaves or
 * tables inside the huge page's span and answers with a smaller size, so
 * the unaligned pieces fault in base pages (2 MiB ones inside a cut 1 GiB
 * page).
 */
#include <mmkit/backend.h>

#include "lib/bits.h"

/* The area's huge page size (mmk_aspace_map_huge). */
static uint64_t huge_size(const struct mmk_mset_area *a)
{
	return (uint64_t)(uintptr_t)a->priv;
}

/* Frame order of a page of @size bytes. */
static unsigned huge_order(uint64_t size)
{
	return mmk__ctz64(size) - MMK_PAGE_SHIFT;
}

/* The next smaller size the page table splits a leaf of @size into (the
 * span of the level below, as mmk_pt_cut does). */
static uint64_t huge_smaller(const struct mmk_aspace *as, uint64_t size)
{
	for (unsigned l = 1; l < MMK_PT_MAX_LEVELS; l++)
		if (((uint64_t)1 << as->pt.shift[l]) == size)
			return (uint64_t)1 << as->pt.shift[l - 1];
	return as->page_size;
}

static int any_leaf(void *ctx, const struct mmk_pt_leaf *leaf)
{
	(void)ctx;
	(void)leaf;
	return 1;
}

/*
 * page_size: the mapped leaf's size where one is mapped (a copy-on-write
 * fault); else the largest size from the area's down whose page holding
 * @addr lies inside the area and holds no leaf yet (nothing cut there).
 * Several CPUs faulting in one empty span all answer the huge size; the
 * first map wins, the others find its leaf.
 */
static uint64_t huge_page_size(const struct mmk_aspace *as,
			       const struct mmk_mset_area *a, mmk_vaddr_t addr)
{
	uint64_t ps; /* a query, not a lookup: no leaf on the fault's stack */
	if (mmk_pt_query(&as->pt, addr, NULL, NULL, &ps) == 0)
		return ps;
	for (uint64_t sz = huge_size(a); sz > as->page_size;
	     sz = huge_smaller(as, sz)) {
		mmk_vaddr_t va = MMK_ALIGN_DOWN(addr, sz);
		if (va >= a->start && va + sz <= a->end &&
		    mmk_pt_walk(&as->pt, va, sz, any_leaf, NULL) == 0)
			return sz;
	}
	return as->page_size;
}

/* A zeroed block for one page of @size bytes.  MMK_ENOMEM. */
static int huge_alloc(struct mmk_aspace *as, uint64_t size, mmk_paddr_t *pa)
{
	return mmk_frame_alloc(as->frames, huge_order(size), MMK_FRAME_ZERO,
			       pa);
}

/* The largest page size the area allows at @va that fits before @end. */
static uint64_t fill_size(const struct mmk_aspace *as,
			  const struct mmk_mset_area *a, mmk_vaddr_t va,
			  mmk_vaddr_t end)
{
	for (uint64_t sz = huge_size(a); sz > as->page_size;
	     sz = huge_smaller(as, sz))
		if (MMK_IS_ALIGNED(va, sz) && end - va >= sz)
			return sz;
	return as->page_size;
}

/*
 * Fill [start, end), where nothing is mapped: one block and one single map
 * per page, each as large as alignment allows.  On failure the block in
 * hand goes back and what was mapped before is zapped (its blocks put
 * after the flush): nothing changed.
 */
static int huge_populate(struct mmk_aspace_op *op,
			 const struct mmk_mset_area *a, mmk_vaddr_t start,
			 mmk_vaddr_t end)
{
	struct mmk_aspace *as = op->as;
	uint32_t flags = mmk_backend_page_flags(as, a->flags);
	for (mmk_vaddr_t va = start; va < end;) {
		uint64_t sz = fill_size(as, a, va, end);
		mmk_paddr_t pa;
		int err = huge_alloc(as, sz, &pa);
		if (!err) {
			err = mmk_pt_map(&as->pt, va, pa, sz, flags,
					 op->gather);
			if (err)
				(void)mmk_frame_free(as->frames, pa);
		}
		if (err) {
			if (va > start)
				mmk_backend_zap_pages(op, start, va, true);
			return err;
		}
		va += sz;
	}
	return 0;
}

static int huge_fault(const struct mmk_fault *f, struct mmk_fault_page *out)
{
	/* Present: a write to a read-only page after a fork: the whole
	 * page taken over or copied (mmk_backend_cow_fault copies
	 * f->page_size bytes, the leaf's size).  No huge zero page: a
	 * never-touched huge page is a fresh zeroed block. */
	if (f->present) {
		if (!(f->access & MMK_ACCESS_WRITE))
			return MMK_EFAULT; /* its pages keep the other rights */
		return mmk_backend_cow_fault(f, out);
	}
	int err = huge_alloc(f->as, f->page_size, &out->pa);
	if (err)
		return err;
	out->flags = f->prot;
	out->owned = true;
	return 0;
}

static enum mmk_clone_mode huge_clone(const struct mmk_mset_area *a)
{
	(void)a;
	return MMK_CLONE_COW;
}

const struct mmk_backend mmk_backend_huge = {
	.name = "huge",
	.props = MMK_BACKEND_OWNS_FRAMES | MMK_BACKEND_SPLIT_FRAMES,
	.populate = huge_populate,
	.fault = huge_fault,
	.protect = mmk_backend_protect_private, /* shared pages stay RO */
	.clone = huge_clone,
	.page_size = huge_page_size,
};
