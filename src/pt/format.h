/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the contract between the generic page-table engine and a PTE
 * format.  Read this to add an architecture.
 *
 * A format is three things, all in src/arch/<arch>/:
 *
 *  1. Geometry, as data: a struct mmk__pt_format per paging mode (levels,
 *     index bits per level, base page shift, VA width, which levels may hold
 *     leaves, canonical rule, physical width, capabilities).  The engine has
 *     one walker loop driven by it; nothing assumes 4 levels or 512 entries.
 *
 *  2. The entry encoding, as static inline functions with the fixed names
 *     listed under "Encoding hooks" below, defined in the format's .c file
 *     before it includes "pt/engine.h".  That header is a template (its
 *     fragments in pt/engine/: core.h, single.h, region.h, walk.h): it
 *     expands the whole engine (walks, map, unmap, protect, regions, walk,
 *     copy) against these inlines, so the per-entry hot paths contain no
 *     indirect call, and it defines one `struct mmk__pt_ops` whose name is
 *     given by MMK_ENGINE_OPS.  Every paging mode with the same encoding
 *     (x86_64 4- and 5-level; Sv39/48/57) shares one instantiation; the
 *     geometry comes from the format descriptor at run time (it is a few
 *     loads, L1-hot).  A missing hook is a compile error.
 *
 *  3. Registration: a header src/arch/<arch>/pt_<arch>.h that declares the
 *     descriptors and defines MMK_PT_FORMATS_<ARCH> as a list of
 *     `[MMK_PT_<ID>] = &descriptor,` initialisers.  src/pt/formats.c picks
 *     the header up with __has_include, so adding a folder adds the format
 *     to the hosted build and to every table-driven test (tests/pt/ loop
 *     over all registered formats).
 *
 * Leaf levels: if level L may hold a leaf, so may every level below it (a
 * split turns one leaf into leaves of the next level down).  Every level
 * below the root has tables of the same size (the pool serves any level).
 *
 * Levels.  Level 0 holds base pages; level levels-1 is the root.  The
 * index of level L is bits [shift(L) + bits[L] - 1 : shift(L)] of the
 * address, where shift(0) = page_shift and shift(L+1) = shift(L) + bits[L].
 * A table at level L has 2^bits[L] entries of 8 bytes; table pages are
 * allocated as the smallest naturally aligned block of 4 KiB frames that
 * holds max(8 << bits[L], 1 << page_shift) bytes (a 16 KiB-page format gets
 * 16 KiB tables, order 2), zero-filled unless the format's empty entry is
 * not zero (then the engine fills it with fmt_empty()).
 *
 * Canonical addresses.  MMK__CANON_SIGNEXT: bits 63..va_bits-1 all equal
 * (x86_64, riscv64, loongarch64); the lower half maps to the low root
 * slots, the upper half to the high ones.  MMK__CANON_LOW: bits
 * 63..va_bits all zero (aarch64 TTBR0).  MMK__CANON_HIGH: all ones (aarch64
 * TTBR1, chosen with MMK_PT_OPT_HIGH_HALF: the format's init hook switches
 * pt->fmt to its HIGH descriptor).  Inside the engine an address is handled
 * as its low va_bits bits (the "index address"); reported addresses are
 * converted back.
 *
 * ---------------------------------------------------------------------
 * Encoding hooks (static inline, in the format's .c, before the include).
 * Three have defaults in pt/engine/core.h, taken unless the format defines
 * the macro named: fmt_empty_is_zero + fmt_empty (FMT_HAS_EMPTY; default:
 * every empty entry is 0), fmt_needs_bbm (FMT_HAS_BBM; default: never),
 * fmt_sync (FMT_HAS_SYNC; default: a compiler barrier).
 * Optional, for the hot walks of pt/engine/fast.h: FMT_HAS_TABLE_NEXT with
 * fmt_table_next(pt, e, level, &pa) (true only for a table entry exactly
 * as fmt_make_table writes it, its table at *pa; false sends the walk to
 * the full decode) and fmt_leaf0_fast(e) (a level-0 entry the query may
 * decode as a plain leaf); FMT_MAP_NO_FLUSH if no mode of the format has
 * MMK__FMT_MAP_NEEDS_FLUSH.
 * `pt` gives access to pt->opts and pt->fmt_data (e.g. loongarch's shared
 * invalid tables); `level` is the level of the table holding the entry.
 * Entries are uint64_t values (mmk__pte_t).  Physical addresses are plain
 * uint64_t here (the engine converts).
 *
 *   bool fmt_empty_is_zero(void)
 *       Constant: true if every empty entry of every level is 0, so new
 *       tables come zero-filled and emptiness tests compare with 0.
 *
 *   mmk__pte_t fmt_empty(const struct mmk_pt *pt, unsigned level)
 *       The value of an empty entry at @level.  The format, not the engine,
 *       says what empty is: loongarch64 directory entries point at a shared
 *       all-invalid table (the hardware walker does not check directory
 *       entries), so empty is "that table's address", not 0.
 *
 *   bool fmt_is_table(mmk__pte_t e, unsigned level)
 *       @e (at level >= 1, not empty) points to a table of level-1.  Where
 *       fmt_empty_is_zero(), it must also be false for 0 (the hot walks
 *       test it alone).
 *
 *   bool fmt_is_leaf(mmk__pte_t e, unsigned level)
 *       @e is a leaf (translation) at @level, including a PROT_NONE leaf
 *       (which the hardware sees as invalid).  Never true for an empty
 *       entry or a table entry.
 *
 *   mmk__pte_t fmt_make_table(const struct mmk_pt *pt, uint64_t table_pa,
 *                             unsigned level)
 *       An entry at @level (>= 1) pointing at the table page at table_pa.
 *
 *   uint64_t fmt_table_pa(mmk__pte_t e, unsigned level)
 *       The table address held by a table entry.
 *
 *   int fmt_leaf_template(const struct mmk_pt *pt, uint32_t flags,
 *                         unsigned level, mmk__pte_t *tmpl)
 *       Encode MMK_PT_* @flags for a leaf at @level, without its address,
 *       into *tmpl.  Called once per operation and level, never per page.
 *       Must return MMK_ENOTSUP for anything inexpressible (unknown bits
 *       included), and add the format's A/D preset (ad_preset below).
 *       ACCESSED/DIRTY in @flags set the hardware bits.
 *
 *   mmk__pte_t fmt_make_leaf(mmk__pte_t tmpl, uint64_t pa, unsigned level)
 *       tmpl combined with @pa (aligned to the level's page size, within
 *       pa_bits).  Runs once per page in the commit loops: keep it a shift
 *       and an or.  Must equal tmpl | fmt_make_leaf(0, pa, level), with
 *       the address bits disjoint from every template bit: the region
 *       loops split an entry into "address" and "attributes" that way.
 *
 *   uint64_t fmt_leaf_pa(mmk__pte_t e, unsigned level)
 *       Physical address of a leaf.
 *
 *   uint32_t fmt_leaf_flags(const struct mmk_pt *pt, mmk__pte_t e,
 *                           unsigned level)
 *       Decode a leaf into MMK_PT_* flags, ACCESSED/DIRTY included, so that
 *       fmt_leaf_flags(fmt_make_leaf(tmpl(f), pa)) == f | preset(f).
 *
 *   mmk__pte_t fmt_leaf_hw_bits(mmk__pte_t e, unsigned level)
 *       The bits of a leaf the hardware updates (accessed, dirty); protect
 *       carries them from the old leaf to the new one.
 *
 *   bool fmt_needs_bbm(mmk__pte_t old, mmk__pte_t new, unsigned level)
 *       Replacing the live entry @old by @new needs break-before-make
 *       (aarch64: changing a block into a table, output address, memory
 *       type or size).  When true the engine writes the empty entry,
 *       flushes that range at once through the HAL (with the batch's cpus
 *       and asid), then writes @new.  x86_64 and riscv64 return false.
 *
 *   void fmt_sync(void)
 *       Called once at the end of every operation that wrote entries,
 *       before it returns: make the writes visible to the hardware walker
 *       (aarch64: dsb ishst; isb.  riscv64/x86_64: nothing; the flush or
 *       the fault path orders the rest).  Must compile on the host: guard
 *       inline asm with the architecture's predefined macro.
 *
 * Concurrency.  The engine installs tables and leaves of single-page maps
 * with a compare-and-swap from fmt_empty() to the new value, and reads
 * entries with relaxed atomic loads (acquire for table pointers); the
 * hooks are pure functions of their arguments and may be called from any
 * CPU at once.
 * ---------------------------------------------------------------------
 */
#ifndef MMK_PT_FORMAT_H
#define MMK_PT_FORMAT_H

#include <mmkit/log.h>
#include <mmkit/pt.h>

typedef uint64_t mmk__pte_t;

enum mmk__canon {
	MMK__CANON_SIGNEXT,
	MMK__CANON_LOW,
	MMK__CANON_HIGH,
};

/* Capability bits of a format (mmk__pt_format.caps). */
/** Adding a mapping where there was none must be flushed (the TLB may
 *  cache invalid entries, e.g. loongarch64's even/odd pairs). */
#define MMK__FMT_MAP_NEEDS_FLUSH (1u << 0)
/** A range flush does not drop cached non-leaf entries: freeing a table
 *  page needs a full flush (riscv64 SFENCE.VMA with rs1 != x0 only orders
 *  the leaf entries of that address). */
#define MMK__FMT_TABLE_FREE_FULL (1u << 1)

struct mmk__pt_ops;

/** Which QEMU `info mem` layout mmk_pt_dump(MMK_PT_DUMP_QEMU_MEM) writes
 *  for a format (QEMU has one for some architectures only). */
enum mmk__qemu_mem {
	MMK__QEMU_MEM_NONE,  /* none: MMK_PT_DUMP_RUNS instead */
	MMK__QEMU_MEM_X86,   /* target/i386/monitor.c mem_print */
	MMK__QEMU_MEM_RISCV, /* target/riscv/monitor.c print_pte */
};

/** A paging mode: geometry and hooks.  One const instance per mode. */
struct mmk__pt_format {
	enum mmk_pt_format_id id;
	const char *name;		 /* "riscv64-sv39" */
	const char *arch;		 /* "riscv64" */
	uint8_t levels;			 /* 1 .. MMK_PT_MAX_LEVELS */
	uint8_t page_shift;		 /* base page shift (12 or 14) */
	uint8_t va_bits;		 /* page_shift + sum(bits) */
	uint8_t pa_bits;		 /* widest physical address encodable */
	uint8_t bits[MMK_PT_MAX_LEVELS]; /* index bits per level, [0] = leaf */
	uint8_t canon;			 /* enum mmk__canon */
	uint32_t leaf_levels; /* bit L: level L may hold a leaf (bit 0 set) */
	uint32_t caps;	      /* MMK__FMT_* */
	uint32_t ad_preset;   /* MMK_PT_ACCESSED | MMK_PT_DIRTY: always set A,
				 and D in writable leaves (document why) */
	unsigned opts_ok;     /* MMK_PT_OPT_* the format accepts */
	uint8_t qemu_mem;     /* enum mmk__qemu_mem (0: none) */
	const struct mmk__pt_ops *ops; /* the engine instantiated for it */
	/*
	 * The hot single-page calls of this mode (pt/engine/fast.h,
	 * ENG_FAST_OPS): the public functions of the same names jump here
	 * with their own arguments, unchecked; these check and fall back to
	 * the general code themselves.
	 */
	int (*query)(const struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t *pa,
		     uint32_t *flags, uint64_t *page_size);
	size_t (*query_many)(const struct mmk_pt *pt, size_t n,
			     const mmk_vaddr_t *va, mmk_paddr_t *pa,
			     uint32_t *flags);
	int (*lookup)(const struct mmk_pt *pt, mmk_vaddr_t va,
		      struct mmk_pt_leaf *out);
	int (*map)(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
		   uint64_t page_size, uint32_t flags,
		   struct mmk_tlb_gather *g);
	int (*map_cursor)(struct mmk_pt_cursor *c, mmk_vaddr_t va,
			  mmk_paddr_t pa, uint32_t flags,
			  struct mmk_tlb_gather *g);
	/* The same that never allocate a table or copy a shared one
	 * (MMK_EAGAIN instead): the fault path's (mmk__pt_map_private). */
	int (*map_private)(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
			   uint64_t page_size, uint32_t flags,
			   struct mmk_tlb_gather *g);
	int (*map_cursor_private)(struct mmk_pt_cursor *c, mmk_vaddr_t va,
				  mmk_paddr_t pa, uint32_t flags,
				  struct mmk_tlb_gather *g);

	/**
	 * Optional: called at the end of create, after the root is allocated
	 * (e.g. to allocate shared invalid tables into pt->fmt_data, or to
	 * switch pt->fmt to another descriptor for an option).  May fail with
	 * MMK_ENOMEM/MMK_ENOTSUP having allocated nothing.
	 */
	int (*init)(struct mmk_pt *pt);
	/** Optional: undo init at destroy. */
	void (*fini)(struct mmk_pt *pt);
	/** The root register value (satp, CR3, TTBRn, PGDL). */
	uint64_t (*root_regval)(const struct mmk_pt *pt, uint32_t asid);
	/**
	 * Optional: write the QEMU-style dump line for one leaf
	 * (MMK_PT_DUMP_QEMU_TLB) into @buf (size @len).  Return 0 if written,
	 * MMK_ENOTSUP for "no such style here".
	 */
	int (*dump_tlb_line)(const struct mmk_pt *pt, mmk_vaddr_t va,
			     uint64_t pte, unsigned level, char *buf,
			     size_t len);
};

/*
 * The engine's entry points for one instantiation (see pt/engine.h).  The
 * public functions in pt.c validate arguments that do not depend on the
 * encoding (wrap, alignment, canonical form, borrowed slots) and call
 * these once per operation.  Addresses passed here are index addresses
 * (the low va_bits bits) and already checked.
 */
struct mmk__pt_ops {
	int (*map)(struct mmk_pt *pt, uint64_t ia, uint64_t pa, unsigned level,
		   uint32_t flags, struct mmk_tlb_gather *b);
	int (*map_private)(struct mmk_pt *pt, uint64_t ia, uint64_t pa,
			   unsigned level, uint32_t flags,
			   struct mmk_pt_resv *pool);
	int (*reserve_fault)(struct mmk_pt *pt, struct mmk_pt_resv *r,
			     uint64_t ia, unsigned level);
	int (*unmap)(struct mmk_pt *pt, uint64_t ia, struct mmk_tlb_gather *b,
		     struct mmk_pt_leaf *out);
	int (*protect)(struct mmk_pt *pt, uint64_t ia, uint32_t flags,
		       struct mmk_tlb_gather *b);
	int (*map_region)(struct mmk_pt *pt, uint64_t ia, uint64_t pa,
			  uint64_t size, uint32_t flags, unsigned opts,
			  mmk_pt_pa_fn fn, void *ctx, struct mmk_tlb_gather *b);
	int (*unmap_region)(struct mmk_pt *pt, uint64_t ia, uint64_t size,
			    struct mmk_tlb_gather *b, mmk_pt_unmap_fn fn,
			    void *ctx);
	int (*protect_region)(struct mmk_pt *pt, uint64_t ia, uint64_t size,
			      uint32_t flags, struct mmk_tlb_gather *b);
	int (*map_reserve)(struct mmk_pt *pt, struct mmk_pt_resv *r,
			   uint64_t ia, uint64_t pa, uint64_t size,
			   uint32_t flags, unsigned opts, mmk_pt_pa_fn fn,
			   void *ctx);
	void (*map_reserved)(struct mmk_pt *pt, struct mmk_pt_resv *r,
			     uint64_t ia, uint64_t pa, uint64_t size,
			     uint32_t flags, unsigned opts, mmk_pt_pa_fn fn,
			     void *ctx, struct mmk_tlb_gather *g);
	int (*reserve_cut)(struct mmk_pt *pt, struct mmk_pt_resv *r,
			   uint64_t ia);
	void (*cut)(struct mmk_pt *pt, struct mmk_pt_resv *r, uint64_t ia,
		    struct mmk_tlb_gather *g);
	void (*resv_release)(struct mmk_pt *pt, struct mmk_pt_resv *r);
	int (*move_reserve)(struct mmk_pt *pt, struct mmk_pt_resv *r,
			    uint64_t ia, uint64_t size);
	uint64_t (*move_tables)(struct mmk_pt *pt, struct mmk_pt_resv *r,
				uint64_t s, uint64_t d, uint64_t size,
				struct mmk_tlb_gather *g);
	int (*replace)(struct mmk_pt *pt, uint64_t ia,
		       const struct mmk_pt_leaf *old, uint64_t pa,
		       uint32_t flags, struct mmk_tlb_gather *g);
	int (*replace_private)(struct mmk_pt *pt, uint64_t ia,
			       const struct mmk_pt_leaf *old, uint64_t pa,
			       uint32_t flags, struct mmk_tlb_gather *g);
	int (*walk)(const struct mmk_pt *pt, uint64_t ia, uint64_t size,
		    mmk_pt_walk_fn fn, void *ctx);
	/** Count the table pages owned, per level (mmk_pt_count_tables). */
	void (*count_tables)(const struct mmk_pt *pt,
			     struct mmk_pt_table_count *c);
	/** Free every owned table below the root (not the root itself). */
	void (*free_tables)(struct mmk_pt *pt);
	int (*encode_leaf)(const struct mmk_pt *pt, unsigned level, uint64_t pa,
			   uint32_t flags, uint64_t *pte);
	int (*decode_leaf)(const struct mmk_pt *pt, unsigned level,
			   uint64_t pte, uint64_t *pa, uint32_t *flags);
	int (*raw_entry)(const struct mmk_pt *pt, uint64_t ia, unsigned level,
			 uint64_t *pte);
	int (*clone_range)(struct mmk_pt *dst, struct mmk_pt *src, uint64_t s,
			   uint64_t e, unsigned flags,
			   struct mmk_tlb_gather *g);
	int (*unshare)(struct mmk_pt *pt, uint64_t ia,
		       struct mmk_tlb_gather *g);
	/** Free the zombie leaf tables (exclusive; see pt/engine/share.h). */
	void (*reap)(struct mmk_pt *pt);
	/** Fill a new table page of @level with empty entries. */
	void (*init_table)(const struct mmk_pt *pt, void *table,
			   unsigned level);
	/** The value of an empty root slot (copy_from). */
	uint64_t (*empty)(const struct mmk_pt *pt, unsigned level);
};

/* ------------------------------------------------ helpers for formats */
/** Shift of the entry span at @level. */
static inline unsigned mmk__level_shift(const struct mmk__pt_format *f,
					unsigned level)
{
	unsigned s = f->page_shift;
	for (unsigned l = 0; l < level; l++)
		s += f->bits[l];
	return s;
}

/** Allocate a table page for @level of @pt (filled empty); ENOMEM. */
/* One table block of 2^order frames: the page source if set, else the
 * table's frame allocator.  MMK_ENOMEM. */
static inline int mmk__pt_take_page(const struct mmk_pt *pt, unsigned order,
				    mmk_paddr_t *p)
{
	if (pt->page_src)
		return pt->page_src->take(pt->page_src->ctx, order, p);
	return mmk_frame_alloc(pt->frames, order, 0, p) != 0 ? MMK_ENOMEM : 0;
}
int mmk__pt_alloc_table(const struct mmk_pt *pt, unsigned level, uint64_t *pa);
/** Free a table page of @level straight away (never published). */
void mmk__pt_free_table(const struct mmk_pt *pt, unsigned level, uint64_t pa);
/** mmk_pt_map with every check (pt.c): the fast map's way out. */
int mmk__pt_map_checked(struct mmk_pt *pt, mmk_vaddr_t va, mmk_paddr_t pa,
			uint64_t page_size, uint32_t flags,
			struct mmk_tlb_gather *g);
/** The same for the private map (ops->map_private), tables from @pool. */
int mmk__pt_map_checked_private(struct mmk_pt *pt, mmk_vaddr_t va,
				mmk_paddr_t pa, uint64_t page_size,
				uint32_t flags, struct mmk_pt_resv *pool);
/** Frame order of a table page of @level. */
unsigned mmk__pt_table_order(const struct mmk__pt_format *f, unsigned level);
/** Every exclusive call first frees the leaf tables unshares under a
 *  shared lock left behind (pt/engine/share.h): one load when none. */
static inline void mmk__pt_reap(struct mmk_pt *pt)
{
	if (MMK_UNLIKELY(
		    atomic_load_explicit(&pt->zombies, memory_order_relaxed)))
		pt->fmt->ops->reap(pt);
}

/** Index address back to a canonical virtual address. */
static inline mmk_vaddr_t mmk__pt_va(const struct mmk_pt *pt, uint64_t ia)
{
	unsigned vb = pt->fmt->va_bits;
	uint64_t high = ~(((uint64_t)1 << vb) - 1);
	switch (pt->fmt->canon) {
	case MMK__CANON_LOW:
		return ia;
	case MMK__CANON_HIGH:
		return ia | high;
	default:
		return (ia >> (vb - 1) & 1) ? ia | high : ia;
	}
}

/** Record [ia, ia + size) (index addresses) in @g to be flushed.  @g may be
 *  NULL only for a map on a format that needs no flush after a map. */
static inline void mmk__pt_gather_range(struct mmk_tlb_gather *g,
					const struct mmk_pt *pt, uint64_t ia,
					uint64_t size, bool global)
{
	if (!g)
		return;
	mmk_vaddr_t va = mmk__pt_va(pt, ia);
	mmk_tlb_gather_range(g, va, va + size, global);
}

/** Queue the unhooked table page at @pa to be freed after the flush (a
 *  table page is a block with one reference); a format whose range flush
 *  keeps cached table entries turns the flush into a full one. */
static inline void mmk__pt_gather_table(struct mmk_tlb_gather *g,
					const struct mmk_pt *pt, uint64_t pa)
{
	MMK_ASSERT(g != NULL);
	mmk_tlb_gather_put(g, pt->frames, mmk_pa(pa));
	if (pt->fmt->caps & MMK__FMT_TABLE_FREE_FULL)
		mmk_tlb_gather_all(g, false);
}

/** Break-before-make: flush [ia, ia + size) on @g's CPUs at once. */
static inline void mmk__pt_flush_now(struct mmk_tlb_gather *g,
				     const struct mmk_pt *pt, uint64_t ia,
				     uint64_t size)
{
	if (!g)
		return;
	mmk_vaddr_t va = mmk__pt_va(pt, ia);
	mmk__tlb_flush_range_now(g, va, va + size);
}

#endif /* MMK_PT_FORMAT_H */
