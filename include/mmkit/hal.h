/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the hardware/kernel abstraction layer (HAL).
 *
 * Everything mmkit needs from the kernel that embeds it comes through the
 * functions declared here.  The core under src/ calls nothing else (apart
 * from memset/memcpy/memmove/memcmp, which GCC and clang require of every
 * freestanding environment).  Exactly one implementation is linked: hosted/
 * for Linux user space (tests, benchmarks), or the kernel's own.
 *
 * Conventions for every hook:
 *  - "May be called with a spinlock held and interrupts disabled" unless a
 *    hook says otherwise: hooks must not sleep.
 *  - Hooks never call back into mmkit.
 *
 * Build-time options (include/mmkit/config.h says how to give them, the
 * same to the core and to the kernel):
 *  MMK_CFG_HAL_LINEAR_MAP  (default 1) the kernel maps all RAM at a constant
 *        offset: phys<->virt is an add of mmk_hal_pv_offset, inlined.  With 0
 *        the kernel provides mmk_hal_phys_to_virt / mmk_hal_virt_to_phys.
 *  MMK_CFG_DEBUG_HOOKS     (default 0) compile in the failure-injection and
 *        accounting hooks (mmk_hal_failpoint, mmk_hal_frame_note); the hosted
 *        test HAL turns this on, a production kernel leaves it off.
 *  MMK_CFG_MAX_CPUS        (default 64) size of CPU masks and per-CPU arrays.
 *  MMK_CFG_HAL_TLB_SHOOTDOWN (default 0) which TLB hooks the kernel gives:
 *        0 the synchronous mask-taking flush_range / flush_all, 1 the local
 *        flushes and one asynchronous shootdown call (see below).
 *  MMK_CFG_HAL_INLINE      (undefined) a header giving mmk_hal_cpu_id,
 *        mmk_hal_irq_save/restore and mmk_hal_cpu_relax as static inline
 *        functions instead of calls (see below).
 */
#ifndef MMKIT_HAL_H
#define MMKIT_HAL_H

#include <mmkit/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Physical <-> virtual translation for memory mmkit touches itself: page
 * table pages, frames being zeroed or copied, frame metadata.
 *
 * Called on every hot path (once per table level, once per frame zeroed).
 * Precondition: the address lies in RAM handed to mmkit (or in a page-table
 * page mmkit allocated).  Guarantee: the returned pointer is valid for the
 * whole frame and stays valid (a permanent mapping).
 *
 * virt_to_phys is also asked for mmkit's own static data: the loongarch64
 * formats keep their shared all-invalid tables in .bss and hand their
 * physical address to the hardware walker.  A kernel whose image is not
 * covered by the linear offset must provide the two functions instead
 * (MMK_CFG_HAL_LINEAR_MAP=0) and translate image addresses too.
 * ------------------------------------------------------------------------ */
#if MMK_CFG_HAL_LINEAR_MAP
/**
 * virt = phys + mmk_hal_pv_offset for all RAM.  Set once by the kernel before
 * mmkit is used (hosted: set by the arena setup).  Never changes afterwards.
 * Must be a multiple of MMK_PAGE_SIZE, so that page-aligned physical memory
 * is page-aligned where mmkit touches it (frames, tables, slabs):
 * mmk_frames_init refuses another offset with MMK_EINVAL.
 */
extern uintptr_t mmk_hal_pv_offset;

static inline void *mmk_phys_to_virt(mmk_paddr_t pa)
{
	return (void *)(uintptr_t)(pa.v + mmk_hal_pv_offset);
}

static inline mmk_paddr_t mmk_virt_to_phys(const void *va)
{
	return mmk_pa((uint64_t)((uintptr_t)va - mmk_hal_pv_offset));
}
#else
void *mmk_hal_phys_to_virt(mmk_paddr_t pa);
mmk_paddr_t mmk_hal_virt_to_phys(const void *va);

static inline void *mmk_phys_to_virt(mmk_paddr_t pa)
{
	return mmk_hal_phys_to_virt(pa);
}

static inline mmk_paddr_t mmk_virt_to_phys(const void *va)
{
	return mmk_hal_virt_to_phys(va);
}
#endif

/* ------------------------------------------------------------------------
 * Object memory for mmkit's metadata (area nodes, space structures).
 * ------------------------------------------------------------------------ */
/**
 * Allocate @size bytes aligned to @align (a power of two, <= 4096).
 * May fail: returns NULL, and mmkit rolls back whatever it was doing.
 * Called with mmkit locks held; must not sleep.  Contents are undefined.
 * A kernel may route this to mmkit's own slab allocator (mmk_kmalloc).
 */
void *mmk_hal_obj_alloc(size_t size, size_t align);

/** Free what mmk_hal_obj_alloc returned; @size is the size asked for. */
void mmk_hal_obj_free(void *p, size_t size);

/* ------------------------------------------------------------------------
 * CPUs, interrupts.
 * ------------------------------------------------------------------------ */
#ifdef MMK_CFG_HAL_INLINE
/*
 * The kernel gives these four as static inline functions in the header
 * named by MMK_CFG_HAL_INLINE (e.g. -DMMK_CFG_HAL_INLINE='"my_hal.h"'):
 * they sit on the fastest paths (a per-CPU cache pop is a handful of
 * instructions; three calls out of line would double it).  A per-CPU
 * register read, a flags save and `cli` are what a kernel has anyway.
 */
#include MMK_CFG_HAL_INLINE
#else
/** Id of the calling CPU, < MMK_CFG_MAX_CPUS.  Stable while IRQs are off. */
unsigned mmk_hal_cpu_id(void);

/** Disable interrupts on this CPU; returns the state to restore. */
unsigned long mmk_hal_irq_save(void);

/** Restore the state mmk_hal_irq_save returned. */
void mmk_hal_irq_restore(unsigned long flags);

/** A hint inside spin loops (pause / yield); may be empty. */
void mmk_hal_cpu_relax(void);
#endif

/* ------------------------------------------------------------------------
 * TLB maintenance and the page-table root.
 * ------------------------------------------------------------------------ */
/** A set of CPUs, one bit per CPU id. */
typedef struct {
	uint64_t bits[(MMK_CFG_MAX_CPUS + 63) / 64];
} mmk_cpumask_t;

#define MMK_ASID_ALL UINT32_MAX

/*
 * Two ways to give mmkit its TLB maintenance, chosen at build time by
 * MMK_CFG_HAL_TLB_SHOOTDOWN (PORTING.md, "TLB shootdown"):
 *
 *  0 (default)  mmk_hal_tlb_flush_range / mmk_hal_tlb_flush_all below, each
 *               synchronous on every CPU of its mask: what a kernel ported
 *               before shootdowns existed already has.  mmkit calls them
 *               once per range; a local flush is one with only the caller's
 *               bit set.
 *  1            mmk_hal_tlb_local_range / mmk_hal_tlb_local_all (this CPU
 *               only: invlpg, sfence.vma, tlbi, invtlb) and one shootdown
 *               call, mmk_hal_tlb_shootdown, that carries a whole request
 *               (every range of one operation) to the other CPUs at once
 *               and overlaps their work with the local flush.
 */
/** Ranges one shootdown request carries (more: it asks for a full flush). */
#define MMK_TLB_FLUSH_RANGES 16

/** A range of virtual addresses [start, end), page aligned, start < end. */
struct mmk_tlb_range {
	mmk_vaddr_t start, end;
};

/**
 * One shootdown request: what every target CPU must invalidate.  Built by
 * mmkit on the initiator's stack (the ranges are the initiator's: its
 * gather's); valid until mmk_hal_tlb_shootdown returns, so a target reads
 * it in place, no copy.
 *
 *   all      every translation tagged @asid (everything, globals included,
 *            when @asid is MMK_ASID_ALL); the ranges are then unused
 *   ranges   else range[i] for i < nranges (at most MMK_TLB_FLUSH_RANGES),
 *            tagged @asid, and global ones too when @global
 */
struct mmk_tlb_flush {
	uint32_t asid;
	bool all;
	bool global;
	unsigned nranges;
	const struct mmk_tlb_range *range;
};

#if MMK_CFG_HAL_TLB_SHOOTDOWN
/**
 * Invalidate [start, end) tagged with @asid (and global translations when
 * @global) on the calling CPU only, and wait for it to complete.
 */
void mmk_hal_tlb_local_range(uint32_t asid, mmk_vaddr_t start, mmk_vaddr_t end,
			     bool global);

/** Invalidate everything tagged @asid (all, globals too: MMK_ASID_ALL)
 *  on the calling CPU only. */
void mmk_hal_tlb_local_all(uint32_t asid);

/**
 * Carry out @f on every CPU of @cpus, the caller included when its bit is
 * set, and return only when all have completed it.  The order is the
 * point of the call:
 *
 *   1. send @f to every other CPU of @cpus (an IPI each, or one multicast;
 *      do not wait for them here)
 *   2. mmk_tlb_flush_local(f) on this CPU if its bit is set
 *   3. wait until every other CPU has acknowledged
 *
 * so the local flush overlaps the remote ones.  A target's IPI handler
 * calls mmk_tlb_flush_local(f) and acknowledges.  mmkit never holds a
 * global lock around this: two CPUs may shoot down at the same time (each
 * waits for its own acknowledgements; a CPU that waits must still answer
 * the IPIs of others, i.e. wait with IPIs enabled or poll for them).
 * Called with the space's lock held and interrupts possibly disabled by
 * mmkit's own locks: the kernel's IPI path must cope (x86 and arm64
 * kernels do: their shootdown IPIs are not maskable by the spinlock's
 * irqsave on the *target*, which is what matters).  Never called with an
 * empty @cpus.
 */
void mmk_hal_tlb_shootdown(const mmk_cpumask_t *cpus,
			   const struct mmk_tlb_flush *f);

/**
 * What a target does with a request: the local hooks, once per range or
 * once in full.  Pure (reads @f, calls the local hooks): an IPI handler
 * may call it, the one call from a hook into mmkit the contract allows.
 */
static inline void mmk_tlb_flush_local(const struct mmk_tlb_flush *f)
{
	if (f->all) {
		mmk_hal_tlb_local_all(f->asid);
		return;
	}
	for (unsigned i = 0; i < f->nranges; i++)
		mmk_hal_tlb_local_range(f->asid, f->range[i].start,
					f->range[i].end, f->global);
}
#else
/**
 * Invalidate translations of [start, end) tagged with @asid (and global ones
 * when @global is set) on every CPU in @cpus, the calling CPU included if its
 * bit is set.  Returns only when every listed CPU has completed it (a
 * shootdown waits for acknowledgements).  Called after page-table entries
 * have been changed and before the frames they pointed to are reused.
 * start and end are page aligned, start < end.
 */
void mmk_hal_tlb_flush_range(const mmk_cpumask_t *cpus, uint32_t asid,
			     mmk_vaddr_t start, mmk_vaddr_t end, bool global);

/**
 * Invalidate every translation tagged with @asid (everything, globals
 * included, when @asid is MMK_ASID_ALL) on every CPU in @cpus.  Used past
 * the batch threshold, where one full flush is cheaper than many pages,
 * and for the local flushes of ASID rollover (only the caller's bit set).
 */
void mmk_hal_tlb_flush_all(const mmk_cpumask_t *cpus, uint32_t asid);
#endif

/**
 * Make @root (the physical address of a top-level table) the current CPU's
 * translation root with @asid.  It need not flush (x86_64 with PCIDs: set
 * CR3 bit 63): mmkit flushes itself where a switch needs it (an ASID
 * rollover; with ASIDs off, the CPU a space is switched away from).  @regval is
 * the architecture register value mmkit computed for it (satp, CR3, TTBR0_EL1,
 * PGDL), which the kernel may write as is or rebuild; the kernel adds any
 * barrier its CPU needs.
 */
void mmk_hal_write_root(mmk_paddr_t root, uint32_t asid, uint64_t regval);

/* ------------------------------------------------------------------------
 * Logging.
 * ------------------------------------------------------------------------ */
enum mmk_log_level { MMK_LOG_ERROR, MMK_LOG_WARN, MMK_LOG_INFO, MMK_LOG_DEBUG };

/**
 * Emit one complete, NUL-terminated line (no trailing newline) at @level.
 * mmkit formats the text itself (mmk_log).  Used for reports of misuse
 * (double free, leaked objects) and boot messages; never on hot paths.
 */
void mmk_hal_log(int level, const char *line);

/* ------------------------------------------------------------------------
 * Debug hooks: failure injection and accounting, for test HALs only.
 * ------------------------------------------------------------------------ */
/** Sites at which an allocation can be made to fail. */
enum mmk_failsite { MMK_FAIL_FRAME, MMK_FAIL_OBJ };

#if MMK_CFG_DEBUG_HOOKS
/**
 * Asked before every frame allocation mmkit makes (object allocations are
 * already visible to the HAL): return true to make it fail with ENOMEM.
 */
bool mmk_hal_failpoint(enum mmk_failsite site);

/** Told of every frame block handed out (+) or returned (-), 2^order pages. */
void mmk_hal_frame_note(mmk_paddr_t pa, unsigned order, bool alloc);
#else
static inline bool mmk_hal_failpoint(enum mmk_failsite site)
{
	(void)site;
	return false;
}

static inline void mmk_hal_frame_note(mmk_paddr_t pa, unsigned order,
				      bool alloc)
{
	(void)pa;
	(void)order;
	(void)alloc;
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_HAL_H */
