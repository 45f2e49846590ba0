/* SPDX-License-Identifier: MIT */
/*
 * Page tables: the aarch64 format (stage 1, 4 KiB granule, 39- and 48-bit
 * VA), bit-exact against values worked out by hand from the Arm ARM.
 *
 * Arm Architecture Reference Manual for A-profile (DDI 0487), chapter "The
 * AArch64 Virtual Memory System Architecture":
 *  - "VMSAv8-64 translation table format descriptors" (D4.3 in rev A-C,
 *    D8.3 in current revisions): descriptor bits[1:0] (0b11 table at L0-L2
 *    or page at L3, 0b01 block at L1/L2, bit 0 clear = invalid, every
 *    other bit ignored), next-level table address 47:12, output address
 *    47:12 / 47:21 / 47:30, lower attributes AttrIndx 4:2, NS 5,
 *    AP[2:1] 7:6, SH 9:8, AF 10, nG 11; upper attributes Contiguous 52,
 *    PXN 53, UXN 54, software 58:55.
 *  - "Data access permissions" (stage 1 AP[2:1] table): 00 EL1 RW / EL0
 *    none, 01 RW / RW, 10 RO / none, 11 RO / RO.
 *  - "Instruction access permissions": UXN for EL0, PXN for EL1.
 *  - "Memory region attributes" / MAIR_EL1: 0xFF Normal WB RW-allocate,
 *    0x04 Device-nGnRE, 0x00 Device-nGnRnE, 0x44 Normal non-cacheable.
 *  - "The Access flag": AF=0 faults without FEAT_HAFDBS.
 *  - "Using break-before-make when updating translation table entries".
 *  - TTBR0_EL1 / TTBR1_EL1: ASID 63:48, BADDR 47:1; TCR_EL1 T0SZ 5:0,
 *    IRGN0 9:8, ORGN0 11:10, SH0 13:12, TG0 15:14, T1SZ 21:16, IRGN1
 *    25:24, ORGN1 27:26, SH1 29:28, TG1 31:30 (10 = 4 KiB).
 *
 * mmkit level L = Arm level 3 - L (level 0 holds the 4 KiB pages).
 */
#include "pt_fixture.h"

#define setup	 pt_fixture_setup
#define teardown pt_fixture_teardown

static void unmap_all_and_destroy(struct mmk_pt *pt)
{
	struct mmk_pt_info info;
	struct mmk_tlb_gather b;
	mmk_pt_info(pt, &info);
	mmk_tlb_gather_init(&b, NULL, 0);
	mmk_vaddr_t lo = 0;
	if (!__builtin_strcmp(info.name + __builtin_strlen(info.name) - 5,
			      "ttbr1"))
		lo = ~((1ull << info.va_bits) - 1);
	assert_int_equal(mmk_pt_unmap_region(pt, lo, 1ull << info.va_bits, &b,
					     NULL, NULL),
			 0);
	mmk_tlb_gather_finish(&b);
	assert_int_equal(mmk_pt_table_pages(pt), 1);
	mmk_pt_destroy(pt);
}

/* ------------------------------------------------------ hand worked */
static void hand_worked_descriptors_match_the_arm_arm(void **state)
{
	(void)state;
	struct mmk_pt pt;
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_AARCH64_48, 0, fa), 0);

	/* Kernel data, 4 KiB page: bits[1:0]=0b11, AttrIndx 0, AP=00 (EL1
	 * RW), SH=0b11 (0x300), AF (0x400), nG (0x800); PXN 53, UXN 54,
	 * software dirty 55. */
	assert_int_equal(enc(&pt, 0, 0x40203000, MMK_PT_RW),
			 0x00e0000040203f03ull);
	/* Kernel text, global: AP=10 (0x80, EL1 RO), UXN only, no nG. */
	assert_int_equal(enc(&pt, 0, 0x40203000, MMK_PT_RX | MMK_PT_GLOBAL),
			 0x0040000040203783ull);
	/* User data: AP=01 (0x40, EL0 RW), PXN|UXN, dirty, nG. */
	assert_int_equal(enc(&pt, 0, 0x40203000, MMK_PT_RW | MMK_PT_USER),
			 0x00e0000040203f43ull);
	/* User text: AP=11 (0xc0, RO at both), PXN only (EL0 may execute). */
	assert_int_equal(enc(&pt, 0, 0x40203000, MMK_PT_RX | MMK_PT_USER),
			 0x0020000040203fc3ull);
	/* Device RW, 2 MiB block at L2: bits[1:0]=0b01, AttrIndx 1
	 * (MAIR byte 0x04, Device-nGnRE) = 0x4, global, XN both. */
	assert_int_equal(enc(&pt, 1, 0x3f200000,
			     MMK_PT_RW | MMK_PT_GLOBAL | MMK_PT_MT_DEVICE),
			 0x00e000003f200705ull);
	/* Uncached read-only: AttrIndx 2 (0x00, Device-nGnRnE) = 0x8. */
	assert_int_equal(
		enc(&pt, 0, 0x09000000, MMK_PT_READ | MMK_PT_MT_UNCACHED),
		0x0060000009000f8bull);
	/* Write combining: AttrIndx 3 (0x44, Normal non-cacheable) = 0xc. */
	assert_int_equal(enc(&pt, 0, 0x10000000, MMK_PT_RW | MMK_PT_MT_WC),
			 0x00e0000010000f0full);
	/* PROT_NONE page: bit 0 clear (invalid), bit 1 kept, AP[2], SH, AF,
	 * nG, PXN|UXN, software bit 58. */
	assert_int_equal(enc(&pt, 0, 0x7000, 0), 0x0460000000007f82ull);
	/* PROT_NONE user global 1 GiB block: AP=11, no nG, bits[1:0]=0b00. */
	assert_int_equal(enc(&pt, 2, 0x40000000, MMK_PT_USER | MMK_PT_GLOBAL),
			 0x04600000400007c0ull);
	/* 1 GiB block, kernel RWX global, highest 48-bit output address:
	 * UXN and dirty only. */
	assert_int_equal(
		enc(&pt, 2, 0x0000ffffc0000000ull, MMK_PT_RWX | MMK_PT_GLOBAL),
		0x00c0ffffc0000701ull);
	/* Read-only but dirty (as protect leaves a written page). */
	assert_int_equal(enc(&pt, 0, 0x1000, MMK_PT_READ | MMK_PT_DIRTY),
			 0x00e0000000001f83ull);

	/* A table descriptor is 0b11 plus the table address, no attributes
	 * (APTable, XNTable, NSTable 0: the leaf alone decides). */
	assert_int_equal(
		mmk_pt_map(&pt, 0x1000, mmk_pa(0x5000), 4096, MMK_PT_RW, NULL),
		0);
	for (unsigned l = 1; l < 4; l++) {
		uint64_t e;
		assert_int_equal(mmk_pt_raw_entry(&pt, 0x1000, l, &e), 0);
		assert_int_equal(e & 0xfff, 0x3);
		assert_int_equal(e >> 48, 0);
	}
	uint64_t e;
	assert_int_equal(mmk_pt_raw_entry(&pt, 0x1000, 0, &e), 0);
	assert_int_equal(e, 0x00e0000000005f03ull);
	unmap_all_and_destroy(&pt);
}

/* ----------------------------------------------- every combination */
/* The Arm ARM's descriptor layout, written out for one flag combination. */
static int a64_expected(unsigned level, uint64_t pa, uint32_t f, uint64_t *e)
{
	bool r = f & MMK_PT_READ, w = f & MMK_PT_WRITE, x = f & MMK_PT_EXEC;
	bool user = f & MMK_PT_USER;
	if ((w || x) && !r)
		return MMK_ENOTSUP;
	uint64_t v = pa;
	if (r)
		v |= level == 0 ? 0x3 : 0x1; /* page / block */
	else
		v |= (level == 0 ? 0x2 : 0x0) | 1ull << 58; /* invalid */
	/* AttrIndx: MAIR 0x440004FF = {0xFF, 0x04, 0x00, 0x44}. */
	switch (f & MMK_PT_MT_MASK) {
	case MMK_PT_MT_DEVICE:
		v |= 1ull << 2;
		break;
	case MMK_PT_MT_UNCACHED:
		v |= 2ull << 2;
		break;
	case MMK_PT_MT_WC:
		v |= 3ull << 2;
		break;
	}
	if (user)
		v |= 1ull << 6; /* AP[1] */
	if (!w)
		v |= 1ull << 7; /* AP[2] */
	v |= 3ull << 8;		/* SH inner */
	v |= 1ull << 10;	/* AF preset */
	if (!(f & MMK_PT_GLOBAL))
		v |= 1ull << 11; /* nG */
	if (user || !x)
		v |= 1ull << 53; /* PXN */
	if (!user || !x)
		v |= 1ull << 54; /* UXN */
	if (w || (f & MMK_PT_DIRTY))
		v |= 1ull << 55;
	*e = v;
	return 0;
}

static void every_flag_combination_is_bit_exact(void **state)
{
	(void)state;
	static const struct {
		int id;
		unsigned opts;
	} modes[] = {
		{MMK_PT_AARCH64_39, 0},
		{MMK_PT_AARCH64_48, 0},
		{MMK_PT_AARCH64_39, MMK_PT_OPT_HIGH_HALF},
		{MMK_PT_AARCH64_48, MMK_PT_OPT_HIGH_HALF},
	};
	long checked = 0;
	for (size_t m = 0; m < MMK_ARRAY_SIZE(modes); m++) {
		struct mmk_pt pt;
		assert_int_equal(
			mmk_pt_create(&pt, modes[m].id, modes[m].opts, fa), 0);
		for (unsigned level = 0; level < 3; level++) {
			for (uint32_t f = 0; f < 0x400; f++) {
				if (f & ~MMK_PT_FLAGS_ALL)
					continue;
				uint64_t pa = 0x00007fc0c0000000ull, want = 0,
					 got = 0;
				int we = a64_expected(level, pa, f, &want);
				int ge = mmk_pt_encode_leaf(
					&pt, level, mmk_pa(pa), f, &got);
				assert_int_equal(ge, we);
				if (we)
					continue;
				assert_int_equal(got, want);
				mmk_paddr_t dpa;
				uint32_t df;
				assert_int_equal(mmk_pt_decode_leaf(&pt, level,
								    got, &dpa,
								    &df),
						 0);
				assert_int_equal(dpa.v, pa);
				uint32_t pre =
					MMK_PT_ACCESSED |
					(f & MMK_PT_WRITE ? MMK_PT_DIRTY : 0);
				assert_int_equal(df, f | pre);
				checked++;
			}
		}
		mmk_pt_destroy(&pt);
	}
	/* 4 modes x 3 levels x 5 expressible R/W/X sets (none, R, RW, RX,
	 * RWX) x 64 (USER, GLOBAL, ACCESSED, DIRTY, 4 memory types). */
	assert_int_equal(checked, 4 * 3 * 5 * 64);
}

static void inexpressible_combinations_are_enotsup(void **state)
{
	(void)state;
	struct mmk_pt pt;
	uint64_t pte;
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_AARCH64_48, 0, fa), 0);
	/* A valid descriptor is always readable at EL1: write-only and
	 * execute-only (with or without USER) cannot be expressed. */
	static const uint32_t bad[] = {
		MMK_PT_WRITE,
		MMK_PT_EXEC,
		MMK_PT_WRITE | MMK_PT_EXEC,
		MMK_PT_WRITE | MMK_PT_USER,
		MMK_PT_EXEC | MMK_PT_USER,
		MMK_PT_WRITE | MMK_PT_EXEC | MMK_PT_USER | MMK_PT_GLOBAL,
		MMK_PT_RW | (1u << 7),	/* unknown bit */
		MMK_PT_RW | (1u << 10), /* unknown bit */
	};
	for (size_t i = 0; i < MMK_ARRAY_SIZE(bad); i++) {
		for (unsigned l = 0; l < 3; l++)
			assert_int_equal(mmk_pt_encode_leaf(&pt, l, mmk_pa(0),
							    bad[i], &pte),
					 MMK_ENOTSUP);
		assert_int_equal(mmk_pt_map(&pt, 0x1000, mmk_pa(0x1000), 4096,
					    bad[i], NULL),
				 MMK_ENOTSUP);
	}
	/* No blocks at L0 with the 4 KiB granule: no 512 GiB leaves. */
	assert_int_equal(mmk_pt_encode_leaf(&pt, 3, mmk_pa(0), MMK_PT_RW, &pte),
			 MMK_ENOTSUP);
	assert_int_equal(
		mmk_pt_map(&pt, 0, mmk_pa(0), 512 * MMK_GIB, MMK_PT_RW, NULL),
		MMK_ENOTSUP);
	/* Output addresses stop at 48 bits. */
	assert_int_equal(
		mmk_pt_encode_leaf(&pt, 0, mmk_pa(1ull << 48), MMK_PT_RW, &pte),
		MMK_ERANGE);
	/* A refused map changed nothing. */
	assert_int_equal(mmk_pt_table_pages(&pt), 1);
	assert_int_equal(mmk_pt_query(&pt, 0x1000, NULL, NULL, NULL),
			 MMK_ENOENT);
	mmk_pt_destroy(&pt);
	/* Options other than the TTBR1 half are refused. */
	assert_int_equal(
		mmk_pt_create(&pt, MMK_PT_AARCH64_39, MMK_PT_OPT_SVPBMT, fa),
		MMK_ENOTSUP);
}

/* ----------------------------------------------- registers, layout */
static void register_values_match_the_encoding(void **state)
{
	(void)state;
	struct mmk_pt pt;
	struct mmk_pt_info info;
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_AARCH64_39, 0, fa), 0);
	mmk_pt_info(&pt, &info);
	assert_string_equal(info.arch, "aarch64");
	assert_int_equal(info.levels, 3);
	assert_int_equal(info.va_bits, 39);
	assert_int_equal(info.pa_bits, 48);
	assert_int_equal(info.page_sizes,
			 (1ull << 12) | (1ull << 21) | (1ull << 30));
	assert_int_equal(info.ad_preset, MMK_PT_ACCESSED | MMK_PT_DIRTY);
	/* TTBR0_EL1: ASID in 63:48, the root's address in BADDR, CnP 0. */
	assert_int_equal(pt.root.v & 0xfff, 0);
	assert_int_equal(mmk_pt_root_regval(&pt, 0x1234),
			 0x1234000000000000ull | pt.root.v);
	assert_int_equal(mmk_pt_root_regval(&pt, 0), pt.root.v);
	/* An ASID wider than 16 bits keeps its low 16. */
	assert_int_equal(mmk_pt_root_regval(&pt, 0x1ffff) >> 48, 0xffff);
	/* Adding a mapping needs no flush: invalid entries are not cached. */
	assert_false(mmk_pt_map_needs_flush(&pt));
	mmk_pt_destroy(&pt);

	assert_int_equal(mmk_pt_create(&pt, MMK_PT_AARCH64_48, 0, fa), 0);
	mmk_pt_info(&pt, &info);
	assert_int_equal(info.levels, 4);
	assert_int_equal(info.va_bits, 48);
	/* 1 GiB is the largest leaf: none at L0. */
	assert_int_equal(info.page_sizes,
			 (1ull << 12) | (1ull << 21) | (1ull << 30));
	mmk_pt_destroy(&pt);
}

/* ----------------------------------------------------- canonical */
static void each_table_is_one_half_of_the_address_space(void **state)
{
	(void)state;
	struct mmk_pt lo, hi;
	mmk_paddr_t pa;
	uint64_t size;

	/* 39-bit TTBR0 (T0SZ=25): [0, 2^39). */
	assert_int_equal(mmk_pt_create(&lo, MMK_PT_AARCH64_39, 0, fa), 0);
	assert_int_equal(mmk_pt_map(&lo, 0x7ffffff000ull, mmk_pa(0x1000), 4096,
				    MMK_PT_RW, NULL),
			 0);
	assert_int_equal(mmk_pt_map(&lo, 0x8000000000ull, mmk_pa(0x1000), 4096,
				    MMK_PT_RW, NULL),
			 MMK_ENONCANON);
	/* No sign extension: the upper half belongs to TTBR1. */
	assert_int_equal(mmk_pt_map(&lo, 0xffffffffc0000000ull, mmk_pa(0), 4096,
				    MMK_PT_RW, NULL),
			 MMK_ENONCANON);
	assert_int_equal(
		mmk_pt_query(&lo, 0xfffffffffffff000ull, NULL, NULL, NULL),
		MMK_ENONCANON);
	unmap_all_and_destroy(&lo);

	/* 39-bit TTBR1 (T1SZ=25): [2^64 - 2^39, 2^64). */
	assert_int_equal(
		mmk_pt_create(&hi, MMK_PT_AARCH64_39, MMK_PT_OPT_HIGH_HALF, fa),
		0);
	assert_int_equal(mmk_pt_map(&hi, 0xffffff8000000000ull,
				    mmk_pa(0x40000000), MMK_GIB,
				    MMK_PT_RW | MMK_PT_GLOBAL, NULL),
			 0);
	assert_int_equal(mmk_pt_map(&hi, 0xfffffffffffff000ull, mmk_pa(0x2000),
				    4096, MMK_PT_READ, NULL),
			 0);
	assert_int_equal(mmk_pt_map(&hi, 0xffffff7ffffff000ull, mmk_pa(0), 4096,
				    MMK_PT_RW, NULL),
			 MMK_ENONCANON);
	assert_int_equal(
		mmk_pt_map(&hi, 0x1000, mmk_pa(0), 4096, MMK_PT_RW, NULL),
		MMK_ENONCANON);
	assert_int_equal(
		mmk_pt_query(&hi, 0xffffff8000123456ull, &pa, NULL, &size), 0);
	assert_int_equal(pa.v, 0x40123456);
	assert_int_equal(size, MMK_GIB);
	/* VA[38:30] = 0 indexes slot 0 of the L1 root (the hardware drops
	 * the top bits), VA[38:30] = 511 the last one. */
	uint64_t e;
	assert_int_equal(mmk_pt_raw_entry(&hi, 0xffffff8000000000ull, 2, &e),
			 0);
	assert_int_equal(e & 3, 1); /* a block */
	const uint64_t *root = mmk_phys_to_virt(hi.root);
	assert_int_equal(root[0], e);
	assert_int_equal(root[511] & 3, 3); /* the table of the last page */
	/* A range crossing the top wraps. */
	assert_int_equal(mmk_pt_map_region(&hi, 0xfffffffffffff000ull,
					   mmk_pa(0), 0x2000, MMK_PT_RW, 0,
					   NULL),
			 MMK_EWRAP);
	struct mmk_pt_info info;
	mmk_pt_info(&hi, &info);
	assert_string_equal(info.name, "aarch64-39bit-ttbr1");
	assert_int_equal(mmk_pt_root_regval(&hi, 3), 3ull << 48 | hi.root.v);
	unmap_all_and_destroy(&hi);

	/* 48-bit TTBR0 covers every 48-bit address, bit 47 set included. */
	assert_int_equal(mmk_pt_create(&lo, MMK_PT_AARCH64_48, 0, fa), 0);
	assert_int_equal(mmk_pt_map(&lo, 0x0000fffffffff000ull, mmk_pa(0x3000),
				    4096, MMK_PT_RW, NULL),
			 0);
	assert_int_equal(mmk_pt_map(&lo, 0x0000800000000000ull, mmk_pa(0x3000),
				    4096, MMK_PT_RW, NULL),
			 0);
	assert_int_equal(mmk_pt_map(&lo, 0xffff800000000000ull, mmk_pa(0), 4096,
				    MMK_PT_RW, NULL),
			 MMK_ENONCANON);
	assert_int_equal(mmk_pt_map(&lo, 0x0001000000000000ull, mmk_pa(0), 4096,
				    MMK_PT_RW, NULL),
			 MMK_ENONCANON);
	unmap_all_and_destroy(&lo);

	/* 48-bit TTBR1: [0xffff_0000_0000_0000, 2^64). */
	assert_int_equal(
		mmk_pt_create(&hi, MMK_PT_AARCH64_48, MMK_PT_OPT_HIGH_HALF, fa),
		0);
	assert_int_equal(mmk_pt_map(&hi, 0xffff000000000000ull, mmk_pa(0x3000),
				    4096, MMK_PT_RW, NULL),
			 0);
	assert_int_equal(mmk_pt_map(&hi, 0xfffeffffffff0000ull, mmk_pa(0), 4096,
				    MMK_PT_RW, NULL),
			 MMK_ENONCANON);
	unmap_all_and_destroy(&hi);
}

/* ------------------------------------------------------ round trips */
struct walk_rec {
	int n;
	struct mmk_pt_leaf leaf[8];
};

static int record_leaf(void *ctx, const struct mmk_pt_leaf *lf)
{
	struct walk_rec *w = ctx;
	if (w->n < 8)
		w->leaf[w->n] = *lf;
	w->n++;
	return 0;
}

static void round_trip_at_every_level(void **state)
{
	(void)state;
	for (int id = MMK_PT_AARCH64_39; id <= MMK_PT_AARCH64_48; id++) {
		struct mmk_pt pt;
		struct mmk_tlb_gather b;
		assert_int_equal(mmk_pt_create(&pt, id, 0, fa), 0);
		long frames0 = mmk_hosted_live_frames();
		static const struct {
			uint64_t va, pa, size;
			unsigned level;
			uint32_t flags;
			uint64_t type; /* descriptor bits[1:0] */
		} m[] = {
			{0x0000001000, 0x080000000, 4096, 0,
			 MMK_PT_RW | MMK_PT_USER, 3},
			{0x0000200000, 0x0c0200000, 2 * MMK_MIB, 1,
			 MMK_PT_RX | MMK_PT_GLOBAL, 1},
			{0x0040000000, 0x100000000, MMK_GIB, 2,
			 MMK_PT_RW | MMK_PT_MT_DEVICE, 1},
			{0x0080000000, 0x140000000, MMK_GIB, 2, 0, 0},
		};
		for (size_t i = 0; i < MMK_ARRAY_SIZE(m); i++)
			assert_int_equal(mmk_pt_map(&pt, m[i].va,
						    mmk_pa(m[i].pa), m[i].size,
						    m[i].flags, NULL),
					 0);
		struct walk_rec w = {0};
		assert_int_equal(
			mmk_pt_walk(&pt, 0, 4 * MMK_GIB, record_leaf, &w), 0);
		assert_int_equal(w.n, (int)MMK_ARRAY_SIZE(m));
		for (size_t i = 0; i < MMK_ARRAY_SIZE(m); i++) {
			mmk_paddr_t pa;
			uint32_t f;
			uint64_t size, e;
			uint32_t want =
				m[i].flags | MMK_PT_ACCESSED |
				(m[i].flags & MMK_PT_WRITE ? MMK_PT_DIRTY : 0);
			assert_int_equal(mmk_pt_query(&pt, m[i].va + 0x123, &pa,
						      &f, &size),
					 0);
			assert_int_equal(pa.v, m[i].pa + 0x123);
			assert_int_equal(f, want);
			assert_int_equal(size, m[i].size);
			assert_int_equal(w.leaf[i].va, m[i].va);
			assert_int_equal(w.leaf[i].level, m[i].level);
			assert_int_equal(
				mmk_pt_raw_entry(&pt, m[i].va, m[i].level, &e),
				0);
			assert_int_equal(e & 3, m[i].type);
		}
		mmk_tlb_gather_init(&b, NULL, 0);
		for (size_t i = 0; i < MMK_ARRAY_SIZE(m); i++) {
			struct mmk_pt_leaf out;
			assert_int_equal(mmk_pt_unmap(&pt, m[i].va, &b, &out),
					 0);
			assert_int_equal(out.pa.v, m[i].pa);
			assert_int_equal(out.page_size, m[i].size);
		}
		mmk_tlb_gather_finish(&b);
		/* Emptied tables are freed: the root alone is left. */
		assert_int_equal(mmk_pt_table_pages(&pt), 1);
		assert_int_equal(mmk_hosted_live_frames(), frames0);
		mmk_pt_destroy(&pt);
	}
}

/* ----------------------------------------------- break-before-make */
static bool flushed_now(mmk_vaddr_t va, uint64_t size)
{
	for (size_t i = 0; i < mmk_hosted_flush_count(); i++) {
		struct mmk_hosted_flush f;
		mmk_hosted_flush_get(i, &f);
		if (f.kind == MMK_HOSTED_FLUSH_RANGE && f.start == va &&
		    f.end == va + size)
			return true;
	}
	return false;
}

static void splitting_a_block_breaks_before_make(void **state)
{
	(void)state;
	struct mmk_pt pt;
	struct mmk_tlb_gather b;
	uint64_t e;
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_AARCH64_39, 0, fa), 0);
	mmk_tlb_gather_init(&b, &cpu0, 7);
	assert_int_equal(mmk_pt_map(&pt, 0x40200000, mmk_pa(0x80200000),
				    2 * MMK_MIB, MMK_PT_RWX, NULL),
			 0);
	/* Make one 4 KiB page read-only: the block becomes a table.  The
	 * block must be invalidated and flushed before the table goes in
	 * (a block and a table for one address must never both be live). */
	mmk_hosted_flush_reset();
	assert_int_equal(
		mmk_pt_protect_region(&pt, 0x40201000, 4096, MMK_PT_READ, &b),
		0);
	assert_true(flushed_now(0x40200000, 2 * MMK_MIB));
	assert_int_equal(mmk_pt_raw_entry(&pt, 0x40200000, 1, &e), 0);
	assert_int_equal(e & 3, 3); /* table now */
	/* The 511 other pages keep the block's attributes exactly. */
	assert_int_equal(mmk_pt_raw_entry(&pt, 0x40200000, 0, &e), 0);
	assert_int_equal(e, 0x00c0000080200f03ull); /* RWX: UXN, dirty */
	assert_int_equal(mmk_pt_raw_entry(&pt, 0x40201000, 0, &e), 0);
	assert_int_equal(e, 0x00e0000080201f83ull); /* R, dirty kept */
	mmk_tlb_gather_finish(&b);

	/* A permission change alone needs no break-before-make: nothing is
	 * flushed until the batch is finished. */
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_pt_protect(&pt, 0x40202000, MMK_PT_READ, &b), 0);
	assert_int_equal(mmk_hosted_flush_count(), 0);
	assert_false(mmk_tlb_gather_empty(&b));
	mmk_tlb_gather_finish(&b);
	assert_true(mmk_hosted_flushed(0x40202000));

	/* Changing the memory type (AttrIndx) or nG of a live page does. */
	mmk_hosted_flush_reset();
	assert_int_equal(
		mmk_pt_protect(&pt, 0x40203000, MMK_PT_RW | MMK_PT_MT_WC, &b),
		0);
	assert_true(flushed_now(0x40203000, 4096));
	mmk_hosted_flush_reset();
	assert_int_equal(
		mmk_pt_protect(&pt, 0x40204000, MMK_PT_RWX | MMK_PT_GLOBAL, &b),
		0);
	assert_true(flushed_now(0x40204000, 4096));
	/* Going to or from PROT_NONE (an invalid descriptor) does not. */
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_pt_protect(&pt, 0x40205000, 0, &b), 0);
	assert_int_equal(mmk_pt_protect(&pt, 0x40205000,
					MMK_PT_RW | MMK_PT_MT_DEVICE, &b),
			 0);
	assert_int_equal(mmk_hosted_flush_count(), 0);
	mmk_tlb_gather_finish(&b);

	mmk_tlb_gather_init(&b, NULL, 0);
	assert_int_equal(
		mmk_pt_unmap_region(&pt, 0, 1ull << 39, &b, NULL, NULL), 0);
	mmk_tlb_gather_finish(&b);
	assert_int_equal(mmk_pt_table_pages(&pt), 1);
	mmk_pt_destroy(&pt);
}

/* ------------------------------------------------------- PROT_NONE */
static void prot_none_is_a_queryable_mapping(void **state)
{
	(void)state;
	struct mmk_pt pt;
	struct mmk_tlb_gather b;
	mmk_paddr_t pa;
	uint32_t f;
	uint64_t e;
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_AARCH64_48, 0, fa), 0);
	mmk_tlb_gather_init(&b, NULL, 0);
	assert_int_equal(mmk_pt_map(&pt, 0x7000, mmk_pa(0x9000), 4096,
				    MMK_PT_USER | MMK_PT_MT_WC, NULL),
			 0);
	assert_int_equal(mmk_pt_raw_entry(&pt, 0x7000, 0, &e), 0);
	assert_int_equal(e & 1, 0); /* the walker sees an invalid entry */
	assert_int_equal(mmk_pt_query(&pt, 0x7000, &pa, &f, NULL), 0);
	assert_int_equal(pa.v, 0x9000);
	assert_int_equal(f, MMK_PT_USER | MMK_PT_MT_WC | MMK_PT_ACCESSED);
	/* Mapping over it is refused; protect brings access back. */
	assert_int_equal(
		mmk_pt_map(&pt, 0x7000, mmk_pa(0x9000), 4096, MMK_PT_RW, NULL),
		MMK_EEXIST);
	assert_int_equal(
		mmk_pt_protect(&pt, 0x7000, MMK_PT_RW | MMK_PT_USER, &b), 0);
	assert_int_equal(mmk_pt_raw_entry(&pt, 0x7000, 0, &e), 0);
	assert_int_equal(e, 0x00e0000000009f43ull);
	assert_int_equal(mmk_pt_protect(&pt, 0x7000, 0, &b), 0);
	struct mmk_pt_leaf out;
	assert_int_equal(mmk_pt_unmap(&pt, 0x7000, &b, &out), 0);
	assert_int_equal(out.pa.v, 0x9000);
	/* The dirty bit written while it was RW survived the round trip. */
	assert_int_equal(out.flags, MMK_PT_ACCESSED | MMK_PT_DIRTY);
	mmk_tlb_gather_finish(&b);
	assert_int_equal(mmk_pt_table_pages(&pt), 1);
	mmk_pt_destroy(&pt);
}

#include "upper_half_model.h"

static void upper_half_random_region_ops_match_a_page_model(void **state)
{
	(void)state;
	static const uint32_t acc[] = {0, MMK_PT_READ, MMK_PT_RW, MMK_PT_RX,
				       MMK_PT_RWX};
	hi_random(MMK_PT_AARCH64_39, acc, 5, hi_ops(),
		  mmk_test_seed(0xa64000039ull));
	hi_random(MMK_PT_AARCH64_48, acc, 5, hi_ops(),
		  mmk_test_seed(0xa64000048ull));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			hand_worked_descriptors_match_the_arm_arm, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			every_flag_combination_is_bit_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(
			inexpressible_combinations_are_enotsup, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			register_values_match_the_encoding, setup, teardown),
		cmocka_unit_test_setup_teardown(
			each_table_is_one_half_of_the_address_space, setup,
			teardown),
		cmocka_unit_test_setup_teardown(round_trip_at_every_level,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			splitting_a_block_breaks_before_make, setup, teardown),
		cmocka_unit_test_setup_teardown(
			prot_none_is_a_queryable_mapping, setup, teardown),
		cmocka_unit_test_setup_teardown(
			upper_half_random_region_ops_match_a_page_model, setup,
			teardown),
	};
	return cmocka_run_group_tests_name("pt_format_aarch64", tests, NULL,
					   NULL);
}
