/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the kernel address space: one global mmk_aspace over the kernel
 * half, built at boot from the platform's memory regions and the kernel
 * image's sections; user spaces that share its half where one root serves
 * both; a re-entrant kernel mapper with flush handles; MMIO (ioremap) and
 * vmalloc windows.  ArceOS axmm's lib.rs and DragonOS's KernelMapper,
 * MMIO space and PageFlush, over the layers below.
 *
 *   kernel half, [high_start, 2^64) of the format
 *   +--------------+----------------+--------------+---------------+
 *   | linear map   |  ...           | vmalloc      | ioremap       |
 *   | va = pa +    |  (image        | window       | window        |
 *   | linear_offset|   sections)    | area, guard  | area, guard   |
 *   +--------------+----------------+--------------+---------------+
 *   (mmk_kspace_config_default's layout; every part is configurable)
 *
 * Locking.  Every call that changes the kernel space takes the kernel
 * mapper (an IRQ-safe spinlock that records its holder); none sleeps.  A
 * call made on a CPU that already holds the mapper (an interrupt arriving
 * while that CPU maps) does not deadlock: it gets a read-only view and
 * every change fails with MMK_EBUSY.  Queries (mmk_kmapper_query,
 * mmk_kspace_root) work in that view.
 *
 * Memory.  Table pages for kernel mappings come from a per-CPU reserve,
 * refilled before the lock is taken (with interrupts in the caller's
 * state), so a kernel mapping under the IRQ-disabled lock allocates
 * frames only once its CPU's reserve is spent.  (The engine initialises
 * each table page as it hooks it in, so the reserve does not zero them
 * beforehand: src/kspace/pool.c.)  vmalloc takes
 * its data frames before the lock as well.  Area objects come from
 * mmk_hal_obj_alloc under the lock (it must not sleep: hal.h).
 *
 * All or nothing: init, ioremap, vmalloc, vmap and the mapper's map either
 * succeed or change nothing (no area, no entry, no frame or object left
 * allocated except the reserve's pages, which mmk_kspace_reserve_pages
 * counts), with the error named.
 *
 * Kernel half in user spaces.  Where one root serves both halves (x86_64,
 * riscv64: a format whose canonical range has both a lower and an upper
 * part), init pre-populates every top-level entry of the kernel half with
 * a table of its own and pins it, and mmk_kspace_user_create copies those
 * entries into each new user table: every kernel mapping made later, at
 * any time, is seen by every user space made before or after it, with no
 * synchronisation.  Where the hardware has a second root (aarch64 TTBR1,
 * loongarch64 PGDH: the kernel table is a MMK_PT_OPT_HIGH_HALF table) a
 * user space holds only its lower half and the kernel root stays loaded
 * in the other register: nothing is copied.
 */
#ifndef MMKIT_KSPACE_H
#define MMKIT_KSPACE_H

#include <mmkit/aspace.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Table pages each CPU keeps in reserve for kernel mappings (at most). */
#ifndef MMK_CFG_KSPACE_RESERVE
#define MMK_CFG_KSPACE_RESERVE 16
#endif

/* ------------------------------------------------------------ config */
/* Rights and types of a memory region (mmk_kspace_region.flags). */
#define MMK_KREGION_READ     (1u << 0)
#define MMK_KREGION_WRITE    (1u << 1)
#define MMK_KREGION_EXECUTE  (1u << 2)
#define MMK_KREGION_DEVICE   (1u << 3) /* strongly ordered I/O */
#define MMK_KREGION_UNCACHED (1u << 4) /* uncached memory */
#define MMK_KREGION_FLAGS    0x1fu

/**
 * A physical memory region the platform reports (RAM, firmware, MMIO).  It
 * is mapped at pa + linear_offset, rounded outwards to whole pages, with
 * the largest pages alignment allows.  Refused (MMK_EINVAL): no READ /
 * WRITE / EXECUTE, WRITE with EXECUTE, DEVICE with UNCACHED, EXECUTE with
 * DEVICE, unknown bits.  MMK_EWRAP: size 0 or wrapping.  MMK_ERANGE: a
 * physical address the format cannot encode, or a linear address outside
 * the kernel half.  MMK_EEXIST: overlapping another region once rounded.
 */
struct mmk_kspace_region {
	mmk_paddr_t start;
	uint64_t size;
	uint32_t flags; /* MMK_KREGION_* */
	const char *name;
};

/** What a kernel image section holds, which decides its rights. */
enum mmk_ksection_kind {
	MMK_KSECT_TEXT,	  /* READ | EXEC */
	MMK_KSECT_RODATA, /* READ */
	MMK_KSECT_DATA,	  /* READ | WRITE (data, bss, stacks): never EXEC */
};

/**
 * A section of the kernel image, mapped at @va (its link address) to @pa.
 * va and pa must be page aligned (MMK_EALIGN: rounding outwards could give
 * a page both W and X); size is rounded up.  MMK_EEXIST if it overlaps a
 * region's linear map, a window or another section.
 */
struct mmk_kspace_section {
	mmk_vaddr_t va;
	mmk_paddr_t pa;
	uint64_t size;
	enum mmk_ksection_kind kind;
	const char *name;
};

/** How to build the kernel space (mmk_kspace_init). */
struct mmk_kspace_config {
	enum mmk_pt_format_id format;
	unsigned pt_opts;	   /* MMK_PT_OPT_*; HIGH_HALF is added where
				      the format has a second root */
	struct mmk_frames *frames; /* frames and table pages */
	mmk_vaddr_t linear_offset; /* region va = pa + linear_offset */
	const struct mmk_kspace_region *regions;
	size_t nregions;
	const struct mmk_kspace_section *sections;
	size_t nsections;
	/* [base, base + size): where ioremap / vmalloc place their ranges
	 * (page aligned, in the kernel half, not overlapping anything else;
	 * size 0 disables the window: MMK_ENOTSUP) */
	mmk_vaddr_t io_base;
	uint64_t io_size;
	mmk_vaddr_t vmalloc_base;
	uint64_t vmalloc_size;
	/* A memory type the format cannot encode (riscv64 without Svpbmt,
	 * where the PMAs decide) maps as NORMAL instead of MMK_ENOTSUP. */
	bool mt_fallback;
	/* init leaves the boot CPU on the table it runs on (it is a flush
	 * target of the kernel space all the same): a kernel still
	 * executing from an identity map below the kernel half switches
	 * later itself (mmk_kspace_init_secondary, or a user space made by
	 * mmk_kspace_user_create that maps the identity range). */
	bool no_switch;
};

/**
 * Fill @cfg with @format's default layout (no regions, no sections):
 * linear map at the start of the kernel half, the vmalloc and ioremap
 * windows in its second half (each an eighth of the kernel half, at most
 * 1 TiB), mt_fallback on riscv64 without Svpbmt.  MMK_ENOTSUP / MMK_EINVAL
 * as mmk_pt_format_info.
 */
int mmk_kspace_config_default(struct mmk_kspace_config *cfg,
			      enum mmk_pt_format_id format, unsigned pt_opts,
			      struct mmk_frames *frames);

/* -------------------------------------------------------- the space */
/**
 * Build the kernel space from @cfg and switch the calling (boot) CPU to
 * it (unless cfg->no_switch).  Checks every region, section and window first
 * (errors above: MMK_EINVAL, MMK_EWRAP, MMK_EALIGN, MMK_ERANGE, MMK_EEXIST;
 * MMK_EINVAL / MMK_ENOTSUP for the format as mmk_pt_format_info; a second
 * init: MMK_EBUSY), then builds; MMK_ENOMEM with everything built so far
 * freed.  On error nothing is built and no CPU is switched.
 */
int mmk_kspace_init(const struct mmk_kspace_config *cfg);

/**
 * Switch the calling CPU (a secondary one) to the kernel space.  From init
 * or init_secondary on, a CPU stays a flush target of the kernel space
 * whichever root it loads later (a user space sharing the kernel half
 * caches kernel translations too): never mmk_aspace_deactivate it.
 */
void mmk_kspace_init_secondary(void);

/**
 * Tear the kernel space down (shutdown, tests): every ioremap, vmalloc and
 * mapper mapping is removed, table pages and the reserves freed.
 * MMK_EBUSY while user spaces made with mmk_kspace_user_create live;
 * MMK_ENOENT if there is no kernel space.  Callable from CPU 0 only while
 * no other CPU uses the space.
 */
int mmk_kspace_destroy(void);

/** The kernel space (NULL before init), for queries and dumps. */
struct mmk_aspace *mmk_kspace(void);

/** Physical address of the kernel root table (0 before init). */
mmk_paddr_t mmk_kspace_root(void);

/** True where user spaces share the kernel's top-level entries. */
bool mmk_kspace_shares_root(void);

/**
 * Make @as an empty user space over [base, base + size) of the lower half
 * (MMK_ERANGE outside it), in the kernel's format, sharing the kernel half
 * where one root serves both (see the header comment).  Errors, nothing
 * made: MMK_EINVAL (@as NULL), MMK_EWRAP (size 0, wrapping), MMK_ERANGE,
 * MMK_EALIGN (base or size not page-aligned), MMK_ENOMEM, MMK_ENOENT before
 * init.  Destroy with mmk_kspace_user_destroy.
 */
int mmk_kspace_user_create(struct mmk_aspace *as, mmk_vaddr_t base,
			   uint64_t size);

/** Destroy a space made with mmk_kspace_user_create. */
void mmk_kspace_user_destroy(struct mmk_aspace *as);

/**
 * Keep up to @pages (at most MMK_CFG_KSPACE_RESERVE) table pages per CPU; 0
 * turns the reserve off (tests: table pages then come straight from the
 * allocator, where failures can be injected).  Pages above the new count are
 * freed.
 */
void mmk_kspace_set_reserve(unsigned pages);

/** Table pages the reserves hold now, every CPU together. */
long mmk_kspace_reserve_pages(void);

/* ------------------------------------------------------- the mapper */
/**
 * A hold of the kernel mapper, on the caller's stack.  Taken on a CPU that
 * does not hold it: exclusive, interrupts off until unlock.  Taken on the
 * CPU that holds it (an interrupt): a read-only view.
 */
struct mmk_kmapper {
	bool readonly;
	unsigned cpu;
	unsigned long irq; /* interrupt state to restore */
};

/** A flush a mapping asks for: flush it or ignore it, never drop it. */
struct mmk_kflush {
	mmk_vaddr_t start, end;
	uint32_t state; /* private */
};

/** Take the mapper (see struct mmk_kmapper).  Never fails. */
void mmk_kmapper_lock(struct mmk_kmapper *m);

/**
 * Give the mapper back.  In a debug build (MMK_CFG_DEBUG_HOOKS or
 * MMK_CFG_DEBUG) a flush handle made under this hold and neither flushed
 * nor ignored is reported at MMK_LOG_ERROR ("kspace: ... dropped").
 */
void mmk_kmapper_unlock(struct mmk_kmapper *m);

/** True if @m is a read-only view (this CPU already held the mapper). */
bool mmk_kmapper_readonly(const struct mmk_kmapper *m);

/**
 * Map [va, va + size) to [pa, pa + size) with @flags (MMK_PT_RWX, MMK_PT_MT_*;
 * GLOBAL is added), any size: the range is rounded outwards to whole pages
 * (va and pa must have the same offset in a page, else MMK_EALIGN), huge
 * pages where alignment allows.  With @flush the caller gets a handle for
 * the new range, to flush (mmk_kflush_flush) or ignore (mmk_kflush_ignore)
 * before unlocking; NULL asks for no flush (adding mappings needs none
 * except where mmk_pt_map_needs_flush says so, and then the kernel space
 * flushes by itself).  MMK_EBUSY in a read-only view; MMK_EINVAL for W+X or
 * other bits; errors of mmk_aspace_map_linear.
 */
int mmk_kmapper_map(struct mmk_kmapper *m, mmk_vaddr_t va, mmk_paddr_t pa,
		    uint64_t size, uint32_t flags, struct mmk_kflush *flush);

/**
 * Remove what the mapper mapped in [va, va + size) (page aligned), with
 * the flush done on every CPU using the kernel space before it returns.
 * MMK_EBUSY in a read-only view, or for a range touching a root-level
 * leaf where user tables share the kernel's entries (they hold copies of
 * it: the linear map of riscv64 Sv39's 1 GiB pages is permanent);
 * MMK_ENOMEM (nothing changed) if a huge page must be cut and no table
 * page is left.
 */
int mmk_kmapper_unmap(struct mmk_kmapper *m, mmk_vaddr_t va, uint64_t size);

/**
 * Translate @va in the kernel table (pa and flags may be NULL); works in
 * a read-only view too (it reads the table without a lock, as the
 * interrupted CPU left it).  MMK_ENOENT if unmapped.
 */
int mmk_kmapper_query(const struct mmk_kmapper *m, mmk_vaddr_t va,
		      mmk_paddr_t *pa, uint32_t *flags);

/** Flush the handle's range on every CPU using the kernel space. */
void mmk_kflush_flush(struct mmk_kflush *f);

/** Say the handle's flush is not needed (a mapping nobody used yet). */
void mmk_kflush_ignore(struct mmk_kflush *f);

/** Handles made and neither flushed nor ignored yet (tests). */
unsigned long mmk_kspace_pending_flushes(void);

/* ------------------------------------------------------------- MMIO */
/** Memory types of ioremap. */
enum mmk_io_type {
	MMK_IO_DEVICE,	 /* strongly ordered (the default) */
	MMK_IO_UNCACHED, /* uncached, weakly ordered */
	MMK_IO_WC,	 /* write combining */
};

/**
 * Map the device range [pa, pa + size) read-write in the ioremap window
 * with memory type @type and return the virtual address of @pa in *@out
 * (pa's offset in its page kept).  Each call gets a range of its own
 * followed by an unmapped guard page; repeated ioremaps of one range do
 * not share a mapping (each is its own, iounmap'd on its own).  Errors:
 * MMK_EWRAP (size 0, wrapping), MMK_EINVAL (unknown @type, NULL @out),
 * MMK_ENOTSUP (no window, a type the format cannot encode without
 * mt_fallback), MMK_ERANGE (pa not encodable), MMK_ENOMEM (window full or
 * out of memory), MMK_EBUSY (read-only view), MMK_ENOENT (no kernel
 * space).  Nothing changes on error.
 */
int mmk_ioremap(mmk_paddr_t pa, uint64_t size, enum mmk_io_type type,
		mmk_vaddr_t *out);

/**
 * Remove the ioremap mapping holding @va (any address inside it) and its
 * guard, flushed everywhere before returning.  MMK_ENOENT if @va is in no
 * ioremap mapping, MMK_EBUSY in a read-only view.
 */
int mmk_iounmap(mmk_vaddr_t va);

/* ----------------------------------------------------------- vmalloc */
/**
 * @size bytes (rounded up to base pages) of virtually contiguous kernel
 * memory, read-write, zeroed, from scattered frames, followed by an
 * unmapped guard page, in the vmalloc window.  MMK_ENOMEM (window full or
 * out of memory) / MMK_EWRAP (size 0, wrapping) / MMK_ENOTSUP (no window)
 * / MMK_EBUSY (read-only view) / MMK_EINVAL (@out NULL) / MMK_ENOENT (no
 * kernel space), nothing changed.
 */
int mmk_vmalloc(uint64_t size, mmk_vaddr_t *out);

/**
 * Map the @n frame blocks @frames (each one base page of the format, page
 * aligned) contiguously, read-write (@flags: MMK_PT_RW, MMK_PT_READ, ...,
 * a memory type; GLOBAL added), with a guard page after.  The frames stay
 * the caller's: vfree unmaps them without putting them.  Errors, nothing
 * changed: MMK_EINVAL (n 0, NULL, W+X, other bits), MMK_EALIGN, MMK_ERANGE
 * (a frame the format cannot encode), MMK_ENOMEM (more pages than the
 * window, or out of memory), MMK_ENOTSUP (no window, a memory type the
 * format cannot encode without mt_fallback), MMK_EBUSY (read-only view),
 * MMK_ENOENT (no kernel space).
 */
int mmk_vmap(const mmk_paddr_t *frames, size_t n, uint32_t flags,
	     mmk_vaddr_t *out);

/**
 * Unmap the vmalloc / vmap range starting at @va and its guard; frames of
 * a vmalloc go back to the allocator after the flush.  MMK_ENOENT if @va
 * is not the start of one; MMK_EBUSY in a read-only view.
 */
int mmk_vfree(mmk_vaddr_t va);

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_KSPACE_H */
