/* SPDX-License-Identifier: MIT */
/*
 * mmkit — x86_64 page-table entries: 4-level (48-bit) and 5-level (LA57,
 * 57-bit) paging.  Intel SDM Vol. 3A ch. 4 "Paging", 4.5 (formats of
 * PML5E/PML4E/PDPTE/PDE/PTE), 4.9.2 (PAT), 4.10 (TLBs).
 *
 *   63  62:59  58:52  51:12 (M-1:12)      11:9  8  7     6  5  4   3   2  1  0
 *  +--+------+------+--------------------+----+--+-----+--+--+---+---+--+--+--+
 *  |XD| PKEY | ign  | physical address   | sw |G |PS/PAT|D |A |PCD|PWT|US|RW|P
 * |
 *  +--+------+------+--------------------+----+--+-----+--+--+---+---+--+--+--+
 *  Bit 7 is PS in a PDPTE/PDE (1 GiB / 2 MiB leaf) and PAT in a 4 KiB PTE;
 *  a huge leaf keeps its PAT bit in bit 12.
 *
 * Choices (documented in docs/ARCHITECTURE.md):
 *  - Table entries are P|RW|US|A: permissions are decided by the leaf alone
 *    (the hardware ANDs all levels), A preset so the walker never writes
 *    table entries.
 *  - Every present entry is readable on x86_64, so WRITE or EXEC without
 *    READ is MMK_ENOTSUP.  EXEC clear sets XD (needs EFER.NXE).
 *  - PROT_NONE: P=0 with software bit 9 (MMK__X86_PROTNONE) set; the other
 *    bits keep the leaf's address and attributes.  The CPU ignores every
 *    bit of a non-present entry, so no TLB entry can come from it.
 *  - A and D are not preset: the CPU sets them itself without a fault
 *    (SDM 4.8).  ACCESSED/DIRTY given to map set them.
 *  - Memory types through PAT with the layout of MMK_PT_X86_64_PAT.
 *  - Adding a mapping needs no flush (the CPU never caches not-present
 *    entries, SDM 4.10.2.3); freeing a table needs only the range flush,
 *    since INVLPG also drops paging-structure-cache entries (SDM 4.10.4.1).
 */
#include <mmkit/log.h>

#include "arch/x86_64/pt_x86_64.h"

#define X86_P	     (1ull << 0)
#define X86_RW	     (1ull << 1)
#define X86_US	     (1ull << 2)
#define X86_PWT	     (1ull << 3)
#define X86_PCD	     (1ull << 4)
#define X86_A	     (1ull << 5)
#define X86_D	     (1ull << 6)
#define X86_PS	     (1ull << 7) /* PDPTE / PDE */
#define X86_PAT4K    (1ull << 7) /* PTE */
#define X86_G	     (1ull << 8)
#define X86_PROTNONE (1ull << 9) /* software: mapped, no access (P=0) */
#define X86_PATHUGE  (1ull << 12)
#define X86_NX	     (1ull << 63)
#define X86_ADDR     0x000ffffffffff000ull /* bits 51:12 */

static inline bool fmt_is_table(mmk__pte_t e, unsigned level)
{
	return level > 0 && (e & X86_P) && !(e & X86_PS);
}

static inline bool fmt_is_leaf(mmk__pte_t e, unsigned level)
{
	if (e & X86_P)
		return level == 0 || (e & X86_PS);
	return (e & X86_PROTNONE) != 0;
}

static inline mmk__pte_t fmt_make_table(const struct mmk_pt *pt,
					uint64_t table_pa, unsigned level)
{
	(void)pt;
	(void)level;
	return table_pa | X86_P | X86_RW | X86_US | X86_A;
}

static inline uint64_t fmt_table_pa(mmk__pte_t e, unsigned level)
{
	(void)level;
	return e & X86_ADDR;
}

static inline mmk__pte_t x86_pat_bit(unsigned level)
{
	return level ? X86_PATHUGE : X86_PAT4K;
}

/* Access bits for R/W/X (index = flags & MMK_PT_RWX); 0 = inexpressible
 * (a present entry is always readable). */
#define X86_ACC(r)                                                             \
	((r) == 0	      ? X86_PROTNONE | X86_NX                          \
	 : (r) == MMK_PT_READ ? X86_P | X86_NX                                 \
	 : (r) == MMK_PT_RW   ? X86_P | X86_RW | X86_NX                        \
	 : (r) == MMK_PT_RX   ? X86_P                                          \
	 : (r) == MMK_PT_RWX  ? X86_P | X86_RW                                 \
			      : 0)
/* ... with USER (flag bit 3 -> US, bit 2) and GLOBAL (bit 4 -> G, bit 8):
 * one load for the five flag bits, 0 where R/W/X is inexpressible. */
#define X86_AUG(i)                                                             \
	(X86_ACC((i)&7) ? X86_ACC((i)&7) | ((i)&8 ? X86_US : 0) |              \
				  ((i)&16 ? X86_G : 0)                         \
			: 0)
#define X86_AUG4(i)                                                            \
	X86_AUG(i), X86_AUG((i) + 1), X86_AUG((i) + 2), X86_AUG((i) + 3)
static const mmk__pte_t x86_acc[32] = {
	X86_AUG4(0),  X86_AUG4(4),  X86_AUG4(8),  X86_AUG4(12),
	X86_AUG4(16), X86_AUG4(20), X86_AUG4(24), X86_AUG4(28),
};

/* PAT/PCD/PWT per memory type, [huge][type]. */
static const mmk__pte_t x86_mt[2][4] = {
	{0, X86_PCD | X86_PWT, X86_PCD, X86_PAT4K},
	{0, X86_PCD | X86_PWT, X86_PCD, X86_PATHUGE},
};

/* Branch-free: it runs once per single map. */
static inline int fmt_leaf_template(const struct mmk_pt *pt, uint32_t flags,
				    unsigned level, mmk__pte_t *tmpl)
{
	(void)pt;
	mmk__pte_t e =
		x86_acc[flags & (MMK_PT_RWX | MMK_PT_USER | MMK_PT_GLOBAL)];
	if (MMK_UNLIKELY((flags & ~MMK_PT_FLAGS_ALL) || !e))
		return MMK_ENOTSUP;
	e |= (mmk__pte_t)(flags & (MMK_PT_ACCESSED | MMK_PT_DIRTY)); /* 5, 6 */
	e |= x86_mt[level != 0][(flags & MMK_PT_MT_MASK) >> MMK_PT_MT_SHIFT];
	e |= level ? X86_PS : 0;
	*tmpl = e;
	return MMK_OK;
}

static inline mmk__pte_t fmt_make_leaf(mmk__pte_t tmpl, uint64_t pa,
				       unsigned level)
{
	(void)level;
	return tmpl | pa;
}

static inline uint64_t fmt_leaf_pa(mmk__pte_t e, unsigned level)
{
	return e & X86_ADDR & ~((1ull << (12 + 9 * level)) - 1);
}

static inline uint32_t fmt_leaf_flags(const struct mmk_pt *pt, mmk__pte_t e,
				      unsigned level)
{
	(void)pt;
	uint32_t f = 0;
	if (e & X86_P) {
		f |= MMK_PT_READ;
		if (e & X86_RW)
			f |= MMK_PT_WRITE;
		if (!(e & X86_NX))
			f |= MMK_PT_EXEC;
	}
	if (e & X86_US)
		f |= MMK_PT_USER;
	if (e & X86_G)
		f |= MMK_PT_GLOBAL;
	if (e & X86_A)
		f |= MMK_PT_ACCESSED;
	if (e & X86_D)
		f |= MMK_PT_DIRTY;
	unsigned idx = ((e & x86_pat_bit(level)) ? 4 : 0) |
		       ((e & X86_PCD) ? 2 : 0) | ((e & X86_PWT) ? 1 : 0);
	/* Indexes mmkit never writes decode to the type the reset PAT
	 * gives them (WT -> NORMAL, UC- -> UNCACHED, UC -> DEVICE). */
	static const uint32_t mt[8] = {
		MMK_PT_MT_NORMAL,   MMK_PT_MT_NORMAL, MMK_PT_MT_UNCACHED,
		MMK_PT_MT_DEVICE,   MMK_PT_MT_WC,     MMK_PT_MT_NORMAL,
		MMK_PT_MT_UNCACHED, MMK_PT_MT_DEVICE,
	};
	return f | mt[idx];
}

static inline mmk__pte_t fmt_leaf_hw_bits(mmk__pte_t e, unsigned level)
{
	(void)level;
	return e & (X86_A | X86_D);
}

/* Empty entries are 0, no change needs break-before-make, and x86 stores
 * are seen by the walker in program order: the engine's defaults for
 * fmt_empty*, fmt_needs_bbm and fmt_sync.  Every level: 9 index bits over
 * 4 KiB pages (constant shifts in the query walk). */
#define FMT_PAGE_SHIFT 12
#define FMT_BITS       9

/* A table entry as fmt_make_table writes it is exactly its table's
 * address | P|RW|US|A (the walker only ever sets A, preset): e - X86_TBL
 * has no bit outside X86_ADDR for it and some for every other entry (low
 * bits other than X86_TBL leave some, or borrow into bit 63).  One
 * subtract and one test per level of the hot walks. */
#define X86_TBL (X86_P | X86_RW | X86_US | X86_A)
#define FMT_HAS_TABLE_NEXT
#define FMT_MAP_NO_FLUSH /* .caps has no MMK__FMT_MAP_NEEDS_FLUSH */
static inline __attribute__((always_inline)) bool
fmt_table_next(const struct mmk_pt *pt, mmk__pte_t e, unsigned level,
	       uint64_t *pa)
{
	(void)pt;
	(void)level;
	*pa = e - X86_TBL;
	return !(*pa & ~X86_ADDR);
}

/* A present level-0 entry is a leaf (PROT_NONE and holes are not). */
static inline bool fmt_leaf0_fast(mmk__pte_t e)
{
	return (e & X86_P) != 0;
}
#define MMK_ENGINE_OPS x86_64_ops
/* A leaf table shared by a fork is write-protected at its directory entry
 * (PDE R/W = 0: writes are refused below it whatever the leaves say). */
#define FMT_HAS_DIR_WP
static inline bool fmt_dir_wp_ok(void)
{
	return true;
}

static inline mmk__pte_t fmt_dir_wp(mmk__pte_t e)
{
	return e & ~X86_RW;
}

static inline bool fmt_dir_is_wp(mmk__pte_t e)
{
	return !(e & X86_RW);
}

#include "pt/engine.h"
ENG_FAST(x86_64_4l, 4, 48, 52)
ENG_FAST(x86_64_5l, 5, 57, 52)

/* CR3: table base in 51:12, PCID in 11:0 (with CR4.PCIDE). */
static uint64_t x86_64_root_regval(const struct mmk_pt *pt, uint32_t asid)
{
	return pt->root.v | (asid & 0xfffu);
}

/* One line of QEMU's `info tlb` (target/i386/monitor.c, print_pte). */
static int x86_64_dump_tlb_line(const struct mmk_pt *pt, mmk_vaddr_t va,
				uint64_t pte, unsigned level, char *buf,
				size_t len)
{
	(void)pt;
	if (!(pte & X86_P))
		return MMK_ENOTSUP;
	if (level == 0)
		pte &= ~X86_PS; /* QEMU masks PS (= PAT) out of 4 KiB PTEs */
	mmk_snprintf(buf, len, "%016llx: %016llx %c%c%c%c%c%c%c%c%c",
		     (unsigned long long)va,
		     (unsigned long long)fmt_leaf_pa(pte, level),
		     pte & X86_NX ? 'X' : '-', pte & X86_G ? 'G' : '-',
		     pte & X86_PS ? 'P' : '-', pte & X86_D ? 'D' : '-',
		     pte & X86_A ? 'A' : '-', pte & X86_PCD ? 'C' : '-',
		     pte & X86_PWT ? 'T' : '-', pte & X86_US ? 'U' : '-',
		     pte & X86_RW ? 'W' : '-');
	return MMK_OK;
}

/* The two paging modes differ only in their number of levels; 4 KiB,
 * 2 MiB and 1 GiB leaves in both. */
#define X86_FORMAT(ID, NAME, LEVELS, VA, FAST)                                 \
	{                                                                      \
		.id = ID, .name = NAME, .arch = "x86_64", .levels = LEVELS,    \
		.page_shift = 12, .va_bits = VA, .pa_bits = 52,                \
		.bits = {9, 9, 9, 9, (LEVELS) == 5 ? 9 : 0},                   \
		.canon = MMK__CANON_SIGNEXT, .leaf_levels = 0x7, .caps = 0,    \
		.ad_preset = 0, .opts_ok = 0, .qemu_mem = MMK__QEMU_MEM_X86,   \
		.ops = &x86_64_ops, .root_regval = x86_64_root_regval,         \
		.dump_tlb_line = x86_64_dump_tlb_line, ENG_FAST_OPS(FAST),     \
	}

const struct mmk__pt_format mmk__pt_x86_64_4l =
	X86_FORMAT(MMK_PT_X86_64_4L, "x86_64-4level", 4, 48, x86_64_4l);
const struct mmk__pt_format mmk__pt_x86_64_5l =
	X86_FORMAT(MMK_PT_X86_64_5L, "x86_64-5level", 5, 57, x86_64_5l);
