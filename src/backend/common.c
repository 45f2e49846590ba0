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

/* The CPUs @as is active on now (after the caller's edits: seq_cst). */
static bool active_cpus(const struct mmk_aspace *as, mmk_cpumask_t *out)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (size_t i = 0; i < MMK_ARRAY_SIZE(out->bits); i++)
		out->bits[i] =
			__atomic_load_n(&as->active.bits[i], __ATOMIC_RELAXED);
	return !mmk_cpumask_empty(out);
}

int mmk_backend_fault_map(const struct mmk_fault *f, struct mmk_pt_cursor *c,
			  mmk_vaddr_t va, mmk_paddr_t pa, uint32_t prot)
{
	struct mmk_aspace *as = f->as;
	uint32_t flags = mmk_backend_page_flags(as, prot);
	if (MMK_LIKELY(!as->map_flushes))
		return c ? mmk_pt_map_cursor(c, va, pa, flags, NULL)
			 : mmk_pt_map(&as->pt, va, pa, f->page_size, flags,
				      NULL);
	/* The TLB may hold the invalid entry: flush it where active. */
	struct mmk_tlb_gather g;
	mmk_cpumask_t cpus;
	mmk_tlb_gather_init(&g, active_cpus(as, &cpus) ? &cpus : NULL,
			    as->asid);
	int err = mmk_pt_map(&as->pt, va, pa, f->page_size, flags, &g);
	mmk_tlb_gather_finish(&g);
	return err;
}

void mmk_backend_flush_now(struct mmk_aspace_op *op)
{
	/* A CPU that activated the space since the operation began may
	 * have cached an entry the edits changed: ask again (op->cpus is
	 * the mask the gather flushes; mmk__op_end asks once more). */
	if (op->gather->cpus == &op->cpus && active_cpus(op->as, &op->cpus))
		mmk_tlb_gather_flush(op->gather);
}
