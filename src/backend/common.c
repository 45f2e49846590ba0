/* SPDX-License-Identifier: MIT */
/*
 * What every backend may use: frames for pages, page flags fitted to the
 * format, and the default zap.  Runs under the space's lock, held as the
 * calling hook says (backend.h); never calls the address-space layer.
 */
#include <mmkit/backend.h>
#include <mmkit/log.h>

int mmk_backend_alloc_page(struct mmk_aspace *as, mmk_paddr_t *pa)
{
	return mmk_frame_alloc(as->frames, as->page_shift - MMK_PAGE_SHIFT,
			       MMK_FRAME_ZERO, pa);
}

int mmk_backend_free_page(struct mmk_aspace *as, mmk_paddr_t pa)
{
	return mmk_frame_free(as->frames, pa);
}

void mmk_backend_put(struct mmk_aspace_op *op, mmk_paddr_t pa)
{
	mmk_tlb_gather_put(op->gather, op->as->frames, pa);
}

/* mmk_pt_unmap_fn: every page of the run goes back after the flush. */
static void put_run(void *ctx, const struct mmk_pt_leaf *run)
{
	struct mmk_aspace_op *op = ctx;
	for (uint64_t off = 0; off < run->size; off += run->page_size)
		mmk_backend_put(op, mmk_pa_add(run->pa, off));
}

void mmk_backend_zap_pages(struct mmk_aspace_op *op, mmk_vaddr_t start,
			   mmk_vaddr_t end, bool put)
{
	int err = mmk_pt_unmap_region(&op->as->pt, start, end - start,
				      op->gather, put ? put_run : NULL, op);
	MMK_ASSERT(err == 0); /* no huge page straddles an edge */
}
