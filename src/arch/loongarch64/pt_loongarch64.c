/* SPDX-License-Identifier: MIT */
/*
 * mmkit — loongarch64 page-table entries, for the software refill walk
 * (LDDIR/LDPTE) and the hardware page walker alike.  LoongArch Reference
 * Manual Vol. 1 (v1.10): ch. 5 "Memory Management", sections "TLB Entry"
 * and "Multi-level Page Table Structure Supported by page walking" (the
 * common-page and huge-page entry formats); ch. 7 CSRs TLBELO0/1, PWCL,
 * PWCH, PGDL/PGDH; ch. 4 LDDIR/LDPTE.
 *
 * Common page (level 0) and huge page (levels >= 1, H = 1):
 *
 *   63   62 61  60:48   47:13   12    11   10   9   8 7  6  5:4  3:2 1 0
 *  +----+--+--+-------+-------+----+----+----+----+-+-+---+---+---+-+-+
 *  |RPLV|NX|NR|  sw 0 |  PPN  |PPN |UC* |PN* |DT* |W|P|G/H|MAT|PLV|D|V|
 *  +----+--+--+-------+-------+----+----+----+----+-+-+---+---+---+-+-+
 *                              ^ HG in a huge entry (its PPN is aligned)
 *  * software bits, which LDDIR/LDPTE and the hardware walker ignore
 *    ("bits not defined in either of these formats are automatically
 *    ignored"): DT = dirty, PN = PROT_NONE, UC = UNCACHED (see below).
 *
 * A directory entry (not huge) is the bare physical address of the next
 * table: the refill handler runs in direct-address mode and the walker
 * checks nothing, so there is no valid bit.  An empty directory entry
 * therefore cannot be 0 (LDDIR would read physical page 0): it points at a
 * shared all-invalid table of the level below, whose own entries point at
 * the next invalid table, down to an all-zero leaf table (V=0 everywhere,
 * a page-invalid exception, never a wild walk).
 *
 * Choices (also in docs/ARCHITECTURE.md):
 *  - The invalid tables are static (.bss), one set per geometry shared by
 *    every table of that geometry, as Linux's invalid_pte_table etc.:
 *    16 KiB pages need 2 (32 KiB), 4 KiB pages 3 (12 KiB).  Nothing is
 *    allocated or freed for them, so create has no extra failure point,
 *    mmk_pt_table_pages counts only the tree, and two tables' empty
 *    entries are equal (copy_from sees the same "empty").  Their physical
 *    address is mmk_virt_to_phys() of the array, computed at create: the
 *    kernel's HAL must translate mmkit's static data (true of a DMW or
 *    linear-map kernel; the hosted HAL's arithmetic round-trips).  The
 *    directory-level tables are filled at the first create.
 *  - V and P (present, for the walker) are set in every accessible leaf;
 *    W (walker's writable) and D (the TLB's write enable) in every
 *    writable one.  NR = !READ, NX = !EXEC: every R/W/X combination is
 *    expressible, write-only and execute-only included.
 *  - USER: PLV = 3 (with RPLV = 0, reachable from every privilege level,
 *    the kernel included); kernel pages PLV = 0.  RPLV is never set.
 *  - GLOBAL: G (bit 6) in a common page, HG (bit 12) in a huge one, where
 *    the manual places them (LDPTE moves HG to G when it splits a huge
 *    entry).  The TLB sets G only if both pages of an even/odd pair have
 *    it: map global memory in pairs.
 *  - MAT: NORMAL = CC (1), DEVICE = SUC (0), WC = WUC (2); UNCACHED = SUC
 *    with software bit 11, so it reads back distinct from DEVICE.
 *  - No accessed bit exists (the refill handler records nothing): every
 *    leaf reads ACCESSED.  Dirty is software bit 9, preset in writable
 *    leaves and carried by protect; D itself means "writes allowed" to the
 *    TLB, so it follows WRITE, never a stale dirty state.
 *  - PROT_NONE: V = P = 0 with software bit 10 (and NR, NX); PLV, MAT, G,
 *    the address and the dirty bit are kept.
 *  - TLB: entries come in even/odd pairs and the TLB keeps an invalid half
 *    (V=0) after refilling its neighbour, so adding a mapping must be
 *    flushed: MMK__FMT_MAP_NEEDS_FLUSH.  Giving a PROT_NONE page access,
 *    like any permission upgrade, is not flushed (on no architecture): the
 *    kernel's PIL/PIS/PIF/PME handlers must rewalk the table or flush the
 *    page, as Linux's handle_tlb_load/store/modify do.
 *  - Huge pages at Dir1 (32 MiB / 2 MiB) and Dir2 (64 GiB / 1 GiB), as the
 *    manual allows (LDDIR tags a huge entry with its level in bits 14:13).
 *    QEMU 7.2 splits every huge entry as if it were a Dir1 one and drops
 *    NR/NX/RPLV in LDPTE (../shared/REFERENCES.md 4b/4c); that is QEMU's
 *    bug, the encoding follows the manual.
 */
#include <mmkit/log.h>

#include "arch/loongarch64/pt_loongarch64.h"

#define LA_V	       (1ull << 0)
#define LA_D	       (1ull << 1)
#define LA_PLV3	       (3ull << 2)
#define LA_PLV	       (3ull << 2)
#define LA_MAT_SHIFT   4
#define LA_MAT	       (3ull << 4)
#define LA_MAT_SUC     0ull
#define LA_MAT_CC      1ull
#define LA_MAT_WUC     2ull
#define LA_G	       (1ull << 6) /* common page */
#define LA_H	       (1ull << 6) /* directory entry: huge page */
#define LA_P	       (1ull << 7)
#define LA_W	       (1ull << 8)
#define LA_SW_DIRTY    (1ull << 9)
#define LA_SW_PROTNONE (1ull << 10)
#define LA_SW_UC       (1ull << 11)
#define LA_HG	       (1ull << 12)	     /* huge page: global */
#define LA_PA	       0x0000fffffffff000ull /* PALEN 48 */
#define LA_NR	       (1ull << 61)
#define LA_NX	       (1ull << 62)
#define LA_RPLV	       (1ull << 63)

mmk__pte_t mmk__la64_invalid_16k[2][2048] __attribute__((aligned(16384)));
mmk__pte_t mmk__la64_invalid_4k[3][512] __attribute__((aligned(4096)));

static inline bool fmt_empty_is_zero(void)
{
	return false;
}

/* fmt_data[l] holds the physical address of the invalid table of level l. */
static inline mmk__pte_t fmt_empty(const struct mmk_pt *pt, unsigned level)
{
	return level ? pt->fmt_data[level - 1] : 0;
}

static inline bool fmt_is_table(mmk__pte_t e, unsigned level)
{
	return level > 0 && !(e & LA_H);
}

static inline bool fmt_is_leaf(mmk__pte_t e, unsigned level)
{
	if (level == 0)
		return (e & (LA_V | LA_SW_PROTNONE)) != 0;
	return (e & LA_H) != 0;
}

static inline mmk__pte_t fmt_make_table(const struct mmk_pt *pt,
					uint64_t table_pa, unsigned level)
{
	(void)pt;
	(void)level;
	return table_pa;
}

static inline uint64_t fmt_table_pa(mmk__pte_t e, unsigned level)
{
	(void)level;
	return e & LA_PA;
}

static inline int fmt_leaf_template(const struct mmk_pt *pt, uint32_t flags,
				    unsigned level, mmk__pte_t *tmpl)
{
	(void)pt;
	if (flags & ~MMK_PT_FLAGS_ALL)
		return MMK_ENOTSUP;
	mmk__pte_t e = (flags & MMK_PT_RWX) ? LA_V | LA_P : LA_SW_PROTNONE;
	if (!(flags & MMK_PT_READ))
		e |= LA_NR;
	if (!(flags & MMK_PT_EXEC))
		e |= LA_NX;
	if (flags & MMK_PT_WRITE)
		e |= LA_D | LA_W | LA_SW_DIRTY;
	if (flags & MMK_PT_DIRTY)
		e |= LA_SW_DIRTY;
	if (flags & MMK_PT_USER)
		e |= LA_PLV3;
	if (flags & MMK_PT_GLOBAL)
		e |= level ? LA_HG : LA_G;
	if (level)
		e |= LA_H;
	switch (flags & MMK_PT_MT_MASK) {
	case MMK_PT_MT_NORMAL:
		e |= LA_MAT_CC << LA_MAT_SHIFT;
		break;
	case MMK_PT_MT_DEVICE:
		e |= LA_MAT_SUC << LA_MAT_SHIFT;
		break;
	case MMK_PT_MT_UNCACHED:
		e |= LA_MAT_SUC << LA_MAT_SHIFT | LA_SW_UC;
		break;
	default:
		e |= LA_MAT_WUC << LA_MAT_SHIFT;
		break;
	}
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
	return e & LA_PA & ~(level ? LA_HG : 0);
}

static inline uint32_t fmt_leaf_flags(const struct mmk_pt *pt, mmk__pte_t e,
				      unsigned level)
{
	(void)pt;
	uint32_t f = MMK_PT_ACCESSED;
	if (!(e & LA_SW_PROTNONE)) {
		if (!(e & LA_NR))
			f |= MMK_PT_READ;
		if (e & LA_W)
			f |= MMK_PT_WRITE;
		if (!(e & LA_NX))
			f |= MMK_PT_EXEC;
	}
	if (e & LA_SW_DIRTY)
		f |= MMK_PT_DIRTY;
	if ((e & LA_PLV) == LA_PLV3)
		f |= MMK_PT_USER;
	if (e & (level ? LA_HG : LA_G))
		f |= MMK_PT_GLOBAL;
	switch ((e & LA_MAT) >> LA_MAT_SHIFT) {
	case LA_MAT_SUC:
		f |= (e & LA_SW_UC) ? MMK_PT_MT_UNCACHED : MMK_PT_MT_DEVICE;
		break;
	case LA_MAT_WUC:
		f |= MMK_PT_MT_WC;
		break;
	default:
		break;
	}
	return f;
}

static inline mmk__pte_t fmt_leaf_hw_bits(mmk__pte_t e, unsigned level)
{
	(void)level;
	/* No bit is updated by hardware; the software dirty bit is the state
	 * protect must keep. */
	return e & LA_SW_DIRTY;
}

static inline void fmt_sync(void)
{
	/* Order the table stores before the refill handler's (or the
	 * hardware walker's) loads and the caller's INVTLB. */
#if defined(__loongarch__)
	__asm__ volatile("dbar 0" ::: "memory");
#else
	__asm__ volatile("" ::: "memory");
#endif
}

/* Empty directory entries point at the shared invalid tables and the
 * stores need a barrier (the format's own); no change needs
 * break-before-make (the engine's default). */
#define FMT_HAS_EMPTY
#define FMT_HAS_SYNC

/* A directory entry as fmt_make_table writes it is its table's address
 * alone (no bit outside LA_PA).  An empty one is the address of the
 * shared invalid table below, which passes that test and is refused by
 * name: a walk through it would end in a zero leaf anyway, but the hints
 * must never name it (a map replaces it without an unhook).  The hot
 * walks' test per level: a mask, a load and two compares. */
#define FMT_HAS_TABLE_NEXT
static inline __attribute__((always_inline)) bool
fmt_table_next(const struct mmk_pt *pt, mmk__pte_t e, unsigned level,
	       uint64_t *pa)
{
	*pa = e;
	return !(e & ~LA_PA) && e != pt->fmt_data[level - 1];
}

/* A valid level-0 entry is a leaf (PROT_NONE ones are not valid). */
static inline bool fmt_leaf0_fast(mmk__pte_t e)
{
	return (e & LA_V) != 0;
}
#define MMK_ENGINE_OPS loongarch64_ops
#include "pt/engine.h"
ENG_FAST(la64_16k_3l, 3, 47, 48)
ENG_FAST(la64_4k_4l, 4, 48, 48)

/*
 * Point pt->fmt_data at the invalid tables of @pt's geometry (@inv, @n
 * entries each), filling their directory levels the first time.  Only
 * identical values are ever stored, so concurrent creates are harmless;
 * the last entry is written last (release) and tested first (acquire).
 */
static void la64_setup_invalid(struct mmk_pt *pt, mmk__pte_t *inv, size_t n)
{
	unsigned below_root = pt->fmt->levels - 1u;
	for (unsigned l = 0; l < below_root; l++) {
		mmk__pte_t *t = inv + l * n;
		pt->fmt_data[l] = mmk_virt_to_phys(t).v;
		if (l == 0)
			continue; /* .bss: all zero, every leaf invalid */
		mmk__pte_t want = pt->fmt_data[l - 1];
		if (__atomic_load_n(&t[n - 1], __ATOMIC_ACQUIRE) == want)
			continue;
		for (size_t i = 0; i + 1 < n; i++)
			__atomic_store_n(&t[i], want, __ATOMIC_RELAXED);
		__atomic_store_n(&t[n - 1], want, __ATOMIC_RELEASE);
	}
	fmt_sync();
}

/* pt.c runs this before it allocates the root, which then comes filled
 * with fmt_empty(root level); a root already there is refilled. */
static int la64_init(struct mmk_pt *pt)
{
	if (pt->fmt->page_shift == 14) {
		if (pt->opts & MMK_PT_OPT_HIGH_HALF)
			pt->fmt = &mmk__pt_la64_16k_3l_high;
		la64_setup_invalid(pt, &mmk__la64_invalid_16k[0][0], 2048);
	} else {
		la64_setup_invalid(pt, &mmk__la64_invalid_4k[0][0], 512);
	}
	if (pt->root.v)
		eng_init_table(pt, mmk_phys_to_virt(pt->root),
			       pt->fmt->levels - 1u);
	return MMK_OK;
}

/* PGDL / PGDH: the root's physical address (bits 63:12; 16 KiB roots are
 * 16 KiB aligned).  The ASID goes to CSR.ASID separately. */
static uint64_t la64_root_regval(const struct mmk_pt *pt, uint32_t asid)
{
	(void)asid;
	return pt->root.v;
}

/*
 * The Dir field of PWCL/PWCH that walks level @level (>= 1): the root is
 * always Dir3, the levels between Dir1 and Dir2 (Linux's layout).  The
 * root of the 16 KiB format starts at bit 36, which PWCH's 6-bit
 * Dir3_base holds and PWCL's 5-bit Dir2_base does not.
 */
static unsigned la64_dir_of(const struct mmk__pt_format *f, unsigned level)
{
	return level == f->levels - 1u ? 3 : level;
}

uint64_t mmk_arch_loongarch64_pwcl(const struct mmk_pt *pt)
{
	const struct mmk__pt_format *f = pt->fmt;
	/* PTbase 4:0, PTwidth 9:5; PTEWidth 31:30 = 0 (64-bit entries). */
	uint64_t v = (uint64_t)f->page_shift | (uint64_t)f->bits[0] << 5;
	for (unsigned l = 1; l < f->levels; l++) {
		unsigned d = la64_dir_of(f, l);
		if (d > 2)
			continue;
		/* Dir1 base 14:10 width 19:15; Dir2 base 24:20 width 29:25 */
		v |= (uint64_t)mmk__level_shift(f, l) << (10 * d);
		v |= (uint64_t)f->bits[l] << (10 * d + 5);
	}
	return v;
}

uint64_t mmk_arch_loongarch64_pwch(const struct mmk_pt *pt)
{
	const struct mmk__pt_format *f = pt->fmt;
	unsigned root = f->levels - 1u;
	/* Dir3 base 5:0 width 11:6 (Dir4 17:12 / 23:18 unused). */
	return (uint64_t)mmk__level_shift(f, root) | (uint64_t)f->bits[root]
							     << 6;
}

uint64_t mmk_arch_loongarch64_stlbps(const struct mmk_pt *pt)
{
	return pt->fmt->page_shift;
}

#define LA64_FORMAT(ID, NAME, LEVELS, PSHIFT, B, VA, CANON, OPTS, FAST)        \
	{                                                                      \
		.id = ID, .name = NAME, .arch = "loongarch64",                 \
		.levels = LEVELS, .page_shift = PSHIFT, .va_bits = VA,         \
		.pa_bits = 48, .bits = {B, B, B, B}, .canon = CANON,           \
		.leaf_levels = 0x7u, .caps = MMK__FMT_MAP_NEEDS_FLUSH,         \
		.ad_preset = MMK_PT_ACCESSED | MMK_PT_DIRTY, .opts_ok = OPTS,  \
		.ops = &loongarch64_ops, .init = la64_init,                    \
		.root_regval = la64_root_regval, ENG_FAST_OPS(FAST),           \
	}

const struct mmk__pt_format mmk__pt_la64_16k_3l =
	LA64_FORMAT(MMK_PT_LA64_16K_3L, "loongarch64-16k-3level", 3, 14, 11, 47,
		    MMK__CANON_LOW, MMK_PT_OPT_HIGH_HALF, la64_16k_3l);
const struct mmk__pt_format mmk__pt_la64_16k_3l_high =
	LA64_FORMAT(MMK_PT_LA64_16K_3L, "loongarch64-16k-3level-pgdh", 3, 14,
		    11, 47, MMK__CANON_HIGH, MMK_PT_OPT_HIGH_HALF, la64_16k_3l);
const struct mmk__pt_format mmk__pt_la64_4k_4l =
	LA64_FORMAT(MMK_PT_LA64_4K_4L, "loongarch64-4k-4level", 4, 12, 9, 48,
		    MMK__CANON_SIGNEXT, 0, la64_4k_4l);
