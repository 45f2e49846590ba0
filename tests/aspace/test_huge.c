/* SPDX-License-Identifier: MIT */
/*
 * The huge backend (mmk_aspace_map_huge): faults and populate map whole
 * huge leaves, copy-on-write copies or takes over whole huge pages,
 * partial unmap and protect split the leaf and its frame block (copying
 * a shared block first), the pieces left unaligned fault base pages, and
 * every allocation point fails all or nothing.  Each test runs on every
 * format with 4 KiB base pages (all of them have 2 MiB leaves).
 *
 * Until mmk_aspace_clone exists on this branch, a fork's sharing is made
 * by hand: a second reference on the block (what the child's table would
 * hold) and the leaf made read-only in the table (what the fork's
 * write-protect does).
 *
 *   BASE = 0x4000_0000 (1 GiB aligned)                  BASE + 64 MiB
 */
#include "aspace_test.h"

#include <mmkit/backend.h>

#include <pthread.h>
#include <stdatomic.h>

#define BASE  0x40000000ull
#define SPACE (64 * MMK_MIB)
#define PG    4096ull
#define HP    (2 * MMK_MIB)

static struct mmk_frames *fa;
static struct mmk_aspace as;
static struct as_snap s0, s1;
static const char *fmt_name;
static enum mmk_pt_format_id fmt_id;
/* forks of @as (and of each other): a child and a grandchild */
static struct mmk_aspace kid[2];
static bool kid_live[2];
/* the space the helpers below look at (&as unless a test says) */
static struct mmk_aspace *S = &as;

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_fail_off();
	mmk_hosted_log_reset(true);
	fa = mmk_hosted_frames_new();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmk_hosted_fail_off();
	assert_int_equal(mmk_frames_check(fa), 0);
	assert_int_equal(mmk_hosted_live_frames(), 0);
	assert_int_equal(mmk_hosted_live_objs(), 0);
	mmk_hosted_frames_destroy(fa);
	return 0;
}

/* Run @body on a fresh space of every 4 KiB format; after each, the space
 * is destroyed and nothing may be left. */
static void each_format(void (*body)(void))
{
	int ran = 0;
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++) {
		struct mmk_pt_info info;
		if (!as_format_4k(id, &info))
			continue;
		assert_true(info.page_sizes & HP);
		fmt_name = info.name;
		fmt_id = (enum mmk_pt_format_id)id;
		S = &as;
		long live = mmk_hosted_live_frames();
		assert_int_equal(mmk_aspace_create(&as, BASE, SPACE,
						   (enum mmk_pt_format_id)id, 0,
						   fa),
				 0);
		mmk_aspace_activate(&as);
		body();
		mmk_aspace_destroy(&as);
		if (mmk_hosted_live_frames() != live)
			fail_msg("%s: %ld frames left", fmt_name,
				 mmk_hosted_live_frames() - live);
		ran++;
	}
	assert_true(ran >= 4);
}

/* Frames held for data (live frames less the page table's own). */
static long data_frames(void)
{
	long t = mmk_pt_table_pages(mmk_aspace_pt(&as));
	for (int i = 0; i < 2; i++)
		if (kid_live[i])
			t += mmk_pt_table_pages(mmk_aspace_pt(&kid[i]));
	return mmk_hosted_live_frames() - t;
}

static struct mmk_pt_leaf leaf_at(mmk_vaddr_t va)
{
	struct mmk_pt_leaf lf;
	if (mmk_pt_lookup(mmk_aspace_pt(S), va, &lf) != 0)
		fail_msg("%s: nothing mapped at %#llx", fmt_name,
			 (unsigned long long)va);
	return lf;
}

static bool mapped(mmk_vaddr_t va)
{
	struct mmk_pt_leaf lf;
	return mmk_pt_lookup(mmk_aspace_pt(S), va, &lf) == 0;
}

static void expect_huge(mmk_vaddr_t va, uint64_t size)
{
	struct mmk_pt_leaf lf = leaf_at(va);
	if (lf.page_size != size || lf.va != MMK_ALIGN_DOWN(va, size))
		fail_msg("%s: leaf at %#llx is %#llx bytes at %#llx", fmt_name,
			 (unsigned long long)va,
			 (unsigned long long)lf.page_size,
			 (unsigned long long)lf.va);
	assert_int_equal(lf.level, size == HP ? 1 : size == PG ? 0 : 2);
	assert_true(MMK_IS_ALIGNED(lf.pa.v, size));
	/* one whole block of the leaf's size, one reference (ours) */
	assert_int_equal(mmk_frame_order(fa, lf.pa),
			 __builtin_ctzll(size) - MMK_PAGE_SHIFT);
}

/* A byte pattern of @va, kept per generation @g. */
static uint8_t pat(mmk_vaddr_t va, unsigned g)
{
	return (uint8_t)((va >> 12) * 31 + (va & 0xfff) * 7 + g);
}

static void fill(mmk_vaddr_t va, uint64_t size, unsigned g)
{
	static uint8_t buf[HP];
	assert_true(size <= HP);
	for (uint64_t i = 0; i < size; i++)
		buf[i] = pat(va + i, g);
	assert_int_equal(mmk_aspace_write_kernel(S, va, buf, size), 0);
}

/* Check the pattern through the space and through the frame directly. */
static void check(mmk_vaddr_t va, uint64_t size, unsigned g)
{
	static uint8_t buf[HP];
	assert_true(size <= HP);
	assert_int_equal(mmk_aspace_read_kernel(S, va, buf, size), 0);
	for (uint64_t i = 0; i < size; i++)
		if (buf[i] != pat(va + i, g))
			fail_msg("%s: byte at %#llx is %u, not %u", fmt_name,
				 (unsigned long long)(va + i), buf[i],
				 pat(va + i, g));
}

static void check_zero(mmk_vaddr_t va, uint64_t size)
{
	static uint8_t buf[HP];
	assert_int_equal(mmk_aspace_read_kernel(S, va, buf, size), 0);
	for (uint64_t i = 0; i < size; i++)
		assert_int_equal(buf[i], 0);
}

/* What a fork does to the leaf at @va: the child's reference, and the
 * leaf read-only (kept flags otherwise). */
static mmk_paddr_t share_as_fork(mmk_vaddr_t va)
{
	struct mmk_pt_leaf lf = leaf_at(va);
	assert_int_equal(mmk_frame_get(fa, lf.pa), 0);
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, NULL, 0);
	assert_int_equal(mmk_pt_protect(mmk_aspace_pt(S), lf.va,
					lf.flags & ~(uint32_t)(MMK_PT_WRITE |
							       MMK_PT_ACCESSED |
							       MMK_PT_DIRTY),
					&g),
			 0);
	mmk_tlb_gather_finish(&g);
	return lf.pa;
}

/* ------------------------------------------------------------ tests */

static void body_fault(void)
{
	long f0 = data_frames();
	assert_int_equal(mmk_aspace_map_huge(&as, BASE, 8 * MMK_MIB, MMK_PT_RW,
					     HP, false),
			 0);
	assert_int_equal(data_frames(), f0);
	assert_false(mapped(BASE + HP));
	/* a write anywhere in the huge page maps it whole, zeroed */
	assert_int_equal(
		mmk_aspace_fault(&as, BASE + HP + 12345, MMK_ACCESS_WRITE), 0);
	expect_huge(BASE + HP + 12345, HP);
	assert_int_equal(mmk_frame_refcount(fa, leaf_at(BASE + HP).pa), 1);
	assert_int_equal(data_frames(), f0 + 512);
	assert_false(mapped(BASE));
	assert_false(mapped(BASE + 2 * HP));
	check_zero(BASE + HP, HP);
	/* a read fault too; a second fault in the page takes nothing */
	assert_int_equal(mmk_aspace_fault(&as, BASE + 3 * HP, MMK_ACCESS_READ),
			 0);
	expect_huge(BASE + 3 * HP, HP);
	assert_int_equal(mmk_aspace_fault(&as, BASE + 3 * HP + HP - PG,
					  MMK_ACCESS_WRITE),
			 0);
	assert_int_equal(data_frames(), f0 + 1024);
	fill(BASE + 3 * HP, HP, 1);
	check(BASE + 3 * HP, HP, 1);
	/* copies through the kernel fault the rest in, page by huge page */
	fill(BASE + HP - 100, 200, 2);
	expect_huge(BASE, HP);
	check(BASE + HP - 100, 200, 2);
	assert_int_equal(data_frames(), f0 + 1536);
	assert_int_equal(mmk_aspace_unmap(&as, BASE, 8 * MMK_MIB), 0);
	assert_int_equal(data_frames(), f0);
}

static void faults_map_whole_zeroed_huge_pages(void **state)
{
	(void)state;
	each_format(body_fault);
}

static void body_populate(void)
{
	long f0 = data_frames();
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, 4 * HP, MMK_PT_RW, HP, true), 0);
	for (int i = 0; i < 4; i++)
		expect_huge(BASE + i * HP, HP);
	assert_int_equal(data_frames(), f0 + 4 * 512);
	check_zero(BASE + HP, HP);
	/* populate of part of a lazy area: huge where a whole huge page is
	 * in the range, base pages for the rest */
	const mmk_vaddr_t b = BASE + 16 * MMK_MIB;
	assert_int_equal(
		mmk_aspace_map_huge(&as, b, 3 * HP, MMK_PT_RW, HP, false), 0);
	long f1 = data_frames();
	assert_int_equal(mmk_aspace_populate(&as, b + 3 * PG,
					     2 * HP - 3 * PG + 5 * PG,
					     MMK_ACCESS_WRITE),
			 0);
	expect_huge(b + 3 * PG, PG);
	expect_huge(b + HP - PG, PG);
	expect_huge(b + HP, HP);
	expect_huge(b + 2 * HP + 4 * PG, PG);
	assert_false(mapped(b + 2 * PG));
	assert_false(mapped(b + 2 * HP + 5 * PG));
	assert_int_equal(data_frames(), f1 + 512 + (512 - 3) + 5);
	/* faults next to base pages map base pages (the huge page's span
	 * is no longer empty), in an empty span a huge page */
	assert_int_equal(mmk_aspace_fault(&as, b, MMK_ACCESS_WRITE), 0);
	expect_huge(b, PG);
	assert_int_equal(
		mmk_aspace_fault(&as, b + 3 * HP - PG, MMK_ACCESS_READ), 0);
	expect_huge(b + 3 * HP - PG, PG);
	/* populating again fills the holes only */
	assert_int_equal(mmk_aspace_populate(&as, b, 3 * HP, MMK_ACCESS_READ),
			 0);
	assert_int_equal(data_frames(), f1 + 3 * 512);
	check_zero(b, HP);
}

static void populate_maps_huge_leaves_where_whole(void **state)
{
	(void)state;
	each_format(body_populate);
}

static void bad_arguments_change_nothing(void **state)
{
	(void)state;
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	long f0 = data_frames();
	const uint64_t sizes[] = {0, PG, 3 * MMK_MIB, HP + PG, 1};
	for (size_t i = 0; i < MMK_ARRAY_SIZE(sizes); i++)
		assert_int_equal(mmk_aspace_map_huge(&as, BASE, 4 * HP,
						     MMK_PT_RW, sizes[i],
						     false),
				 MMK_EINVAL);
	/* x86_64 has no 512 GiB leaves; 4 MiB is no leaf of any format */
	assert_int_equal(mmk_aspace_map_huge(&as, BASE, 4 * HP, MMK_PT_RW,
					     512 * MMK_GIB, false),
			 MMK_ENOTSUP);
	assert_int_equal(mmk_aspace_map_huge(&as, BASE, 4 * HP, MMK_PT_RW,
					     4 * MMK_MIB, false),
			 MMK_ENOTSUP);
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, 0, MMK_PT_RW, HP, false),
		MMK_EWRAP);
	assert_int_equal(mmk_aspace_map_huge(&as, BASE + PG, 4 * HP, MMK_PT_RW,
					     HP, false),
			 MMK_EALIGN);
	assert_int_equal(mmk_aspace_map_huge(&as, BASE, 4 * HP + PG, MMK_PT_RW,
					     HP, false),
			 MMK_EALIGN);
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, HP, MMK_PT_RW, MMK_GIB, false),
		MMK_EALIGN);
	assert_int_equal(mmk_aspace_map_huge(&as, BASE + SPACE, HP, MMK_PT_RW,
					     HP, false),
			 MMK_ERANGE);
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, HP, 1u << 20, HP, false),
		MMK_EINVAL);
	assert_int_equal(mmk_aspace_area_count(&as), 0);
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, 2 * HP, MMK_PT_RW, HP, false),
		0);
	assert_int_equal(mmk_aspace_map_huge(&as, BASE + HP, 2 * HP, MMK_PT_RW,
					     HP, true),
			 MMK_EEXIST);
	assert_int_equal(mmk_aspace_area_count(&as), 1);
	assert_int_equal(data_frames(), f0);
	/* a fault the area does not allow */
	assert_int_equal(mmk_aspace_protect(&as, BASE, 2 * HP, MMK_PT_READ), 0);
	assert_int_equal(mmk_aspace_fault(&as, BASE, MMK_ACCESS_WRITE),
			 MMK_EACCES);
	assert_int_equal(data_frames(), f0);
	mmk_aspace_destroy(&as);
}

static void body_cow(void)
{
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, 2 * HP, MMK_PT_RW, HP, true), 0);
	fill(BASE, HP, 1);
	fill(BASE + HP, HP, 2);
	/* shared (a fork's child holds the block too): the write copies the
	 * whole huge page once into a fresh block */
	mmk_paddr_t old = share_as_fork(BASE + HP);
	long f0 = data_frames();
	mmk_hosted_flush_reset();
	assert_int_equal(
		mmk_aspace_fault(&as, BASE + HP + 5 * PG + 3, MMK_ACCESS_WRITE),
		0);
	expect_huge(BASE + HP, HP);
	struct mmk_pt_leaf lf = leaf_at(BASE + HP);
	assert_true(lf.pa.v != old.v);
	assert_true(lf.flags & MMK_PT_WRITE);
	assert_int_equal(mmk_frame_refcount(fa, lf.pa), 1);
	assert_int_equal(mmk_frame_refcount(fa, old), 1); /* the child's */
	assert_int_equal(data_frames(), f0 + 512);
	assert_true(mmk_hosted_flushed(BASE + HP)); /* the old translation */
	check(BASE + HP, HP, 2);
	/* writes land in the copy only; the child's block keeps its data */
	fill(BASE + HP, HP, 3);
	const uint8_t *child = mmk_phys_to_virt(old);
	for (uint64_t i = 0; i < HP; i += 997)
		assert_int_equal(child[i], pat(BASE + HP + i, 2));
	/* no second copy */
	assert_int_equal(mmk_aspace_fault(&as, BASE + HP, MMK_ACCESS_WRITE), 0);
	assert_int_equal(data_frames(), f0 + 512);
	/* the child goes: its reference with it */
	assert_int_equal(mmk_frame_put(fa, old), 1);
	/* take-over: read-only, but ours alone: same block, writable, no
	 * frame taken */
	mmk_paddr_t mine = share_as_fork(BASE);
	assert_int_equal(mmk_frame_put(fa, mine), 0); /* the child exits */
	assert_false(leaf_at(BASE).flags & MMK_PT_WRITE);
	long f1 = data_frames();
	assert_int_equal(mmk_aspace_write_kernel(&as, BASE + 7, "x", 1), 0);
	lf = leaf_at(BASE);
	assert_int_equal(lf.pa.v, mine.v);
	assert_true(lf.flags & MMK_PT_WRITE);
	assert_int_equal(data_frames(), f1);
	assert_int_equal(mmk_frame_refcount(fa, mine), 1);
	/* a read of a shared page does not copy */
	old = share_as_fork(BASE + HP);
	assert_int_equal(mmk_aspace_fault(&as, BASE + HP, MMK_ACCESS_READ), 0);
	assert_int_equal(leaf_at(BASE + HP).pa.v, old.v);
	assert_int_equal(mmk_frame_put(fa, old), 0);
}

static void cow_copies_the_whole_huge_page_or_takes_it_over(void **state)
{
	(void)state;
	each_format(body_cow);
}

/* Every page of [va, va + size) a base page with an order-0 block of
 * count @refs. */
static void expect_split(mmk_vaddr_t va, uint64_t size, int64_t refs)
{
	for (uint64_t off = 0; off < size; off += PG) {
		struct mmk_pt_leaf lf = leaf_at(va + off);
		assert_int_equal(lf.page_size, PG);
		assert_int_equal(mmk_frame_order(fa, lf.pa), 0);
		assert_int_equal(mmk_frame_refcount(fa, lf.pa), refs);
	}
}

static void body_split(void)
{
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, 4 * HP, MMK_PT_RW, HP, true), 0);
	for (int i = 0; i < 4; i++)
		fill(BASE + i * HP, HP, (unsigned)i);
	long f0 = data_frames();
	mmk_paddr_t blk0 = leaf_at(BASE).pa;
	/* unmap two pages inside the first huge page */
	assert_int_equal(mmk_aspace_unmap(&as, BASE + MMK_MIB, 2 * PG), 0);
	assert_int_equal(data_frames(), f0 - 2);
	assert_false(mapped(BASE + MMK_MIB));
	assert_false(mapped(BASE + MMK_MIB + PG));
	expect_split(BASE, MMK_MIB, 1);
	expect_split(BASE + MMK_MIB + 2 * PG, MMK_MIB - 2 * PG, 1);
	assert_int_equal(leaf_at(BASE).pa.v, blk0.v); /* split in place */
	expect_huge(BASE + HP, HP);
	check(BASE, MMK_MIB, 0);
	check(BASE + MMK_MIB + 2 * PG, MMK_MIB - 2 * PG, 0);
	assert_int_equal(mmk_aspace_area_count(&as), 2);
	/* protect one page inside the third: split, rights of that page */
	assert_int_equal(mmk_aspace_protect(&as, BASE + 2 * HP + 5 * PG, PG,
					    MMK_PT_READ),
			 0);
	expect_split(BASE + 2 * HP, HP, 1);
	assert_false(leaf_at(BASE + 2 * HP + 5 * PG).flags & MMK_PT_WRITE);
	assert_true(leaf_at(BASE + 2 * HP + 4 * PG).flags & MMK_PT_WRITE);
	assert_int_equal(
		mmk_aspace_fault(&as, BASE + 2 * HP + 5 * PG, MMK_ACCESS_WRITE),
		MMK_EACCES);
	check(BASE + 2 * HP, HP, 2);
	assert_int_equal(data_frames(), f0 - 2);
	/* an unmap and a protect whose edges are huge-page boundaries split
	 * nothing */
	assert_int_equal(
		mmk_aspace_protect(&as, BASE + 3 * HP, HP, MMK_PT_READ), 0);
	expect_huge(BASE + 3 * HP, HP);
	assert_int_equal(mmk_aspace_unmap(&as, BASE + HP, HP), 0);
	assert_int_equal(data_frames(), f0 - 2 - 512);
	/* unmapping a split huge page's pieces frees them; the frames merge
	 * back (checked in teardown) */
	assert_int_equal(mmk_aspace_unmap(&as, BASE, HP), 0);
	assert_int_equal(data_frames(), f0 - 2 * 512);
	check(BASE + 2 * HP, HP, 2);
	check(BASE + 3 * HP, HP, 3);
	assert_int_equal(mmk_frames_check(fa), 0);
}

static void partial_unmap_and_protect_split_the_block(void **state)
{
	(void)state;
	each_format(body_split);
}

static void body_lazy_pieces(void)
{
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, 4 * HP, MMK_PT_RW, HP, false),
		0);
	/* an unmap of nothing mapped cuts the area: [BASE, BASE + 1M) and
	 * [BASE + 1M + 4K, BASE + 8M) */
	assert_int_equal(mmk_aspace_unmap(&as, BASE + MMK_MIB, PG), 0);
	assert_int_equal(mmk_aspace_fault(&as, BASE + 8 * PG, MMK_ACCESS_WRITE),
			 0);
	expect_huge(BASE + 8 * PG, PG);
	assert_int_equal(mmk_aspace_fault(&as, BASE + MMK_MIB + 9 * PG,
					  MMK_ACCESS_WRITE),
			 0);
	expect_huge(BASE + MMK_MIB + 9 * PG, PG);
	assert_int_equal(
		mmk_aspace_fault(&as, BASE + HP + 9 * PG, MMK_ACCESS_WRITE), 0);
	expect_huge(BASE + HP, HP);
	/* a huge page protected in part, then faulted: base pages around */
	assert_int_equal(
		mmk_aspace_protect(&as, BASE + 2 * HP + PG, PG, MMK_PT_READ),
		0);
	assert_int_equal(
		mmk_aspace_fault(&as, BASE + 2 * HP + PG, MMK_ACCESS_READ), 0);
	expect_huge(BASE + 2 * HP + PG, PG);
	assert_int_equal(mmk_aspace_fault(&as, BASE + 2 * HP, MMK_ACCESS_WRITE),
			 0);
	expect_huge(BASE + 2 * HP, PG);
	assert_int_equal(
		mmk_aspace_fault(&as, BASE + 3 * HP + 1, MMK_ACCESS_WRITE), 0);
	expect_huge(BASE + 3 * HP, HP);
}

static void pieces_no_longer_aligned_fault_base_pages(void **state)
{
	(void)state;
	each_format(body_lazy_pieces);
}

static void body_shared_split(void)
{
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, 2 * HP, MMK_PT_RW, HP, true), 0);
	fill(BASE, HP, 4);
	fill(BASE + HP, HP, 5);
	mmk_paddr_t old = share_as_fork(BASE);
	mmk_paddr_t old1 = share_as_fork(BASE + HP);
	long f0 = data_frames();
	/* the cut of a block another table maps: this space gets a copy,
	 * split; the other's block stays whole */
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_unmap(&as, BASE + 3 * PG, PG), 0);
	assert_int_equal(data_frames(), f0 + 511);
	assert_int_equal(mmk_frame_order(fa, old), 9);
	assert_int_equal(mmk_frame_refcount(fa, old), 1);
	assert_true(leaf_at(BASE).pa.v != old.v);
	expect_split(BASE, 3 * PG, 1);
	expect_split(BASE + 4 * PG, HP - 4 * PG, 1);
	assert_true(mmk_hosted_flushed(BASE)); /* the replaced translation */
	check(BASE, 3 * PG, 4);
	check(BASE + 4 * PG, HP - 4 * PG, 4);
	/* read-only still: a write copies the base page, the piece keeps
	 * its data */
	assert_false(leaf_at(BASE + 8 * PG).flags & MMK_PT_WRITE);
	mmk_paddr_t piece = leaf_at(BASE + 8 * PG).pa;
	fill(BASE + 8 * PG, PG, 6);
	assert_int_equal(leaf_at(BASE + 8 * PG).pa.v, piece.v); /* taken */
	/* a protect cut in the other shared huge page, both edges in it */
	assert_int_equal(mmk_aspace_protect(&as, BASE + HP + 3 * PG, 2 * PG,
					    MMK_PT_READ),
			 0);
	assert_int_equal(mmk_frame_order(fa, old1), 9);
	assert_int_equal(mmk_frame_refcount(fa, old1), 1);
	expect_split(BASE + HP, HP, 1);
	check(BASE + HP, HP, 5);
	assert_int_equal(data_frames(), f0 + 511 + 512);
	const uint8_t *child = mmk_phys_to_virt(old);
	for (uint64_t i = 0; i < HP; i += 991)
		assert_int_equal(child[i], pat(BASE + i, 4));
	assert_int_equal(mmk_frame_put(fa, old), 1);
	assert_int_equal(mmk_frame_put(fa, old1), 1);
}

static void cutting_a_shared_huge_page_copies_it_first(void **state)
{
	(void)state;
	each_format(body_shared_split);
}

/*
 * Run @op with the n-th allocation at @site failing, n = 1, 2, ...: each
 * failure must leave everything as it was (all or nothing), until it
 * succeeds.  Returns how many failures were seen.
 */
static long sweep(int (*op)(void), void (*prep)(void))
{
	long failures = 0;
	for (int site = 0; site < 2; site++) {
		for (long n = 1;; n++) {
			prep();
			as_snapshot(&as, fa, &s0);
			mmk_hosted_fail_nth((enum mmk_failsite)site, n);
			int err = op();
			mmk_hosted_fail_off();
			if (err == 0)
				break;
			assert_int_equal(err, MMK_ENOMEM);
			as_snapshot(&as, fa, &s1);
			as_snap_equal(&s0, &s1, fmt_name);
			failures++;
		}
	}
	return failures;
}

static void prep_empty(void)
{
	mmk_aspace_clear(&as);
}

static void prep_lazy(void)
{
	mmk_aspace_clear(&as);
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, 4 * HP, MMK_PT_RW, HP, false),
		0);
	/* the table pages a first fault needs are part of the sweep too */
}

static void prep_shared(void)
{
	mmk_aspace_clear(&as);
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, 4 * HP, MMK_PT_RW, HP, true), 0);
	for (int i = 0; i < 4; i++)
		(void)share_as_fork(BASE + i * HP);
}

static int op_map_populate(void)
{
	return mmk_aspace_map_huge(&as, BASE, 4 * HP, MMK_PT_RW, HP, true);
}

static int op_populate_part(void)
{
	return mmk_aspace_populate(&as, BASE + 3 * PG, 2 * HP,
				   MMK_ACCESS_WRITE);
}

static int op_fault(void)
{
	return mmk_aspace_fault(&as, BASE + HP + 77, MMK_ACCESS_WRITE);
}

static mmk_paddr_t shared_pa[4];

static void prep_shared_keep(void)
{
	/* drop the child's references of the previous round */
	for (int i = 0; i < 4; i++)
		if (shared_pa[i].v)
			(void)mmk_frame_put(fa, shared_pa[i]);
	prep_shared();
	for (int i = 0; i < 4; i++)
		shared_pa[i] = leaf_at(BASE + i * HP).pa;
}

static int op_cow(void)
{
	return mmk_aspace_fault(&as, BASE + HP + 77, MMK_ACCESS_WRITE);
}

static int op_unmap_shared(void)
{
	/* both edges cut a shared huge page (two copies) */
	return mmk_aspace_unmap(&as, BASE + HP + 5 * PG, HP);
}

static int op_protect_shared(void)
{
	return mmk_aspace_protect(&as, BASE + 5 * PG, 3 * HP, MMK_PT_READ);
}

static int op_protect_private(void)
{
	return mmk_aspace_protect(&as, BASE + HP + 5 * PG, PG, MMK_PT_READ);
}

static void prep_private(void)
{
	mmk_aspace_clear(&as);
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, 4 * HP, MMK_PT_RW, HP, true), 0);
}

static void body_failures(void)
{
	memset(shared_pa, 0, sizeof(shared_pa));
	assert_true(sweep(op_map_populate, prep_empty) >= 4);
	assert_true(sweep(op_populate_part, prep_lazy) >= 3);
	assert_true(sweep(op_fault, prep_lazy) >= 1);
	assert_true(sweep(op_cow, prep_shared_keep) >= 1);
	assert_true(sweep(op_unmap_shared, prep_shared_keep) >= 2);
	assert_true(sweep(op_protect_shared, prep_shared_keep) >= 2);
	assert_true(sweep(op_protect_private, prep_private) >= 1);
	for (int i = 0; i < 4; i++)
		if (shared_pa[i].v)
			(void)mmk_frame_put(fa, shared_pa[i]);
}

static void every_allocation_point_fails_all_or_nothing(void **state)
{
	(void)state;
	each_format(body_failures);
}

/* ------------------------------------------------------------ fork */

/* Fork @parent into kid[@k] (a new space like it). */
static void fork_into(struct mmk_aspace *parent, int k)
{
	assert_false(kid_live[k]);
	assert_int_equal(mmk_aspace_create(&kid[k], BASE, SPACE, fmt_id, 0, fa),
			 0);
	kid_live[k] = true;
	assert_int_equal(mmk_aspace_clone(parent, &kid[k]), 0);
}

static void kid_exit(int k)
{
	assert_true(kid_live[k]);
	mmk_aspace_destroy(&kid[k]);
	kid_live[k] = false;
}

static struct mmk_pt_leaf leaf_in(struct mmk_aspace *sp, mmk_vaddr_t va)
{
	struct mmk_aspace *keep = S;
	S = sp;
	struct mmk_pt_leaf lf = leaf_at(va);
	S = keep;
	return lf;
}

static void body_fork(void)
{
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, 4 * HP, MMK_PT_RW, HP, true), 0);
	for (int i = 0; i < 4; i++)
		fill(BASE + i * HP, HP, (unsigned)i);
	long f0 = data_frames();
	mmk_hosted_flush_reset();
	fork_into(&as, 0);
	/* the child maps the same huge blocks; both read-only; no frame
	 * copied by the fork */
	assert_int_equal(data_frames(), f0);
	for (int i = 0; i < 4; i++) {
		struct mmk_pt_leaf p = leaf_in(&as, BASE + i * HP),
				   c = leaf_in(&kid[0], BASE + i * HP);
		assert_int_equal(c.page_size, HP);
		assert_int_equal(c.pa.v, p.pa.v);
		assert_false(p.flags & MMK_PT_WRITE);
		assert_false(c.flags & MMK_PT_WRITE);
		assert_int_equal(mmk_frame_refcount(fa, p.pa), 2);
	}
	/* the parent writes page 1: a copy of the whole huge page, once */
	mmk_paddr_t shared1 = leaf_in(&as, BASE + HP).pa;
	fill(BASE + HP + 3 * PG, PG, 7);
	expect_huge(BASE + HP, HP);
	assert_true(leaf_at(BASE + HP).pa.v != shared1.v);
	assert_int_equal(data_frames(), f0 + 512);
	fill(BASE + HP + 9 * PG, PG, 8);
	assert_int_equal(data_frames(), f0 + 512);
	check(BASE + HP, 3 * PG, 1);
	check(BASE + HP + 3 * PG, PG, 7);
	/* the child still sees the fork's data, then takes the block over */
	S = &kid[0];
	check(BASE + HP, HP, 1);
	assert_int_equal(mmk_frame_refcount(fa, shared1), 1);
	fill(BASE + HP, PG, 9);
	assert_int_equal(leaf_at(BASE + HP).pa.v, shared1.v);
	assert_int_equal(data_frames(), f0 + 512);
	/* the child writes page 2 first: it copies, the parent takes over */
	fill(BASE + 2 * HP, PG, 10);
	assert_int_equal(data_frames(), f0 + 1024);
	S = &as;
	check(BASE + 2 * HP, HP, 2);
	mmk_paddr_t p2 = leaf_at(BASE + 2 * HP).pa;
	fill(BASE + 2 * HP, PG, 11);
	assert_int_equal(leaf_at(BASE + 2 * HP).pa.v, p2.v);
	assert_int_equal(data_frames(), f0 + 1024);
	/* fork of the fork: the grandchild shares with the child (and with
	 * the parent, page 0 and 3, count 3) */
	fork_into(&kid[0], 1);
	assert_int_equal(mmk_frame_refcount(fa, leaf_at(BASE).pa), 3);
	S = &kid[1];
	check(BASE + HP, PG, 9);
	check(BASE + 2 * HP, PG, 10);
	fill(BASE + 3 * HP, HP, 12);
	S = &as;
	check(BASE + 3 * HP, HP, 3);
	S = &kid[0];
	check(BASE + 3 * HP, HP, 3);
	S = &as;
	/* the child exits before its parent and its own child */
	kid_exit(0);
	S = &kid[1];
	check(BASE + HP, PG, 9);
	check(BASE + 3 * HP, HP, 12);
	check(BASE, HP, 0);
	S = &as;
	check(BASE, HP, 0);
	kid_exit(1);
	/* alone again: every page ours, no copy on write any more */
	long f1 = data_frames();
	for (int i = 0; i < 4; i++)
		fill(BASE + i * HP, PG, 13);
	assert_int_equal(data_frames(), f1);
	assert_int_equal(f1, f0);
}

static void fork_copies_each_huge_page_once_on_write(void **state)
{
	(void)state;
	each_format(body_fork);
}

/* After a fork: unmap and protect in part in the parent split its
 * (copied) huge pages only; the child's stay whole with the fork's data;
 * a protect back to RW keeps shared pages read-only. */
static void body_fork_split(void)
{
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, 4 * HP, MMK_PT_RW, HP, true), 0);
	for (int i = 0; i < 4; i++)
		fill(BASE + i * HP, HP, (unsigned)i + 20);
	fork_into(&as, 0);
	long f0 = data_frames();
	mmk_paddr_t b0 = leaf_at(BASE).pa, b1 = leaf_at(BASE + HP).pa;
	assert_int_equal(mmk_aspace_unmap(&as, BASE + 7 * PG, PG), 0);
	assert_int_equal(
		mmk_aspace_protect(&as, BASE + HP + HP / 2, PG, MMK_PT_READ),
		0);
	assert_int_equal(data_frames(), f0 + 511 + 512);
	expect_split(BASE, 7 * PG, 1);
	expect_split(BASE + HP, HP, 1);
	check(BASE, 7 * PG, 20);
	check(BASE + HP, HP, 21);
	S = &kid[0];
	expect_huge(BASE, HP);
	expect_huge(BASE + HP, HP);
	assert_int_equal(leaf_at(BASE).pa.v, b0.v);
	assert_int_equal(leaf_at(BASE + HP).pa.v, b1.v);
	assert_int_equal(mmk_frame_refcount(fa, b0), 1);
	check(BASE, HP, 20);
	check(BASE + HP, HP, 21);
	/* a cut in the child: its block is its own now, split in place */
	assert_int_equal(mmk_aspace_unmap(&kid[0], BASE + HP, PG), 0);
	expect_split(BASE + HP + PG, HP - PG, 1);
	assert_int_equal(leaf_at(BASE + HP + PG).pa.v, b1.v + PG);
	S = &as;
	/* protect R then RW: the shared page 2 stays read-only, its next
	 * write copies it; page 3 too */
	assert_int_equal(
		mmk_aspace_protect(&as, BASE + 2 * HP, 2 * HP, MMK_PT_READ), 0);
	assert_int_equal(
		mmk_aspace_protect(&as, BASE + 2 * HP, 2 * HP, MMK_PT_RW), 0);
	assert_false(leaf_at(BASE + 2 * HP).flags & MMK_PT_WRITE);
	mmk_paddr_t b2 = leaf_at(BASE + 2 * HP).pa;
	fill(BASE + 2 * HP, PG, 30);
	assert_true(leaf_at(BASE + 2 * HP).pa.v != b2.v);
	S = &kid[0];
	check(BASE + 2 * HP, HP, 22);
	S = &as;
	/* the parent exits first; the child's pages live on */
	mmk_aspace_clear(&as);
	S = &kid[0];
	check(BASE, HP, 20);
	check(BASE + 2 * HP, HP, 22);
	check(BASE + 3 * HP, HP, 23);
	S = &as;
	kid_exit(0);
}

static void cuts_after_fork_copy_and_split_only_the_cutter(void **state)
{
	(void)state;
	each_format(body_fork_split);
}

/* Every allocation point of a fork of huge pages, then of the copy on
 * write in the child: all or nothing (the child left empty, the parent
 * as it was, rights included). */
static void body_fork_failures(void)
{
	assert_int_equal(
		mmk_aspace_map_huge(&as, BASE, 4 * HP, MMK_PT_RW, HP, true), 0);
	assert_int_equal(mmk_aspace_unmap(&as, BASE + HP + PG, PG), 0);
	assert_int_equal(mmk_aspace_create(&kid[0], BASE, SPACE, fmt_id, 0, fa),
			 0);
	kid_live[0] = true;
	long failures = 0;
	for (int site = 0; site < 2; site++) {
		for (long n = 1;; n++) {
			as_snapshot(&as, fa, &s0);
			mmk_hosted_fail_nth((enum mmk_failsite)site, n);
			int err = mmk_aspace_clone(&as, &kid[0]);
			mmk_hosted_fail_off();
			if (err == 0)
				break;
			assert_int_equal(err, MMK_ENOMEM);
			as_snapshot(&as, fa, &s1);
			as_snap_equal(&s0, &s1, fmt_name);
			assert_int_equal(mmk_aspace_area_count(&kid[0]), 0);
			failures++;
		}
		if (site == 0)
			mmk_aspace_clear(&kid[0]);
	}
	assert_true(failures >= 2);
	/* the copy on write in the child */
	S = &kid[0];
	failures = 0;
	for (long n = 1;; n++) {
		as_snapshot(&kid[0], fa, &s0);
		mmk_hosted_fail_nth(MMK_FAIL_FRAME, n);
		int err = mmk_aspace_fault(&kid[0], BASE + 3 * HP,
					   MMK_ACCESS_WRITE);
		mmk_hosted_fail_off();
		if (err == 0)
			break;
		assert_int_equal(err, MMK_ENOMEM);
		as_snapshot(&kid[0], fa, &s1);
		as_snap_equal(&s0, &s1, fmt_name);
		failures++;
	}
	assert_true(failures >= 1);
	expect_huge(BASE + 3 * HP, HP);
	S = &as;
	kid_exit(0);
}

static void fork_of_huge_pages_fails_all_or_nothing(void **state)
{
	(void)state;
	each_format(body_fork_failures);
}

/* ------------------------------------------------------------ threads */
/*
 * CPUs fault in one huge page at once, each at an address of its own:
 * one block wins, the others' blocks go back; then, the page shared as
 * after a fork, they all write it: one copy wins.  Then the same faults
 * race a fork of the space.
 */
#define NTHREADS 4

/* Workers live for the whole test (each registers as a CPU once): each
 * round, when @gen moves on, each faults twice and counts itself done. */
static atomic_int gen, done, failed;
static atomic_bool stop;

static void *fault_thread(void *arg)
{
	uintptr_t i = (uintptr_t)arg;
	mmk_hosted_register_cpu();
	int seen = 0;
	for (;;) {
		int g;
		while ((g = atomic_load(&gen)) == seen && !atomic_load(&stop))
			mmk_hosted_relax();
		if (atomic_load(&stop))
			return NULL;
		seen = g;
		for (int r = 0; r < 2; r++)
			if (mmk_aspace_fault(&as,
					     BASE + HP + i * 100 * PG + 8 * r,
					     MMK_ACCESS_WRITE) != 0)
				atomic_fetch_add(&failed, 1);
		atomic_fetch_add(&done, 1);
	}
}

static void race_start(void)
{
	atomic_store(&done, 0);
	atomic_fetch_add(&gen, 1);
}

static void race_wait(void)
{
	while (atomic_load(&done) != NTHREADS)
		mmk_hosted_relax();
	assert_int_equal(atomic_load(&failed), 0);
}

static void race(void)
{
	race_start();
	race_wait();
}

/* Leaves of [BASE, BASE + 4 HP) of @sp into @pa (huge ones only). */
struct leaves {
	int n;
	mmk_paddr_t pa[8];
};

static int take_leaf(void *ctx, const struct mmk_pt_leaf *l)
{
	struct leaves *v = ctx;
	assert_int_equal(l->page_size, HP);
	assert_true(v->n < 8);
	v->pa[v->n++] = l->pa;
	return 0;
}

/* Every block mapped by the parent and the child has one reference per
 * table mapping it, and the data frames are those blocks exactly. */
static void check_blocks(long base_frames)
{
	struct leaves v = {0};
	assert_int_equal(
		mmk_pt_walk(mmk_aspace_pt(&as), BASE, 4 * HP, take_leaf, &v),
		0);
	assert_int_equal(mmk_pt_walk(mmk_aspace_pt(&kid[0]), BASE, 4 * HP,
				     take_leaf, &v),
			 0);
	long distinct = 0;
	for (int i = 0; i < v.n; i++) {
		int seen = 0, first = 1;
		for (int j = 0; j < v.n; j++) {
			seen += v.pa[j].v == v.pa[i].v;
			if (j < i && v.pa[j].v == v.pa[i].v)
				first = 0;
		}
		assert_int_equal(mmk_frame_refcount(fa, v.pa[i]), seen);
		distinct += first;
	}
	assert_int_equal(data_frames(), base_frames + 512 * distinct);
}

/* A fork while other CPUs fault the parent's huge page in: whichever
 * comes first, counts and frames add up. */
static void body_fork_race(void)
{
	for (int round = 0; round < 10; round++) {
		assert_int_equal(mmk_aspace_map_huge(&as, BASE, 4 * HP,
						     MMK_PT_RW, HP, false),
				 0);
		long f0 = data_frames();
		assert_int_equal(
			mmk_aspace_create(&kid[0], BASE, SPACE, fmt_id, 0, fa),
			0);
		kid_live[0] = true;
		race_start();
		assert_int_equal(mmk_aspace_clone(&as, &kid[0]), 0);
		race_wait();
		expect_huge(BASE + HP, HP);
		check_blocks(f0);
		kid_exit(0);
		mmk_aspace_clear(&as);
	}
}

static void body_threads(void)
{
	for (int round = 0; round < 10; round++) {
		assert_int_equal(mmk_aspace_map_huge(&as, BASE, 4 * HP,
						     MMK_PT_RW, HP, false),
				 0);
		long f0 = data_frames();
		race();
		expect_huge(BASE + HP, HP);
		assert_int_equal(data_frames(), f0 + 512);
		mmk_paddr_t old = share_as_fork(BASE + HP);
		race();
		expect_huge(BASE + HP, HP);
		assert_true(leaf_at(BASE + HP).pa.v != old.v);
		assert_true(leaf_at(BASE + HP).flags & MMK_PT_WRITE);
		assert_int_equal(data_frames(), f0 + 1024);
		assert_int_equal(mmk_frame_put(fa, old), 1);
		mmk_aspace_clear(&as);
	}
}

static void cpus_faulting_one_huge_page_agree(void **state)
{
	(void)state;
	pthread_t th[NTHREADS];
	atomic_store(&stop, false);
	for (uintptr_t i = 0; i < NTHREADS; i++)
		assert_int_equal(
			pthread_create(&th[i], NULL, fault_thread, (void *)i),
			0);
	each_format(body_threads);
	each_format(body_fork_race);
	atomic_store(&stop, true);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
}

/* ------------------------------------------------------------ 1 GiB */
/*
 * 1 GiB pages need a free order-18 block: an arena of 3 GiB of its own.
 * Cut at a base page, a 1 GiB page becomes 2 MiB pages and, in the one
 * holding the edge, base pages: the block splits along the same lines.
 */
static void gigantic_pages_fault_and_split_in_two_steps(void **state)
{
	(void)state;
	mmk_hosted_frames_destroy(fa);
	mmk_hosted_init(3 * MMK_GIB);
	fa = mmk_hosted_frames_new();
	assert_int_equal(mmk_aspace_create(&as, MMK_GIB, 4 * MMK_GIB,
					   MMK_PT_X86_64_4L, 0, fa),
			 0);
	fmt_name = "x86_64 (1 GiB)";
	const mmk_vaddr_t g = 2 * MMK_GIB;
	assert_int_equal(
		mmk_aspace_map_huge(&as, g, MMK_GIB, MMK_PT_RW, MMK_GIB, false),
		0);
	assert_int_equal(mmk_aspace_fault(&as, g + 12345, MMK_ACCESS_WRITE), 0);
	expect_huge(g, MMK_GIB);
	assert_int_equal(data_frames(), 1l << 18);
	fill(g + 3 * HP, PG, 9);
	fill(g + 7 * HP + 5 * PG, PG, 9);
	assert_int_equal(mmk_aspace_unmap(&as, g + 7 * HP + 4 * PG, PG), 0);
	assert_int_equal(data_frames(), (1l << 18) - 1);
	expect_huge(g, HP);
	expect_huge(g + 3 * HP, HP);
	expect_huge(g + 8 * HP, HP);
	expect_huge(g + 511 * HP, HP);
	expect_split(g + 7 * HP, 4 * PG, 1);
	expect_split(g + 7 * HP + 5 * PG, HP - 5 * PG, 1);
	assert_int_equal(mmk_frame_refcount(fa, leaf_at(g + 8 * HP).pa), 1);
	check(g + 3 * HP, PG, 9);
	check(g + 7 * HP + 5 * PG, PG, 9);
	/* the 2 MiB pieces are ordinary 2 MiB pages now: cut one further */
	assert_int_equal(mmk_aspace_protect(&as, g + 3 * HP, PG, MMK_PT_READ),
			 0);
	expect_split(g + 3 * HP, HP, 1);
	check(g + 3 * HP, PG, 9);
	mmk_aspace_destroy(&as);
	assert_int_equal(mmk_hosted_live_frames(), 0);
	assert_int_equal(mmk_frames_check(fa), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			faults_map_whole_zeroed_huge_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(
			populate_maps_huge_leaves_where_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_arguments_change_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			cow_copies_the_whole_huge_page_or_takes_it_over, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			partial_unmap_and_protect_split_the_block, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			pieces_no_longer_aligned_fault_base_pages, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			cutting_a_shared_huge_page_copies_it_first, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			every_allocation_point_fails_all_or_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			fork_copies_each_huge_page_once_on_write, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			cuts_after_fork_copy_and_split_only_the_cutter, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			fork_of_huge_pages_fails_all_or_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			cpus_faulting_one_huge_page_agree, setup, teardown),
		cmocka_unit_test_setup_teardown(
			gigantic_pages_fault_and_split_in_two_steps, setup,
			teardown),
	};
	return cmocka_run_group_tests_name("huge", tests, NULL, NULL);
}
