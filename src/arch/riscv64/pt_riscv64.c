/* SPDX-License-Identifier: MIT */
/*
 * mmkit — riscv64 page-table entries: Sv39, Sv48, Sv57.  RISC-V
 * Privileged Architecture, "Supervisor-Level ISA": Sv39 (4.4 in the 2021
 * text; the PTE format and the R/W/X table are in the Sv32 section 4.3.1),
 * Sv48 (4.5), Sv57 (4.6), satp (4.1.11); Svpbmt chapter for PBMT.
 *
 *   63  62:61  60:54     53:10          9:8  7 6 5 4 3 2 1 0
 *  +--+------+--------+----------------+---+-+-+-+-+-+-+-+-+
 *  |N | PBMT | resvd  |      PPN       |RSW|D|A|G|U|X|W|R|V|
 *  +--+------+--------+----------------+---+-+-+-+-+-+-+-+-+
 *  R=W=X=0 with V=1: pointer to the next level.  Any of R/W/X: a leaf, at
 *  any level (superpages must be aligned to their size).
 *
 * Choices (documented in docs/ARCHITECTURE.md):
 *  - A is preset in every leaf and D in every writable leaf: without Svadu
 *    a CPU may raise a page fault on first access / first write instead of
 *    setting them (QEMU 7.2 sets them itself; real hardware differs).
 *  - W without R is reserved (faults): MMK_ENOTSUP.  X alone is valid
 *    (execute-only).
 *  - PROT_NONE: V=0 with RSW bit 8 set; the rest of the leaf is kept so
 *    query/protect/unmap see it.  The walker ignores every bit when V=0.
 *  - Memory types need MMK_PT_OPT_SVPBMT (the CPU must implement Svpbmt,
 *    e.g. QEMU `-cpu rv64,svpbmt=on`): DEVICE = IO, UNCACHED = NC, and
 *    WRITE_COMBINE = NC with RSW bit 9 set so it reads back as WC.
 *    Without the option only NORMAL is accepted (the PMAs decide).
 *  - Adding a mapping needs no flush (invalid entries are not cached).
 *    Freeing a table needs a full SFENCE.VMA: one with rs1 != x0 orders
 *    only the leaf entries of that address.
 */
#include <mmkit/log.h>

#include "arch/riscv64/pt_riscv64.h"

#define RV_V	     (1ull << 0)
#define RV_R	     (1ull << 1)
#define RV_W	     (1ull << 2)
#define RV_X	     (1ull << 3)
#define RV_U	     (1ull << 4)
#define RV_G	     (1ull << 5)
#define RV_A	     (1ull << 6)
#define RV_D	     (1ull << 7)
#define RV_PROTNONE  (1ull << 8) /* RSW: mapped, no access (V=0) */
#define RV_WC	     (1ull << 9) /* RSW: NC mapping asked as WC */
#define RV_PPN_SHIFT 10
#define RV_PPN_MASK  ((1ull << 44) - 1)
#define RV_PBMT_NC   (1ull << 61)
#define RV_PBMT_IO   (2ull << 61)
#define RV_PBMT	     (3ull << 61)

static inline bool fmt_is_table(mmk__pte_t e, unsigned level)
{
	(void)level;
	return (e & RV_V) && !(e & (RV_R | RV_W | RV_X));
}

static inline bool fmt_is_leaf(mmk__pte_t e, unsigned level)
{
	(void)level;
	if (e & RV_V)
		return (e & (RV_R | RV_W | RV_X)) != 0;
	return (e & RV_PROTNONE) != 0;
}

static inline mmk__pte_t fmt_make_table(const struct mmk_pt *pt,
					uint64_t table_pa, unsigned level)
{
	(void)pt;
	(void)level;
	/* Non-leaf: D, A, U reserved zero; PBMT zero. */
	return ((table_pa >> 12) << RV_PPN_SHIFT) | RV_V;
}

static inline uint64_t fmt_table_pa(mmk__pte_t e, unsigned level)
{
	(void)level;
	return ((e >> RV_PPN_SHIFT) & RV_PPN_MASK) << 12;
}

/* R/W/X (index = flags & MMK_PT_RWX), A preset, D with W; 0 = reserved
 * (W without R). */
static const mmk__pte_t rv_acc[8] = {
	[0] = RV_PROTNONE | RV_A,
	[MMK_PT_READ] = RV_V | RV_R | RV_A,
	[MMK_PT_EXEC] = RV_V | RV_X | RV_A,
	[MMK_PT_RX] = RV_V | RV_R | RV_X | RV_A,
	[MMK_PT_RW] = RV_V | RV_R | RV_W | RV_A | RV_D,
	[MMK_PT_RWX] = RV_V | RV_R | RV_W | RV_X | RV_A | RV_D,
};

/* PBMT per memory type (WC keeps RSW bit 9 to read back as WC). */
static const mmk__pte_t rv_mt[4] = {0, RV_PBMT_IO, RV_PBMT_NC,
				    RV_PBMT_NC | RV_WC};

/* Branch-free: it runs once per single map. */
static inline int fmt_leaf_template(const struct mmk_pt *pt, uint32_t flags,
				    unsigned level, mmk__pte_t *tmpl)
{
	(void)level;
	mmk__pte_t e = rv_acc[flags & MMK_PT_RWX];
	uint32_t mt = (flags & MMK_PT_MT_MASK) >> MMK_PT_MT_SHIFT;
	if (MMK_UNLIKELY((flags & ~MMK_PT_FLAGS_ALL) || !e ||
			 (mt && !(pt->opts & MMK_PT_OPT_SVPBMT))))
		return MMK_ENOTSUP;
	e |= (mmk__pte_t)(flags & MMK_PT_USER) << 1;   /* bit 3 -> 4 */
	e |= (mmk__pte_t)(flags & MMK_PT_GLOBAL) << 1; /* bit 4 -> 5 */
	e |= (mmk__pte_t)(flags & MMK_PT_DIRTY) << 1;  /* bit 6 -> 7 */
	e |= rv_mt[mt];
	*tmpl = e;
	return MMK_OK;
}

static inline mmk__pte_t fmt_make_leaf(mmk__pte_t tmpl, uint64_t pa,
				       unsigned level)
{
	(void)level;
	return tmpl | (pa >> (12 - RV_PPN_SHIFT));
}

static inline uint64_t fmt_leaf_pa(mmk__pte_t e, unsigned level)
{
	(void)level;
	return ((e >> RV_PPN_SHIFT) & RV_PPN_MASK) << 12;
}

static inline uint32_t fmt_leaf_flags(const struct mmk_pt *pt, mmk__pte_t e,
				      unsigned level)
{
	(void)pt;
	(void)level;
	uint32_t f = 0;
	if (e & RV_V) {
		if (e & RV_R)
			f |= MMK_PT_READ;
		if (e & RV_W)
			f |= MMK_PT_WRITE;
		if (e & RV_X)
			f |= MMK_PT_EXEC;
	}
	if (e & RV_U)
		f |= MMK_PT_USER;
	if (e & RV_G)
		f |= MMK_PT_GLOBAL;
	if (e & RV_A)
		f |= MMK_PT_ACCESSED;
	if (e & RV_D)
		f |= MMK_PT_DIRTY;
	switch (e & RV_PBMT) {
	case RV_PBMT_IO:
		f |= MMK_PT_MT_DEVICE;
		break;
	case RV_PBMT_NC:
		f |= (e & RV_WC) ? MMK_PT_MT_WC : MMK_PT_MT_UNCACHED;
		break;
	default:
		break;
	}
	return f;
}

static inline mmk__pte_t fmt_leaf_hw_bits(mmk__pte_t e, unsigned level)
{
	(void)level;
	return e & (RV_A | RV_D);
}

/* Empty entries are 0 and no change needs break-before-make (the engine's
 * defaults); fmt_sync is the default compiler barrier: the SFENCE.VMA of
 * the flush (or of the fault path) orders the stores for the walker.
 * Every level: 9 index bits over 4 KiB pages (constant shifts in the
 * query walk). */
#define FMT_PAGE_SHIFT 12
#define FMT_BITS       9

/* A table entry as fmt_make_table writes it is PPN | V and nothing else:
 * e - V has no bit outside the PPN field for it and some for every other
 * entry (other low bits, or a borrow into bit 63); the table is then at
 * (e - V) << 2.  One subtract, one test, one shift per level of the
 * query walk. */
#define FMT_HAS_TABLE_NEXT
#define FMT_MAP_NO_FLUSH /* .caps has no MMK__FMT_MAP_NEEDS_FLUSH */
static inline __attribute__((always_inline)) bool
fmt_table_next(const struct mmk_pt *pt, mmk__pte_t e, unsigned level,
	       uint64_t *pa)
{
	(void)pt;
	(void)level;
	uint64_t t = e - RV_V;
	*pa = t << (12 - RV_PPN_SHIFT);
	return !(t & ~(RV_PPN_MASK << RV_PPN_SHIFT));
}

/* A valid level-0 entry with R, W or X is a leaf (V alone there is
 * reserved: the full query reports it). */
static inline bool fmt_leaf0_fast(mmk__pte_t e)
{
	return (e & RV_V) && (e & (RV_R | RV_W | RV_X));
}

#define MMK_ENGINE_OPS riscv64_ops
#include "pt/engine.h"
ENG_FAST(riscv_sv39, 3, 39, 56)
ENG_FAST(riscv_sv48, 4, 48, 56)
ENG_FAST(riscv_sv57, 5, 57, 56)

/* satp: MODE 63:60 (8 Sv39, 9 Sv48, 10 Sv57), ASID 59:44, PPN 43:0. */
static uint64_t riscv64_root_regval(const struct mmk_pt *pt, uint32_t asid)
{
	uint64_t mode = 8 + (pt->fmt->levels - 3);
	return mode << 60 | (uint64_t)(asid & 0xffffu) << 44 |
	       (pt->root.v >> 12);
}

#define RV_FORMAT(ID, NAME, LEVELS, VA, FAST)                                  \
	{                                                                      \
		.id = ID, .name = NAME, .arch = "riscv64", .levels = LEVELS,   \
		.page_shift = 12, .va_bits = VA, .pa_bits = 56,                \
		.bits = {9, 9, 9, 9, 9}, .canon = MMK__CANON_SIGNEXT,          \
		.leaf_levels = (1u << (LEVELS)) - 1,                           \
		.caps = MMK__FMT_TABLE_FREE_FULL,                              \
		.ad_preset = MMK_PT_ACCESSED | MMK_PT_DIRTY,                   \
		.opts_ok = MMK_PT_OPT_SVPBMT, .qemu_mem = MMK__QEMU_MEM_RISCV, \
		.ops = &riscv64_ops, .root_regval = riscv64_root_regval,       \
		ENG_FAST_OPS(FAST),                                            \
	}

const struct mmk__pt_format mmk__pt_riscv_sv39 =
	RV_FORMAT(MMK_PT_RISCV_SV39, "riscv64-sv39", 3, 39, riscv_sv39);
const struct mmk__pt_format mmk__pt_riscv_sv48 =
	RV_FORMAT(MMK_PT_RISCV_SV48, "riscv64-sv48", 4, 48, riscv_sv48);
const struct mmk__pt_format mmk__pt_riscv_sv57 =
	RV_FORMAT(MMK_PT_RISCV_SV57, "riscv64-sv57", 5, 57, riscv_sv57);
