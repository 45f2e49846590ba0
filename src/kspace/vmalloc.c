/* SPDX-License-Identifier: MIT */
/*
 * vmalloc and vmap: virtually contiguous kernel ranges over scattered
 * frames, in the vmalloc window, each followed by a guard area.  The
 * frames are listed in the area's private data; the area's backend maps
 * them when the area is made (populate) and the default zap takes them
 * out.  vmalloc's backend owns its frames (they go back to the
 * allocator after the unmap's flush); vmap's does not (the caller's).
 *
 * vmalloc takes every frame and the list before the mapper, so the only
 * allocations under the IRQ-disabled lock are table pages (from the
 * reserve) and area objects.
 */
#include "kspace_internal.h"

/* An area's frames: frame[i] backs page i of the area. */
struct vm_frames {
	size_t n;
	size_t bytes; /* what was allocated, for the free */
	mmk_paddr_t frame[];
};

static mmk_paddr_t vm_pa(void *ctx, mmk_vaddr_t va)
{
	const struct mmk_mset_area *a = ctx;
	const struct vm_frames *v = a->priv;
	return v->frame[(va - a->start) / mmk__ks.page_size];
}

/* Map the frames of [start, end), a part of @a; all or nothing. */
static int vm_populate(struct mmk_aspace_op *op, const struct mmk_mset_area *a,
		       mmk_vaddr_t start, mmk_vaddr_t end)
{
	struct mmk_aspace *as = op->as;
	return mmk_pt_map_region_fn(&as->pt, start, end - start,
				    mmk_backend_page_flags(as, a->flags), 0,
				    vm_pa, (void *)(uintptr_t)a, op->gather);
}

static void vm_release(const struct mmk_mset_area *a)
{
	struct vm_frames *v = a->priv;
	mmk_hal_obj_free(v, v->bytes);
}

static enum mmk_clone_mode vm_clone(const struct mmk_mset_area *a)
{
	(void)a;
	return MMK_CLONE_SHARE;
}

/* Whole areas only (vfree): no split hook, the list is never cut. */
static const struct mmk_backend vmalloc_backend = {
	.name = "vmalloc",
	.props = MMK_BACKEND_OWNS_FRAMES,
	.populate = vm_populate,
	.release = vm_release,
	.clone = vm_clone,
};

static const struct mmk_backend vmap_backend = {
	.name = "vmap",
	.props = MMK_BACKEND_SHARED,
	.populate = vm_populate,
	.release = vm_release,
	.clone = vm_clone,
};

static struct vm_frames *vm_list(size_t n)
{
	size_t bytes = sizeof(struct vm_frames) + n * sizeof(mmk_paddr_t);
	struct vm_frames *v = mmk_hal_obj_alloc(bytes, 8);
	if (v) {
		v->n = n;
		v->bytes = bytes;
	}
	return v;
}

/* Map @v in the window; on error @v stays the caller's. */
static int vm_place(struct vm_frames *v, uint32_t flags,
		    const struct mmk_backend *b, mmk_vaddr_t *out)
{
	struct mmk__kspace *ks = &mmk__ks;
	struct mmk_kmapper m;
	int err = mmk__kspace_begin(&m);
	if (err)
		return err;
	err = mmk__kspace_place(ks->cfg.vmalloc_base, ks->cfg.vmalloc_size,
				v->n * ks->page_size, 0, flags, b, 0, v, out);
	mmk_kmapper_unlock(&m);
	return err;
}

static int vm_check(uint64_t pages)
{
	if (!mmk__ks.up)
		return MMK_ENOENT;
	if (!mmk__ks.cfg.vmalloc_size)
		return MMK_ENOTSUP;
	if (pages > mmk__ks.cfg.vmalloc_size / mmk__ks.page_size)
		return MMK_ENOMEM;
	return MMK_OK;
}

int mmk_vmalloc(uint64_t size, mmk_vaddr_t *out)
{
	struct mmk__kspace *ks = &mmk__ks;
	if (!out)
		return MMK_EINVAL;
	/* before the page size is used: it is 0 until init */
	if (!ks->up)
		return MMK_ENOENT;
	if (size == 0 || size + ks->page_size < size)
		return MMK_EWRAP;
	uint64_t n = (size + ks->page_size - 1) / ks->page_size;
	int err = vm_check(n);
	if (err)
		return err;
	struct vm_frames *v = vm_list(n);
	if (!v)
		return MMK_ENOMEM;
	unsigned order = ks->as.page_shift - MMK_PAGE_SHIFT;
	size_t got = 0;
	for (; got < n; got++)
		if (mmk_frame_alloc(ks->cfg.frames, order, MMK_FRAME_ZERO,
				    &v->frame[got]))
			break;
	err = got < n ? MMK_ENOMEM
		      : vm_place(v, MMK_PT_RW | MMK_PT_GLOBAL, &vmalloc_backend,
				 out);
	if (err) {
		while (got)
			mmk_frame_free(ks->cfg.frames, v->frame[--got]);
		mmk_hal_obj_free(v, v->bytes);
	}
	return err;
}

int mmk_vmap(const mmk_paddr_t *frames, size_t n, uint32_t flags,
	     mmk_vaddr_t *out)
{
	struct mmk__kspace *ks = &mmk__ks;
	if (!frames || !out || n == 0)
		return MMK_EINVAL;
	int err = vm_check(n);
	if (err)
		return err;
	uint32_t f;
	err = mmk__kspace_flags(flags, &f);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++)
		if (frames[i].v & (ks->page_size - 1))
			return MMK_EALIGN;
	struct vm_frames *v = vm_list(n);
	if (!v)
		return MMK_ENOMEM;
	for (size_t i = 0; i < n; i++)
		v->frame[i] = frames[i];
	err = vm_place(v, f, &vmap_backend, out);
	if (err)
		mmk_hal_obj_free(v, v->bytes);
	return err;
}

int mmk_vfree(mmk_vaddr_t va)
{
	struct mmk__kspace *ks = &mmk__ks;
	struct mmk_kmapper m;
	int err = mmk__kspace_begin(&m);
	if (err)
		return err;
	struct mmk_aspace_area a, g;
	err = MMK_ENOENT;
	if (mmk_aspace_find_area(&ks->as, va, &a) && a.start == va &&
	    (a.backend == &vmalloc_backend || a.backend == &vmap_backend) &&
	    mmk_aspace_find_area(&ks->as, a.end, &g) &&
	    g.backend == &mmk_backend_guard) {
		/* vmalloc's frames go back after the flush (the zap) */
		mmk__kspace_unmap_whole(a.start, g.end);
		err = MMK_OK;
	}
	mmk_kmapper_unlock(&m);
	return err;
}
