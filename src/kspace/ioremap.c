/* SPDX-License-Identifier: MIT */
/*
 * MMIO space: ioremap places each device range in the ioremap window
 * with a free-area search over it (the memory set keeps the largest gap
 * of every subtree, so the search is logarithmic: DragonOS keeps a buddy
 * of MMIO space instead), maps it with the linear backend and reserves
 * the page after it as a guard area (no pages, no access), so a driver
 * running off the end of its registers faults instead of reaching the
 * next device.  No sharing: two ioremaps of one range are two mappings.
 */
#include "kspace_internal.h"

static const uint32_t io_types[] = {
	[MMK_IO_DEVICE] = MMK_PT_MT_DEVICE,
	[MMK_IO_UNCACHED] = MMK_PT_MT_UNCACHED,
	[MMK_IO_WC] = MMK_PT_MT_WC,
};

void mmk__kspace_unmap_whole(mmk_vaddr_t start, mmk_vaddr_t end)
{
	int err = mmk_aspace_unmap(&mmk__ks.as, start, end - start);
	MMK_ASSERT(err == 0); /* whole areas: nothing to cut */
}

/*
 * Map [va, va + len) with @b and the guard page after it: both or none.
 * The guard first: if the area then fails, only the guard (which holds
 * nothing) is taken out again, and @priv stays the caller's on every
 * error.
 */
static int map_with_guard(mmk_vaddr_t va, uint64_t len, uint32_t flags,
			  const struct mmk_backend *b, uint64_t offset,
			  void *priv)
{
	struct mmk_aspace *as = &mmk__ks.as;
	uint64_t ps = mmk__ks.page_size;
	int err = mmk_aspace_map_guard(as, va + len, ps);
	if (err)
		return err;
	err = mmk_aspace_map(as, va, len, flags, true, b, offset, priv);
	if (err)
		mmk__kspace_unmap_whole(va + len, va + len + ps);
	return err;
}

int mmk__kspace_place(mmk_vaddr_t lo, uint64_t size, uint64_t len,
		      uint64_t align, uint32_t flags,
		      const struct mmk_backend *b, uint64_t offset, void *priv,
		      mmk_vaddr_t *out)
{
	struct mmk_aspace *as = &mmk__ks.as;
	uint64_t ps = mmk__ks.page_size;
	if (len + ps < len)
		return MMK_ENOMEM;
	mmk_vaddr_t va;
	int err = mmk_aspace_find_free_area(as, lo, len + ps, lo, lo + size,
					    align, &va);
	if (err && align > ps)
		err = mmk_aspace_find_free_area(as, lo, len + ps, lo, lo + size,
						ps, &va);
	if (err)
		return err == MMK_ENOMEM ? err : MMK_ENOMEM;
	err = map_with_guard(va, len, flags, b, offset, priv);
	if (!err)
		*out = va;
	return err;
}

int mmk_ioremap(mmk_paddr_t pa, uint64_t size, enum mmk_io_type type,
		mmk_vaddr_t *out)
{
	struct mmk__kspace *ks = &mmk__ks;
	if (!out || (unsigned)type >= MMK_ARRAY_SIZE(io_types))
		return MMK_EINVAL;
	if (size == 0 || pa.v + size < pa.v)
		return MMK_EWRAP;
	if (!ks->up)
		return MMK_ENOENT;
	if (!ks->cfg.io_size)
		return MMK_ENOTSUP;
	uint64_t ps = ks->page_size, off = pa.v & (ps - 1);
	uint64_t len = MMK_ALIGN_UP(off + size, ps);
	if (len < size)
		return MMK_EWRAP;
	uint32_t flags;
	int err = mmk__kspace_flags(MMK_PT_RW | io_types[type], &flags);
	if (err)
		return err;
	mmk_paddr_t p0 = mmk_pa(pa.v - off);
	struct mmk_kmapper m;
	err = mmk__kspace_begin(&m);
	if (err)
		return err;
	mmk_vaddr_t va;
	/* Aligned like pa where it can be, so large BARs get huge pages. */
	err = mmk__kspace_place(ks->cfg.io_base, ks->cfg.io_size, len,
				mmk__kspace_align_for(p0, len), flags,
				&mmk_backend_linear, p0.v, NULL, &va);
	mmk_kmapper_unlock(&m);
	if (!err)
		*out = va + off;
	return err;
}

int mmk_iounmap(mmk_vaddr_t va)
{
	struct mmk__kspace *ks = &mmk__ks;
	struct mmk_kmapper m;
	int err = mmk__kspace_begin(&m);
	if (err)
		return err;
	struct mmk_aspace_area a, g;
	mmk_vaddr_t lo = ks->cfg.io_base, hi = lo + ks->cfg.io_size;
	err = MMK_ENOENT;
	if (va >= lo && va < hi && mmk_aspace_find_area(&ks->as, va, &a) &&
	    a.backend == &mmk_backend_linear &&
	    mmk_aspace_find_area(&ks->as, a.end, &g) &&
	    g.backend == &mmk_backend_guard) {
		mmk__kspace_unmap_whole(a.start, g.end);
		err = MMK_OK;
	}
	mmk_kmapper_unlock(&m);
	return err;
}
