/* SPDX-License-Identifier: MIT */
/*
 * Physical frames: the boot bump allocator and the buddy allocator.
 *
 * The hosted arena is 1 GiB at physical 0x8000_0000.  Several tests describe
 * RAM beyond the arena too: memory that is never zeroed is never touched, so
 * only the metadata (carved from the lowest RAM) has to be backed.
 */
#include "mmk_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BASE MMK_HOSTED_PHYS_BASE
#define MIB  MMK_MIB
#define GIB  MMK_GIB

static struct mmk_frames *fa;

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(GIB);
	mmk_hosted_fail_off();
	mmk_hosted_log_reset(true);
	fa = aligned_alloc(64, sizeof(*fa));
	return fa ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(fa);
	fa = NULL;
	return 0;
}

/*
 * The layout most tests use:
 *
 *   BASE         +64M     +96M            +512M      +1G    +2G        +3G
 *   | region 0 (RAM)       | hole          | region 1 |  hole | region 2 |
 *            [resv 64M..65M)   (region 1 = [BASE+512M, BASE+1G))
 */
static void init_layout(void)
{
	struct mmk_bootmem bm;
	mmk_bootmem_init(&bm);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE), 96 * MIB), 0);
	assert_int_equal(
		mmk_bootmem_add_ram(&bm, mmk_pa(BASE + 512 * MIB), 512 * MIB),
		0);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE + 2 * GIB), GIB),
			 0);
	assert_int_equal(mmk_bootmem_reserve(&bm, mmk_pa(BASE + 64 * MIB), MIB),
			 0);
	assert_int_equal(mmk_frames_init(fa, &bm), 0);
	assert_int_equal(mmk_frames_check(fa), 0);
}

static bool in_ram(uint64_t pa, uint64_t size)
{
	uint64_t e = pa + size;
	return (pa >= BASE && e <= BASE + 96 * MIB) ||
	       (pa >= BASE + 512 * MIB && e <= BASE + GIB) ||
	       (pa >= BASE + 2 * GIB && e <= BASE + 3 * GIB);
}

static bool hits_reserved(uint64_t pa, uint64_t size)
{
	return pa < BASE + 65 * MIB && pa + size > BASE + 64 * MIB;
}

/* ------------------------------------------------------------ bootmem */

static void bootmem_allocates_lowest_fit_and_respects_reserved(void **state)
{
	(void)state;
	struct mmk_bootmem bm;
	mmk_paddr_t p;
	mmk_bootmem_init(&bm);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE), 16 * MIB), 0);
	assert_int_equal(mmk_bootmem_reserve(&bm, mmk_pa(BASE), 8192), 0);
	assert_int_equal(mmk_bootmem_alloc(&bm, 4096, 4096, &p), 0);
	assert_int_equal(p.v, BASE + 8192);
	assert_int_equal(mmk_bootmem_alloc(&bm, 1, 2 * MIB, &p), 0);
	assert_int_equal(p.v, BASE + 2 * MIB);
	assert_int_equal(mmk_bootmem_alloc(&bm, 4096, 4096, &p), 0);
	assert_int_equal(p.v, BASE + 3 * 4096);
	assert_int_equal(mmk_bootmem_free_bytes(&bm),
			 16 * MIB - 4 * 4096 - 4096);
	assert_int_equal(mmk_bootmem_alloc(&bm, 32 * MIB, 4096, &p),
			 MMK_ENOMEM);
	/* bad input */
	assert_int_equal(mmk_bootmem_alloc(&bm, 0, 4096, &p), MMK_EWRAP);
	assert_int_equal(mmk_bootmem_alloc(&bm, 4096, 3, &p), MMK_EINVAL);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE + MIB), MIB),
			 MMK_EEXIST);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(~0ull - 4095), 8192),
			 MMK_EWRAP);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE + 100), 100),
			 MMK_EINVAL);
	assert_int_equal(mmk_bootmem_reserve(&bm, mmk_pa(5), 0), MMK_EWRAP);
}

static void bootmem_leftover_goes_to_buddy_and_closes(void **state)
{
	(void)state;
	struct mmk_bootmem bm;
	mmk_paddr_t early, p;
	mmk_bootmem_init(&bm);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE), 64 * MIB), 0);
	assert_int_equal(mmk_bootmem_alloc(&bm, 3 * 4096, 4096, &early), 0);
	uint64_t left = mmk_bootmem_free_bytes(&bm);
	assert_int_equal(mmk_frames_init(fa, &bm), 0);
	struct mmk_frame_stats st;
	mmk_frames_stats(fa, &st);
	/* everything left but the metadata (16 bytes per page) */
	uint64_t meta = MMK_ALIGN_UP((64 * MIB / 4096) * 16, 4096);
	assert_int_equal(st.total_pages * 4096, left - meta);
	assert_int_equal(mmk_bootmem_alloc(&bm, 4096, 4096, &p), MMK_EBUSY);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE + GIB), MIB),
			 MMK_EBUSY);
	/* the early allocation is never handed out again */
	assert_int_equal(mmk_frame_free(fa, early), MMK_EBADFREE);
}

/* Tables that fill up, and allocators built from unusable input: refused
 * with their own code, nothing half done. */
static void bootmem_limits_and_bad_init_are_refused(void **state)
{
	(void)state;
	struct mmk_bootmem bm;
	mmk_paddr_t p;
	mmk_bootmem_init(&bm);
	assert_int_equal(mmk_frames_init(fa, &bm), MMK_EINVAL); /* no RAM */
	for (unsigned i = 0; i < MMK_FRAME_MAX_REGIONS; i++)
		assert_int_equal(mmk_bootmem_add_ram(
					 &bm, mmk_pa(BASE + i * 2 * MIB), MIB),
				 0);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE + GIB), MIB),
			 MMK_ERANGE);
	/* every other page of region 0 reserved: the list fills up */
	unsigned n = 0;
	int err;
	while ((err = mmk_bootmem_reserve(&bm, mmk_pa(BASE + n * 8192),
					  4096)) == 0)
		n++;
	assert_int_equal(err, MMK_ENOMEM);
	assert_int_equal(n, MMK_BOOTMEM_MAX_RANGES);
	uint64_t free_before = mmk_bootmem_free_bytes(&bm);
	/* an allocation would need a new reserved range: refused, and the
	 * free space is unchanged */
	assert_int_equal(mmk_bootmem_alloc(&bm, 4096, 2 * MIB, &p), MMK_ENOMEM);
	assert_int_equal(mmk_bootmem_free_bytes(&bm), free_before);
	/* merging into an existing range still works when full */
	assert_int_equal(mmk_bootmem_reserve(&bm, mmk_pa(BASE + 4096), 4096),
			 0);
	assert_int_equal(mmk_bootmem_free_bytes(&bm), free_before - 4096);

	/* closed (already taken over) bootmem cannot build a second one */
	mmk_hosted_bootmem(&bm);
	assert_int_equal(mmk_frames_init(fa, &bm), 0);
	assert_int_equal(mmk_frames_init(fa, &bm), MMK_EINVAL);
	/* queries on addresses that are not allocated blocks */
	assert_int_equal(mmk_frame_refcount(fa, mmk_pa(0x1000)), MMK_EBADFREE);
	assert_int_equal(mmk_frame_order(fa, mmk_pa(BASE + 8)), MMK_EBADFREE);
	assert_null(mmk_frame_meta(fa, mmk_pa(0x1000)));
}

/* -------------------------------------------------------------- buddy */

static void exhaustion_hands_out_only_ram_and_recovers(void **state)
{
	(void)state;
	init_layout();
	struct mmk_frame_stats st0, st;
	mmk_frames_stats(fa, &st0);
	uint64_t n = st0.total_pages;
	uint64_t *pas = malloc(n * sizeof(*pas));
	uint64_t got = 0;
	mmk_paddr_t p;
	/* mix of orders: take 2 MiB blocks until none, then pages */
	for (;;) {
		int err = mmk_frame_alloc(fa, 9, 0, &p);
		if (err == MMK_ENOMEM)
			break;
		assert_int_equal(err, 0);
		assert_true(in_ram(p.v, 2 * MIB));
		assert_false(hits_reserved(p.v, 2 * MIB));
		pas[got++] = p.v;
	}
	uint64_t big = got;
	for (;;) {
		int err = mmk_frame_alloc(fa, 0, 0, &p);
		if (err == MMK_ENOMEM)
			break;
		assert_int_equal(err, 0);
		assert_true(in_ram(p.v, 4096));
		assert_false(hits_reserved(p.v, 4096));
		pas[got++] = p.v;
	}
	assert_int_equal(big * 512 + (got - big), n);
	mmk_frames_stats(fa, &st);
	assert_int_equal(st.free_pages, 0);
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &p), MMK_ENOMEM);
	for (uint64_t i = 0; i < got; i++)
		assert_int_equal(mmk_frame_free(fa, mmk_pa(pas[i])), 0);
	mmk_frames_drain(fa);
	assert_int_equal(mmk_frames_check(fa), 0);
	mmk_frames_stats(fa, &st);
	assert_memory_equal(st.free_blocks, st0.free_blocks,
			    sizeof(st.free_blocks));
	assert_int_equal(mmk_frame_alloc(fa, 9, 0, &p), 0);
	free(pas);
}

static void every_order_is_naturally_aligned(void **state)
{
	(void)state;
	init_layout();
	for (unsigned order = 0; order <= MMK_FRAME_MAX_ORDER; order++) {
		mmk_paddr_t p;
		assert_int_equal(mmk_frame_alloc(fa, order, 0, &p), 0);
		uint64_t size = 4096ull << order;
		assert_int_equal(p.v % size, 0);
		assert_true(in_ram(p.v, size));
		assert_false(hits_reserved(p.v, size));
		assert_int_equal(mmk_frame_order(fa, p), (int)order);
		assert_int_equal(mmk_frame_free(fa, p), 0);
	}
	mmk_paddr_t p;
	assert_int_equal(mmk_frame_alloc(fa, MMK_FRAME_MAX_ORDER + 1, 0, &p),
			 MMK_EINVAL);
	assert_int_equal(mmk_frame_alloc(fa, 0, 0x80, &p), MMK_EINVAL);
	assert_int_equal(mmk_frames_check(fa), 0);
}

/*
 * After any random sequence of allocations and frees, freeing everything
 * leaves the free lists exactly as they started: full coalescing.
 */
static void random_sequences_coalesce_back_to_initial_state(void **state)
{
	(void)state;
	init_layout();
	struct mmk_frame_stats st0, st;
	mmk_frames_stats(fa, &st0);
	uint64_t seed = mmk_test_seed(0x5eed);
	enum { N = 4096 };
	uint64_t *live = calloc(N, sizeof(*live));
	unsigned *ord = calloc(N, sizeof(*ord));
	uint64_t pages = 0;
	long live0 = mmk_hosted_live_frames();
	for (int round = 0; round < 4; round++) {
		unsigned n = 0;
		for (int step = 0; step < 20000; step++) {
			uint64_t r = mmk_test_rand(&seed);
			if (n < N && (r & 1)) {
				unsigned order = (unsigned)((r >> 8) % 13);
				if (((r >> 20) & 15) == 0)
					order = (unsigned)((r >> 24) % 19);
				mmk_paddr_t p;
				int err = mmk_frame_alloc(fa, order, 0, &p);
				if (err == MMK_ENOMEM)
					continue;
				assert_int_equal(err, 0);
				assert_int_equal(p.v % (4096ull << order), 0);
				live[n] = p.v;
				ord[n++] = order;
				pages += 1ull << order;
			} else if (n) {
				unsigned i = (unsigned)((r >> 8) % n);
				assert_int_equal(
					mmk_frame_free(fa, mmk_pa(live[i])), 0);
				pages -= 1ull << ord[i];
				live[i] = live[--n];
				ord[i] = ord[n];
			}
			if (step % 5000 == 0) {
				mmk_frames_stats(fa, &st);
				assert_int_equal(st.allocated_pages, pages);
				assert_int_equal(mmk_hosted_live_frames() -
							 live0,
						 (long)pages);
			}
		}
		while (n) {
			n--;
			assert_int_equal(mmk_frame_free(fa, mmk_pa(live[n])),
					 0);
			pages -= 1ull << ord[n];
		}
		mmk_frames_drain(fa);
		assert_int_equal(mmk_frames_check(fa), 0);
		mmk_frames_stats(fa, &st);
		assert_memory_equal(st.free_blocks, st0.free_blocks,
				    sizeof(st.free_blocks));
		assert_int_equal(st.allocated_pages, 0);
	}
	assert_int_equal(mmk_hosted_live_frames(), live0);
	free(live);
	free(ord);
}

static void reference_counts_free_on_last_put(void **state)
{
	(void)state;
	init_layout();
	mmk_paddr_t p;
	assert_int_equal(mmk_frame_alloc(fa, 3, 0, &p), 0);
	assert_int_equal(mmk_frame_refcount(fa, p), 1);
	assert_int_equal(mmk_frame_get(fa, p), 0);
	assert_int_equal(mmk_frame_get(fa, p), 0);
	assert_int_equal(mmk_frame_refcount(fa, p), 3);
	assert_int_equal(mmk_frame_put(fa, p), 0);
	assert_int_equal(mmk_frame_put(fa, p), 0);
	assert_int_equal(mmk_frame_refcount(fa, p), 1);
	long live = mmk_hosted_live_frames();
	assert_int_equal(mmk_frame_put(fa, p), 1);
	assert_int_equal(mmk_hosted_live_frames(), live - 8);
	assert_int_equal(mmk_frame_refcount(fa, p), 0);
	/* going below zero is an error and changes nothing */
	long errs = mmk_hosted_log_errors();
	assert_int_equal(mmk_frame_put(fa, p), MMK_EDOUBLEFREE);
	assert_int_equal(mmk_frame_get(fa, p), MMK_EDOUBLEFREE);
	assert_true(mmk_hosted_log_errors() > errs);
	assert_int_equal(mmk_frames_check(fa), 0);
}

/*
 * mmk_frame_split: an order-9 block becomes 512 order-0 blocks, each with
 * the block's count; each is put on its own; once all are free (and the
 * caches drained) the lists are exactly as before: the pages merged back.
 * Bad input changes nothing.
 */
static void split_gives_each_page_the_block_count(void **state)
{
	(void)state;
	init_layout();
	mmk_frames_drain(fa);
	struct mmk_frame_stats st0, st;
	mmk_frames_stats(fa, &st0);
	long live = mmk_hosted_live_frames();
	mmk_paddr_t p, q;
	assert_int_equal(mmk_frame_alloc(fa, 9, 0, &p), 0);
	assert_int_equal(mmk_frame_get(fa, p), 0); /* count 2 */
	/* refused: wrong order, not a head, a free page; nothing changed */
	long errs = mmk_hosted_log_errors();
	assert_int_equal(mmk_frame_split(fa, p, 8, 0), MMK_EINVAL);
	assert_int_equal(mmk_frame_split(fa, p, 9, 10), MMK_EINVAL);
	assert_int_equal(
		mmk_frame_split(fa, mmk_pa_add(p, MMK_PAGE_SIZE), 9, 0),
		MMK_EBADFREE);
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &q), 0);
	assert_int_equal(mmk_frame_free(fa, q), 0);
	assert_int_equal(mmk_frame_split(fa, q, 0, 0), MMK_EDOUBLEFREE);
	assert_true(mmk_hosted_log_errors() > errs);
	assert_int_equal(mmk_frame_order(fa, p), 9);
	assert_int_equal(mmk_frame_refcount(fa, p), 2);
	assert_int_equal(mmk_hosted_live_frames(), live + 512);
	/* the split */
	assert_int_equal(mmk_frame_split(fa, p, 9, 9), 0); /* no-op */
	assert_int_equal(mmk_frame_order(fa, p), 9);
	/* in two steps: 9 -> 4 (32 blocks), then the one at 5 pages -> 0 */
	assert_int_equal(mmk_frame_split(fa, p, 9, 4), 0);
	assert_int_equal(mmk_frame_order(fa, mmk_pa_add(p, 16 * MMK_PAGE_SIZE)),
			 4);
	assert_int_equal(
		mmk_frame_refcount(fa, mmk_pa_add(p, 16 * MMK_PAGE_SIZE)), 2);
	assert_int_equal(
		mmk_frame_split(fa, mmk_pa_add(p, 5 * MMK_PAGE_SIZE), 4, 0),
		MMK_EBADFREE); /* inside a piece */
	assert_int_equal(mmk_hosted_live_frames(), live + 512);
	assert_int_equal(mmk_frames_check(fa), 0);
	for (unsigned i = 0; i < 512; i += 16)
		assert_int_equal(
			mmk_frame_split(
				fa,
				mmk_pa_add(p, (uint64_t)i << MMK_PAGE_SHIFT), 4,
				0),
			0);
	assert_int_equal(mmk_hosted_live_frames(), live + 512);
	assert_int_equal(mmk_frames_check(fa), 0);
	for (unsigned i = 0; i < 512; i++) {
		mmk_paddr_t x = mmk_pa_add(p, (uint64_t)i << MMK_PAGE_SHIFT);
		assert_int_equal(mmk_frame_order(fa, x), 0);
		assert_int_equal(mmk_frame_refcount(fa, x), 2);
	}
	/* order 0 splits to itself */
	assert_int_equal(
		mmk_frame_split(fa, mmk_pa_add(p, 5 * MMK_PAGE_SIZE), 0, 0), 0);
	/* each page is its own block now: put them one by one, out of
	 * order; the first put of each leaves one reference */
	for (unsigned i = 0; i < 512; i++) {
		mmk_paddr_t x = mmk_pa_add(p, (uint64_t)((i * 7) % 512)
						      << MMK_PAGE_SHIFT);
		assert_int_equal(mmk_frame_put(fa, x), 0);
	}
	assert_int_equal(mmk_hosted_live_frames(), live + 512);
	for (unsigned i = 0; i < 512; i++) {
		mmk_paddr_t x = mmk_pa_add(p, (uint64_t)i << MMK_PAGE_SHIFT);
		assert_int_equal(mmk_frame_put(fa, x), 1);
		assert_int_equal(mmk_frame_put(fa, x), MMK_EDOUBLEFREE);
		if (i == 100)
			assert_int_equal(mmk_frames_check(fa), 0);
	}
	assert_int_equal(mmk_hosted_live_frames(), live);
	mmk_frames_drain(fa);
	assert_int_equal(mmk_frames_check(fa), 0);
	mmk_frames_stats(fa, &st);
	assert_int_equal(st.free_pages, st0.free_pages);
	for (unsigned k = 0; k < MMK_FRAME_ORDERS; k++)
		assert_int_equal(st.free_blocks[k], st0.free_blocks[k]);
	/* and the block comes back whole */
	mmk_paddr_t again;
	assert_int_equal(mmk_frame_alloc(fa, 9, 0, &again), 0);
	assert_int_equal(mmk_frame_free(fa, again), 0);
}

static void bad_frees_are_reported_and_change_nothing(void **state)
{
	(void)state;
	init_layout();
	mmk_paddr_t p, q;
	assert_int_equal(mmk_frame_alloc(fa, 2, 0, &p), 0);
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &q), 0);
	struct mmk_frame_stats st0, st;
	mmk_frames_stats(fa, &st0);
	long errs = mmk_hosted_log_errors();
	/* a hole, a reserved frame, outside all RAM */
	assert_int_equal(mmk_frame_free(fa, mmk_pa(BASE + 200 * MIB)),
			 MMK_EBADFREE);
	assert_int_equal(mmk_frame_free(fa, mmk_pa(BASE + 64 * MIB)),
			 MMK_EBADFREE);
	assert_int_equal(mmk_frame_free(fa, mmk_pa(0x1000)), MMK_EBADFREE);
	/* inside a block, unaligned */
	assert_int_equal(mmk_frame_free(fa, mmk_pa_add(p, 4096)), MMK_EBADFREE);
	assert_int_equal(mmk_frame_free(fa, mmk_pa_add(p, 8)), MMK_EBADFREE);
	/* a page never handed out (inside a free buddy block) */
	assert_int_equal(mmk_frame_free(fa, mmk_pa(BASE + 2 * GIB + 512 * MIB)),
			 MMK_EBADFREE);
	assert_int_equal(mmk_hosted_log_errors(), errs + 6);
	mmk_frames_stats(fa, &st);
	assert_memory_equal(&st, &st0, sizeof(st));
	/* double free: order 0 (lands in the per-CPU cache) and order 2 */
	assert_int_equal(mmk_frame_free(fa, q), 0);
	assert_int_equal(mmk_frame_free(fa, q), MMK_EDOUBLEFREE);
	assert_int_equal(mmk_frame_free(fa, p), 0);
	assert_int_equal(mmk_frame_free(fa, p), MMK_EDOUBLEFREE);
	/* once merged into a larger free block, q is still a double free */
	mmk_frames_drain(fa);
	int err = mmk_frame_free(fa, q);
	assert_true(err == MMK_EDOUBLEFREE || err == MMK_EBADFREE);
	assert_int_equal(err, MMK_EDOUBLEFREE);
	assert_int_equal(mmk_frames_check(fa), 0);
}

static void injected_failures_fail_cleanly(void **state)
{
	(void)state;
	init_layout();
	struct mmk_frame_stats st0, st;
	mmk_frames_stats(fa, &st0);
	mmk_paddr_t p;
	mmk_hosted_fail_nth(MMK_FAIL_FRAME, 3);
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &p), 0);
	assert_int_equal(mmk_frame_free(fa, p), 0);
	assert_int_equal(mmk_frame_alloc(fa, 5, 0, &p), 0);
	assert_int_equal(mmk_frame_free(fa, p), 0);
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &p), MMK_ENOMEM);
	assert_int_equal(mmk_hosted_injected(MMK_FAIL_FRAME), 1);
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &p), 0);
	assert_int_equal(mmk_frame_free(fa, p), 0);
	mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
	for (unsigned o = 0; o <= MMK_FRAME_MAX_ORDER; o++)
		assert_int_equal(mmk_frame_alloc(fa, o, MMK_FRAME_ZERO, &p),
				 MMK_ENOMEM);
	mmk_hosted_fail_off();
	mmk_frames_drain(fa);
	mmk_frames_stats(fa, &st);
	assert_memory_equal(st.free_blocks, st0.free_blocks,
			    sizeof(st.free_blocks));
	assert_int_equal(mmk_frames_check(fa), 0);
}

static void zeroed_allocation_clears_stale_data(void **state)
{
	(void)state;
	struct mmk_bootmem bm;
	mmk_hosted_bootmem(&bm);
	assert_int_equal(mmk_frames_init(fa, &bm), 0);
	for (unsigned order = 0; order <= 4; order++) {
		mmk_paddr_t p, q;
		assert_int_equal(mmk_frame_alloc(fa, order, 0, &p), 0);
		memset(mmk_phys_to_virt(p), 0xa5, 4096u << order);
		assert_int_equal(mmk_frame_free(fa, p), 0);
		assert_int_equal(mmk_frame_alloc(fa, order, MMK_FRAME_ZERO, &q),
				 0);
		assert_int_equal(q.v,
				 p.v); /* LIFO: the dirty block came back */
		const unsigned char *b = mmk_phys_to_virt(q);
		for (size_t i = 0; i < (4096u << order); i++)
			assert_int_equal(b[i], 0);
		assert_int_equal(mmk_frame_free(fa, q), 0);
	}
	/* physical and virtual addresses differ in the hosted arena */
	assert_true((uintptr_t)mmk_hosted_arena() != BASE);
	mmk_hosted_discard();
}

/* ------------------------------------------------ errors, one by one */

/* The same RAM, reserved ranges and state (slots past the counts aside). */
static void assert_bootmem_equal(const struct mmk_bootmem *a,
				 const struct mmk_bootmem *b)
{
	assert_int_equal(a->nram, b->nram);
	assert_memory_equal(a->ram, b->ram, a->nram * sizeof(a->ram[0]));
	assert_int_equal(a->nresv, b->nresv);
	assert_memory_equal(a->resv, b->resv, a->nresv * sizeof(a->resv[0]));
	assert_int_equal(a->closed, b->closed);
}

static void strerror_gives_a_message_and_a_name_per_code(void **state)
{
	(void)state;
	for (int e = 0; e > -MMK_ERR_COUNT_; e--) {
		const char *msg = mmk_strerror(e), *name = mmk_strerror_name(e);
		assert_non_null(msg);
		assert_non_null(name);
		assert_string_not_equal(name, "MMK_E?");
		assert_int_equal(strncmp(name, "MMK_", 4), 0);
		assert_int_not_equal(strncmp(msg, "MMK_", 4), 0);
		assert_true(strlen(msg) > 3 && strlen(msg) < 40);
		for (int o = 0; o > e; o--) { /* every one its own */
			assert_string_not_equal(msg, mmk_strerror(o));
			assert_string_not_equal(name, mmk_strerror_name(o));
		}
	}
	assert_string_equal(mmk_strerror_name(MMK_ENOMEM), "MMK_ENOMEM");
	assert_string_equal(mmk_strerror(MMK_ENOMEM), "out of memory");
	assert_string_equal(mmk_strerror(MMK_OK), "success");
	assert_string_equal(mmk_strerror(1),
			    "success"); /* a result, no error */
	assert_string_equal(mmk_strerror_name(1), "MMK_E?");
	assert_string_equal(mmk_strerror_name(-MMK_ERR_COUNT_), "MMK_E?");
	assert_string_equal(mmk_strerror(-1000), "unknown error");
}

/* Every bootmem error the header lists, each leaving the tables as they
 * were. */
static void
bootmem_errors_are_the_documented_ones_and_change_nothing(void **state)
{
	(void)state;
	struct mmk_bootmem bm, copy;
	mmk_paddr_t p = mmk_pa(0x1234);
	mmk_bootmem_init(&bm);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE), 16 * MIB), 0);
	assert_int_equal(mmk_bootmem_reserve(&bm, mmk_pa(BASE), 4096), 0);
	memcpy(&copy, &bm, sizeof(bm));
	/* add_ram */
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE + GIB), 0),
			 MMK_EWRAP);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(~0ull - 4095), 8192),
			 MMK_EWRAP);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE + GIB + 1), 4096),
			 MMK_EINVAL);
	assert_int_equal(
		mmk_bootmem_add_ram(&bm, mmk_pa(BASE + 15 * MIB), 2 * MIB),
		MMK_EEXIST); /* overlaps the end of the first range */
	/* reserve */
	assert_int_equal(mmk_bootmem_reserve(&bm, mmk_pa(BASE), 0), MMK_EWRAP);
	assert_int_equal(mmk_bootmem_reserve(&bm, mmk_pa(~0ull), 2), MMK_EWRAP);
	/* alloc: a size that wraps when rounded up to a page is no empty
	 * reservation at address 0 or anywhere */
	assert_int_equal(mmk_bootmem_alloc(&bm, 0, 4096, &p), MMK_EWRAP);
	assert_int_equal(mmk_bootmem_alloc(&bm, UINT64_MAX, 4096, &p),
			 MMK_EWRAP);
	assert_int_equal(mmk_bootmem_alloc(&bm, UINT64_MAX - 4094, 1, &p),
			 MMK_EWRAP);
	assert_int_equal(mmk_bootmem_alloc(&bm, UINT64_MAX - 4095, 1, &p),
			 MMK_ENOMEM); /* rounds to itself: no wrap, no fit */
	assert_int_equal(mmk_bootmem_alloc(&bm, 4096, 0, &p), MMK_EINVAL);
	assert_int_equal(mmk_bootmem_alloc(&bm, 4096, 1ull << 63, &p),
			 MMK_ENOMEM);
	assert_int_equal(p.v, 0x1234); /* never written on error */
	assert_bootmem_equal(&bm, &copy);
	/* after the take-over: EBUSY from all three */
	mmk_hosted_bootmem(&bm);
	assert_int_equal(mmk_frames_init(fa, &bm), 0);
	memcpy(&copy, &bm, sizeof(bm));
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE + 2 * GIB), MIB),
			 MMK_EBUSY);
	assert_int_equal(mmk_bootmem_reserve(&bm, mmk_pa(BASE), 4096),
			 MMK_EBUSY);
	assert_int_equal(mmk_bootmem_alloc(&bm, 4096, 4096, &p), MMK_EBUSY);
	assert_bootmem_equal(&bm, &copy);
}

/*
 * mmk_frames_init fails with each documented code and leaves the boot
 * allocator exactly as it found it: metadata carved for earlier regions
 * is given back, so the boot allocator can still hand out its first page.
 */
static void failed_init_gives_back_what_it_took(void **state)
{
	(void)state;
	struct mmk_bootmem bm, copy;
	mmk_paddr_t p;
	/* ENOMEM on the second region: region 0 (1 MiB) holds its own 4 KiB
	 * of metadata, not region 1's 2 MiB; region 1 is all reserved. */
	mmk_bootmem_init(&bm);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE), MIB), 0);
	assert_int_equal(
		mmk_bootmem_add_ram(&bm, mmk_pa(BASE + 16 * MIB), 512 * MIB),
		0);
	assert_int_equal(
		mmk_bootmem_reserve(&bm, mmk_pa(BASE + 16 * MIB), 512 * MIB),
		0);
	memcpy(&copy, &bm, sizeof(bm));
	uint64_t free0 = mmk_bootmem_free_bytes(&bm);
	assert_int_equal(mmk_frames_init(fa, &bm), MMK_ENOMEM);
	assert_bootmem_equal(&bm, &copy);
	assert_int_equal(mmk_bootmem_free_bytes(&bm), free0);
	assert_int_equal(mmk_bootmem_alloc(&bm, 4096, 4096, &p), 0);
	assert_int_equal(p.v, BASE); /* region 0's metadata page is back */

	/* The same when region 0's metadata merged with a reserved range on
	 * each side (the undo splits them again). */
	mmk_bootmem_init(&bm);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE), MIB), 0);
	assert_int_equal(
		mmk_bootmem_add_ram(&bm, mmk_pa(BASE + 16 * MIB), 512 * MIB),
		0);
	assert_int_equal(mmk_bootmem_reserve(&bm, mmk_pa(BASE), 4096), 0);
	assert_int_equal(mmk_bootmem_reserve(&bm, mmk_pa(BASE + 8192), 4096),
			 0);
	assert_int_equal(
		mmk_bootmem_reserve(&bm, mmk_pa(BASE + 16 * MIB), 512 * MIB),
		0);
	memcpy(&copy, &bm, sizeof(bm));
	assert_int_equal(mmk_frames_init(fa, &bm), MMK_ENOMEM);
	assert_bootmem_equal(&bm, &copy);

	/* ERANGE: a region of 2^32 pages; nothing is carved at all */
	mmk_bootmem_init(&bm);
	assert_int_equal(mmk_bootmem_add_ram(&bm, mmk_pa(BASE), 64 * MIB), 0);
	assert_int_equal(
		mmk_bootmem_add_ram(&bm, mmk_pa(1ull << 48), 4096ull << 32), 0);
	memcpy(&copy, &bm, sizeof(bm));
	assert_int_equal(mmk_frames_init(fa, &bm), MMK_ERANGE);
	assert_bootmem_equal(&bm, &copy);

	/* EINVAL: a linear-map offset that is not page-aligned */
	mmk_hosted_bootmem(&bm);
	memcpy(&copy, &bm, sizeof(bm));
	uintptr_t off = mmk_hal_pv_offset;
	mmk_hal_pv_offset = off + 8;
	int err = mmk_frames_init(fa, &bm);
	mmk_hal_pv_offset = off;
	assert_int_equal(err, MMK_EINVAL);
	assert_bootmem_equal(&bm, &copy);
	/* and with everything right it works on the same bm */
	assert_int_equal(mmk_frames_init(fa, &bm), 0);
	assert_int_equal(mmk_frames_check(fa), 0);
}

/* Two order-0 frames that are buddies, the upper one returned. */
static mmk_paddr_t alloc_upper_buddy(mmk_paddr_t *lower)
{
	mmk_paddr_t a, b;
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &a), 0);
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &b), 0);
	assert_int_equal(a.v ^ b.v, 4096); /* a fresh cache: neighbours */
	*lower = a.v < b.v ? a : b;
	return a.v < b.v ? b : a;
}

/*
 * A second free of a frame whose buddy merged it away (it now reads as an
 * inner frame of a larger free block) is a double free, as it is before
 * the merge; a page inside a free block that was never handed out stays a
 * bad free.  Both refcount 0: they are free.
 */
static void double_free_after_merge_is_still_a_double_free(void **state)
{
	(void)state;
	init_layout();
	/* a larger block: its head once allocated, its inner pages never */
	mmk_paddr_t p;
	assert_int_equal(mmk_frame_alloc(fa, 2, 0, &p), 0);
	assert_int_equal(mmk_frame_free(fa, p), 0);
	assert_int_equal(mmk_frame_free(fa, p), MMK_EDOUBLEFREE);
	assert_int_equal(mmk_frame_free(fa, mmk_pa_add(p, 4096)), MMK_EBADFREE);
	assert_int_equal(mmk_frame_refcount(fa, mmk_pa_add(p, 4096)), 0);
	mmk_paddr_t lo, hi = alloc_upper_buddy(&lo);
	assert_int_equal(mmk_frame_free(fa, hi), 0);
	assert_int_equal(mmk_frame_free(fa, lo), 0);
	assert_int_equal(mmk_frame_refcount(fa, hi), 0); /* cached */
	mmk_frames_drain(fa);
	assert_int_equal(mmk_frame_meta(fa, hi)->state, MMK_FS_TAIL);
	struct mmk_frame_stats st0, st;
	mmk_frames_stats(fa, &st0);
	long errs = mmk_hosted_log_errors();
	assert_int_equal(mmk_frame_free(fa, hi), MMK_EDOUBLEFREE);
	assert_int_equal(mmk_frame_put(fa, hi), MMK_EDOUBLEFREE);
	assert_int_equal(mmk_frame_get(fa, hi), MMK_EDOUBLEFREE);
	assert_int_equal(mmk_frame_order(fa, hi), MMK_EDOUBLEFREE);
	assert_int_equal(mmk_frame_refcount(fa, hi), 0);
	assert_int_equal(mmk_hosted_log_errors(), errs + 3);
	/* never handed out: inside the top free block of region 2 */
	mmk_paddr_t fresh = mmk_pa(BASE + 2 * GIB + 512 * MIB);
	assert_int_equal(mmk_frame_free(fa, fresh), MMK_EBADFREE);
	assert_int_equal(mmk_frame_refcount(fa, fresh), 0);
	assert_int_equal(mmk_frame_order(fa, fresh), MMK_EBADFREE);
	mmk_frames_stats(fa, &st);
	assert_memory_equal(&st, &st0, sizeof(st));
	/* handed out again, the frame is a plain allocated block */
	mmk_paddr_t lo2, hi2 = alloc_upper_buddy(&lo2);
	assert_int_equal(mmk_frame_refcount(fa, hi2), 1);
	assert_int_equal(mmk_frame_free(fa, hi2), 0);
	assert_int_equal(mmk_frame_free(fa, lo2), 0);
	assert_int_equal(mmk_frames_check(fa), 0);
}

/* The queries and reference counting, each error the header lists. */
static void reference_errors_are_the_documented_ones(void **state)
{
	(void)state;
	init_layout();
	mmk_paddr_t p, q;
	assert_int_equal(mmk_frame_alloc(fa, 1, 0, &p), 0);
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &q), 0);
	struct mmk_frame *m = mmk_frame_meta(fa, p);
	/* refcount: allocated head, inner frame, reserved, hole, unaligned */
	assert_int_equal(mmk_frame_refcount(fa, p), 1);
	assert_int_equal(mmk_frame_refcount(fa, mmk_pa_add(p, 4096)),
			 MMK_EBADFREE);
	assert_int_equal(mmk_frame_refcount(fa, mmk_pa(BASE + 64 * MIB)),
			 MMK_EBADFREE);
	assert_int_equal(mmk_frame_refcount(fa, mmk_pa(BASE + 200 * MIB)),
			 MMK_EBADFREE);
	assert_int_equal(mmk_frame_refcount(fa, mmk_pa_add(p, 8)),
			 MMK_EBADFREE);
	/* get: what put refuses, get refuses */
	assert_int_equal(mmk_frame_get(fa, mmk_pa(BASE + 200 * MIB)),
			 MMK_EBADFREE);
	assert_int_equal(mmk_frame_get(fa, mmk_pa_add(p, 4096)), MMK_EBADFREE);
	assert_int_equal(mmk_frame_tryget(fa, mmk_pa_add(p, 4096)),
			 MMK_EBADFREE);
	/* tryget: a free block is EAGAIN (its reader looks again) */
	mmk_paddr_t z;
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &z), 0);
	assert_int_equal(mmk_frame_tryget(fa, z), 0);
	assert_int_equal(mmk_frame_refcount(fa, z), 2);
	assert_int_equal(mmk_frame_put(fa, z), 0);
	assert_int_equal(mmk_frame_put(fa, z), 1);
	assert_int_equal(mmk_frame_tryget(fa, z), MMK_EAGAIN);
	assert_int_equal(mmk_frame_refcount(fa, z), 0);
	assert_int_equal(mmk_frame_refcount(fa, p), 1);
	/* order */
	assert_int_equal(mmk_frame_order(fa, p), 1);
	assert_int_equal(mmk_frame_order(fa, mmk_pa_add(p, 4096)),
			 MMK_EBADFREE);
	/* a count already at zero (what a racing last put leaves) */
	atomic_store(&m->ref, 0);
	assert_int_equal(mmk_frame_put(fa, p), MMK_EREFCOUNT);
	assert_int_equal(mmk_frame_free(fa, p), MMK_EREFCOUNT);
	assert_int_equal(mmk_frame_get(fa, p), MMK_EREFCOUNT);
	assert_int_equal(mmk_frame_tryget(fa, p), MMK_EAGAIN); /* quietly */
	assert_int_equal(atomic_load(&m->ref), 0);
	/* a count that would overflow */
	atomic_store(&m->ref, UINT32_MAX);
	assert_int_equal(mmk_frame_get(fa, p), MMK_EREFCOUNT);
	assert_int_equal(mmk_frame_tryget(fa, p), MMK_EREFCOUNT);
	assert_int_equal(mmk_frame_refcount(fa, p), UINT32_MAX);
	atomic_store(&m->ref, 2);
	/* put says whether it freed; free says only that it worked */
	assert_int_equal(mmk_frame_free(fa, p), 0); /* one reference left */
	assert_int_equal(mmk_frame_refcount(fa, p), 1);
	assert_int_equal(mmk_frame_put(fa, p), 1);
	assert_int_equal(mmk_frame_order(fa, p), MMK_EDOUBLEFREE);
	assert_int_equal(mmk_frame_put(fa, q), 1);
	assert_int_equal(mmk_frame_get(fa, q), MMK_EDOUBLEFREE); /* cached */
	assert_int_equal(mmk_frame_order(fa, q), MMK_EDOUBLEFREE);
	assert_int_equal(mmk_frames_check(fa), 0);
}

/* put_unless_last: each error of mmk_frame_put, nothing changed (counts,
 * the allocator's counters); and it never frees. */
static void put_unless_last_errors_change_nothing(void **state)
{
	(void)state;
	init_layout();
	mmk_paddr_t p, q;
	assert_int_equal(mmk_frame_alloc(fa, 1, 0, &p), 0);
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &q), 0);
	assert_int_equal(mmk_frame_free(fa, q), 0);
	mmk_frames_drain(fa);
	struct mmk_frame *m = mmk_frame_meta(fa, p);
	struct mmk_frame_stats st0, st;
	mmk_frames_stats(fa, &st0);
	long errs = mmk_hosted_log_errors();
	/* EBADFREE: inner frame, unaligned, reserved, hole */
	assert_int_equal(mmk_frame_put_unless_last(fa, mmk_pa_add(p, 4096)),
			 MMK_EBADFREE);
	assert_int_equal(mmk_frame_put_unless_last(fa, mmk_pa_add(p, 8)),
			 MMK_EBADFREE);
	assert_int_equal(mmk_frame_put_unless_last(fa, mmk_pa(BASE + 64 * MIB)),
			 MMK_EBADFREE);
	assert_int_equal(
		mmk_frame_put_unless_last(fa, mmk_pa(BASE + 200 * MIB)),
		MMK_EBADFREE);
	/* EDOUBLEFREE: a block freed (and merged back) */
	assert_int_equal(mmk_frame_put_unless_last(fa, q), MMK_EDOUBLEFREE);
	/* EREFCOUNT: a count already at zero */
	atomic_store(&m->ref, 0);
	assert_int_equal(mmk_frame_put_unless_last(fa, p), MMK_EREFCOUNT);
	assert_int_equal(atomic_load(&m->ref), 0);
	atomic_store(&m->ref, 1);
	assert_true(mmk_hosted_log_errors() > errs);
	mmk_frames_stats(fa, &st);
	assert_memory_equal(&st, &st0, sizeof(st));
	/* the last reference is kept, one of two is dropped */
	assert_int_equal(mmk_frame_put_unless_last(fa, p), 0);
	assert_int_equal(mmk_frame_refcount(fa, p), 1);
	assert_int_equal(mmk_frame_get(fa, p), 0);
	assert_int_equal(mmk_frame_put_unless_last(fa, p), 1);
	assert_int_equal(mmk_frame_refcount(fa, p), 1);
	assert_int_equal(mmk_frame_put(fa, p), 1);
	assert_int_equal(mmk_frames_check(fa), 0);
}

/* The checker reports a broken invariant (EINVAL) and passes once it is
 * repaired. */
static void check_catches_a_broken_free_list(void **state)
{
	(void)state;
	init_layout();
	/* region 2 starts 1 GiB-aligned: one free block of the top order */
	struct mmk_frame *m = mmk_frame_meta(fa, mmk_pa(BASE + 2 * GIB));
	assert_int_equal(m->state, MMK_FS_FREE);
	assert_int_equal(m->order, MMK_FRAME_MAX_ORDER);
	long errs = mmk_hosted_log_errors();
	m->order = MMK_FRAME_MAX_ORDER - 1;
	assert_int_equal(mmk_frames_check(fa), MMK_EINVAL);
	assert_true(mmk_hosted_log_errors() > errs);
	m->order = MMK_FRAME_MAX_ORDER;
	assert_int_equal(mmk_frames_check(fa), MMK_OK);
}

/* Draining one CPU's cache: what it held, once; a bad CPU id refused. */
static void drain_cpu_returns_what_the_cache_held(void **state)
{
	(void)state;
	init_layout();
	struct mmk_frame_stats st0, st;
	mmk_frames_stats(fa, &st0);
	unsigned me = mmk_hal_cpu_id();
	assert_int_equal(mmk_frames_drain_cpu(fa, MMK_CFG_MAX_CPUS),
			 MMK_EINVAL);
	assert_int_equal(mmk_frames_drain_cpu(fa, me), 0);
	mmk_paddr_t p[5];
	for (int i = 0; i < 5; i++)
		assert_int_equal(mmk_frame_alloc(fa, 0, 0, &p[i]), 0);
	/* a refill took a batch; 5 of it are out */
	assert_int_equal(mmk_frames_drain_cpu(fa, me), MMK_FRAME_PCP_BATCH - 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(mmk_frame_free(fa, p[i]), 0);
	assert_int_equal(mmk_frames_reclaim(fa), 5);
	assert_int_equal(mmk_frames_reclaim(fa), 0);
	assert_int_equal(mmk_frames_drain_cpu(fa, me), 0);
	mmk_frames_stats(fa, &st);
	assert_memory_equal(&st, &st0, sizeof(st));
	assert_int_equal(mmk_frames_check(fa), 0);
}

/* CPUs (threads) allocating and freeing at once, frames crossing CPUs. */
struct worker {
	uint64_t seed;
	uint64_t pas[256];
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	mmk_hosted_register_cpu();
	for (int round = 0; round < 2000; round++) {
		for (int i = 0; i < 256; i++) {
			mmk_paddr_t p;
			unsigned order = (mmk_test_rand(&w->seed) & 7) ? 0 : 1;
			if (mmk_frame_alloc(fa, order, 0, &p) != 0)
				abort();
			w->pas[i] = p.v;
		}
		for (int i = 0; i < 256; i++)
			if (mmk_frame_free(fa, mmk_pa(w->pas[i])) != 0)
				abort();
	}
	return NULL;
}

static void cpus_allocate_concurrently_without_loss(void **state)
{
	(void)state;
	init_layout();
	struct mmk_frame_stats st0, st;
	mmk_frames_stats(fa, &st0);
	/* As many CPUs as the host has cores: a user-space thread holding the
	 * (ticket) lock can be preempted, which a kernel CPU cannot. */
	enum { NT = 2 };
	pthread_t t[NT];
	struct worker w[NT];
	for (int i = 0; i < NT; i++) {
		w[i].seed = 1234 + (uint64_t)i;
		pthread_create(&t[i], NULL, worker_run, &w[i]);
	}
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	mmk_frames_drain(fa);
	assert_int_equal(mmk_frames_check(fa), 0);
	mmk_frames_stats(fa, &st);
	assert_int_equal(st.allocated_pages, 0);
	assert_memory_equal(st.free_blocks, st0.free_blocks,
			    sizeof(st.free_blocks));
}

/*
 * Memory pressure on several CPUs.  Two CPUs allocate, two others only
 * free, over a small allocator (16 MiB), steered step by step:
 *
 *   allocators take every frame     -> the count is the total, no repeats
 *   the other CPUs free them all    -> up to 63 frames each stay cached
 *   allocators take every frame     -> the total again: the cached frames
 *                                      were taken from the other CPUs
 *   allocators free their own, take every frame again -> the total
 *   the others free all; one big block is had without an explicit drain
 */
enum step { STEP_ALLOC_ALL, STEP_FREE_OWN, STEP_FREE_OTHERS, STEP_EXIT };

#define PRESSURE_MIB 16
#define PRESSURE_NA  2 /* allocating CPUs; as many freeing ones */

struct pressure_cpu {
	pthread_t t;
	unsigned index;
	uint64_t *pas; /* what this allocating CPU holds */
	uint64_t n;
	int err; /* the error that ended the last ALLOC_ALL */
};

static struct pressure {
	pthread_barrier_t start, done;
	enum step step;
	struct pressure_cpu cpu[2 * PRESSURE_NA];
} pr;

static void pressure_alloc_all(struct pressure_cpu *c)
{
	mmk_paddr_t p;
	int err;
	while ((err = mmk_frame_alloc(fa, 0, 0, &p)) == 0)
		c->pas[c->n++] = p.v;
	c->err = err;
}

static void pressure_free(struct pressure_cpu *owner)
{
	for (uint64_t i = 0; i < owner->n; i++)
		if (mmk_frame_free(fa, mmk_pa(owner->pas[i])) != 0)
			abort();
	owner->n = 0;
}

static void *pressure_run(void *arg)
{
	struct pressure_cpu *c = arg;
	bool allocator = c->index < PRESSURE_NA;
	mmk_hosted_register_cpu();
	for (;;) {
		pthread_barrier_wait(&pr.start);
		enum step step = pr.step;
		if (step == STEP_EXIT)
			return NULL;
		if (step == STEP_ALLOC_ALL && allocator)
			pressure_alloc_all(c);
		else if (step == STEP_FREE_OWN && allocator)
			pressure_free(c);
		else if (step == STEP_FREE_OTHERS && !allocator)
			pressure_free(&pr.cpu[c->index - PRESSURE_NA]);
		pthread_barrier_wait(&pr.done);
	}
}

static void pressure_step(enum step step)
{
	pr.step = step;
	pthread_barrier_wait(&pr.start);
	if (step != STEP_EXIT)
		pthread_barrier_wait(&pr.done);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* After an ALLOC_ALL: every frame handed out exactly once. */
static void pressure_check_all_out(uint64_t total)
{
	uint64_t *all = malloc(total * sizeof(*all)), n = 0;
	for (unsigned i = 0; i < PRESSURE_NA; i++) {
		struct pressure_cpu *c = &pr.cpu[i];
		assert_int_equal(c->err, MMK_ENOMEM);
		assert_true(n + c->n <= total);
		memcpy(all + n, c->pas, c->n * sizeof(*all));
		n += c->n;
	}
	assert_int_equal(n, total);
	qsort(all, n, sizeof(*all), cmp_u64);
	for (uint64_t i = 1; i < n; i++)
		assert_true(all[i - 1] < all[i]);
	free(all);
	struct mmk_frame_stats st;
	mmk_frames_stats(fa, &st);
	assert_int_equal(st.free_pages, 0);
	assert_int_equal(st.allocated_pages, total);
}

static void every_frame_comes_back_on_every_cpu(void **state)
{
	(void)state;
	struct mmk_bootmem bm;
	mmk_bootmem_init(&bm);
	assert_int_equal(
		mmk_bootmem_add_ram(&bm, mmk_pa(BASE), PRESSURE_MIB * MIB), 0);
	assert_int_equal(mmk_frames_init(fa, &bm), 0);
	struct mmk_frame_stats st0, st;
	mmk_frames_stats(fa, &st0);
	uint64_t total = st0.total_pages;
	unsigned top = MMK_FRAME_MAX_ORDER; /* the largest block there is */
	while (!st0.free_blocks[top])
		top--;
	pthread_barrier_init(&pr.start, NULL, 2 * PRESSURE_NA + 1);
	pthread_barrier_init(&pr.done, NULL, 2 * PRESSURE_NA + 1);
	for (unsigned i = 0; i < 2 * PRESSURE_NA; i++) {
		struct pressure_cpu *c = &pr.cpu[i];
		c->index = i;
		c->n = 0;
		c->pas = i < PRESSURE_NA ? malloc(total * sizeof(*c->pas))
					 : NULL;
		pthread_create(&c->t, NULL, pressure_run, c);
	}
	pressure_step(STEP_ALLOC_ALL);
	pressure_check_all_out(total);
	pressure_step(STEP_FREE_OTHERS);
	mmk_frames_stats(fa, &st);
	assert_int_equal(st.allocated_pages, 0);
	pressure_step(STEP_ALLOC_ALL);
	pressure_check_all_out(total);
	pressure_step(STEP_FREE_OWN);
	pressure_step(STEP_ALLOC_ALL);
	pressure_check_all_out(total);
	pressure_step(STEP_FREE_OTHERS);
	/* Frames sit in the freeing CPUs' caches: the largest block needs
	 * them back, and the allocation takes them itself. */
	mmk_paddr_t big;
	assert_int_equal(mmk_frame_alloc(fa, top, 0, &big), 0);
	assert_int_equal(mmk_frame_free(fa, big), 0);
	pressure_step(STEP_EXIT);
	for (unsigned i = 0; i < 2 * PRESSURE_NA; i++) {
		pthread_join(pr.cpu[i].t, NULL);
		free(pr.cpu[i].pas);
	}
	pthread_barrier_destroy(&pr.start);
	pthread_barrier_destroy(&pr.done);
	mmk_frames_drain(fa);
	assert_int_equal(mmk_frames_check(fa), 0);
	mmk_frames_stats(fa, &st);
	assert_memory_equal(&st, &st0, sizeof(st));
}

/* Other CPUs' caches drained while they allocate and free. */
static _Atomic int drainers_stop;

static void *drainer_run(void *arg)
{
	(void)arg;
	mmk_hosted_register_cpu();
	uint64_t seed = 99;
	while (!atomic_load(&drainers_stop)) {
		unsigned cpu = (unsigned)(mmk_test_rand(&seed) % 8);
		if (mmk_frames_drain_cpu(fa, cpu) < 0)
			abort();
		if ((mmk_test_rand(&seed) & 15) == 0)
			mmk_frames_drain(fa);
		struct mmk_frame_stats st;
		mmk_frames_stats(fa, &st);
		if (st.allocated_pages > st.total_pages)
			abort();
		mmk_hal_cpu_relax();
	}
	return NULL;
}

static void caches_drain_safely_while_their_cpus_run(void **state)
{
	(void)state;
	init_layout();
	struct mmk_frame_stats st0, st;
	mmk_frames_stats(fa, &st0);
	enum { NT = 2 };
	pthread_t t[NT], d;
	struct worker w[NT];
	atomic_store(&drainers_stop, 0);
	pthread_create(&d, NULL, drainer_run, NULL);
	for (int i = 0; i < NT; i++) {
		w[i].seed = 777 + (uint64_t)i;
		pthread_create(&t[i], NULL, worker_run, &w[i]);
	}
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	atomic_store(&drainers_stop, 1);
	pthread_join(d, NULL);
	mmk_frames_drain(fa);
	assert_int_equal(mmk_frames_check(fa), 0);
	mmk_frames_stats(fa, &st);
	assert_int_equal(st.allocated_pages, 0);
	assert_memory_equal(st.free_blocks, st0.free_blocks,
			    sizeof(st.free_blocks));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			bootmem_allocates_lowest_fit_and_respects_reserved,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			bootmem_leftover_goes_to_buddy_and_closes, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			bootmem_limits_and_bad_init_are_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			exhaustion_hands_out_only_ram_and_recovers, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			every_order_is_naturally_aligned, setup, teardown),
		cmocka_unit_test_setup_teardown(
			random_sequences_coalesce_back_to_initial_state, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			reference_counts_free_on_last_put, setup, teardown),
		cmocka_unit_test_setup_teardown(
			split_gives_each_page_the_block_count, setup, teardown),
		cmocka_unit_test_setup_teardown(
			bad_frees_are_reported_and_change_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(injected_failures_fail_cleanly,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			zeroed_allocation_clears_stale_data, setup, teardown),
		cmocka_unit_test_setup_teardown(
			cpus_allocate_concurrently_without_loss, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			strerror_gives_a_message_and_a_name_per_code, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			bootmem_errors_are_the_documented_ones_and_change_nothing,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			failed_init_gives_back_what_it_took, setup, teardown),
		cmocka_unit_test_setup_teardown(
			double_free_after_merge_is_still_a_double_free, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			reference_errors_are_the_documented_ones, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			put_unless_last_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			check_catches_a_broken_free_list, setup, teardown),
		cmocka_unit_test_setup_teardown(
			drain_cpu_returns_what_the_cache_held, setup, teardown),
		cmocka_unit_test_setup_teardown(
			every_frame_comes_back_on_every_cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(
			caches_drain_safely_while_their_cpus_run, setup,
			teardown),
	};
	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
