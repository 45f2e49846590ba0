/* SPDX-License-Identifier: MIT */
/*
 * The alloc backend: private anonymous memory.  Zero-filled frames from
 * the space's frame allocator, one base page each, mapped at map time
 * (populate) or on first touch (fault: a read maps the space's zero page
 * read-only, a write a fresh frame).  offset = start, so neighbours merge.
 * Frames go back on zap, after the flush (MMK_BACKEND_OWNS_FRAMES, the
 * default zap: every leaf holds one reference).  Fork makes its pages
 * copy-on-write (src/backend/common.c, mmk_backend_cow_fault).
 */
#include <mmkit/backend.h>

/* Frames are taken and mapped up to this many pages at a time, their
 * addresses kept in the operation's scratch memory (not the stack). */
#define ALLOC_CHUNK 64

struct chunk {
	mmk_vaddr_t start;
	unsigned shift;
	mmk_paddr_t *pa;
};

static mmk_paddr_t chunk_pa(void *ctx, mmk_vaddr_t va)
{
	struct chunk *c = ctx;
	return c->pa[(va - c->start) >> c->shift];
}

/*
 * Fill [start, end), where nothing is mapped: ALLOC_CHUNK zeroed frames,
 * then one region map of them, chunk after chunk.  On failure the chunk's
 * frames go straight back (never mapped) and the chunks before it are
 * zapped again (their frames after the flush), so nothing changed.
 */
static int alloc_populate(struct mmk_aspace_op *op,
			  const struct mmk_mset_area *a, mmk_vaddr_t start,
			  mmk_vaddr_t end)
{
	struct mmk_aspace *as = op->as;
	uint32_t flags = mmk_backend_page_flags(as, a->flags);
	struct chunk c;
	MMK_STATIC_ASSERT(MMK__AS_SCRATCH >= ALLOC_CHUNK * sizeof(mmk_paddr_t),
			  "a chunk fits the operation's scratch");
	c.pa = op->scratch;
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
						   flags, 0, chunk_pa, &c,
						   op->gather);
		if (err) {
			for (uint64_t i = 0; i < got; i++)
				(void)mmk_backend_free_page(as, c.pa[i]);
			if (va > start)
				mmk_backend_zap_pages(op, start, va, true);
			return err;
		}
		va += n << c.shift;
	}
	return 0;
}

/* Fork: both spaces map the frames read-only; a write copies. */
static enum mmk_clone_mode alloc_clone(const struct mmk_mset_area *a)
{
	(void)a;
	return MMK_CLONE_COW;
}

const struct mmk_backend mmk_backend_alloc = {
	.name = "alloc",
	.props = MMK_BACKEND_OWNS_FRAMES,
	.populate = alloc_populate,
	.fault = mmk_backend_anon_fault,
	.protect = mmk_backend_protect_private,
	.clone = alloc_clone,
};
