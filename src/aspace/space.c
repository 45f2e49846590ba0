/* SPDX-License-Identifier: MIT */
/* A space's life cycle: create, clear, destroy, activation, sharing. */
#include "aspace_internal.h"

/* The page flags of every READ/WRITE/EXEC combination, once: the fault
 * path looks them up instead of asking the format each time. */
static void fill_fit(struct mmk_aspace *as)
{
	for (uint32_t p = 0; p < 8; p++) {
		uint32_t have;
		as->fit[p] = mmk_pt_fit_flags(&as->pt, p, &have) == 0
				     ? (uint8_t)(have & MMK_PT_RWX)
				     : MMK__AS_NOFIT;
	}
}

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
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, NULL, 0);
	err = mmk_pt_unmap_region(&as->pt, base, size, &g, NULL, NULL);
	if (err) {
		mmk_pt_destroy(&as->pt);
		return err;
	}
	as->map_flushes = mmk_pt_map_needs_flush(&as->pt);
	fill_fit(as);
	return 0;
}

static int clear_one(struct mmk_mset_area *a, void *arg)
{
	struct mmk_aspace_op *op = arg;
	mmk__as_zap(op, a, a->start, a->end);
	const struct mmk_backend *b = mmk_backend_of(a);
	if (b->release)
		b->release(a);
	return 0;
}

void mmk_aspace_clear(struct mmk_aspace *as)
{
	struct mmk__aspace_work *w = mmk__op_begin(as);
	mmk_mset_foreach(&as->areas, 0, clear_one, &w->op);
	mmk_mset_clear(&as->areas);
	mmk__op_end(as);
}

void mmk_aspace_destroy(struct mmk_aspace *as)
{
	mmk_aspace_clear(as);
	/* The space's own reference on its zero page (the leaves' went with
	 * the clear, after its flush); children may still hold theirs. */
	uint64_t z = atomic_load_explicit(&as->zero_page, memory_order_acquire);
	if (z) {
		int r = mmk_frame_put(as->frames, mmk_pa(z & ~(uint64_t)1));
		MMK_ASSERT(r >= 0);
		atomic_store_explicit(&as->zero_page, 0, memory_order_relaxed);
	}
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
