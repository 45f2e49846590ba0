/* SPDX-License-Identifier: MIT */
/*
 * The linear backend: [start, end) maps to [offset, offset + (end -
 * start)), all at map time, with the largest pages alignment allows.  The
 * area's offset is the physical address of its start, so two linear areas
 * merge only when they are physically contiguous.  Never faults; the
 * frames are not its own (a zap puts nothing); fork shares the mapping.
 */
#include <mmkit/backend.h>

static int linear_populate(struct mmk_aspace_op *op,
			   const struct mmk_mset_area *a, mmk_vaddr_t start,
			   mmk_vaddr_t end)
{
	struct mmk_aspace *as = op->as;
	uint64_t pa = a->offset + (start - a->start);
	return mmk_pt_map_region(&as->pt, start, mmk_pa(pa), end - start,
				 mmk_backend_page_flags(as, a->flags),
				 MMK_PT_MAP_HUGE, op->gather);
}

static enum mmk_clone_mode linear_clone(const struct mmk_mset_area *a)
{
	(void)a;
	return MMK_CLONE_SHARE;
}

const struct mmk_backend mmk_backend_linear = {
	.name = "linear",
	.props = MMK_BACKEND_SHARED | MMK_BACKEND_SHOW_OFFSET,
	.populate = linear_populate,
	.clone = linear_clone,
};

/*
 * The guard backend: address space reserved with no pages and no access
 * (PROT_NONE), so a guard gap beside a stack or between kernel stacks is
 * an area of its own from the start and never needs a split later.  Fork
 * gives the child the same gap (SHARE: there are no pages to share).
 */
const struct mmk_backend mmk_backend_guard = {
	.name = "guard",
	.clone = linear_clone,
};
