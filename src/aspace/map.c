/* SPDX-License-Identifier: MIT */
/*
 * New areas.  The memory set prepares the insert (its nodes and the area
 * object), the backend fills the area if asked (the area is not visible
 * yet, and the backend's populate is all or nothing), and only then does
 * the set commit, which cannot fail.
 */
#include "aspace_internal.h"

int mmk_aspace_map(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
		   uint32_t flags, bool populate, const struct mmk_backend *b,
		   uint64_t offset, void *priv)
{
	int err = mmk__as_check_range(as, start, size);
	if (err)
		return err;
	if (!b)
		return MMK_EINVAL;
	err = mmk__as_check_prot(as, flags);
	if (err)
		return err;
	struct mmk_mset_area tmpl = {
		.start = start,
		.end = start + size,
		.offset = offset,
		.flags = flags,
		.kind = b,
		.priv = priv,
	};
	struct mmk__aspace_work *w = mmk__op_begin(as);
	struct mmk_mset_txn *t = &w->txn;
	err = mmk_mset_prepare_insert(&as->areas, &tmpl, 0, t);
	if (!err && populate && b->populate) {
		err = b->populate(&w->op, t->area, start, start + size);
		if (err)
			mmk_mset_abort(&as->areas,
				       t); /* priv stays the caller's */
	}
	if (!err) {
		mmk_mset_commit(&as->areas, t);
		mmk__as_bury(as, t);
	}
	mmk__op_end(as);
	return err;
}

int mmk_aspace_map_linear(struct mmk_aspace *as, mmk_vaddr_t va, mmk_paddr_t pa,
			  uint64_t size, uint32_t flags)
{
	int err = mmk__as_check_range(as, va, size);
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

/* mmk_aspace_map_huge's own checks.  Out of line: the table's info is
 * not on the stack under the map (docs/STACK.md). */
__attribute__((noinline)) static int huge_check(struct mmk_aspace *as,
						mmk_vaddr_t start,
						uint64_t size,
						uint64_t page_size)
{
	struct mmk_pt_info info;
	mmk_pt_info(&as->pt, &info);
	if (page_size <= as->page_size || (page_size & (page_size - 1)))
		return MMK_EINVAL;
	if (!(info.page_sizes & page_size) ||
	    page_size > (MMK_PAGE_SIZE << MMK_FRAME_MAX_ORDER))
		return MMK_ENOTSUP;
	if (size == 0 || start + size < start)
		return MMK_EWRAP;
	if ((start | size) & (page_size - 1))
		return MMK_EALIGN;
	return 0;
}

int mmk_aspace_map_huge(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
			uint32_t flags, uint64_t page_size, bool populate)
{
	int err = huge_check(as, start, size, page_size);
	if (err)
		return err;
	/* priv is the page size (nothing to hold); offset = start, so
	 * neighbours of one page size and flags merge */
	return mmk_aspace_map(as, start, size, flags, populate,
			      &mmk_backend_huge, start,
			      (void *)(uintptr_t)page_size);
}

int mmk_aspace_map_guard(struct mmk_aspace *as, mmk_vaddr_t start,
			 uint64_t size)
{
	return mmk_aspace_map(as, start, size, 0, false, &mmk_backend_guard,
			      start, NULL);
}
