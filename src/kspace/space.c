/* SPDX-License-Identifier: MIT */
/*
 * The kernel space's life: check the platform's description, build the
 * space (linear map of the regions, the image's sections, the shared
 * top-level entries), switch CPUs to it, make user spaces, tear down.
 */
#include "kspace_internal.h"

struct mmk__kspace mmk__ks = {.reserve = MMK_CFG_KSPACE_RESERVE};

struct mmk_aspace *mmk_kspace(void)
{
	return mmk__ks.up ? &mmk__ks.as : NULL;
}

mmk_paddr_t mmk_kspace_root(void)
{
	return mmk__ks.up ? mmk__ks.as.pt.root : mmk_pa(0);
}

bool mmk_kspace_shares_root(void)
{
	return mmk__ks.up && mmk__ks.shared;
}

/* ---------------------------------------------------------- layout */
/* No libc here: the architecture's name compared by hand. */
static bool arch_is(const struct mmk_pt_info *info, const char *name)
{
	const char *a = info->arch;
	while (*a && *a == *name) {
		a++;
		name++;
	}
	return *a == *name;
}

int mmk_kspace_config_default(struct mmk_kspace_config *cfg,
			      enum mmk_pt_format_id format, unsigned pt_opts,
			      struct mmk_frames *frames)
{
	struct mmk_pt_info info;
	if (!cfg)
		return MMK_EINVAL;
	int err = mmk_pt_format_info(format, &info);
	if (err)
		return err;
	__builtin_memset(cfg, 0, sizeof(*cfg));
	cfg->format = format;
	cfg->pt_opts = pt_opts;
	cfg->frames = frames;
	/* the kernel half is [2^64 - half, 2^64) */
	uint64_t half = info.high_start ? 0 - info.high_start
					: (uint64_t)1 << info.va_bits;
	mmk_vaddr_t kbase = 0 - half;
	uint64_t win = MMK_MIN(half / 8, (uint64_t)1 << 40);
	cfg->linear_offset = kbase;
	cfg->vmalloc_base = kbase + half / 2;
	cfg->vmalloc_size = win;
	cfg->io_base = cfg->vmalloc_base + win;
	cfg->io_size = win;
	cfg->mt_fallback =
		arch_is(&info, "riscv64") && !(pt_opts & MMK_PT_OPT_SVPBMT);
	return MMK_OK;
}

/* ---------------------------------------------------------- checks */
struct span {
	mmk_vaddr_t start, end; /* [start, end) */
};

static bool spans_overlap(struct span a, struct span b)
{
	return a.start < b.end && b.start < a.end;
}

/* A virtual range of the kernel half (the aspace ends a page early). */
static bool in_kernel(mmk_vaddr_t s, mmk_vaddr_t e)
{
	return s >= mmk__ks.kbase && e > s && e <= 0 - mmk__ks.page_size;
}

static int check_window(mmk_vaddr_t base, uint64_t size, struct span *out)
{
	out->start = out->end = 0;
	if (size == 0)
		return MMK_OK;
	if (base + size < base)
		return MMK_EWRAP;
	if ((base | size) & (mmk__ks.page_size - 1))
		return MMK_EALIGN;
	if (!in_kernel(base, base + size))
		return MMK_ERANGE;
	*out = (struct span){base, base + size};
	return MMK_OK;
}

static int region_span(const struct mmk_kspace_config *cfg,
		       const struct mmk_kspace_region *r, unsigned pa_bits,
		       struct span *pa, struct span *va)
{
	uint32_t f = r->flags;
	if ((f & ~MMK_KREGION_FLAGS) ||
	    !(f & (MMK_KREGION_READ | MMK_KREGION_WRITE | MMK_KREGION_EXECUTE)))
		return MMK_EINVAL;
	if ((f & MMK_KREGION_WRITE) && (f & MMK_KREGION_EXECUTE))
		return MMK_EINVAL; /* never W+X */
	if ((f & MMK_KREGION_DEVICE) &&
	    (f & (MMK_KREGION_UNCACHED | MMK_KREGION_EXECUTE)))
		return MMK_EINVAL;
	uint64_t ps = mmk__ks.page_size;
	if (r->size == 0 || r->start.v + r->size < r->start.v ||
	    MMK_ALIGN_UP(r->start.v + r->size, ps) < r->start.v)
		return MMK_EWRAP;
	pa->start = MMK_ALIGN_DOWN(r->start.v, ps);
	pa->end = MMK_ALIGN_UP(r->start.v + r->size, ps);
	if (pa->end == 0 || (pa_bits < 64 && (pa->end - 1) >> pa_bits))
		return MMK_ERANGE;
	va->start = pa->start + cfg->linear_offset;
	va->end = va->start + (pa->end - pa->start);
	if (va->start < pa->start || !in_kernel(va->start, va->end))
		return MMK_ERANGE;
	return MMK_OK;
}

static int section_span(const struct mmk_kspace_section *s, unsigned pa_bits,
			struct span *va)
{
	uint64_t ps = mmk__ks.page_size;
	if ((unsigned)s->kind > MMK_KSECT_DATA)
		return MMK_EINVAL;
	if (s->size == 0 || s->va + s->size < s->va ||
	    MMK_ALIGN_UP(s->va + s->size, ps) < s->va ||
	    s->pa.v + s->size < s->pa.v)
		return MMK_EWRAP;
	if ((s->va | s->pa.v) & (ps - 1))
		return MMK_EALIGN;
	uint64_t size = MMK_ALIGN_UP(s->size, ps);
	if (pa_bits < 64 && (s->pa.v + size - 1) >> pa_bits)
		return MMK_ERANGE;
	*va = (struct span){s->va, s->va + size};
	if (!in_kernel(va->start, va->end))
		return MMK_ERANGE;
	return MMK_OK;
}

/*
 * Every check, before anything is built.  O(n^2) in regions + sections:
 * a platform has a few dozen.
 */
static int check_config(const struct mmk_kspace_config *cfg, unsigned pa_bits)
{
	struct span io, vm, pa, va, pb, vb;
	int err = check_window(cfg->io_base, cfg->io_size, &io);
	if (!err)
		err = check_window(cfg->vmalloc_base, cfg->vmalloc_size, &vm);
	if (err)
		return err;
	if (spans_overlap(io, vm))
		return MMK_EEXIST;
	if ((cfg->nregions && !cfg->regions) ||
	    (cfg->nsections && !cfg->sections))
		return MMK_EINVAL;
	for (size_t i = 0; i < cfg->nregions; i++) {
		err = region_span(cfg, &cfg->regions[i], pa_bits, &pa, &va);
		if (err)
			return err;
		if (spans_overlap(va, io) || spans_overlap(va, vm))
			return MMK_EEXIST;
		for (size_t j = 0; j < i; j++) {
			region_span(cfg, &cfg->regions[j], pa_bits, &pb, &vb);
			if (spans_overlap(pa, pb))
				return MMK_EEXIST;
		}
	}
	for (size_t i = 0; i < cfg->nsections; i++) {
		err = section_span(&cfg->sections[i], pa_bits, &va);
		if (err)
			return err;
		if (spans_overlap(va, io) || spans_overlap(va, vm))
			return MMK_EEXIST;
		for (size_t j = 0; j < cfg->nregions; j++) {
			region_span(cfg, &cfg->regions[j], pa_bits, &pb, &vb);
			if (spans_overlap(va, vb))
				return MMK_EEXIST;
		}
		for (size_t j = 0; j < i; j++) {
			section_span(&cfg->sections[j], pa_bits, &vb);
			if (spans_overlap(va, vb))
				return MMK_EEXIST;
		}
	}
	return MMK_OK;
}

/* ---------------------------------------------------------- flags */
int mmk__kspace_flags(uint32_t flags, uint32_t *out)
{
	if (flags & ~(uint32_t)(MMK_PT_RWX | MMK_PT_MT_MASK | MMK_PT_GLOBAL))
		return MMK_EINVAL;
	if (!(flags & MMK_PT_RWX) || (flags & (MMK_PT_WRITE | MMK_PT_EXEC)) ==
					     (MMK_PT_WRITE | MMK_PT_EXEC))
		return MMK_EINVAL;
	flags |= MMK_PT_GLOBAL;
	uint32_t have;
	if (mmk_pt_fit_flags(&mmk__ks.as.pt, flags, &have) == MMK_ENOTSUP &&
	    mmk__ks.cfg.mt_fallback)
		flags &= ~(uint32_t)MMK_PT_MT_MASK; /* the PMAs decide */
	*out = flags;
	return MMK_OK;
}

static uint32_t region_flags(uint32_t f)
{
	uint32_t p = MMK_PT_GLOBAL;
	if (f & MMK_KREGION_READ)
		p |= MMK_PT_READ;
	if (f & MMK_KREGION_WRITE)
		p |= MMK_PT_WRITE;
	if (f & MMK_KREGION_EXECUTE)
		p |= MMK_PT_EXEC;
	if (f & MMK_KREGION_DEVICE)
		p |= MMK_PT_MT_DEVICE;
	if (f & MMK_KREGION_UNCACHED)
		p |= MMK_PT_MT_UNCACHED;
	return p;
}

static const uint32_t section_flags[] = {
	[MMK_KSECT_TEXT] = MMK_PT_RX | MMK_PT_GLOBAL,
	[MMK_KSECT_RODATA] = MMK_PT_READ | MMK_PT_GLOBAL,
	[MMK_KSECT_DATA] = MMK_PT_RW | MMK_PT_GLOBAL,
};

uint64_t mmk__kspace_align_for(mmk_paddr_t pa, uint64_t len)
{
	uint64_t best = mmk__ks.page_size;
	for (unsigned s = 63; s > 0; s--) {
		uint64_t sz = (uint64_t)1 << s;
		if ((mmk__ks.leaf_sizes >> s & 1) && sz <= len &&
		    !(pa.v & (sz - 1)))
			return sz;
	}
	return best;
}

/* ------------------------------------------------------------ build */
/*
 * One root serves both halves: give every top-level entry of the kernel
 * half that is still empty a table now, pinned, so that user tables can
 * copy the entries once and see every later kernel mapping.  The public
 * calls suffice: a leaf of the largest size under the root in each empty
 * slot makes its table, copying into a scratch table pins the slots
 * (mmk_pt_copy_from), and removing the leaves leaves the pinned tables
 * empty.  Runs after the regions are mapped, so a root-level leaf of the
 * linear map (riscv64 Sv39's 1 GiB pages) stays one; user tables copy it
 * as it is, which is why the mapper will not unmap one (mapper.c).  The
 * space is active nowhere yet: nothing needs flushing.
 */
static struct mmk_pt prepop_scratch; /* boot only: off the boot stack */

static int prepopulate(void)
{
	struct mmk_pt *pt = &mmk__ks.as.pt;
	struct mmk_pt_info info;
	mmk_pt_info(pt, &info);
	unsigned top = info.levels - 1, lvl = top - 1;
	while (lvl > 0 && !(info.page_sizes >> pt->shift[lvl] & 1))
		lvl--;
	uint64_t slot = (uint64_t)1 << pt->shift[top];
	uint64_t leaf = (uint64_t)1 << pt->shift[lvl];
	uint64_t mine[MMK_PT_MAX_ROOT_ENTRIES / 64] = {0};
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, NULL, 0);
	mmk_vaddr_t va = mmk__ks.kbase;
	int err = MMK_OK;
	for (unsigned i = 0; !err; i++) {
		err = mmk_pt_map(pt, va, mmk_pa(0), leaf, MMK_PT_READ, &g);
		if (!err)
			mine[i / 64] |= (uint64_t)1 << (i % 64);
		else if (err == MMK_EEXIST)
			err = MMK_OK; /* the slot holds something already */
		va += slot;
		if (va == 0)
			break;
	}
	if (!err) {
		struct mmk_pt *scratch = &prepop_scratch;
		err = mmk_pt_create(scratch, mmk__ks.cfg.format, pt->opts,
				    mmk__ks.cfg.frames);
		if (!err) {
			err = mmk_pt_copy_from(scratch, pt, mmk__ks.kbase,
					       0 - mmk__ks.kbase);
			mmk_pt_destroy(scratch);
		}
	}
	va = mmk__ks.kbase;
	for (unsigned i = 0; i < MMK_PT_MAX_ROOT_ENTRIES; i++, va += slot)
		if (mine[i / 64] >> (i % 64) & 1)
			MMK_ASSERT(mmk_pt_unmap(pt, va, &g, NULL) == 0);
	mmk_tlb_gather_finish(&g);
	return err;
}

static int build(const struct mmk_kspace_config *cfg)
{
	struct mmk__kspace *ks = &mmk__ks;
	int err = MMK_OK;
	for (size_t i = 0; !err && i < cfg->nregions; i++) {
		const struct mmk_kspace_region *r = &cfg->regions[i];
		uint64_t s = MMK_ALIGN_DOWN(r->start.v, ks->page_size);
		uint64_t e = MMK_ALIGN_UP(r->start.v + r->size, ks->page_size);
		uint32_t f;
		err = mmk__kspace_flags(region_flags(r->flags), &f);
		if (!err)
			err = mmk_aspace_map_linear(&ks->as,
						    s + cfg->linear_offset,
						    mmk_pa(s), e - s, f);
	}
	for (size_t i = 0; !err && i < cfg->nsections; i++) {
		const struct mmk_kspace_section *s = &cfg->sections[i];
		err = mmk_aspace_map_linear(
			&ks->as, s->va, s->pa,
			MMK_ALIGN_UP(s->size, ks->page_size),
			section_flags[s->kind]);
	}
	if (!err && ks->shared)
		err = prepopulate();
	return err;
}

static void teardown(void)
{
	struct mmk__kspace *ks = &mmk__ks;
	mmk_aspace_destroy(&ks->as);
	mmk__kspace_pool_trim(0);
	ks->up = false;
}

int mmk_kspace_init(const struct mmk_kspace_config *cfg)
{
	struct mmk__kspace *ks = &mmk__ks;
	struct mmk_pt_info info;
	if (!cfg || !cfg->frames)
		return MMK_EINVAL;
	if (ks->up)
		return MMK_EBUSY;
	int err = mmk_pt_format_info(cfg->format, &info);
	if (err)
		return err;
	/*
	 * Where the hardware has a second root for the upper half (aarch64
	 * TTBR1, loongarch64 PGDH) user tables hold no kernel half; formats
	 * without an upper range get one as a HIGH_HALF table.  Elsewhere
	 * (x86_64, riscv64) one root serves both and user tables share the
	 * kernel's top-level entries.
	 */
	ks->shared =
		!arch_is(&info, "aarch64") && !arch_is(&info, "loongarch64");
	unsigned opts = cfg->pt_opts & ~(unsigned)MMK_PT_OPT_HIGH_HALF;
	ks->user_opts = opts;
	if (!info.high_start)
		opts |= MMK_PT_OPT_HIGH_HALF;
	ks->kbase = info.high_start ? info.high_start
				    : 0 - ((uint64_t)1 << info.va_bits);
	ks->low_end = info.low_end;
	ks->page_size = (uint64_t)1 << info.page_shift;
	ks->leaf_sizes = info.page_sizes;
	err = check_config(cfg, info.pa_bits);
	if (err)
		return err;
	ks->cfg = *cfg;
	ks->cfg.regions = NULL;
	ks->cfg.sections = NULL;
	ks->cfg.nregions = ks->cfg.nsections = 0;
	mmk_spin_init(&ks->lock);
	mmk_atomic_init(&ks->owner, 0);
	mmk_atomic_init(&ks->pending, 0);
	ks->hold_seq = 0;
	ks->hold_flush = 0;
	ks->users = 0;
	err = mmk_aspace_create(&ks->as, ks->kbase,
				0 - ks->kbase - ks->page_size, cfg->format,
				opts, cfg->frames);
	if (err)
		return err;
	mmk__kspace_pool_setup();
	mmk__kspace_pool_refill();
	err = build(cfg);
	if (err) {
		teardown();
		return err;
	}
	ks->up = true;
	if (!cfg->no_switch) {
		mmk_kspace_init_secondary();
	} else {
		/* Not loaded, but the kernel's (global) translations are
		 * cached wherever the kernel runs, whatever root it runs
		 * on: this CPU is a flush target from now on. */
		unsigned long f = mmk_hal_irq_save();
		unsigned cpu = mmk_hal_cpu_id();
		__atomic_fetch_or(&ks->as.tlb.active.bits[cpu / 64],
				  (uint64_t)1 << (cpu % 64), __ATOMIC_SEQ_CST);
		__atomic_fetch_or(&ks->as.tlb.cached.bits[cpu / 64],
				  (uint64_t)1 << (cpu % 64), __ATOMIC_SEQ_CST);
		mmk_hal_irq_restore(f);
	}
	return MMK_OK;
}

void mmk_kspace_init_secondary(void)
{
	unsigned long f = mmk_hal_irq_save();
	mmk_aspace_activate(&mmk__ks.as);
	mmk_hal_irq_restore(f);
}

int mmk_kspace_destroy(void)
{
	struct mmk_kmapper m;
	int err = mmk__kspace_begin(&m);
	if (err)
		return err;
	bool busy = mmk__ks.users != 0;
	mmk_kmapper_unlock(&m);
	if (busy)
		return MMK_EBUSY;
	teardown();
	return MMK_OK;
}

/* ------------------------------------------------------ user spaces */
int mmk_kspace_user_create(struct mmk_aspace *as, mmk_vaddr_t base,
			   uint64_t size)
{
	struct mmk__kspace *ks = &mmk__ks;
	if (!as)
		return MMK_EINVAL;
	if (!ks->up)
		return MMK_ENOENT;
	if (size == 0 || base + size < base)
		return MMK_EWRAP;
	if (base + size > ks->low_end)
		return MMK_ERANGE;
	int err = mmk_aspace_create(as, base, size, ks->cfg.format,
				    ks->user_opts, ks->cfg.frames);
	if (err)
		return err;
	struct mmk_kmapper m;
	err = mmk__kspace_begin(&m);
	if (err) {
		mmk_aspace_destroy(as);
		return err;
	}
	/* The kernel's root slots are all populated and pinned (init), so
	 * the copy shares every kernel mapping, present and future. */
	if (ks->shared)
		err = mmk_pt_copy_from(&as->pt, &ks->as.pt, ks->kbase,
				       0 - ks->kbase);
	if (!err)
		ks->users++;
	mmk_kmapper_unlock(&m);
	if (err)
		mmk_aspace_destroy(as);
	return err;
}

void mmk_kspace_user_destroy(struct mmk_aspace *as)
{
	mmk_aspace_destroy(as);
	struct mmk_kmapper m;
	mmk_kmapper_lock(&m);
	MMK_ASSERT(!m.readonly && mmk__ks.users > 0);
	mmk__ks.users--;
	mmk_kmapper_unlock(&m);
}
