/* SPDX-License-Identifier: MIT */
/*
 * Page tables: bit-exact entry encodings of the x86_64 and riscv64
 * formats, checked against values worked out by hand from the manuals.
 *
 * x86_64: Intel SDM Vol. 3A, 4.5 "4-Level Paging and 5-Level Paging",
 *   tables "Format of a Page-Table Entry that Maps a 4-KByte Page",
 *   "... a PDE that Maps a 2-MByte Page", "... a PDPTE that Maps a 1-GByte
 *   Page" and "... that References a Page Directory/Table" (Tables 4-15 to
 *   4-20 depending on the edition); 4.9.2 and the "Page Attribute Table"
 *   section of the memory-cache-control chapter for PAT/PCD/PWT.
 *   Bits: P 0, R/W 1, U/S 2, PWT 3, PCD 4, A 5, D 6, PS 7 (PDE/PDPTE) or
 *   PAT 7 (PTE), G 8, PAT 12 (huge leaves), XD 63; address 51:12.
 * riscv64: RISC-V Privileged Architecture v1.12, 4.3.1 (Sv32 PTE format,
 *   R/W/X encodings), 4.4.1 (Sv39 PTE: PPN at 53:10), 4.1.11 (satp), and
 *   the Svpbmt chapter (PBMT 62:61: 1 NC, 2 IO).
 *   Bits: V 0, R 1, W 2, X 3, U 4, G 5, A 6, D 7, RSW 9:8.
 */
#include "pt_fixture.h"

#define setup	 pt_fixture_setup
#define teardown pt_fixture_teardown

/* ------------------------------------------------------------ x86_64 */
static void x86_64_hand_worked_entries_match_the_sdm(void **state)
{
	(void)state;
	struct mmk_pt pt;
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_X86_64_4L, 0, fa), 0);
	/* 4 KiB kernel data: P|RW, XD (not executable). */
	assert_int_equal(enc(&pt, 0, 0x1234000, MMK_PT_RW),
			 0x8000000001234003ull);
	/* 4 KiB user text: P|U/S, executable, read-only. */
	assert_int_equal(enc(&pt, 0, 0x5000, MMK_PT_RX | MMK_PT_USER),
			 0x0000000000005005ull);
	/* 2 MiB kernel RWX global: P|RW|PS|G. */
	assert_int_equal(enc(&pt, 1, 0x200000, MMK_PT_RWX | MMK_PT_GLOBAL),
			 0x0000000000200183ull);
	/* 1 GiB device RW: P|RW|PWT|PCD|PS (PAT index 3 = UC), XD. */
	assert_int_equal(enc(&pt, 2, 0xc0000000, MMK_PT_RW | MMK_PT_MT_DEVICE),
			 0x80000000c000009bull);
	/* 4 KiB write-combining: PAT bit 7 (PAT index 4). */
	assert_int_equal(enc(&pt, 0, 0x1000, MMK_PT_RW | MMK_PT_MT_WC),
			 0x8000000000001083ull);
	/* 2 MiB write-combining: PAT in bit 12, PS in bit 7. */
	assert_int_equal(enc(&pt, 1, 0x200000, MMK_PT_RW | MMK_PT_MT_WC),
			 0x8000000000201083ull);
	/* 4 KiB uncached (UC-, PAT index 2): PCD. */
	assert_int_equal(enc(&pt, 0, 0x3000, MMK_PT_READ | MMK_PT_MT_UNCACHED),
			 0x8000000000003011ull);
	/* PROT_NONE: P clear, software bit 9, address kept, XD. */
	assert_int_equal(enc(&pt, 0, 0x7000, 0), 0x8000000000007200ull);
	/* Accessed and dirty asked for: A 5, D 6. */
	assert_int_equal(
		enc(&pt, 0, 0x7000, MMK_PT_RW | MMK_PT_ACCESSED | MMK_PT_DIRTY),
		0x8000000000007063ull);
	/* Highest physical address the format encodes (bits 51:12). */
	assert_int_equal(enc(&pt, 0, 0x000ffffffffff000ull, MMK_PT_RWX),
			 0x000ffffffffff003ull);

	/* A table entry: P|RW|US|A, so the leaf alone decides access. */
	struct mmk_tlb_gather b;
	mmk_tlb_gather_init(&b, NULL, 0);
	assert_int_equal(
		mmk_pt_map(&pt, 0x1000, mmk_pa(0x5000), 4096, MMK_PT_RW, NULL),
		0);
	uint64_t e;
	assert_int_equal(mmk_pt_raw_entry(&pt, 0x1000, 3, &e), 0);
	assert_int_equal(e & 0xfff, 0x27);
	assert_int_equal(e >> 52, 0);
	/* CR3: base plus PCID in 11:0. */
	assert_int_equal(mmk_pt_root_regval(&pt, 7), pt.root.v | 7);
	assert_int_equal(mmk_pt_unmap_region(&pt, 0, MMK_GIB, &b, NULL, NULL),
			 0);
	mmk_tlb_gather_finish(&b);
	mmk_pt_destroy(&pt);
}

/* The SDM's layout, written out bit by bit, for one flag combination. */
static int x86_expected(unsigned level, uint64_t pa, uint32_t f, uint64_t *e)
{
	uint32_t acc = f & MMK_PT_RWX;
	if (acc && !(f & MMK_PT_READ))
		return MMK_ENOTSUP;
	uint64_t v = pa;
	v |= acc ? 1ull << 0 : 1ull << 9;
	if (f & MMK_PT_WRITE)
		v |= 1ull << 1;
	if (f & MMK_PT_USER)
		v |= 1ull << 2;
	if (f & MMK_PT_ACCESSED)
		v |= 1ull << 5;
	if (f & MMK_PT_DIRTY)
		v |= 1ull << 6;
	if (level > 0)
		v |= 1ull << 7; /* PS */
	if (f & MMK_PT_GLOBAL)
		v |= 1ull << 8;
	if (!(f & MMK_PT_EXEC))
		v |= 1ull << 63;
	switch (f & MMK_PT_MT_MASK) {
	case MMK_PT_MT_UNCACHED:
		v |= 1ull << 4;
		break;
	case MMK_PT_MT_DEVICE:
		v |= 1ull << 4 | 1ull << 3;
		break;
	case MMK_PT_MT_WC:
		v |= level ? 1ull << 12 : 1ull << 7;
		break;
	}
	*e = v;
	return 0;
}

static void x86_64_every_flag_combination_is_bit_exact(void **state)
{
	(void)state;
	for (int id = MMK_PT_X86_64_4L; id <= MMK_PT_X86_64_5L; id++) {
		struct mmk_pt pt;
		assert_int_equal(mmk_pt_create(&pt, id, 0, fa), 0);
		for (unsigned level = 0; level < 3; level++) {
			for (uint32_t f = 0; f < 0x400; f++) {
				if (f & ~MMK_PT_FLAGS_ALL)
					continue;
				uint64_t pa = 0x0000004c40000000ull, want = 0,
					 got = 0;
				int we = x86_expected(level, pa, f, &want);
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
				assert_int_equal(df, f); /* no A/D preset */
			}
		}
		/* No 512 GiB leaves on x86_64. */
		uint64_t pte;
		assert_int_equal(
			mmk_pt_encode_leaf(&pt, 3, mmk_pa(0), MMK_PT_RW, &pte),
			MMK_ENOTSUP);
		mmk_pt_destroy(&pt);
	}
}

/* ----------------------------------------------------------- riscv64 */
static void riscv64_hand_worked_entries_match_the_spec(void **state)
{
	(void)state;
	struct mmk_pt pt;
	assert_int_equal(
		mmk_pt_create(&pt, MMK_PT_RISCV_SV39, MMK_PT_OPT_SVPBMT, fa),
		0);
	/* 4 KiB kernel RW at 0x8020_0000: PPN 0x80200 << 10, V|R|W|A|D. */
	assert_int_equal(enc(&pt, 0, 0x80200000, MMK_PT_RW), 0x200800c7ull);
	/* User RX: V|R|X|U|A. */
	assert_int_equal(enc(&pt, 0, 0x80000000, MMK_PT_RX | MMK_PT_USER),
			 0x2000005bull);
	/* 2 MiB megapage RWX global: V|R|W|X|G|A|D. */
	assert_int_equal(enc(&pt, 1, 0x80200000, MMK_PT_RWX | MMK_PT_GLOBAL),
			 0x200800efull);
	/* Execute-only (R=0, W=0, X=1) is a valid leaf. */
	assert_int_equal(enc(&pt, 0, 0x1000, MMK_PT_EXEC), 0x449ull);
	/* Svpbmt IO (2 << 61) for DEVICE. */
	assert_int_equal(enc(&pt, 0, 0x10000000, MMK_PT_RW | MMK_PT_MT_DEVICE),
			 0x40000000040000c7ull);
	/* Svpbmt NC (1 << 61) for UNCACHED; WC adds RSW bit 9. */
	assert_int_equal(
		enc(&pt, 0, 0x10000000, MMK_PT_READ | MMK_PT_MT_UNCACHED),
		0x2000000004000043ull);
	assert_int_equal(enc(&pt, 0, 0x10000000, MMK_PT_RW | MMK_PT_MT_WC),
			 0x20000000040002c7ull);
	/* PROT_NONE: V clear, RSW bit 8, A preset, PPN kept. */
	assert_int_equal(enc(&pt, 0, 0x2000, 0), 0x940ull);
	/* 1 GiB gigapage, highest PPN (bits 53:10). */
	assert_int_equal(enc(&pt, 2, 0x00ffffffc0000000ull, MMK_PT_READ),
			 0x003ffffff0000043ull);
	/* W without R is reserved. */
	uint64_t pte;
	assert_int_equal(
		mmk_pt_encode_leaf(&pt, 0, mmk_pa(0), MMK_PT_WRITE, &pte),
		MMK_ENOTSUP);
	/* Pointer to the next level: V only, PPN of the table. */
	assert_int_equal(
		mmk_pt_map(&pt, 0x1000, mmk_pa(0x5000), 4096, MMK_PT_RW, NULL),
		0);
	uint64_t e, l1;
	assert_int_equal(mmk_pt_raw_entry(&pt, 0x1000, 2, &e), 0);
	assert_int_equal(e & 0x3ff, 0x1);
	assert_int_equal(mmk_pt_raw_entry(&pt, 0x1000, 1, &l1), 0);
	assert_int_equal(l1 & 0x3ff, 0x1);
	/* satp: MODE 8 (Sv39) in 63:60, ASID in 59:44, root PPN in 43:0. */
	assert_int_equal(mmk_pt_root_regval(&pt, 5),
			 (8ull << 60) | (5ull << 44) | (pt.root.v >> 12));
	struct mmk_tlb_gather b;
	mmk_tlb_gather_init(&b, NULL, 0);
	assert_int_equal(mmk_pt_unmap(&pt, 0x1000, &b, NULL), 0);
	mmk_tlb_gather_finish(&b);
	mmk_pt_destroy(&pt);

	for (int id = MMK_PT_RISCV_SV48; id <= MMK_PT_RISCV_SV57; id++) {
		assert_int_equal(mmk_pt_create(&pt, id, 0, fa), 0);
		assert_int_equal(mmk_pt_root_regval(&pt, 0) >> 60,
				 (uint64_t)(id == MMK_PT_RISCV_SV48 ? 9 : 10));
		mmk_pt_destroy(&pt);
	}
}

static int rv_expected(bool pbmt, uint64_t pa, uint32_t f, uint64_t *e)
{
	if ((f & MMK_PT_WRITE) && !(f & MMK_PT_READ))
		return MMK_ENOTSUP;
	uint32_t mt = f & MMK_PT_MT_MASK;
	if (mt && !pbmt)
		return MMK_ENOTSUP;
	uint64_t v = (pa >> 12) << 10;
	v |= (f & MMK_PT_RWX) ? 1ull << 0 : 1ull << 8;
	if (f & MMK_PT_READ)
		v |= 1ull << 1;
	if (f & MMK_PT_WRITE)
		v |= 1ull << 2 | 1ull << 7; /* D preset with W */
	if (f & MMK_PT_EXEC)
		v |= 1ull << 3;
	if (f & MMK_PT_USER)
		v |= 1ull << 4;
	if (f & MMK_PT_GLOBAL)
		v |= 1ull << 5;
	v |= 1ull << 6; /* A preset */
	if (f & MMK_PT_DIRTY)
		v |= 1ull << 7;
	if (mt == MMK_PT_MT_DEVICE)
		v |= 2ull << 61;
	if (mt == MMK_PT_MT_UNCACHED)
		v |= 1ull << 61;
	if (mt == MMK_PT_MT_WC)
		v |= 1ull << 61 | 1ull << 9;
	*e = v;
	return 0;
}

static void riscv64_every_flag_combination_is_bit_exact(void **state)
{
	(void)state;
	for (int id = MMK_PT_RISCV_SV39; id <= MMK_PT_RISCV_SV57; id++) {
		for (int pb = 0; pb < 2; pb++) {
			struct mmk_pt pt;
			assert_int_equal(
				mmk_pt_create(&pt, id,
					      pb ? MMK_PT_OPT_SVPBMT : 0, fa),
				0);
			struct mmk_pt_info info;
			mmk_pt_info(&pt, &info);
			for (unsigned level = 0; level < info.levels; level++) {
				for (uint32_t f = 0; f < 0x400; f++) {
					if (f & ~MMK_PT_FLAGS_ALL)
						continue;
					uint64_t pa = 0x0001000000000000ull,
						 want = 0, got = 0;
					int we = rv_expected(pb, pa, f, &want);
					int ge = mmk_pt_encode_leaf(&pt, level,
								    mmk_pa(pa),
								    f, &got);
					assert_int_equal(ge, we);
					if (we)
						continue;
					assert_int_equal(got, want);
					mmk_paddr_t dpa;
					uint32_t df;
					assert_int_equal(
						mmk_pt_decode_leaf(&pt, level,
								   got, &dpa,
								   &df),
						0);
					assert_int_equal(dpa.v, pa);
					uint32_t pre =
						MMK_PT_ACCESSED |
						(f & MMK_PT_WRITE ? MMK_PT_DIRTY
								  : 0);
					assert_int_equal(df, f | pre);
				}
			}
			mmk_pt_destroy(&pt);
		}
	}
}

/* ------------------------------------------------- fitting flags */
/* What each architecture's hardware makes of R/W/X asked alone or
 * together (index: the asked R/W/X bits). */
static const uint32_t fit_x86_a64[8] = {
	0,	   MMK_PT_READ, MMK_PT_RW,  MMK_PT_RW,
	MMK_PT_RX, MMK_PT_RX,	MMK_PT_RWX, MMK_PT_RWX,
};
static const uint32_t fit_riscv[8] = {
	0,	     MMK_PT_READ, MMK_PT_RW,  MMK_PT_RW,
	MMK_PT_EXEC, MMK_PT_RX,	  MMK_PT_RWX, MMK_PT_RWX,
};
static const uint32_t fit_exact[8] = {0, 1, 2, 3, 4, 5, 6, 7};

static const uint32_t *fit_table(const char *arch)
{
	if (!strcmp(arch, "x86_64") || !strcmp(arch, "aarch64"))
		return fit_x86_a64;
	if (!strcmp(arch, "riscv64"))
		return fit_riscv;
	assert_string_equal(arch, "loongarch64"); /* NR/NX/W independent */
	return fit_exact;
}

static void
fit_flags_gives_the_smallest_superset_the_hardware_forces(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		struct mmk_pt_info in;
		mmk_pt_info(&pt, &in);
		const uint32_t *want = fit_table(in.arch);
		uint32_t extra[] = {0, MMK_PT_USER,
				    MMK_PT_GLOBAL | MMK_PT_DIRTY,
				    MMK_PT_MT_UNCACHED};
		for (unsigned k = 0; k < 4; k++) {
			for (uint32_t rwx = 0; rwx < 8; rwx++) {
				uint32_t f = rwx | extra[k], have = 0;
				int err = mmk_pt_fit_flags(&pt, f, &have);
				assert_int_equal(err, 0);
				assert_int_equal(have, want[rwx] | extra[k]);
				assert_int_equal(mmk_pt_can_express(&pt, f),
						 want[rwx] == rwx);
				/* What fit gives back maps. */
				uint64_t pte;
				assert_int_equal(mmk_pt_encode_leaf(&pt, 0,
								    mmk_pa(0),
								    have, &pte),
						 0);
			}
		}
		uint32_t have = 0xdead;
		assert_int_equal(mmk_pt_fit_flags(&pt, 1u << 20, &have),
				 MMK_EINVAL);
		assert_int_equal(have, 0xdead);
		assert_false(mmk_pt_can_express(&pt, 1u << 20));
		mmk_pt_destroy(&pt);
	}
	/* A memory type without Svpbmt: no superset helps. */
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_RISCV_SV39, 0, fa), 0);
	uint32_t have;
	assert_int_equal(
		mmk_pt_fit_flags(&pt, MMK_PT_RW | MMK_PT_MT_DEVICE, &have),
		MMK_ENOTSUP);
	assert_false(mmk_pt_can_express(&pt, MMK_PT_RW | MMK_PT_MT_DEVICE));
	mmk_pt_destroy(&pt);
}

/* ------------------------------------------------- refusals */
static void count_line(void *ctx, const char *line)
{
	(void)line;
	++*(int *)ctx;
}

static void decode_and_dump_refuse_what_cannot_be(void **state)
{
	(void)state;
	struct mmk_pt pt;
	FOR_EACH_FORMAT(pt, id)
	{
		struct mmk_pt_info in;
		mmk_pt_info(&pt, &in);
		uint64_t base = in.low_end ? 0 : in.high_start;
		/* A level that holds no leaves (the root of most formats;
		 * Sv39 has none): encode says ENOTSUP, decode of a
		 * leaf-looking entry ENOENT. */
		unsigned top = in.levels - 1;
		uint64_t pte, leaf1 = enc(&pt, 1, 0, MMK_PT_RW);
		mmk_paddr_t pa;
		uint32_t f;
		bool root_leaf = leaf_size(&pt, top) != 0;
		if (!root_leaf) {
			assert_int_equal(mmk_pt_encode_leaf(&pt, top, mmk_pa(0),
							    MMK_PT_RW, &pte),
					 MMK_ENOTSUP);
			assert_int_equal(
				mmk_pt_decode_leaf(&pt, top, leaf1, &pa, &f),
				MMK_ENOENT);
		}
		assert_int_equal(mmk_pt_decode_leaf(&pt, 1, leaf1, &pa, &f), 0);
		assert_int_equal(
			mmk_pt_decode_leaf(&pt, in.levels, leaf1, &pa, &f),
			MMK_EINVAL);
		/* An unknown dump style: EINVAL, nothing written. */
		assert_int_equal(mmk_pt_map(&pt, base, mmk_pa(0),
					    leaf_size(&pt, 0), MMK_PT_READ,
					    NULL),
				 0);
		int lines = 0;
		assert_int_equal(mmk_pt_dump(&pt, base, leaf_size(&pt, 0),
					     (enum mmk_pt_dump_style)7,
					     count_line, &lines),
				 MMK_EINVAL);
		assert_int_equal(lines, 0);
		assert_int_equal(mmk_pt_dump(&pt, base, leaf_size(&pt, 0),
					     MMK_PT_DUMP_RUNS, count_line,
					     &lines),
				 0);
		assert_int_equal(lines, 1);
		unmap_all(&pt);
		mmk_pt_destroy(&pt);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			x86_64_hand_worked_entries_match_the_sdm, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			x86_64_every_flag_combination_is_bit_exact, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			riscv64_hand_worked_entries_match_the_spec, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			riscv64_every_flag_combination_is_bit_exact, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			fit_flags_gives_the_smallest_superset_the_hardware_forces,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			decode_and_dump_refuse_what_cannot_be, setup, teardown),
	};
	return cmocka_run_group_tests_name("pt_encoding", tests, NULL, NULL);
}
