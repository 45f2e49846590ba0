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
		assert_int_equal(mmk_frame_free(fa, mmk_pa(pas[i])), 1);
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
		assert_int_equal(mmk_frame_free(fa, p), 1);
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
					mmk_frame_free(fa, mmk_pa(live[i])), 1);
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
					 1);
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
	assert_int_equal(mmk_frame_free(fa, q), 1);
	assert_int_equal(mmk_frame_free(fa, q), MMK_EDOUBLEFREE);
	assert_int_equal(mmk_frame_free(fa, p), 1);
	assert_int_equal(mmk_frame_free(fa, p), MMK_EDOUBLEFREE);
	/* once merged into a larger free block, q reads as inside that block:
	 * still refused, as a free of an address never handed out */
	mmk_frames_drain(fa);
	int err = mmk_frame_free(fa, q);
	assert_true(err == MMK_EDOUBLEFREE || err == MMK_EBADFREE);
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
	assert_int_equal(mmk_frame_free(fa, p), 1);
	assert_int_equal(mmk_frame_alloc(fa, 5, 0, &p), 0);
	assert_int_equal(mmk_frame_free(fa, p), 1);
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &p), MMK_ENOMEM);
	assert_int_equal(mmk_hosted_injected(MMK_FAIL_FRAME), 1);
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &p), 0);
	assert_int_equal(mmk_frame_free(fa, p), 1);
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
		assert_int_equal(mmk_frame_free(fa, p), 1);
		assert_int_equal(mmk_frame_alloc(fa, order, MMK_FRAME_ZERO, &q),
				 0);
		assert_int_equal(q.v,
				 p.v); /* LIFO: the dirty block came back */
		const unsigned char *b = mmk_phys_to_virt(q);
		for (size_t i = 0; i < (4096u << order); i++)
			assert_int_equal(b[i], 0);
		assert_int_equal(mmk_frame_free(fa, q), 1);
	}
	/* physical and virtual addresses differ in the hosted arena */
	assert_true((uintptr_t)mmk_hosted_arena() != BASE);
	mmk_hosted_discard();
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
			if (mmk_frame_free(fa, mmk_pa(w->pas[i])) != 1)
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
			bad_frees_are_reported_and_change_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(injected_failures_fail_cleanly,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			zeroed_allocation_clears_stale_data, setup, teardown),
		cmocka_unit_test_setup_teardown(
			cpus_allocate_concurrently_without_loss, setup,
			teardown),
	};
	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
