/* SPDX-License-Identifier: MIT */
/*
 * mmkit — page tables: one generic multi-level engine, one PTE format per
 * architecture (src/arch/<arch>/), chosen when a table is created.
 *
 * Vocabulary
 *  - level: 0 is the table of base pages (the "leaf table"), levels-1 is the
 *    root.  A level-L entry covers 2^shift(L) bytes of virtual space.
 *  - leaf: an entry that translates (a page at level 0, a huge page / block
 *    above).  Which levels may hold leaves is part of the format.
 *  - flags: the architecture-neutral MMK_PT_* bits below.  Each format
 *    encodes them exactly or refuses with MMK_ENOTSUP; a query reads back
 *    exactly what was mapped (plus ACCESSED/DIRTY as the hardware or the
 *    format's preset left them, see "Accessed and dirty").
 *
 * Ranges are half open, [va, va + size).  Addresses are checked in this
 * order, and every operation reports the first failing check:
 *   MMK_EWRAP      size 0, or va + size wraps past 2^64
 *   MMK_EALIGN     va, pa or size not a multiple of the page size involved
 *   MMK_ENONCANON  va (or the last byte of the range) not canonical
 *   MMK_ERANGE     range crosses the canonical hole, or a physical address
 *                  is beyond what the format can encode
 *   MMK_EBUSY      the range lies in root slots borrowed with copy_from
 *   MMK_ENOTSUP    flag combination or page size the format cannot express
 *   MMK_EEXIST / MMK_ENOENT / MMK_ENOMEM as each call says.
 *
 * All or nothing: every call either succeeds or returns an error having
 * changed nothing (no entry, no table page, nothing in the gather).  Table
 * pages every call needs are allocated (and huge pages split into prepared
 * tables) before the first entry visible to the hardware is written; the
 * commit that follows cannot fail.
 *
 * TLB: edits never flush by themselves.  Each edit that removes or reduces
 * a translation records it in a struct mmk_tlb_gather (include/mmkit/tlb.h),
 * together with the table pages it unhooked (queued with
 * mmk_tlb_gather_put); the caller finishes the gather once, which flushes
 * through the HAL and only then frees those table pages (unhook,
 * invalidate, free: the order of Linux's mmu_gather).  Adding a mapping
 * where there was none records nothing, unless the format says otherwise
 * (mmk_pt_map_needs_flush; see docs/ARCHITECTURE.md for each architecture).
 *
 * Locking (the caller's; the engine takes no lock):
 *  - Single-page mmk_pt_map and mmk_pt_map_cursor may run concurrently
 *    with each other and with mmk_pt_query / mmk_pt_walk on the same
 *    table (the address-space layer holds its lock shared for page
 *    faults).  New table pages and leaves are
 *    installed with a compare-and-swap on the empty entry: a CPU that loses
 *    the race to install a table frees its own and uses the winner's; one
 *    that finds its leaf already present gets MMK_EEXIST ("another CPU
 *    mapped it").
 *  - Everything else that changes the table (map_region, unmap, protect, the
 *    region forms, copy_from, destroy) needs exclusive access: nothing else
 *    may use the table meanwhile.
 *  - query and walk may run alongside single-page maps, never alongside an
 *    exclusive operation.
 */
#ifndef MMKIT_PT_H
#define MMKIT_PT_H

#include <mmkit/frame.h>
#include <mmkit/hal.h>
#include <mmkit/tlb.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ formats */
/** Every format mmkit defines.  A build may compile in a subset. */
enum mmk_pt_format_id {
	MMK_PT_X86_64_4L,   /* x86_64 4-level paging, 48-bit VA */
	MMK_PT_X86_64_5L,   /* x86_64 5-level paging (LA57), 57-bit VA */
	MMK_PT_RISCV_SV39,  /* riscv64 Sv39, 3 levels */
	MMK_PT_RISCV_SV48,  /* riscv64 Sv48, 4 levels */
	MMK_PT_RISCV_SV57,  /* riscv64 Sv57, 5 levels */
	MMK_PT_AARCH64_39,  /* aarch64 stage 1, 4 KiB granule, 39-bit VA */
	MMK_PT_AARCH64_48,  /* aarch64 stage 1, 4 KiB granule, 48-bit VA */
	MMK_PT_LA64_16K_3L, /* loongarch64, 16 KiB pages, 3 levels, 47-bit VA */
	MMK_PT_LA64_4K_4L,  /* loongarch64, 4 KiB pages, 4 levels, 48-bit VA */
	MMK_PT_FORMAT_COUNT
};

#define MMK_PT_MAX_LEVELS 5

/** What a caller may learn of a format (filled from the format's data). */
struct mmk_pt_info {
	const char *name;    /* "x86_64-4level", "riscv64-sv39", ... */
	const char *arch;    /* "x86_64", "riscv64", "aarch64", "loongarch64" */
	unsigned levels;     /* number of levels */
	unsigned page_shift; /* base page: 12 (4 KiB) or 14 (16 KiB) */
	unsigned va_bits;    /* bits of virtual address translated */
	unsigned pa_bits;    /* widest physical address the format encodes */
	uint64_t page_sizes; /* bit n set: 2^n-byte leaves are possible */
	uint64_t ad_preset;  /* MMK_PT_ACCESSED/DIRTY: set in every new leaf
				(DIRTY only in writable leaves) */
	/* Canonical addresses: [0, low_end) and [high_start, 2^64).  low_end
	 * is 0 if there is no lower range (a TTBR1 table), high_start is 0 if
	 * there is no upper range (a TTBR0 table). */
	mmk_vaddr_t low_end;
	mmk_vaddr_t high_start;
};

/**
 * Describe format @id into @out.  MMK_ENOTSUP if the format is not compiled
 * into this build, MMK_EINVAL for an unknown id.
 */
int mmk_pt_format_info(enum mmk_pt_format_id id, struct mmk_pt_info *out);

/* --------------------------------------------------------------- flags */
#define MMK_PT_READ	(1u << 0)
#define MMK_PT_WRITE	(1u << 1)
#define MMK_PT_EXEC	(1u << 2)
#define MMK_PT_USER	(1u << 3) /* user (EL0, PLV3, U/S=1) may access */
#define MMK_PT_GLOBAL	(1u << 4) /* translation shared by every ASID */
#define MMK_PT_ACCESSED (1u << 5) /* query: hardware accessed bit */
#define MMK_PT_DIRTY	(1u << 6) /* query: hardware dirty bit */

/** Memory type, a 2-bit field. */
#define MMK_PT_MT_SHIFT	   8
#define MMK_PT_MT_MASK	   (3u << MMK_PT_MT_SHIFT)
#define MMK_PT_MT_NORMAL   (0u << MMK_PT_MT_SHIFT) /* cacheable RAM */
#define MMK_PT_MT_DEVICE   (1u << MMK_PT_MT_SHIFT) /* strongly ordered I/O */
#define MMK_PT_MT_UNCACHED (2u << MMK_PT_MT_SHIFT) /* uncached memory */
#define MMK_PT_MT_WC	   (3u << MMK_PT_MT_SHIFT) /* write combining */

#define MMK_PT_RW  (MMK_PT_READ | MMK_PT_WRITE)
#define MMK_PT_RX  (MMK_PT_READ | MMK_PT_EXEC)
#define MMK_PT_RWX (MMK_PT_READ | MMK_PT_WRITE | MMK_PT_EXEC)
#define MMK_PT_FLAGS_ALL                                                       \
	(MMK_PT_RWX | MMK_PT_USER | MMK_PT_GLOBAL | MMK_PT_ACCESSED |          \
	 MMK_PT_DIRTY | MMK_PT_MT_MASK)

/*
 * Flags given to map/protect:
 *  - no READ, WRITE or EXEC (PROT_NONE) is still a mapping: the format
 *    stores it as an entry the hardware treats as invalid (a software bit
 *    says "mapped, no access"), which query, walk, protect and unmap see as
 *    a leaf with its address and other flags.
 *  - ACCESSED / DIRTY ask for the hardware bits to be set in the new leaf.
 *    Formats whose hardware would trap on first use set them anyway
 *    (mmk_pt_info.ad_preset); protect keeps the bits the old leaf had.
 *  - Unknown bits, or a combination the format cannot express (WRITE
 *    without READ on riscv64, EXEC without READ on x86_64, ...):
 *    MMK_ENOTSUP.
 */

/* ------------------------------------------------------------- the table */
/** Options given at create (format specific ones are ignored elsewhere). */
#define MMK_PT_OPT_SVPBMT                                                      \
	(1u << 0) /* riscv64: encode memory types with                         \
		     Svpbmt; without it only NORMAL is                         \
		     accepted (the PMAs decide) */
#define MMK_PT_OPT_HIGH_HALF                                                   \
	(1u << 1) /* aarch64: a TTBR1 table (VA with                           \
		     top bits all ones) */

#define MMK_PT_MAX_ROOT_ENTRIES 2048

/**
 * x86_64: the IA32_PAT value (MSR 0x277) the x86_64 format assumes.  The
 * reset value (WB, WT, UC-, UC, WB, WT, UC-, UC) with entry 4 changed to
 * WC: NORMAL = index 0 (WB), UNCACHED = 2 (PCD, UC-), DEVICE = 3 (PCD|PWT,
 * UC), WRITE_COMBINE = 4 (the PAT bit alone).  A kernel that keeps the
 * reset PAT gets WB instead of WC for MMK_PT_MT_WC and nothing else changes.
 */
#define MMK_PT_X86_64_PAT 0x0007040100070406ull

struct mmk__pt_format;

/**
 * Where a table takes its table pages from instead of its frame allocator
 * (the kernel space's per-CPU reserve, src/kspace/pool.c).  @take gives a
 * block of 2^@order frames of the table's allocator (freed later with
 * mmk_frame_free like any table page) and returns 0, or MMK_ENOMEM.  It is
 * called wherever the engine takes a table page, with the table owner's
 * locks held and perhaps interrupts off: it must not sleep.
 */
struct mmk_pt_page_source {
	int (*take)(void *ctx, unsigned order, mmk_paddr_t *pa);
	void *ctx;
};

/**
 * A page table.  Embed it anywhere; everything in it is private to the
 * engine and the format.
 */
struct mmk_pt {
	const struct mmk__pt_format *fmt;
	struct mmk_frames *frames; /* table pages come from here */
	mmk_paddr_t root;	   /* physical address of the root table */
	unsigned opts;		   /* MMK_PT_OPT_* */
	/* table pages from here when set (mmk_pt_set_page_source) */
	const struct mmk_pt_page_source *page_src;
	MMK_ATOMIC(long) tables; /* table pages owned, root included */
	uint8_t shift[MMK_PT_MAX_LEVELS + 1]; /* span shift of each level */
	uint32_t idx_mask[MMK_PT_MAX_LEVELS]; /* entries per table - 1 */
	uint64_t canon_add; /* va canonical iff ((va + canon_add) >> va_bits) ==
			       0 */
	MMK_ATOMIC(uint64_t) gen; /* bumped whenever a table page is unhooked */
	unsigned nborrowed;	  /* root slots borrowed (copy_from) */
	/* leaf tables this table points at that are (or were) shared with
	 * another table (mmk_pt_clone_range with MMK_PT_CLONE_SHARE): 0 keeps
	 * every edit on its unshared path */
	MMK_ATOMIC(long) nshared;
	/* leaf tables an unshare under a shared lock found it held last:
	 * other CPUs of this table may still be reading them, so they are
	 * freed by the next exclusive call (or destroy); 0 if none */
	MMK_ATOMIC(uint64_t) zombies;
	uint64_t fmt_data[4]; /* private to the format */
	/* root slots that point at another table's tables (copy_from) */
	uint64_t borrowed[MMK_PT_MAX_ROOT_ENTRIES / 64];
	/* root slots another table borrowed: their tables are never freed
	 * while this table lives, even when they become empty */
	uint64_t pinned[MMK_PT_MAX_ROOT_ENTRIES / 64];
	/* hints of the single-page map and query (pt/engine/fast.h): the
	 * level-0 ([0]) and level-1 ([1]) table they reached last, each with
	 * its address tag in one word (0: none); cleared whenever a table is
	 * unhooked (with gen), so they never name a table off the walk */
	MMK_ATOMIC(uint64_t) hint[2];
};

/**
 * Make @pt an empty table of format @id, its table pages from @frames (kept
 * by pointer; must outlive @pt).  Allocates the root (and whatever shared
 * tables the format needs).  Errors: MMK_EINVAL (unknown @id, @pt or
 * @frames NULL), MMK_ENOTSUP (format not compiled in, or an option it
 * refuses), MMK_ENOMEM.  On error @pt is unusable and nothing is
 * allocated.
 */
int mmk_pt_create(struct mmk_pt *pt, enum mmk_pt_format_id id, unsigned opts,
		  struct mmk_frames *frames);

/**
 * Free every table page @pt owns (not the leaf frames: those belong to
 * whoever mapped them; not the tables borrowed with copy_from).  The
 * caller must have flushed any TLB that may still hold translations of
 * @pt, and the table must be active on no CPU.
 */
void mmk_pt_destroy(struct mmk_pt *pt);

/**
 * Take @pt's table pages from @src from now on (NULL: its frame allocator
 * again).  @src is kept by pointer.  Exclusive access.
 */
void mmk_pt_set_page_source(struct mmk_pt *pt,
			    const struct mmk_pt_page_source *src);

/** The format's description (never fails once created). */
void mmk_pt_info(const struct mmk_pt *pt, struct mmk_pt_info *out);

/** Table pages @pt owns now, the root included (a statistic). */
long mmk_pt_table_pages(const struct mmk_pt *pt);

/** What the tables of a page table cost, level by level. */
struct mmk_pt_table_count {
	unsigned levels; /* the format's levels (entries past it are 0) */
	/* table pages owned at each level: pages[levels - 1] is the root
	 * (1), pages[0] the leaf tables; tables borrowed with copy_from are
	 * not counted, shared leaf tables are (by every table holding one) */
	long pages[MMK_PT_MAX_LEVELS];
	/* bytes of one table page at each level (4 KiB, 16 KiB, ...) */
	uint32_t bytes[MMK_PT_MAX_LEVELS];
	/* leaf tables among pages[0] that another table holds too now
	 * (fork's shared leaf tables, mmk_pt_clone_range) */
	long shared_leaf;
};

/**
 * Count the table pages @pt owns by walking its tables into @out (the sum
 * of out->pages is mmk_pt_table_pages).  Runs alongside single-page maps
 * as mmk_pt_walk does (a table installed meanwhile may or may not be
 * counted).  Cannot fail.
 */
void mmk_pt_count_tables(const struct mmk_pt *pt,
			 struct mmk_pt_table_count *out);

/**
 * The architecture's root register value for @pt with @asid: satp on
 * riscv64 (MODE, ASID, PPN), CR3 on x86_64 (PCID in bits 11:0 when @asid
 * is not 0), TTBR0/1_EL1 on aarch64 (ASID in 63:48), PGDL/PGDH on
 * loongarch64 (the table's physical address).
 */
uint64_t mmk_pt_root_regval(const struct mmk_pt *pt, uint32_t asid);

/** mmk_hal_write_root(root, asid, mmk_pt_root_regval(pt, asid)). */
void mmk_pt_activate(const struct mmk_pt *pt, uint32_t asid);

/* ------------------------------------------------------ single pages */
/**
 * Map the page of @page_size bytes at @va to @pa (both aligned to it).
 * Safe against concurrent single maps (see Locking).  @g may be NULL when
 * !mmk_pt_map_needs_flush(pt).  Errors, in the order above:
 * MMK_EWRAP (an unaligned @va so near 2^64 that va + page_size wraps),
 * MMK_EALIGN, MMK_ENONCANON, MMK_ERANGE (@pa beyond the format), MMK_EBUSY,
 * MMK_ENOTSUP (@page_size not a leaf size of the format, or @flags),
 * MMK_EEXIST if anything is mapped in [va, va + page_size) (a page, a huge
 * page covering it, or a table holding mappings where a huge page was
 * asked), MMK_ENOMEM if a table page could not be allocated.
 */
int mmk_pt_map(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
	       uint64_t page_size, uint32_t flags, struct mmk_tlb_gather *g);

/**
 * A map cursor: remembers the last leaf table a thread mapped into (and the
 * encoded flags), so that consecutive single-page maps near each other
 * skip the descent.  Private to one thread (on its stack or per CPU); it
 * is checked against pt->gen on every use, so any operation that frees
 * table pages (which run with exclusive access) invalidates it.
 */
struct mmk_pt_cursor {
	struct mmk_pt *pt;
	uint64_t gen;	/* pt->gen when filled */
	uint64_t tag;	/* first address of the cached table's range, or
			   MMK_PT_CURSOR_NONE (then gen is 0) */
	void *table;	/* the level-0 table (virtual), if tag is set */
	uint32_t flags; /* flags tmpl encodes */
	uint64_t tmpl;	/* encoded level-0 template for flags */
};

/** The tag of an empty cursor (no table's range starts there). */
#define MMK_PT_CURSOR_NONE UINT64_MAX

/** Make @c an empty cursor on @pt (the only way to start one). */
void mmk_pt_cursor_init(struct mmk_pt_cursor *c, struct mmk_pt *pt);

/**
 * mmk_pt_map of one base page through cursor @c: same checks and
 * concurrency guarantees (the leaf is installed with a compare-and-swap),
 * but a map next to the previous one costs the checks, a tag compare and
 * the CAS.  Errors as mmk_pt_map.
 */
int mmk_pt_map_cursor(struct mmk_pt_cursor *c, mmk_vaddr_t va, mmk_paddr_t pa,
		      uint32_t flags, struct mmk_tlb_gather *g);

/** True if adding a mapping where there was none needs a TLB flush. */
bool mmk_pt_map_needs_flush(const struct mmk_pt *pt);

/** One leaf mapping, or a run of them (see mmk_pt_unmap_region). */
struct mmk_pt_leaf {
	mmk_vaddr_t va;	    /* start of the leaf (or run) */
	mmk_paddr_t pa;	    /* physical address of va */
	uint64_t size;	    /* bytes: page_size for one leaf, more for a run */
	uint64_t page_size; /* size of each leaf */
	uint32_t flags;	    /* MMK_PT_* including ACCESSED/DIRTY */
	unsigned level;	    /* level the leaves sit at */
	uint64_t raw;	    /* the entry as read (mmk_pt_lookup only; 0 in
			       walks and unmap reports) */
	bool shared;	    /* the leaf sits in a leaf table shared with
			       another table (mmk_pt_lookup and walks; an
			       edit through this table first unshares it) */
};

/**
 * Read the leaf holding @va once: @out gets the leaf's first byte (va, pa),
 * size = page_size, flags, level and the raw entry.  May run alongside
 * single maps and replaces (the fault path's first step).  Errors:
 * MMK_ENONCANON, MMK_ENOENT if nothing is mapped (PROT_NONE leaves are
 * found); then only out->level is set: the level of the empty entry that
 * ended the walk (above 0: leaf tables are missing there).
 */
int mmk_pt_lookup(const struct mmk_pt *pt, mmk_vaddr_t va,
		  struct mmk_pt_leaf *out);

/**
 * Replace the leaf @old (as read by mmk_pt_lookup) by one mapping @pa with
 * @flags, same page size, with a compare-and-swap against old->raw:
 * MMK_EAGAIN if the entry changed meanwhile (another CPU was first),
 * nothing changed then.  @pa must be aligned to old->page_size (MMK_EALIGN)
 * and encodable (MMK_ERANGE); MMK_ENOTSUP for @flags the format cannot
 * express.  When @pa is the old address the hardware accessed/dirty bits
 * of the old entry are kept.  Safe alongside single maps, lookups and
 * other replaces (the fault path runs under a shared lock).  Records in
 * @g the flush the change needs: a changed address of an accessible leaf,
 * or a lost permission / changed memory type, user or global bit (and any
 * change on formats that cache invalid entries, mmk_pt_map_needs_flush).
 * Where the format needs break-before-make (aarch64: a changed address),
 * the entry goes through its PROT_NONE form (a leaf, so single maps keep
 * out; a racing lookup sees a leaf without access and its replace races
 * on that value), that page is flushed at once through @g, and the new
 * entry is installed with a second compare-and-swap; if a racing replace
 * won that one, MMK_EAGAIN and the racer's entry stays.  Errors, nothing
 * changed: for an @old that mmk_pt_lookup did not give, MMK_EWRAP,
 * MMK_EALIGN or MMK_ENONCANON (its va and page_size), MMK_EINVAL (its level
 * and page_size disagree); MMK_EBUSY (a borrowed root slot); MMK_EALIGN,
 * MMK_ERANGE (@pa); MMK_ENOTSUP (@flags); MMK_EAGAIN.
 */
int mmk_pt_replace(struct mmk_pt *pt, const struct mmk_pt_leaf *old,
		   mmk_paddr_t pa, uint32_t flags, struct mmk_tlb_gather *g);

/*
 * mmk_pt_replace that never unshares: MMK_EAGAIN, nothing changed, if
 * @old's leaf table is shared (the caller unshares it with mmk_pt_unshare
 * and looks again).  It allocates nothing, so a caller may hold a gather
 * on its stack around it (the fault path's copy-on-write, docs/STACK.md).
 */
int mmk__pt_replace_private(struct mmk_pt *pt, const struct mmk_pt_leaf *old,
			    mmk_paddr_t pa, uint32_t flags,
			    struct mmk_tlb_gather *g);

/*
 * The fault path's maps (src/aspace/fault.c, mmk_backend_fault_map): as
 * mmk_pt_map and mmk_pt_map_cursor with no gather, but they never
 * allocate: a missing table comes from @pool (may be NULL), and where it
 * holds too few, or the leaf table is shared with another table,
 * MMK_EAGAIN, nothing changed.  The fault then reserves the tables
 * (mmk__pt_reserve_fault) and unshares from its shallowest frame and
 * tries again, so that no allocation of a table is ever under a backend's
 * fault hook, and a fault that fails later (the hook's own page) has
 * hooked no table yet: reserve, then commit (docs/STACK.md).
 */
struct mmk_pt_resv;
int mmk__pt_map_private(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
			uint64_t page_size, uint32_t flags,
			struct mmk_pt_resv *pool);
int mmk__pt_map_cursor_private(struct mmk_pt_cursor *c, mmk_vaddr_t va,
			       mmk_paddr_t pa, uint32_t flags,
			       struct mmk_pt_resv *pool);

/*
 * Add to @r the table pages a leaf of @page_size at @va lacks now (upper
 * bound while only single maps run alongside).  0, MMK_ENOMEM (@r as it
 * was), MMK_ENONCANON, MMK_ENOTSUP (@page_size).
 */
int mmk__pt_reserve_fault(struct mmk_pt *pt, struct mmk_pt_resv *r,
			  mmk_vaddr_t va, uint64_t page_size);

/**
 * The flags a page asked to have @want is mapped with on this format:
 * @want itself when the format expresses it exactly (returns 0, *have ==
 * want), else the smallest superset the hardware forces, adding only
 * READ/WRITE/EXEC (EXEC alone on x86_64 and aarch64 -> READ|EXEC; WRITE
 * alone -> READ|WRITE where W-without-R is reserved or impossible), 0 as
 * well.  MMK_ENOTSUP if no superset helps (a memory type without Svpbmt,
 * ...), MMK_EINVAL for unknown bits.  Derived from the format's encoder,
 * for base pages.
 */
int mmk_pt_fit_flags(const struct mmk_pt *pt, uint32_t want, uint32_t *have);

/** True if @flags map exactly as asked (mmk_pt_fit_flags gives them back). */
bool mmk_pt_can_express(const struct mmk_pt *pt, uint32_t flags);

/**
 * Remove the leaf whose first byte is @va (va must be aligned to that
 * leaf's size, else MMK_EALIGN) and describe it in @out (may be NULL).
 * Tables that become empty are unhooked and freed when @g is finished.
 * Errors: MMK_EWRAP (an unaligned @va in the last page of 2^64),
 * MMK_EALIGN, MMK_ENONCANON, MMK_EBUSY, MMK_ENOENT if nothing is mapped at
 * @va.
 */
int mmk_pt_unmap(struct mmk_pt *pt, mmk_vaddr_t va, struct mmk_tlb_gather *g,
		 struct mmk_pt_leaf *out);

/**
 * Translate @va: the physical address of that byte, its flags and the size
 * of the leaf holding it (any out pointer may be NULL).  PROT_NONE leaves
 * are found (flags without READ/WRITE/EXEC).  Errors: MMK_ENONCANON,
 * MMK_ENOENT if unmapped.
 */
int mmk_pt_query(const struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t *pa,
		 uint32_t *flags, uint64_t *page_size);

/** What mmk_pt_query_many stores for an address it cannot translate. */
#define MMK_PT_QUERY_NONE UINT64_MAX

/**
 * Translate @n addresses at once: pa[i] gets the physical address of byte
 * va[i] and, if @flags is not NULL, flags[i] its leaf's flags, as
 * mmk_pt_query would give them; an address that is unmapped or not
 * canonical gets pa[i].v == MMK_PT_QUERY_NONE and flags[i] == 0.  Any
 * alignment, page size, PROT_NONE leaf (found, flags without R/W/X) or
 * hole; @n may be 0.  Returns how many addresses were translated.  The
 * walks of several addresses advance together, one level at a time, so
 * their cache misses overlap: for many scattered addresses (a dump, a
 * copy to or from user memory page by page, fork's walk of the parent)
 * this costs a fraction of @n single queries.  Same concurrency as
 * mmk_pt_query.
 */
size_t mmk_pt_query_many(const struct mmk_pt *pt, size_t n,
			 const mmk_vaddr_t *va, mmk_paddr_t *pa,
			 uint32_t *flags);

/**
 * Give the leaf whose first byte is @va new @flags (ACCESSED/DIRTY of the
 * old leaf are kept).  Records the page in @g if it lost a permission, or
 * changed memory type or globality.  Errors: those of mmk_pt_unmap
 * (MMK_EWRAP, MMK_EALIGN, MMK_ENONCANON, MMK_EBUSY, MMK_ENOENT) and
 * MMK_ENOTSUP (@flags).
 */
int mmk_pt_protect(struct mmk_pt *pt, mmk_vaddr_t va, uint32_t flags,
		   struct mmk_tlb_gather *g);

/* ------------------------------------------------------------ regions */
/** map_region options. */
#define MMK_PT_MAP_HUGE (1u << 0) /* use the largest page alignment allows */
/* mmk_pt_reserve_map / mmk_pt_map_reserved only: the caller empties the
 * range (mmk_pt_unmap_region) between the reserve and the commit.  Present
 * entries are then no conflict (no MMK_EEXIST), and the tables are counted
 * as if the range held none, so the commit cannot run short whatever the
 * unmap frees. */
#define MMK_PT_MAP_WILL_UNMAP (1u << 1)

/** Gives the physical address for @va (see mmk_pt_map_region_fn). */
typedef mmk_paddr_t (*mmk_pt_pa_fn)(void *ctx, mmk_vaddr_t va);

/**
 * Map [va, va + size) to [pa, pa + size).  va, pa, size aligned to the
 * base page.  With MMK_PT_MAP_HUGE each step takes the largest leaf size
 * that va, pa and the rest of the range allow.  Exclusive access.  Errors,
 * in the order above: MMK_EWRAP, MMK_EALIGN, MMK_ENONCANON, MMK_ERANGE
 * (across the hole, or @pa beyond the format), MMK_EBUSY, MMK_ENOTSUP
 * (@flags, or a huge page's flags), MMK_EINVAL (unknown @opts),
 * MMK_EEXIST if anything is mapped in the range, MMK_ENOMEM if the tables
 * cannot all be allocated.
 */
int mmk_pt_map_region(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
		      uint64_t size, uint32_t flags, unsigned opts,
		      struct mmk_tlb_gather *g);

/**
 * As mmk_pt_map_region, the physical address of each leaf from @fn(@ctx,
 * leaf va).  @fn must be pure for the duration of the call (it may be asked
 * more than once for one va) and return base-page-aligned addresses; with
 * MMK_PT_MAP_HUGE a huge page is used where @fn gives an address aligned to
 * it, and the caller promises the memory behind it is contiguous.  Errors
 * as mmk_pt_map_region (MMK_EINVAL also for a NULL @fn); an address from
 * @fn that is misaligned gives MMK_EALIGN, one beyond the format
 * MMK_ERANGE, with nothing changed.
 */
int mmk_pt_map_region_fn(struct mmk_pt *pt, mmk_vaddr_t va, uint64_t size,
			 uint32_t flags, unsigned opts, mmk_pt_pa_fn fn,
			 void *ctx, struct mmk_tlb_gather *g);

/**
 * Told of what unmap_region removed, in address order, after the entries
 * are cleared but before the flush: the frames may be handed back only
 * once @g is finished.  Consecutive leaves of one size with contiguous
 * physical addresses and the same flags come as one run.
 */
typedef void (*mmk_pt_unmap_fn)(void *ctx, const struct mmk_pt_leaf *run);

/**
 * Remove every mapping in [va, va + size) (holes are skipped).  A huge
 * page straddling an end of the range is split first, so the part outside
 * stays mapped.  Tables that become empty are unhooked and freed when @g
 * is finished.  @fn may be NULL.  Exclusive access.  Errors: MMK_EWRAP,
 * MMK_EALIGN, MMK_ENONCANON, MMK_ERANGE, MMK_EBUSY, MMK_ENOMEM (nothing
 * changed) if the split's tables cannot be allocated.
 * Cannot fail once neither end of the range falls strictly inside a huge
 * page (e.g. after mmk_pt_cut at both ends) and the arguments pass the
 * checks: the address space relies on it.
 */
int mmk_pt_unmap_region(struct mmk_pt *pt, mmk_vaddr_t va, uint64_t size,
			struct mmk_tlb_gather *g, mmk_pt_unmap_fn fn,
			void *ctx);

/**
 * Give every leaf in [va, va + size) @flags (holes are skipped, old
 * ACCESSED/DIRTY kept), splitting huge pages that straddle an end.  Records
 * the pages that lost a permission, memory type or globality.  Exclusive.
 * As unmap_region, cannot fail once neither end cuts a huge page and the
 * arguments (flags included) pass the checks.  Errors: those of
 * mmk_pt_unmap_region (MMK_EWRAP, MMK_EALIGN, MMK_ENONCANON, MMK_ERANGE,
 * MMK_EBUSY, MMK_ENOMEM) and MMK_ENOTSUP (@flags).
 */
int mmk_pt_protect_region(struct mmk_pt *pt, mmk_vaddr_t va, uint64_t size,
			  uint32_t flags, struct mmk_tlb_gather *g);

/**
 * Make @dst's root slots covering [va, va + size) point at @src's tables
 * (the kernel half shared into a user table).  Empty slots of @src stay empty
 * in @dst: populate them in @src first if later mappings must be seen.
 * The shared tables stay @src's: @dst never edits or frees them, and
 * edits through @dst in that range give MMK_EBUSY.  @src keeps those root
 * slots' tables even when they become empty (they are pinned until @src
 * is destroyed), so @dst never points at a freed table; destroy every
 * @dst before @src.  Exclusive on @dst and @src.
 * Errors, nothing changed: MMK_EINVAL (formats differ, or @dst is @src),
 * MMK_EWRAP, MMK_ENONCANON, MMK_ERANGE (across the hole), MMK_EALIGN (va
 * or size not aligned to the span of a root slot), MMK_EEXIST (a slot of
 * @dst is not empty).
 */
int mmk_pt_copy_from(struct mmk_pt *dst, const struct mmk_pt *src,
		     mmk_vaddr_t va, uint64_t size);

/* ------------------------------------------------------------ fork */
#define MMK_PT_CLONE_GET       (1u << 0) /* mmk_frame_get each leaf copied */
#define MMK_PT_CLONE_WRPROTECT (1u << 1) /* copies and source lose WRITE */
#define MMK_PT_CLONE_SHARE     (1u << 2) /* may share whole leaf tables */

/**
 * Copy the leaves of @src in [start, end) into @dst, where nothing is
 * mapped in that range (MMK_EEXIST otherwise), huge leaves as huge
 * leaves, with their flags (ACCESSED/DIRTY kept as the source has them).
 * WRPROTECT also clears WRITE on the source leaves (recorded in @g for
 * the source's flush).  SHARE (only with GET|WRPROTECT) lets a leaf table
 * whose whole span lies in [start, end) be shared by both tables instead
 * of copied: its leaves are write-protected in place and @dst's directory
 * entry points at it; the table page's frame reference count is its share
 * count, and its leaves hold one frame reference for all the tables
 * sharing it (see mmk_pt_unshare).  Both tables must have the same format
 * and frames (MMK_EINVAL, also for unknown @flags or SHARE without
 * GET|WRPROTECT); start/end aligned to the base page (MMK_EALIGN), in
 * range: canonical, start <= end, and no huge leaf of @src straddling
 * start or end (MMK_ERANGE).  start == end copies nothing.  MMK_ENOMEM:
 * @dst's range is empty again, @src unchanged (rights included), no
 * reference taken.  Nothing is recorded for @dst: the caller flushes it
 * if it can be cached anywhere (a fork's child never is).  Caller holds
 * both tables exclusively.
 */
int mmk_pt_clone_range(struct mmk_pt *dst, struct mmk_pt *src,
		       mmk_vaddr_t start, mmk_vaddr_t end, unsigned flags,
		       struct mmk_tlb_gather *g);

/**
 * Give @pt its own copy of the leaf table over @va if that table is
 * shared with another table (a fresh table page, the entries copied, a
 * frame reference taken for each leaf, the directory entry switched with a
 * compare-and-swap, the shared table's count dropped; the one page flush
 * this needs is recorded in @g).  0 if it is private already (or there is
 * no leaf table over @va), MMK_ENOMEM (nothing changed), MMK_ENONCANON.
 * Safe under a shared lock against other CPUs of @pt doing the same, and
 * alongside single maps, lookups and replaces (the fault path calls it on
 * a write fault whose leaf is shared, then looks at the entry again).
 * @g may be NULL (a gather is too big for a fault's stack): then nothing
 * is recorded, and the call returns 1 when the table was shared (switched
 * by this call or by a racing one); the caller then flushes, on the CPUs
 * that may cache @pt, what mmk_pt_unshare_flush names.
 */
int mmk_pt_unshare(struct mmk_pt *pt, mmk_vaddr_t va, struct mmk_tlb_gather *g);

/**
 * The flush an unshare of the leaf table over @va needs (mmk_pt_unshare
 * with no gather returned 1): true for a full flush of the ASID (a format
 * whose range flush keeps cached table entries, riscv64), else *@r, the
 * one page whose flush drops the cached entries of the table.
 */
bool mmk_pt_unshare_flush(const struct mmk_pt *pt, mmk_vaddr_t va,
			  struct mmk_tlb_range *r);

/* ------------------------------------------------ two-step edits */
/*
 * Reserve, then commit.  An address-space operation that edits the table
 * in several steps (cut both ends of a range, unmap or protect it, map
 * something else) first reserves every table page all the steps need --
 * the only point that can fail -- then commits each step, none of which
 * can fail.  A reservation is a pool of table pages on the caller's
 * stack; reservations accumulate in it; what is left is freed by
 * mmk_pt_resv_release.
 *
 * The counts are taken against the table as it is at reserve time and are
 * upper bounds as long as nothing but the commits of this reservation,
 * unmap_region / protect_region of ranges whose ends cut no huge page, and
 * single maps change the table in between, except that an unmap_region
 * that frees tables a reserved map would reuse needs MMK_PT_MAP_WILL_UNMAP
 * on that map.  Exclusive access throughout (as the region calls).
 */
struct mmk_pt_resv {
	struct mmk_pt *pt;
	uint64_t head; /* private: reserved table pages, linked */
	long n;	       /* table pages held (a statistic) */
};

/** Start an empty reservation for @pt. */
void mmk_pt_resv_init(struct mmk_pt_resv *r, struct mmk_pt *pt);
/* The same as an initializer (the engine's empty pool is UINT64_MAX). */
#define MMK__PT_RESV_EMPTY(p)                                                  \
	{                                                                      \
		(p), UINT64_MAX, 0                                             \
	}

/** Free the table pages @r still holds; idempotent, @r empty afterwards. */
void mmk_pt_resv_release(struct mmk_pt_resv *r);

/**
 * Reserve the tables that splitting the leaf straddling @va needs (a leaf
 * larger than the base page with @va strictly inside it), down to where
 * @va is a leaf boundary.  0 and nothing reserved if none (@va on a
 * boundary, in a hole, or at the end of the address space).  Never changes
 * the table.  Two cuts in the same huge page are both committable.
 * Errors: MMK_EALIGN (base page), MMK_ENONCANON, MMK_EBUSY; MMK_ENOMEM
 * with @r as it was.
 */
int mmk_pt_reserve_cut(struct mmk_pt *pt, struct mmk_pt_resv *r,
		       mmk_vaddr_t va);

/**
 * Commit a cut: split the leaves around @va so that @va becomes a leaf
 * boundary, with the same translations.  Cannot fail (asserts on a missing
 * reservation).  Records only the break-before-make flushes some formats
 * need (done at once through @g); the table is otherwise unchanged for
 * the hardware, so nothing else needs flushing.
 */
void mmk_pt_cut(struct mmk_pt *pt, struct mmk_pt_resv *r, mmk_vaddr_t va,
		struct mmk_tlb_gather *g);

/**
 * Reserve what mmk_pt_map_region(pt, va, pa, size, flags, opts) needs,
 * with all its checks (@opts may add MMK_PT_MAP_WILL_UNMAP).  Nothing
 * changes.  Errors as mmk_pt_map_region; MMK_ENOMEM with @r as it was.
 */
int mmk_pt_reserve_map(struct mmk_pt *pt, struct mmk_pt_resv *r, mmk_vaddr_t va,
		       mmk_paddr_t pa, uint64_t size, uint32_t flags,
		       unsigned opts);

/** Commit a reserved map (same arguments as the reserve): cannot fail. */
void mmk_pt_map_reserved(struct mmk_pt *pt, struct mmk_pt_resv *r,
			 mmk_vaddr_t va, mmk_paddr_t pa, uint64_t size,
			 uint32_t flags, unsigned opts,
			 struct mmk_tlb_gather *g);

/**
 * Reserve the tables above the leaf tables that mmk_pt_move_tables into
 * [@to, @to + @size) may hook in (counted as if the range were empty; no
 * leaf tables: the moved ones are reused).  Nothing changes.  Errors as
 * the range checks of mmk_pt_map_region; MMK_ENOMEM with @r as it was.
 */
int mmk_pt_reserve_move(struct mmk_pt *pt, struct mmk_pt_resv *r,
			mmk_vaddr_t to, uint64_t size);

/**
 * Commit step of a move (mremap): every leaf table lying wholly inside
 * [@from, @from + @size) moves, with all its leaves, to the same offset in
 * [@to, @to + @size) by moving its level-1 entry, when @to - @from is a
 * multiple of a leaf table's span and the target slot is empty.  A shared
 * leaf table (after a fork) moves as it is, counts unchanged.  Nothing is
 * copied and no frame reference changes.  Everything else (the unaligned
 * edges, huge leaves, a delta not a multiple of the span) stays for the
 * caller to move leaf by leaf.  Cannot fail: tables above the leaf tables
 * come from @r (mmk_pt_reserve_move of @to, @size).  The old range goes
 * into @g when anything moved; the emptied upper tables of the old range
 * stay until an unmap_region of it frees them.  Exclusive access.
 * Returns the bytes moved.
 */
uint64_t mmk_pt_move_tables(struct mmk_pt *pt, struct mmk_pt_resv *r,
			    mmk_vaddr_t from, mmk_vaddr_t to, uint64_t size,
			    struct mmk_tlb_gather *g);

/* --------------------------------------------------------- walk, dump */
/**
 * Called for each leaf in address order.  Return 0 to go on, > 0 to stop
 * (mmk_pt_walk returns that value), < 0 for an error (returned as well).
 */
typedef int (*mmk_pt_walk_fn)(void *ctx, const struct mmk_pt_leaf *leaf);

/**
 * Every leaf overlapping [va, va + size), in address order, one call per
 * leaf (a huge page reaching outside the range is reported whole).  No
 * change may happen to @pt meanwhile except single-page maps (which may or
 * may not be seen).  Returns 0 after the last leaf, or what @fn stopped
 * with.  Any alignment.  Errors: MMK_EWRAP, MMK_ENONCANON, MMK_ERANGE
 * (across the hole).
 */
int mmk_pt_walk(const struct mmk_pt *pt, mmk_vaddr_t va, uint64_t size,
		mmk_pt_walk_fn fn, void *ctx);

/** Receives one NUL-terminated line (no newline) of a dump. */
typedef void (*mmk_pt_line_fn)(void *ctx, const char *line);

/** Dump styles. */
enum mmk_pt_dump_style {
	/* "<va>-<end> <pa> <size> <flags>" per run of contiguous leaves */
	MMK_PT_DUMP_RUNS,
	/* QEMU's `info mem` for the table's architecture where it has one
	 * (riscv64: "vaddr paddr size attr" rows; x86_64: "start-end size
	 * prot" rows); MMK_PT_DUMP_RUNS otherwise. */
	MMK_PT_DUMP_QEMU_MEM,
	/* QEMU's `info tlb` on x86_64 ("va: pa flags" per leaf) */
	MMK_PT_DUMP_QEMU_TLB,
};

/** Dump the leaves of [va, va + size) as text lines to @out.  Errors:
 *  MMK_EINVAL for an unknown @style; the errors of mmk_pt_walk. */
int mmk_pt_dump(const struct mmk_pt *pt, mmk_vaddr_t va, uint64_t size,
		enum mmk_pt_dump_style style, mmk_pt_line_fn out, void *ctx);

/* ------------------------------------------------ encodings (for tests) */
/**
 * The raw entry a leaf of @flags at @level for @pa would be, as the
 * format writes it.  Used by the bit-exact tests and by anyone who wants
 * to see what a format does.  Errors: MMK_EINVAL (a level the format does
 * not have), MMK_ENOTSUP (@level holds no leaves, or @flags), MMK_EALIGN
 * (@pa not aligned to the leaf), MMK_ERANGE (@pa beyond the format).
 */
int mmk_pt_encode_leaf(const struct mmk_pt *pt, unsigned level, mmk_paddr_t pa,
		       uint32_t flags, uint64_t *pte);

/** Decode a raw leaf entry at @level.  Errors: MMK_EINVAL for a level the
 *  format does not have; MMK_ENOENT if it is not a leaf, including at a
 *  level that cannot hold leaves (where mmk_pt_encode_leaf refuses). */
int mmk_pt_decode_leaf(const struct mmk_pt *pt, unsigned level, uint64_t pte,
		       mmk_paddr_t *pa, uint32_t *flags);

/** The raw entry at @level on the path of @va.  Errors: MMK_ENONCANON,
 *  MMK_EINVAL (a level the format does not have), MMK_ENOENT (that level
 *  is not reached: a leaf or an empty entry above it). */
int mmk_pt_raw_entry(const struct mmk_pt *pt, mmk_vaddr_t va, unsigned level,
		     uint64_t *pte);

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_PT_H */
