/* SPDX-License-Identifier: MIT */
/*
 * Kernel-space figures, ns per map+unmap pair, each beside the same work
 * done by the address-space layer alone on a plain space in the same run
 * (what kspace adds: the mapper lock, the reserve, the free-area search
 * over its window and the guard area):
 *
 *   kspace.ioremap      ioremap + iounmap of one device page
 *                       bound aspace map_linear + unmap of one page,
 *                       goal <= 2x
 *   kspace.vmalloc_64k  vmalloc + vfree of 64 KiB (16 frames)
 *                       bound aspace map_alloc(populate) + unmap of
 *                       64 KiB, goal <= 1.5x
 *
 * Both spaces are active on this CPU, so every unmap flushes (the hosted
 * HAL records it), as a kernel's would.
 */
#include "bench.h"

#include <mmk_hosted.h>
#include <mmkit/kspace.h>

#include <stdlib.h>

#define PAIRS 20000
#define BASE  0x100000000ull

static const enum mmk_pt_format_id fmts[] = {MMK_PT_X86_64_4L,
					     MMK_PT_RISCV_SV39};

static double ns_per(uint64_t t0, uint64_t n)
{
	return (double)(mmk_bench_now_ns() - t0) / (double)n;
}

static void report(const char *metric, const char *arch, double v, double bound,
		   double goal)
{
	struct mmk_bench_result r = {.metric = metric,
				     .arch = arch,
				     .n = PAIRS,
				     .value = v,
				     .unit = "ns/pair",
				     .bound = bound,
				     .goal = goal,
				     .goal_dir = -1};
	mmk_bench_report(&r);
}

static void bench_one(enum mmk_pt_format_id id, struct mmk_frames *fa)
{
	struct mmk_pt_info info;
	struct mmk_kspace_config cfg;
	static struct mmk_aspace plain;
	mmk_pt_format_info(id, &info);
	if (mmk_kspace_config_default(&cfg, id, 0, fa) || mmk_kspace_init(&cfg))
		abort();
	if (mmk_aspace_create(&plain, BASE, 1ull << 32, id, 0, fa))
		abort();
	mmk_aspace_activate(&plain);
	int reps = mmk_bench_reps();
	double io[8], iob[8], vm[8], vmb[8];
	for (int r = 0; r < reps; r++) {
		uint64_t t0 = mmk_bench_now_ns();
		for (int i = 0; i < PAIRS; i++) {
			mmk_vaddr_t va;
			if (mmk_ioremap(mmk_pa(0x10000000), 0x100,
					MMK_IO_DEVICE, &va) ||
			    mmk_iounmap(va))
				abort();
		}
		io[r] = ns_per(t0, PAIRS);
		t0 = mmk_bench_now_ns();
		for (int i = 0; i < PAIRS; i++)
			if (mmk_aspace_map_linear(
				    &plain, BASE, mmk_pa(0x10000000), 4096,
				    MMK_PT_RW | MMK_PT_MT_NORMAL) ||
			    mmk_aspace_unmap(&plain, BASE, 4096))
				abort();
		iob[r] = ns_per(t0, PAIRS);
		t0 = mmk_bench_now_ns();
		for (int i = 0; i < PAIRS; i++) {
			mmk_vaddr_t va;
			if (mmk_vmalloc(64 * MMK_KIB, &va) || mmk_vfree(va))
				abort();
		}
		vm[r] = ns_per(t0, PAIRS);
		t0 = mmk_bench_now_ns();
		for (int i = 0; i < PAIRS; i++)
			if (mmk_aspace_map_alloc(&plain, BASE, 64 * MMK_KIB,
						 MMK_PT_RW, true) ||
			    mmk_aspace_unmap(&plain, BASE, 64 * MMK_KIB))
				abort();
		vmb[r] = ns_per(t0, PAIRS);
	}
	report("kspace.ioremap", info.arch, mmk_bench_median(io, reps),
	       mmk_bench_median(iob, reps), 2.0);
	report("kspace.vmalloc_64k", info.arch, mmk_bench_median(vm, reps),
	       mmk_bench_median(vmb, reps), 1.5);
	mmk_aspace_destroy(&plain);
	if (mmk_kspace_destroy())
		abort();
}

MMK_BENCH(bench_kspace, 50)
{
	struct mmk_frames *fa = mmk_hosted_frames_new();
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++)
		bench_one(fmts[i], fa);
	mmk_hosted_frames_destroy(fa);
}
