/* SPDX-License-Identifier: MIT */
/*
 * Switching spaces and shooting down, each beside its bound measured in
 * the same run:
 *
 *   kspace.switch     deactivate one space, activate the other, ns per
 *                     switch; with ASIDs (12 bits, no flush) and without
 *                     (every switch flushes the CPU's entries of the
 *                     space it leaves); bound: the root write alone
 *                     (mmk_pt_activate), no goal
 *   kspace.shootdown  unmap of one populated page of a space active on 2
 *                     CPUs (the other a thread answering its mailbox),
 *                     ns per unmap, and the remote CPU's time in it;
 *                     bound: the same unmap with the space active on this
 *                     CPU only (a local flush)
 *
 * The hosted HAL's TLB is software (a mutex and a 64-entry scan per flush
 * or root write), so these measure mmkit's side plus that, not hardware
 * invalidation.
 */
#include "bench.h"

#include <mmk_hosted.h>
#include <mmkit/aspace.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define BASE	0x40000000ull
#define SIZE	(64 * MMK_MIB)
#define PG	4096ull
#define NSWITCH 200000
#define NUNMAP	20000

static struct mmk_frames *fa;

static void space_new(struct mmk_aspace *as)
{
	if (mmk_aspace_create(as, BASE, SIZE, MMK_PT_X86_64_4L, 0, fa))
		abort();
}

/* ns per switch between two fresh spaces, ASIDs of @bits (0: off). */
static double switch_ns(unsigned bits)
{
	static struct mmk_aspace a, b;
	if (mmk_tlb_asid_init(bits, 2))
		abort();
	space_new(&a);
	space_new(&b);
	mmk_aspace_activate(&a);
	uint64_t t0 = mmk_bench_now_ns();
	for (int i = 0; i < NSWITCH / 2; i++) {
		mmk_aspace_deactivate(&a);
		mmk_aspace_activate(&b);
		mmk_aspace_deactivate(&b);
		mmk_aspace_activate(&a);
	}
	double ns = (double)(mmk_bench_now_ns() - t0) / NSWITCH;
	mmk_aspace_deactivate(&a);
	mmk_aspace_destroy(&a);
	mmk_aspace_destroy(&b);
	return ns;
}

/* The root write alone, through the format (mmk_pt_activate): what a
 * switch costs with no bookkeeping at all. */
static double write_root_ns(void)
{
	static struct mmk_aspace a;
	space_new(&a);
	const struct mmk_pt *pt = mmk_aspace_pt(&a);
	uint64_t t0 = mmk_bench_now_ns();
	for (int i = 0; i < NSWITCH; i++)
		mmk_pt_activate(pt, (uint32_t)(i & 1) + 1);
	double ns = (double)(mmk_bench_now_ns() - t0) / NSWITCH;
	mmk_aspace_destroy(&a);
	return ns;
}

MMK_BENCH(bench_kspace_switch, 50)
{
	mmk_hosted_init(0);
	fa = mmk_hosted_frames_new();
	int reps = mmk_bench_reps();
	double with[8], without[8], bound[8];
	for (int r = 0; r < reps; r++) {
		with[r] = switch_ns(MMK_ASID_BITS_X86_64);
		without[r] = switch_ns(0);
		bound[r] = write_root_ns();
	}
	double b = mmk_bench_median(bound, reps);
	struct mmk_bench_result r1 = {.metric = "kspace.switch",
				      .arch = "asid",
				      .value = mmk_bench_median(with, reps),
				      .unit = "ns/switch",
				      .bound = b};
	mmk_bench_report(&r1);
	struct mmk_bench_result r2 = {.metric = "kspace.switch",
				      .arch = "no-asid",
				      .value = mmk_bench_median(without, reps),
				      .unit = "ns/switch",
				      .bound = b};
	mmk_bench_report(&r2);
	if (mmk_tlb_asid_init(0, 1))
		abort();
	mmk_hosted_frames_destroy(fa);
	fa = NULL;
}

/* ----------------------------------------------------------- shootdown */

static struct mmk_aspace sd;
static _Atomic int remote_state; /* 0 starting, 1 running it, 2 stop */

static void *remote_cpu(void *p)
{
	(void)p;
	mmk_hosted_register_cpu();
	mmk_hosted_ipi_serve(true);
	mmk_aspace_activate(&sd);
	atomic_store(&remote_state, 1);
	while (atomic_load(&remote_state) == 1)
		mmk_hosted_ipi_poll(); /* a CPU taking interrupts */
	mmk_aspace_deactivate(&sd);
	mmk_hosted_ipi_serve(false);
	return NULL;
}

/* ns per unmap of one populated page (the map again is not timed). */
static double unmap_one_ns(void)
{
	uint64_t total = 0;
	for (int i = 0; i < NUNMAP; i++) {
		mmk_vaddr_t va = BASE + (uint64_t)(i % 256) * PG;
		if (mmk_aspace_map_alloc(&sd, va, PG, MMK_PT_RW, true))
			abort();
		uint64_t t0 = mmk_bench_now_ns();
		if (mmk_aspace_unmap(&sd, va, PG))
			abort();
		total += mmk_bench_now_ns() - t0;
	}
	return (double)total / NUNMAP;
}

MMK_BENCH(bench_kspace_shootdown, 51)
{
	mmk_hosted_init(0);
	fa = mmk_hosted_frames_new();
	if (mmk_tlb_asid_init(MMK_ASID_BITS_X86_64, MMK_CFG_MAX_CPUS))
		abort();
	int reps = mmk_bench_reps();
	double two[8], one[8], remote[8];
	space_new(&sd);
	mmk_aspace_activate(&sd);
	/* first with the space on this CPU only, then on a second one (a
	 * CPU once in the cached mask stays there under ASIDs) */
	for (int r = 0; r < reps; r++)
		one[r] = unmap_one_ns();
	pthread_t th;
	atomic_store(&remote_state, 0);
	pthread_create(&th, NULL, remote_cpu, NULL);
	while (atomic_load(&remote_state) != 1)
		;
	unsigned rc = 0;
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++)
		if (c != mmk_hal_cpu_id() &&
		    mmk_cpumask_test(&sd.tlb.active, c))
			rc = c;
	for (int r = 0; r < reps; r++) {
		uint64_t s0 = mmk_hosted_tlb_serve_ns(rc);
		two[r] = unmap_one_ns();
		remote[r] = (double)(mmk_hosted_tlb_serve_ns(rc) - s0) / NUNMAP;
	}
	atomic_store(&remote_state, 2);
	pthread_join(th, NULL);
	mmk_aspace_deactivate(&sd);
	mmk_aspace_destroy(&sd);
	struct mmk_bench_result r = {.metric = "kspace.shootdown",
				     .n = 2,
				     .value = mmk_bench_median(two, reps),
				     .unit = "ns/unmap",
				     .bound = mmk_bench_median(one, reps)};
	r.extra[0].key = "remote_ns";
	r.extra[0].value = mmk_bench_median(remote, reps);
	mmk_bench_report(&r);
	printf("  (the remote CPU spent %.0f ns per unmap answering it)\n",
	       r.extra[0].value);
	if (mmk_tlb_asid_init(0, 1))
		abort();
	mmk_hosted_frames_destroy(fa);
	fa = NULL;
}
