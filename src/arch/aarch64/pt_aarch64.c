/* SPDX-License-Identifier: MIT */
/*
 * mmkit — aarch64 page-table entries: VMSAv8-64 stage 1, 4 KiB granule,
 * 39-bit VA (3 levels, the walk starts at L1) and 48-bit VA (4 levels,
 * from L0).  Arm ARM (DDI 0487), "VMSAv8-64 translation table format
 * descriptors" (D4.3 in rev A-C, D8.3 in current revisions) and
 * "Memory access control" / "Access permissions" (AP[2:1], PXN/UXN).
 *
 * mmkit level L is Arm level 3 - L: level 0 holds 4 KiB pages (Arm L3),
 * level 1 2 MiB blocks (L2), level 2 1 GiB blocks (L1), level 3 (Arm L0,
 * 48-bit only) tables only.
 *
 *   63  62:61 60   59   58:55 54  53  52 51  50  47:12 11 10 9:8 7:6 5  4:2 1 0
 *  +---+----+----+----+-----+---+---+--+---+--+------+--+--+---+---+--+---+-+-+
 *  |NST|APT |UXNT|PXNT| SW  |UXN|PXN|C |DBM|GP|  OA  |nG|AF|SH |AP |NS|Idx|T|V|
 *  +---+----+----+----+-----+---+---+--+---+--+------+--+--+---+---+--+---+-+-+
 *   table-only attributes  leaf upper attributes          leaf lower attributes
 *
 *  V=1,T=1: table (Arm L0-L2) or page (L3).  V=1,T=0: block (L1, L2).
 *  Table descriptors carry only the next-level address: PXNTable, UXNTable,
 *  APTable and NSTable stay 0 so that the leaf alone decides.
 *
 * Choices (also in docs/ARCHITECTURE.md):
 *  - AttrIndx is the MMK_PT_MT_* value, with MAIR_EL1 as in pt_aarch64.h:
 *    NORMAL 0xFF, DEVICE nGnRE 0x04, UNCACHED nGnRnE 0x00, WC Normal-NC
 *    0x44.  Four distinct hardware types, so each reads back as mapped.
 *  - SH = inner shareable (0b11) in every leaf.  It is what Normal memory
 *    needs on an SMP system; for Device and Normal-NC memory the
 *    architecture ignores SH (treated as outer shareable), so one value
 *    keeps decode simple.
 *  - AF is set in every leaf: without FEAT_HAFDBS (cortex-a72 has none,
 *    ID_AA64MMFR1.HAFDBS = 0) an access with AF=0 takes an Access flag
 *    fault.  Query reports it as ACCESSED.
 *  - Dirty: a software bit (55), preset in writable leaves and kept by
 *    protect, reported as DIRTY.  DBM (bit 51) is never set, so hardware
 *    dirty management never changes AP[2] behind mmkit's back.
 *  - Permissions.  READ is implied by a valid entry at EL1, so WRITE or
 *    EXEC without READ is MMK_ENOTSUP (an EL0 execute-only page would give
 *    EL1 read-write access: a silent change).
 *      kernel (no USER): AP[1]=0; AP[2] = !WRITE; UXN=1 always;
 *                        PXN = !EXEC.
 *      USER:             AP[1]=1; AP[2] = !WRITE; PXN=1 always (the
 *                        kernel never executes user memory, and an
 *                        EL0-writable page is EL1-execute-never anyway);
 *                        UXN = !EXEC.
 *  - GLOBAL clears nG; every other leaf is tagged with the ASID.
 *  - PROT_NONE: V=0 with software bit 58 set; the rest of the leaf (OA,
 *    AttrIndx, AP[1] for USER, nG, AF, dirty) is kept with AP[2]=1 and
 *    PXN=UXN=1, so query, protect and unmap find it.  The walker ignores
 *    every other bit of an invalid descriptor.
 *  - Break-before-make (Arm ARM "Using break-before-make when updating
 *    translation table entries"): between two valid entries, changing the
 *    output address, the block/table type (a split), AttrIndx, SH, nG or
 *    the Contiguous bit needs the entry invalidated and flushed first.
 *    fmt_needs_bbm says so and the engine does it.  Permission and AF
 *    changes do not.
 *  - TLB: the TLB never caches invalid (faulting) translations, so adding
 *    a mapping needs no flush.  Range flushes must use TLBI VAE1IS /
 *    VAAE1IS (all levels), which also drop walk-cache copies of freed
 *    tables; VALE1IS would not.
 *  - Canonical form: a table is one half.  TTBR0 tables (the default)
 *    take VA[63:va_bits] = 0; MMK_PT_OPT_HIGH_HALF makes a TTBR1 table
 *    (VA[63:va_bits] all ones).  Both index with VA[va_bits-1:12].
 */
#include <mmkit/log.h>

#include "arch/aarch64/pt_aarch64.h"

#define A64_VALID	  (1ull << 0)
#define A64_TYPE	  (1ull << 1) /* table / page; 0 = block */
#define A64_ATTRIDX_SHIFT 2
#define A64_ATTRIDX	  (7ull << 2)
#define A64_AP_EL0	  (1ull << 6) /* AP[1]: EL0 may access */
#define A64_AP_RO	  (1ull << 7) /* AP[2]: read-only */
#define A64_SH_INNER	  (3ull << 8)
#define A64_SH		  (3ull << 8)
#define A64_AF		  (1ull << 10)
#define A64_NG		  (1ull << 11)
#define A64_OA		  0x0000fffffffff000ull /* OA[47:12] */
#define A64_CONT	  (1ull << 52)
#define A64_PXN		  (1ull << 53)
#define A64_UXN		  (1ull << 54)
#define A64_SW_DIRTY	  (1ull << 55) /* software: written to */
#define A64_SW_PROTNONE	  (1ull << 58) /* software: mapped, no access */

static inline bool fmt_is_table(mmk__pte_t e, unsigned level)
{
	return level > 0 &&
	       (e & (A64_VALID | A64_TYPE)) == (A64_VALID | A64_TYPE);
}

static inline bool fmt_is_leaf(mmk__pte_t e, unsigned level)
{
	if (e & A64_VALID)
		return level == 0 ? (e & A64_TYPE) != 0 : !(e & A64_TYPE);
	return (e & A64_SW_PROTNONE) != 0;
}

static inline mmk__pte_t fmt_make_table(const struct mmk_pt *pt,
					uint64_t table_pa, unsigned level)
{
	(void)pt;
	(void)level;
	return table_pa | A64_TYPE | A64_VALID;
}

static inline uint64_t fmt_table_pa(mmk__pte_t e, unsigned level)
{
	(void)level;
	return e & A64_OA;
}

static inline int fmt_leaf_template(const struct mmk_pt *pt, uint32_t flags,
				    unsigned level, mmk__pte_t *tmpl)
{
	(void)pt;
	if (flags & ~MMK_PT_FLAGS_ALL)
		return MMK_ENOTSUP;
	bool r = flags & MMK_PT_READ, w = flags & MMK_PT_WRITE;
	bool x = flags & MMK_PT_EXEC, user = flags & MMK_PT_USER;
	if ((w || x) && !r)
		return MMK_ENOTSUP;
	uint64_t idx = (flags & MMK_PT_MT_MASK) >> MMK_PT_MT_SHIFT;
	mmk__pte_t e = A64_VALID | (level == 0 ? A64_TYPE : 0) |
		       idx << A64_ATTRIDX_SHIFT | A64_SH_INNER | A64_AF;
	if (!(flags & MMK_PT_GLOBAL))
		e |= A64_NG;
	if (!w)
		e |= A64_AP_RO;
	if (user)
		e |= A64_AP_EL0 | A64_PXN | (x ? 0 : A64_UXN);
	else
		e |= A64_UXN | (x ? 0 : A64_PXN);
	if (w || (flags & MMK_PT_DIRTY))
		e |= A64_SW_DIRTY;
	if (!r)
		e = (e & ~A64_VALID) | A64_SW_PROTNONE;
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
	(void)level;
	return e & A64_OA;
}

static inline uint32_t fmt_leaf_flags(const struct mmk_pt *pt, mmk__pte_t e,
				      unsigned level)
{
	(void)pt;
	(void)level;
	uint32_t f = (uint32_t)((e & A64_ATTRIDX) >> A64_ATTRIDX_SHIFT)
		     << MMK_PT_MT_SHIFT;
	bool user = e & A64_AP_EL0;
	if (user)
		f |= MMK_PT_USER;
	if (!(e & A64_NG))
		f |= MMK_PT_GLOBAL;
	if (e & A64_AF)
		f |= MMK_PT_ACCESSED;
	if (e & A64_SW_DIRTY)
		f |= MMK_PT_DIRTY;
	if (e & A64_VALID) {
		f |= MMK_PT_READ;
		if (!(e & A64_AP_RO))
			f |= MMK_PT_WRITE;
		if (!(e & (user ? A64_UXN : A64_PXN)))
			f |= MMK_PT_EXEC;
	}
	return f;
}

static inline mmk__pte_t fmt_leaf_hw_bits(mmk__pte_t e, unsigned level)
{
	(void)level;
	return e & (A64_AF | A64_SW_DIRTY);
}

static inline bool fmt_needs_bbm(mmk__pte_t old, mmk__pte_t nw, unsigned level)
{
	(void)level;
	/* With one side invalid no two TLB entries can conflict. */
	if (!(old & A64_VALID) || !(nw & A64_VALID))
		return false;
	return ((old ^ nw) & (A64_TYPE | A64_OA | A64_ATTRIDX | A64_SH |
			      A64_NG | A64_CONT)) != 0;
}

static inline void fmt_sync(void)
{
	/* Make the table stores visible to the walker before the caller's
	 * TLBI or before it relies on the new mapping. */
#if defined(__aarch64__)
	__asm__ volatile("dsb ishst\n\tisb" ::: "memory");
#else
	__asm__ volatile("" ::: "memory");
#endif
}

/* Empty entries are 0 (the engine's default); the two hooks above are
 * the format's own. */
/* A leaf table shared by a fork is write-protected at its table
 * descriptor (APTable[1] = 1: no write below it at any EL). */
#define A64_APTABLE_RO (1ull << 62)
#define FMT_HAS_DIR_WP
static inline bool fmt_dir_wp_ok(void)
{
	return true;
}

static inline mmk__pte_t fmt_dir_wp(mmk__pte_t e)
{
	return e | A64_APTABLE_RO;
}

static inline bool fmt_dir_is_wp(mmk__pte_t e)
{
	return (e & A64_APTABLE_RO) != 0;
}

#define FMT_HAS_BBM
#define FMT_HAS_SYNC
#define FMT_PAGE_SHIFT 12
#define FMT_BITS       9

/* A table descriptor as fmt_make_table writes it is exactly its table's
 * address | TYPE | VALID: e - 3 has no bit outside A64_OA for it and some
 * for every other entry (other low bits, APTable or the ignored high
 * bits, or a borrow into bit 63).  One subtract and one test per level of
 * the hot walks. */
#define FMT_HAS_TABLE_NEXT
static inline __attribute__((always_inline)) bool
fmt_table_next(const struct mmk_pt *pt, mmk__pte_t e, unsigned level,
	       uint64_t *pa)
{
	(void)pt;
	(void)level;
	*pa = e - (A64_TYPE | A64_VALID);
	return !(*pa & ~A64_OA);
}

/* A level-0 entry with VALID and TYPE is a page (VALID alone there is
 * reserved, and PROT_NONE leaves are not valid: the full query reports
 * them). */
static inline bool fmt_leaf0_fast(mmk__pte_t e)
{
	return (e & (A64_VALID | A64_TYPE)) == (A64_VALID | A64_TYPE);
}
#define MMK_ENGINE_OPS aarch64_ops
#include "pt/engine.h"
ENG_FAST(aarch64_39, 3, 39, 48)
ENG_FAST(aarch64_48, 4, 48, 48)

static int aarch64_init(struct mmk_pt *pt)
{
	if (pt->opts & MMK_PT_OPT_HIGH_HALF)
		pt->fmt = pt->fmt->levels == 3 ? &mmk__pt_aarch64_39_high
					       : &mmk__pt_aarch64_48_high;
	return MMK_OK;
}

/* TTBRn_EL1: ASID 63:48, BADDR 47:1 (the root is page aligned), CnP 0. */
static uint64_t aarch64_root_regval(const struct mmk_pt *pt, uint32_t asid)
{
	return (uint64_t)(asid & 0xffffu) << 48 | (pt->root.v & A64_OA);
}

#define A64_FORMAT(ID, NAME, LEVELS, VA, CANON, FAST)                          \
	{                                                                      \
		.id = ID, .name = NAME, .arch = "aarch64", .levels = LEVELS,   \
		.page_shift = 12, .va_bits = VA, .pa_bits = 48,                \
		.bits = {9, 9, 9, 9}, .canon = CANON, .leaf_levels = 0x7u,     \
		.caps = 0, .ad_preset = MMK_PT_ACCESSED | MMK_PT_DIRTY,        \
		.opts_ok = MMK_PT_OPT_HIGH_HALF, .ops = &aarch64_ops,          \
		.init = aarch64_init, .root_regval = aarch64_root_regval,      \
		ENG_FAST_OPS(FAST),                                            \
	}

const struct mmk__pt_format mmk__pt_aarch64_39 = A64_FORMAT(
	MMK_PT_AARCH64_39, "aarch64-39bit", 3, 39, MMK__CANON_LOW, aarch64_39);
const struct mmk__pt_format mmk__pt_aarch64_48 = A64_FORMAT(
	MMK_PT_AARCH64_48, "aarch64-48bit", 4, 48, MMK__CANON_LOW, aarch64_48);
const struct mmk__pt_format mmk__pt_aarch64_39_high =
	A64_FORMAT(MMK_PT_AARCH64_39, "aarch64-39bit-ttbr1", 3, 39,
		   MMK__CANON_HIGH, aarch64_39);
const struct mmk__pt_format mmk__pt_aarch64_48_high =
	A64_FORMAT(MMK_PT_AARCH64_48, "aarch64-48bit-ttbr1", 4, 48,
		   MMK__CANON_HIGH, aarch64_48);
