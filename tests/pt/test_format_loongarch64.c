/* SPDX-License-Identifier: MIT */
/*
 * Page tables: the loongarch64 formats (16 KiB pages with 3 levels, 4 KiB
 * pages with 4 levels), bit-exact against values worked out by hand from
 * the LoongArch Reference Manual Vol. 1 (v1.10):
 *
 *  - 5.4 "Memory Management of Page Table Mapping", "TLB Entry": V, D,
 *    PLV (with RPLV=0 "accessed by any program whose privilege level is
 *    not lower than PLV"), MAT, G, PPN, NR, NX, RPLV.
 *  - "Multi-level Page Table Structure Supported by page walking": the
 *    common-page and huge-page entry formats.  V 0, D 1, PLV 3:2, MAT 5:4,
 *    G 6 (common page) / H 6 (huge flag in a directory entry), P 7, W 8,
 *    HG 12 (global of a huge page), PPN PALEN-1:12, NR 61, NX 62, RPLV 63;
 *    "bits not defined ... are automatically ignored"; P and W "are not
 *    filled in the TLB table entry, but used during the page walking";
 *    "the addresses configured in the PGD and in the directory entries ...
 *    must be physical addresses".
 *  - "Memory Access Types": MAT 0 SUC (strongly-ordered uncached), 1 CC
 *    (coherent cached), 2 WUC (weakly-ordered uncached).
 *  - Ch. 7 CSRs PWCL (PTbase 4:0, PTwidth 9:5, Dir1_base 14:10,
 *    Dir1_width 19:15, Dir2_base 24:20, Dir2_width 29:25, PTEWidth 31:30)
 *    and PWCH (Dir3_base 5:0, Dir3_width 11:6, Dir4 17:12 / 23:18);
 *    PGDL/PGDH: the root's physical address.
 *
 * Software bits (ignored by LDDIR/LDPTE): 9 dirty, 10 PROT_NONE, 11
 * UNCACHED (SUC asked as UNCACHED rather than DEVICE).
 */
#include "pt_fixture.h"

#include <pthread.h>

/* From src/arch/loongarch64/pt_loongarch64.h (its header needs the
 * library's private include path). */
uint64_t mmk_arch_loongarch64_pwcl(const struct mmk_pt *pt);
uint64_t mmk_arch_loongarch64_pwch(const struct mmk_pt *pt);
uint64_t mmk_arch_loongarch64_stlbps(const struct mmk_pt *pt);

#define setup	 pt_fixture_setup
#define teardown pt_fixture_teardown

static const uint64_t *table(uint64_t pa)
{
	return mmk_phys_to_virt(mmk_pa(pa));
}

/* ------------------------------------------------------ hand worked */
static void hand_worked_entries_match_the_manual(void **state)
{
	(void)state;
	struct mmk_pt pt;
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_LA64_16K_3L, 0, fa), 0);
	/* Kernel data, 16 KiB page: V|D, PLV0, MAT=CC (0x10), P (0x80),
	 * W (0x100), dirty (0x200); NX (bit 62). */
	assert_int_equal(enc(&pt, 0, 0x12345c000ull, MMK_PT_RW),
			 0x400000012345c393ull);
	/* Kernel text, global: V|CC|G (0x40)|P; readable, executable. */
	assert_int_equal(enc(&pt, 0, 0x12345c000ull, MMK_PT_RX | MMK_PT_GLOBAL),
			 0x000000012345c0d1ull);
	/* User data: PLV=3 (0xc). */
	assert_int_equal(enc(&pt, 0, 0x12345c000ull, MMK_PT_RW | MMK_PT_USER),
			 0x400000012345c39full);
	/* User execute-only: NR (bit 61) set, NX clear. */
	assert_int_equal(enc(&pt, 0, 0x12345c000ull, MMK_PT_EXEC | MMK_PT_USER),
			 0x200000012345c09dull);
	/* Kernel write-only: NR|NX with D and W. */
	assert_int_equal(enc(&pt, 0, 0x12345c000ull, MMK_PT_WRITE),
			 0x600000012345c393ull);
	/* Device RW: MAT=SUC (0). */
	assert_int_equal(enc(&pt, 0, 0x1fe00000, MMK_PT_RW | MMK_PT_MT_DEVICE),
			 0x400000001fe00383ull);
	/* Uncached read-only: MAT=SUC plus software bit 11. */
	assert_int_equal(
		enc(&pt, 0, 0x10000000, MMK_PT_READ | MMK_PT_MT_UNCACHED),
		0x4000000010000881ull);
	/* Write combining: MAT=WUC (0x20). */
	assert_int_equal(enc(&pt, 0, 0x40000000, MMK_PT_RW | MMK_PT_MT_WC),
			 0x40000000400003a3ull);
	/* PROT_NONE: V=P=0, software bit 10, NR|NX, MAT kept. */
	assert_int_equal(enc(&pt, 0, 0x8000, 0), 0x6000000000008410ull);
	/* 32 MiB huge page at Dir1, kernel RW global: H (0x40) and HG
	 * (0x1000) instead of G. */
	assert_int_equal(enc(&pt, 1, 0x2000000, MMK_PT_RW | MMK_PT_GLOBAL),
			 0x40000000020013d3ull);
	/* 64 GiB huge page at Dir2, user RX. */
	assert_int_equal(enc(&pt, 2, 0x1000000000ull, MMK_PT_RX | MMK_PT_USER),
			 0x00000010000000ddull);
	/* PROT_NONE huge page, user, global. */
	assert_int_equal(enc(&pt, 1, 0x4000000, MMK_PT_USER | MMK_PT_GLOBAL),
			 0x600000000400145cull);
	/* Highest 16 KiB page below PALEN = 48. */
	assert_int_equal(enc(&pt, 0, 0x0000ffffffffc000ull, MMK_PT_READ),
			 0x4000ffffffffc091ull);
	mmk_pt_destroy(&pt);

	assert_int_equal(mmk_pt_create(&pt, MMK_PT_LA64_4K_4L, 0, fa), 0);
	assert_int_equal(enc(&pt, 0, 0x1000, MMK_PT_RW), 0x4000000000001393ull);
	/* 1 GiB huge page at Dir2, kernel RWX global. */
	assert_int_equal(enc(&pt, 2, 0x40000000, MMK_PT_RWX | MMK_PT_GLOBAL),
			 0x00000000400013d3ull);
	/* 2 MiB huge page at Dir1. */
	assert_int_equal(enc(&pt, 1, 0x200000, MMK_PT_READ),
			 0x40000000002000d1ull);
	mmk_pt_destroy(&pt);
}

/* ----------------------------------------------- every combination */
/* The manual's layout, written out for one flag combination. */
static uint64_t la_expected(unsigned level, uint64_t pa, uint32_t f)
{
	uint64_t v = pa;
	if (f & MMK_PT_RWX)
		v |= 1ull << 0 | 1ull << 7; /* V, P */
	else
		v |= 1ull << 10; /* PROT_NONE */
	if (!(f & MMK_PT_READ))
		v |= 1ull << 61; /* NR */
	if (!(f & MMK_PT_EXEC))
		v |= 1ull << 62; /* NX */
	if (f & MMK_PT_WRITE)
		v |= 1ull << 1 | 1ull << 8 | 1ull << 9; /* D, W, dirty */
	if (f & MMK_PT_DIRTY)
		v |= 1ull << 9;
	if (f & MMK_PT_USER)
		v |= 3ull << 2; /* PLV3 */
	if (f & MMK_PT_GLOBAL)
		v |= level ? 1ull << 12 : 1ull << 6; /* HG / G */
	if (level)
		v |= 1ull << 6; /* H */
	switch (f & MMK_PT_MT_MASK) {
	case MMK_PT_MT_NORMAL:
		v |= 1ull << 4; /* CC */
		break;
	case MMK_PT_MT_UNCACHED:
		v |= 1ull << 11; /* SUC + software UNCACHED */
		break;
	case MMK_PT_MT_WC:
		v |= 2ull << 4; /* WUC */
		break;
	}
	return v;
}

static void every_flag_combination_is_bit_exact(void **state)
{
	(void)state;
	static const struct {
		int id;
		unsigned opts;
	} modes[] = {
		{MMK_PT_LA64_16K_3L, 0},
		{MMK_PT_LA64_16K_3L, MMK_PT_OPT_HIGH_HALF},
		{MMK_PT_LA64_4K_4L, 0},
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
				uint64_t pa = 0x00007f8000000000ull, got = 0;
				assert_int_equal(mmk_pt_encode_leaf(&pt, level,
								    mmk_pa(pa),
								    f, &got),
						 0);
				assert_int_equal(got,
						 la_expected(level, pa, f));
				assert_int_equal(got & (1ull << 63),
						 0); /* RPLV */
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
	/* Every R/W/X set is expressible: 3 modes x 3 levels x 512. */
	assert_int_equal(checked, 3 * 3 * 512);
}

static void only_unknown_bits_and_sizes_are_enotsup(void **state)
{
	(void)state;
	struct mmk_pt pt;
	struct mmk_tlb_gather b;
	uint64_t pte;
	mmk_tlb_gather_init(&b, NULL, 0);
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_LA64_4K_4L, 0, fa), 0);
	/* NR and NX make write-only and execute-only expressible. */
	assert_int_equal(
		mmk_pt_map(&pt, 0x1000, mmk_pa(0x1000), 4096, MMK_PT_WRITE, &b),
		0);
	assert_int_equal(mmk_pt_map(&pt, 0x2000, mmk_pa(0x2000), 4096,
				    MMK_PT_EXEC | MMK_PT_USER, &b),
			 0);
	/* Unknown flag bits. */
	assert_int_equal(mmk_pt_encode_leaf(&pt, 0, mmk_pa(0),
					    MMK_PT_RW | (1u << 7), &pte),
			 MMK_ENOTSUP);
	assert_int_equal(mmk_pt_map(&pt, 0x3000, mmk_pa(0), 4096,
				    MMK_PT_RW | (1u << 12), &b),
			 MMK_ENOTSUP);
	/* No huge pages at Dir3 (512 GiB). */
	assert_int_equal(mmk_pt_encode_leaf(&pt, 3, mmk_pa(0), MMK_PT_RW, &pte),
			 MMK_ENOTSUP);
	/* PALEN = 48. */
	assert_int_equal(
		mmk_pt_encode_leaf(&pt, 0, mmk_pa(1ull << 48), MMK_PT_RW, &pte),
		MMK_ERANGE);
	/* The 4 KiB table is one table for both halves: no option. */
	struct mmk_pt other;
	assert_int_equal(mmk_pt_create(&other, MMK_PT_LA64_4K_4L,
				       MMK_PT_OPT_HIGH_HALF, fa),
			 MMK_ENOTSUP);
	assert_int_equal(
		mmk_pt_unmap_region(&pt, 0, 1ull << 47, &b, NULL, NULL), 0);
	mmk_tlb_gather_finish(&b);
	mmk_pt_destroy(&pt);

	/* 16 KiB pages: 4 KiB alignment is not enough. */
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_LA64_16K_3L, 0, fa), 0);
	assert_int_equal(
		mmk_pt_map(&pt, 0x4000, mmk_pa(0x1000), 0x4000, MMK_PT_RW, &b),
		MMK_EALIGN);
	assert_int_equal(
		mmk_pt_map(&pt, 0x4000, mmk_pa(0x4000), 0x1000, MMK_PT_RW, &b),
		MMK_ENOTSUP); /* 4 KiB is no page size here */
	mmk_pt_destroy(&pt);
}

/* ------------------------------------------- invalid tables, layout */
/* The shared invalid tables (static in src/arch/loongarch64). */
extern uint64_t mmk__la64_invalid_16k[2][2048];
extern uint64_t mmk__la64_invalid_4k[3][512];

/*
 * The chain below an empty root slot: every slot of the root holds the
 * address of the invalid table one level down, whose entries all hold the
 * address of the next one, down to an all-zero leaf table.  @inv are those
 * tables, leaf level first.
 */
static void check_invalid_chain(const struct mmk_pt *pt, unsigned levels,
				size_t n, uint64_t page, const uint64_t *inv)
{
	const uint64_t *root = table(pt->root.v);
	uint64_t e = root[0];
	for (size_t i = 0; i < n; i++)
		assert_int_equal(root[i], e);
	for (unsigned l = levels - 1; l > 0; l--) {
		/* A bare, table-aligned physical address: no flag bits, H=0. */
		assert_int_not_equal(e, 0);
		assert_int_equal(e & (page - 1), 0);
		const uint64_t *t = table(e);
		assert_ptr_equal(t, inv + (l - 1) * n);
		uint64_t next = t[0];
		for (size_t i = 0; i < n; i++)
			assert_int_equal(t[i], next);
		e = next;
	}
	assert_int_equal(e, 0); /* the leaf-level invalid table: V=0 */
}

static void empty_directory_entries_point_at_invalid_tables(void **state)
{
	(void)state;
	struct mmk_pt pt, pt2;
	struct mmk_tlb_gather b;
	uint64_t e;

	mmk_tlb_gather_init(&b, NULL, 0);
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_LA64_16K_3L, 0, fa), 0);
	check_invalid_chain(&pt, 3, 2048, 0x4000, &mmk__la64_invalid_16k[0][0]);
	uint64_t empty2 = table(pt.root.v)[0];
	uint64_t empty1 = table(empty2)[0];
	/* Every table of the geometry shares them; creating one allocates
	 * nothing but its root (16 KiB = 4 frames). */
	long frames = mmk_hosted_live_frames();
	assert_int_equal(mmk_pt_create(&pt2, MMK_PT_LA64_16K_3L, 0, fa), 0);
	assert_int_equal(mmk_hosted_live_frames(), frames + 4);
	assert_int_equal(table(pt2.root.v)[2047], empty2);
	mmk_pt_destroy(&pt2);

	/* A new directory table is filled with the invalid table's address,
	 * a new leaf table with zeros. */
	assert_int_equal(
		mmk_pt_map(&pt, 0x4000, mmk_pa(0x8000), 0x4000, MMK_PT_RW, &b),
		0);
	assert_int_equal(mmk_pt_raw_entry(&pt, 0x4000, 2, &e), 0);
	assert_int_not_equal(e, empty2);
	assert_int_equal(e & 0x3fff, 0); /* bare 16 KiB-aligned address */
	const uint64_t *dir1 = table(e);
	assert_int_equal(dir1[1], empty1);
	assert_int_equal(dir1[2047], empty1);
	const uint64_t *pte = table(dir1[0]);
	assert_int_equal(pte[0], 0);
	assert_int_equal(pte[1], 0x4000000000008393ull);
	assert_int_equal(pte[2047], 0);
	assert_int_equal(mmk_pt_table_pages(&pt), 3);
	/* Unmapping puts the invalid table's address back, not zero. */
	assert_int_equal(mmk_pt_unmap(&pt, 0x4000, &b, NULL), 0);
	mmk_tlb_gather_finish(&b);
	assert_int_equal(mmk_pt_table_pages(&pt), 1);
	check_invalid_chain(&pt, 3, 2048, 0x4000, &mmk__la64_invalid_16k[0][0]);
	/* Huge pages sit in directory slots and go back to the same. */
	assert_int_equal(mmk_pt_map(&pt, 0x2000000, mmk_pa(0x2000000),
				    0x2000000, MMK_PT_RW, &b),
			 0);
	assert_int_equal(mmk_pt_raw_entry(&pt, 0x2000000, 1, &e), 0);
	assert_int_equal(e, 0x40000000020003d3ull);
	assert_int_equal(mmk_pt_unmap(&pt, 0x2000000, &b, NULL), 0);
	mmk_tlb_gather_finish(&b);
	check_invalid_chain(&pt, 3, 2048, 0x4000, &mmk__la64_invalid_16k[0][0]);
	mmk_pt_destroy(&pt);

	assert_int_equal(mmk_pt_create(&pt, MMK_PT_LA64_4K_4L, 0, fa), 0);
	check_invalid_chain(&pt, 4, 512, 0x1000, &mmk__la64_invalid_4k[0][0]);
	mmk_pt_destroy(&pt);
}

static void copy_from_leaves_empty_slots_empty(void **state)
{
	(void)state;
	struct mmk_pt kern, user;
	struct mmk_tlb_gather b;
	const uint64_t top = 0xffff800000000000ull; /* slot 256 */
	mmk_tlb_gather_init(&b, NULL, 0);
	assert_int_equal(mmk_pt_create(&kern, MMK_PT_LA64_4K_4L, 0, fa), 0);
	assert_int_equal(mmk_pt_create(&user, MMK_PT_LA64_4K_4L, 0, fa), 0);
	assert_int_equal(mmk_pt_map(&kern, top, mmk_pa(0x200000), 0x200000,
				    MMK_PT_RW | MMK_PT_GLOBAL, &b),
			 0);
	assert_int_equal(mmk_pt_copy_from(&user, &kern, top, 1ull << 47), 0);
	const uint64_t *ur = table(user.root.v), *kr = table(kern.root.v);
	assert_int_equal(ur[256], kr[256]);
	/* Slots empty in the source stay empty (the shared invalid table is
	 * the same for both), so the user table may still map there. */
	assert_int_equal(ur[257], kr[257]);
	assert_int_equal(ur[257], ur[0]);
	assert_int_equal(mmk_pt_map(&user, top + (1ull << 39), mmk_pa(0x1000),
				    4096, MMK_PT_RW, &b),
			 0);
	assert_int_equal(mmk_pt_map(&user, top + 0x1000, mmk_pa(0x1000), 4096,
				    MMK_PT_RW, &b),
			 MMK_EBUSY);
	assert_int_equal(mmk_pt_unmap(&user, top + (1ull << 39), &b, NULL), 0);
	assert_int_equal(mmk_pt_unmap(&kern, top, &b, NULL), 0);
	mmk_tlb_gather_finish(&b);
	mmk_pt_destroy(&user);
	mmk_pt_destroy(&kern);
}

/*
 * Decode PWCL/PWCH field by field and check that every level is walked
 * with its own shift and width: the root as Dir3, level n (between) as
 * Dir n, and no field overflowing into its neighbour.
 */
static void check_walk_fields(const struct mmk_pt *pt)
{
	struct mmk_pt_info in;
	mmk_pt_info(pt, &in);
	uint64_t pwcl = mmk_arch_loongarch64_pwcl(pt);
	uint64_t pwch = mmk_arch_loongarch64_pwch(pt);
	unsigned base[4], width[4];
	base[0] = pwcl & 31;
	width[0] = pwcl >> 5 & 31;
	base[1] = pwcl >> 10 & 31;
	width[1] = pwcl >> 15 & 31;
	base[2] = pwcl >> 20 & 31;
	width[2] = pwcl >> 25 & 31;
	base[3] = pwch & 63;
	width[3] = pwch >> 6 & 63;
	assert_int_equal(pwcl >> 30, 0); /* PTEWidth: 64-bit entries */
	assert_int_equal(pwch >> 12, 0); /* Dir4 unused */
	unsigned bits = (in.va_bits - in.page_shift) / in.levels;
	for (unsigned l = 0; l < in.levels; l++) {
		unsigned d = l == in.levels - 1 ? 3 : l;
		assert_int_equal(base[d], in.page_shift + l * bits);
		assert_int_equal(width[d], bits);
	}
	if (in.levels == 3)
		assert_int_equal(base[2] | width[2], 0);
}

static void page_walk_registers_match_the_geometry(void **state)
{
	(void)state;
	struct mmk_pt pt;
	struct mmk_pt_info info;
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_LA64_16K_3L, 0, fa), 0);
	mmk_pt_info(&pt, &info);
	assert_string_equal(info.arch, "loongarch64");
	assert_int_equal(info.page_shift, 14);
	assert_int_equal(info.levels, 3);
	assert_int_equal(info.va_bits, 47);
	assert_int_equal(info.page_sizes,
			 (1ull << 14) | (1ull << 25) | (1ull << 36));
	/* Linux's 16 KiB layout: PTbase 14, PTwidth 11, Dir1 25/11 in
	 * PWCL; the root as Dir3 36/11 in PWCH (PWCL's Dir2_base, bits
	 * 24:20, cannot hold 36); Dir2 unused; STLBPS 14. */
	assert_int_equal(mmk_arch_loongarch64_pwcl(&pt),
			 14 | 11 << 5 | 25 << 10 | 11 << 15);
	assert_int_equal(mmk_arch_loongarch64_pwch(&pt), 36 | 11 << 6);
	check_walk_fields(&pt);
	assert_int_equal(mmk_arch_loongarch64_stlbps(&pt), 14);
	/* PGDL: the root's physical address (the ASID is CSR.ASID's). */
	assert_int_equal(mmk_pt_root_regval(&pt, 9), pt.root.v);
	assert_int_equal(pt.root.v & 0x3fff, 0);
	assert_true(mmk_pt_map_needs_flush(&pt));
	mmk_pt_destroy(&pt);

	assert_int_equal(mmk_pt_create(&pt, MMK_PT_LA64_4K_4L, 0, fa), 0);
	mmk_pt_info(&pt, &info);
	assert_int_equal(info.va_bits, 48);
	assert_int_equal(info.page_sizes,
			 (1ull << 12) | (1ull << 21) | (1ull << 30));
	assert_int_equal(mmk_arch_loongarch64_pwcl(&pt),
			 12 | 9 << 5 | 21 << 10 | 9 << 15 | 30ull << 20 |
				 9ull << 25);
	assert_int_equal(mmk_arch_loongarch64_pwch(&pt), 39 | 9 << 6);
	assert_int_equal(mmk_arch_loongarch64_stlbps(&pt), 12);
	check_walk_fields(&pt);
	mmk_pt_destroy(&pt);
}

/* ------------------------------------------------------ canonical */
static void canonical_rules_follow_pgdl_and_pgdh(void **state)
{
	(void)state;
	struct mmk_pt pt;
	struct mmk_tlb_gather b;
	mmk_tlb_gather_init(&b, NULL, 0);
	/* 16 KiB, 47 bits: a PGDL table covers [0, 2^47). */
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_LA64_16K_3L, 0, fa), 0);
	assert_int_equal(mmk_pt_map(&pt, 0x7fffffffc000ull, mmk_pa(0x4000),
				    0x4000, MMK_PT_RW, &b),
			 0);
	assert_int_equal(mmk_pt_map(&pt, 0x800000000000ull, mmk_pa(0x4000),
				    0x4000, MMK_PT_RW, &b),
			 MMK_ENONCANON);
	assert_int_equal(mmk_pt_map(&pt, 0xffff800000000000ull, mmk_pa(0x4000),
				    0x4000, MMK_PT_RW, &b),
			 MMK_ENONCANON);
	assert_int_equal(mmk_pt_unmap(&pt, 0x7fffffffc000ull, &b, NULL), 0);
	mmk_tlb_gather_finish(&b);
	mmk_pt_destroy(&pt);

	/* With MMK_PT_OPT_HIGH_HALF, a PGDH table: [2^64 - 2^47, 2^64). */
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_LA64_16K_3L,
				       MMK_PT_OPT_HIGH_HALF, fa),
			 0);
	assert_int_equal(mmk_pt_map(&pt, 0xffff800000000000ull, mmk_pa(0x4000),
				    0x4000, MMK_PT_RW | MMK_PT_GLOBAL, &b),
			 0);
	assert_int_equal(
		mmk_pt_map(&pt, 0x4000, mmk_pa(0x4000), 0x4000, MMK_PT_RW, &b),
		MMK_ENONCANON);
	mmk_paddr_t pa;
	assert_int_equal(
		mmk_pt_query(&pt, 0xffff800000001234ull, &pa, NULL, NULL), 0);
	assert_int_equal(pa.v, 0x5234);
	assert_int_equal(mmk_pt_unmap(&pt, 0xffff800000000000ull, &b, NULL), 0);
	mmk_tlb_gather_finish(&b);
	mmk_pt_destroy(&pt);

	/* 4 KiB, 48 bits: sign-extended from bit 47, as VALEN = 48 demands;
	 * the upper half lands in root slots 256..511 (PGDH = PGDL). */
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_LA64_4K_4L, 0, fa), 0);
	assert_int_equal(mmk_pt_map(&pt, 0x00007ffffffff000ull, mmk_pa(0x1000),
				    4096, MMK_PT_RW, &b),
			 0);
	assert_int_equal(mmk_pt_map(&pt, 0xffff800000000000ull, mmk_pa(0x1000),
				    4096, MMK_PT_RW, &b),
			 0);
	assert_int_equal(mmk_pt_map(&pt, 0x0000800000000000ull, mmk_pa(0x1000),
				    4096, MMK_PT_RW, &b),
			 MMK_ENONCANON);
	const uint64_t *root = table(pt.root.v);
	assert_int_not_equal(root[256], root[0]);
	assert_int_not_equal(root[255], root[0]);
	assert_int_equal(root[254], root[0]);
	assert_int_equal(mmk_pt_unmap(&pt, 0x00007ffffffff000ull, &b, NULL), 0);
	assert_int_equal(mmk_pt_unmap(&pt, 0xffff800000000000ull, &b, NULL), 0);
	mmk_tlb_gather_finish(&b);
	assert_int_equal(mmk_pt_table_pages(&pt), 1);
	mmk_pt_destroy(&pt);
}

/* ----------------------------------------------- round trips, split */
static void every_page_size_round_trips(void **state)
{
	(void)state;
	for (int id = MMK_PT_LA64_16K_3L; id <= MMK_PT_LA64_4K_4L; id++) {
		struct mmk_pt pt;
		struct mmk_pt_info info;
		struct mmk_tlb_gather b;
		assert_int_equal(mmk_pt_create(&pt, id, 0, fa), 0);
		mmk_pt_info(&pt, &info);
		long frames0 = mmk_hosted_live_frames();
		uint64_t sz[3], va = 0;
		for (unsigned l = 0, s = info.page_shift; l < 3;
		     l++, s += (info.va_bits - info.page_shift) / info.levels)
			sz[l] = 1ull << s;
		static const uint32_t fl[3] = {
			MMK_PT_RW | MMK_PT_USER,
			MMK_PT_RX | MMK_PT_GLOBAL | MMK_PT_MT_WC,
			MMK_PT_READ | MMK_PT_MT_UNCACHED,
		};
		mmk_tlb_gather_init(&b, &cpu0, 1);
		for (unsigned l = 0; l < 3; l++) {
			va = sz[l] * 3;
			uint64_t pa = sz[l] * 5;
			assert_int_equal(mmk_pt_map(&pt, va, mmk_pa(pa), sz[l],
						    fl[l], &b),
					 0);
			/* The even/odd TLB pair may hold an invalid half:
			 * a new mapping is recorded for flushing. */
			assert_false(mmk_tlb_gather_empty(&b));
			mmk_hosted_flush_reset();
			mmk_tlb_gather_finish(&b);
			assert_true(mmk_hosted_flushed(va));
			mmk_paddr_t qpa;
			uint32_t f;
			uint64_t qs;
			assert_int_equal(mmk_pt_query(&pt, va + sz[l] - 8, &qpa,
						      &f, &qs),
					 0);
			assert_int_equal(qpa.v, pa + sz[l] - 8);
			assert_int_equal(qs, sz[l]);
			uint32_t want =
				fl[l] | MMK_PT_ACCESSED |
				(fl[l] & MMK_PT_WRITE ? MMK_PT_DIRTY : 0);
			assert_int_equal(f, want);
			struct mmk_pt_leaf out;
			assert_int_equal(mmk_pt_unmap(&pt, va, &b, &out), 0);
			assert_int_equal(out.pa.v, pa);
			assert_int_equal(out.flags, want);
			mmk_tlb_gather_finish(&b);
			assert_int_equal(mmk_pt_table_pages(&pt), 1);
		}
		assert_int_equal(mmk_hosted_live_frames(), frames0);
		mmk_pt_destroy(&pt);
	}
}

static void splitting_a_huge_page_moves_hg_to_g(void **state)
{
	(void)state;
	struct mmk_pt pt;
	struct mmk_tlb_gather b;
	uint64_t e;
	const uint64_t huge = 0x2000000; /* 32 MiB */
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_LA64_16K_3L, 0, fa), 0);
	mmk_tlb_gather_init(&b, &cpu0, 0);
	assert_int_equal(mmk_pt_map_region(&pt, huge, mmk_pa(4 * huge), huge,
					   MMK_PT_RW | MMK_PT_GLOBAL,
					   MMK_PT_MAP_HUGE, &b),
			 0);
	assert_int_equal(mmk_pt_raw_entry(&pt, huge, 1, &e), 0);
	assert_int_equal(e, 0x40000000080013d3ull); /* H|HG at Dir1 */
	mmk_tlb_gather_finish(&b);
	/* Unmap one 16 KiB page in the middle: the rest stays mapped, now
	 * as common pages with G in bit 6 and no H. */
	assert_int_equal(mmk_pt_unmap_region(&pt, huge + 0x100000, 0x4000, &b,
					     NULL, NULL),
			 0);
	mmk_tlb_gather_finish(&b);
	assert_int_equal(mmk_pt_raw_entry(&pt, huge, 0, &e), 0);
	assert_int_equal(e, 0x40000000080003d3ull);
	assert_int_equal(mmk_pt_raw_entry(&pt, huge + 0x1ffc000, 0, &e), 0);
	assert_int_equal(e, 0x4000000009ffc3d3ull);
	assert_int_equal(mmk_pt_raw_entry(&pt, huge + 0x100000, 0, &e), 0);
	assert_int_equal(e, 0);
	uint32_t f;
	uint64_t ps;
	assert_int_equal(mmk_pt_query(&pt, huge + 0x104000, NULL, &f, &ps), 0);
	assert_int_equal(f, MMK_PT_RW | MMK_PT_GLOBAL | MMK_PT_ACCESSED |
				    MMK_PT_DIRTY);
	assert_int_equal(ps, 0x4000);
	assert_int_equal(mmk_pt_unmap_region(&pt, huge, huge, &b, NULL, NULL),
			 0);
	mmk_tlb_gather_finish(&b);
	assert_int_equal(mmk_pt_table_pages(&pt), 1);
	check_invalid_chain(&pt, 3, 2048, 0x4000, &mmk__la64_invalid_16k[0][0]);
	mmk_pt_destroy(&pt);
}

static void prot_none_is_a_queryable_mapping(void **state)
{
	(void)state;
	struct mmk_pt pt;
	struct mmk_tlb_gather b;
	mmk_paddr_t pa;
	uint32_t f;
	uint64_t e;
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_LA64_16K_3L, 0, fa), 0);
	mmk_tlb_gather_init(&b, NULL, 0);
	assert_int_equal(mmk_pt_map(&pt, 0x8000, mmk_pa(0xc000), 0x4000,
				    MMK_PT_RW | MMK_PT_USER | MMK_PT_MT_DEVICE,
				    &b),
			 0);
	assert_int_equal(
		mmk_pt_protect(&pt, 0x8000, MMK_PT_USER | MMK_PT_MT_DEVICE, &b),
		0);
	assert_int_equal(mmk_pt_raw_entry(&pt, 0x8000, 0, &e), 0);
	/* V = P = 0 for the TLB and the walker; dirty (9) kept. */
	assert_int_equal(e, 0x600000000000c60cull);
	assert_int_equal(mmk_pt_query(&pt, 0x8000, &pa, &f, NULL), 0);
	assert_int_equal(pa.v, 0xc000);
	assert_int_equal(f, MMK_PT_USER | MMK_PT_MT_DEVICE | MMK_PT_ACCESSED |
				    MMK_PT_DIRTY);
	/* Read-only again: D and W stay clear (D is the TLB's write enable,
	 * never a leftover of the dirty state). */
	assert_int_equal(
		mmk_pt_protect(&pt, 0x8000,
			       MMK_PT_READ | MMK_PT_USER | MMK_PT_MT_DEVICE,
			       &b),
		0);
	assert_int_equal(mmk_pt_raw_entry(&pt, 0x8000, 0, &e), 0);
	assert_int_equal(e, 0x400000000000c28dull);
	struct mmk_pt_leaf out;
	assert_int_equal(mmk_pt_unmap(&pt, 0x8000, &b, &out), 0);
	assert_int_equal(out.pa.v, 0xc000);
	mmk_tlb_gather_finish(&b);
	assert_int_equal(mmk_pt_table_pages(&pt), 1);
	mmk_pt_destroy(&pt);
}

/* ------------------------------------------------------ concurrency */
/*
 * Single-page maps race on tables whose empty entries are not 0: the
 * compare-and-swap must expect the invalid table's address.  Each thread
 * has its own batch, as a loongarch64 map records a flush.
 */
struct racer {
	struct mmk_pt *pt;
	uint64_t ps;
	int id;
	long ok, exist;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	struct mmk_tlb_gather b;
	mmk_hosted_register_cpu();
	mmk_tlb_gather_init(&b, NULL, 0);
	for (long k = 0; k < 4096; k++) {
		long i = (k * 7 + r->id * 131) % 4096;
		int err = mmk_pt_map(r->pt, (uint64_t)i * 513 * r->ps,
				     mmk_pa((uint64_t)i * r->ps), r->ps,
				     MMK_PT_RW, &b);
		if (err == 0)
			r->ok++;
		else if (err == MMK_EEXIST)
			r->exist++;
	}
	mmk_tlb_gather_finish(&b);
	return NULL;
}

static void concurrent_single_maps_install_each_page_once(void **state)
{
	(void)state;
	for (int id = MMK_PT_LA64_16K_3L; id <= MMK_PT_LA64_4K_4L; id++) {
		enum { T = 4 };
		struct mmk_pt pt;
		struct mmk_pt_info info;
		pthread_t th[T];
		struct racer r[T];
		long live = mmk_hosted_live_frames();
		assert_int_equal(mmk_pt_create(&pt, id, 0, fa), 0);
		mmk_pt_info(&pt, &info);
		uint64_t ps = 1ull << info.page_shift;
		for (int t = 0; t < T; t++) {
			r[t] = (struct racer){.pt = &pt, .ps = ps, .id = t};
			assert_int_equal(
				pthread_create(&th[t], NULL, racer_main, &r[t]),
				0);
		}
		long ok = 0, exist = 0;
		for (int t = 0; t < T; t++) {
			pthread_join(th[t], NULL);
			ok += r[t].ok;
			exist += r[t].exist;
		}
		assert_int_equal(ok, 4096);
		assert_int_equal(exist, 4096 * (T - 1));
		for (long i = 0; i < 4096; i++) {
			mmk_paddr_t pa;
			assert_int_equal(mmk_pt_query(&pt,
						      (uint64_t)i * 513 * ps,
						      &pa, NULL, NULL),
					 0);
			assert_int_equal(pa.v, (uint64_t)i * ps);
		}
		/* Losers freed their tables: as many as one thread needs. */
		struct mmk_pt ref;
		struct mmk_tlb_gather b;
		mmk_tlb_gather_init(&b, NULL, 0);
		assert_int_equal(mmk_pt_create(&ref, id, 0, fa), 0);
		for (long i = 0; i < 4096; i++)
			assert_int_equal(
				mmk_pt_map(&ref, (uint64_t)i * 513 * ps,
					   mmk_pa(0), ps, MMK_PT_RW, &b),
				0);
		assert_int_equal(mmk_pt_table_pages(&ref),
				 mmk_pt_table_pages(&pt));
		mmk_tlb_gather_finish(&b);
		mmk_pt_destroy(&ref);
		mmk_pt_destroy(&pt);
		assert_int_equal(mmk_hosted_live_frames(), live);
	}
}

#include "upper_half_model.h"

static void upper_half_random_region_ops_match_a_page_model(void **state)
{
	(void)state;
	static const uint32_t acc[] = {
		0,
		MMK_PT_READ,
		MMK_PT_WRITE,
		MMK_PT_RW,
		MMK_PT_EXEC,
		MMK_PT_RX,
		MMK_PT_WRITE | MMK_PT_EXEC,
		MMK_PT_RWX,
	};
	hi_random(MMK_PT_LA64_16K_3L, acc, 8, hi_ops(),
		  mmk_test_seed(0x1a6416ull));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			hand_worked_entries_match_the_manual, setup, teardown),
		cmocka_unit_test_setup_teardown(
			every_flag_combination_is_bit_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(
			only_unknown_bits_and_sizes_are_enotsup, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			empty_directory_entries_point_at_invalid_tables, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			copy_from_leaves_empty_slots_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(
			page_walk_registers_match_the_geometry, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			canonical_rules_follow_pgdl_and_pgdh, setup, teardown),
		cmocka_unit_test_setup_teardown(every_page_size_round_trips,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			splitting_a_huge_page_moves_hg_to_g, setup, teardown),
		cmocka_unit_test_setup_teardown(
			prot_none_is_a_queryable_mapping, setup, teardown),
		cmocka_unit_test_setup_teardown(
			concurrent_single_maps_install_each_page_once, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			upper_half_random_region_ops_match_a_page_model, setup,
			teardown),
	};
	return cmocka_run_group_tests_name("pt_format_loongarch64", tests, NULL,
					   NULL);
}
