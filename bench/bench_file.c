/* SPDX-License-Identifier: MIT */
/*
 * File mappings (hosted in-memory pager, every page in its cache):
 *
 *   aspace.file_fault   read faults over a 64 MiB private file mapping,
 *                       ns per page; n = 16 with fault-around (a page is
 *                       faulted only where the walk finds nothing, as the
 *                       hardware would), n = 1 without (one fault each)
 *                       bound: mmk_pt_map of one page (the entry the fault
 *                       must write), same pages, same run
 *                       peer linux.file_fault: a 64 MiB memfd in the page
 *                       cache, MAP_PRIVATE read one byte per page (Linux
 *                       faults around 64 KiB too)
 */
#include "bench.h"

#include <mmk_hosted.h>
#include <mmk_hosted_pager.h>
#include <mmkit/pager.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FSIZE  (64ull << 20)
#define FPAGES (FSIZE / 4096)
#define FBASE  0x100000000ull

static double ns_per(uint64_t t0, uint64_t n)
{
	return (double)(mmk_bench_now_ns() - t0) / (double)n;
}

/* Read every page of a fresh mapping; fault only where nothing is. */
static double file_faults(struct mmk_aspace *as, struct mmk_file *f)
{
	if (mmk_aspace_map_file(as, FBASE, FSIZE, MMK_PT_READ, f, 0, 0))
		abort();
	struct mmk_pt_leaf l;
	uint64_t t0 = mmk_bench_now_ns();
	for (uint64_t va = FBASE; va < FBASE + FSIZE; va += 4096)
		if (mmk_pt_lookup(mmk_aspace_pt(as), va, &l) &&
		    mmk_aspace_fault(as, va, MMK_ACCESS_READ))
			abort();
	double ns = ns_per(t0, FPAGES);
	if (mmk_aspace_unmap(as, FBASE, FSIZE))
		abort();
	return ns;
}

/* The bound: one single-page map per page into an empty table. */
static double map_bound(struct mmk_frames *fa, struct mmk_hosted_file *hf)
{
	struct mmk_pt pt;
	if (mmk_pt_create(&pt, MMK_PT_X86_64_4L, 0, fa))
		abort();
	uint64_t t0 = mmk_bench_now_ns();
	for (uint64_t i = 0; i < FPAGES; i++)
		if (mmk_pt_map(&pt, FBASE + i * 4096,
			       mmk_hosted_file_cache_pa(hf, i), 4096,
			       MMK_PT_READ, NULL))
			abort();
	double ns = ns_per(t0, FPAGES);
	struct mmk_tlb_gather g;
	mmk_tlb_gather_init(&g, NULL, 0);
	mmk_pt_unmap_region(&pt, FBASE, FSIZE, &g, NULL, NULL);
	mmk_tlb_gather_finish(&g);
	mmk_pt_destroy(&pt);
	return ns;
}

static double linux_file_fault(void)
{
	int fd = memfd_create("mmkit-bench", 0);
	if (fd < 0 || ftruncate(fd, (off_t)FSIZE))
		abort();
	char *buf = malloc(1 << 20);
	memset(buf, 'x', 1 << 20);
	for (uint64_t off = 0; off < FSIZE; off += 1 << 20)
		if (pwrite(fd, buf, 1 << 20, (off_t)off) != 1 << 20)
			abort();
	free(buf);
	volatile char *p = mmap(NULL, FSIZE, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		abort();
	uint64_t t0 = mmk_bench_now_ns();
	unsigned sum = 0;
	for (uint64_t off = 0; off < FSIZE; off += 4096)
		sum += (unsigned char)p[off];
	double ns = ns_per(t0, FPAGES);
	MMK_BENCH_SINK(sum);
	munmap((void *)p, FSIZE);
	close(fd);
	return ns;
}

MMK_BENCH(bench_file_fault, 45)
{
	int reps = mmk_bench_reps();
	double with[8], without[8], bound[8], lin[8];
	mmk_hosted_init(0);
	mmk_hosted_prefault();
	struct mmk_frames *fa = mmk_hosted_frames_new();
	struct mmk_hosted_file *hf = mmk_hosted_file_new(fa, FPAGES);
	struct mmk_file *f = mmk_hosted_file_file(hf);
	for (uint64_t i = 0; i < FPAGES; i++)
		if (mmk_hosted_file_cache(hf, i))
			abort();
	static struct mmk_aspace as;
	if (mmk_aspace_create(&as, FBASE, 2 * FSIZE, MMK_PT_X86_64_4L, 0, fa))
		abort();
	mmk_aspace_activate(&as);
	for (int r = 0; r < reps; r++) {
		f->around = MMK_FILE_AROUND_DEFAULT;
		with[r] = file_faults(&as, f);
		f->around = 0;
		without[r] = file_faults(&as, f);
		bound[r] = map_bound(fa, hf);
		lin[r] = linux_file_fault();
	}
	mmk_aspace_destroy(&as);
	mmk_hosted_file_destroy(hf);
	mmk_hosted_frames_destroy(fa);
	double b = mmk_bench_median(bound, reps);
	double l = mmk_bench_median(lin, reps);
	struct mmk_bench_result r = {.metric = "aspace.file_fault",
				     .arch = "x86_64",
				     .n = 16,
				     .value = mmk_bench_median(with, reps),
				     .unit = "ns/page",
				     .bound = b};
	r.extra[0].key = "linux.file_fault";
	r.extra[0].value = l;
	mmk_bench_report(&r);
	r.n = 1;
	r.value = mmk_bench_median(without, reps);
	mmk_bench_report(&r);
}
