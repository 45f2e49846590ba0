/* SPDX-License-Identifier: MIT */
/*
 * Linux's own cost for the kinds of work mmkit does, on this machine in
 * this run: references a reader knows, set beside mmkit's figures.
 * All over 1 GiB of anonymous memory, ns per 4 KiB page.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE  (1ull << 30)
#define PAGES (SIZE / 4096)

static char *map_anon(int extra)
{
	char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	/* No transparent huge pages: mmkit's figures are per 4 KiB page. */
	madvise(p, SIZE, MADV_NOHUGEPAGE);
	return p;
}

static void touch(char *p)
{
	for (uint64_t off = 0; off < SIZE; off += 4096)
		p[off] = 1;
}

static void report(const char *metric, double *v, int reps)
{
	struct mmk_bench_result r = {.metric = metric,
				     .value = mmk_bench_median(v, reps),
				     .unit = "ns/page"};
	mmk_bench_report(&r);
}

MMK_BENCH(bench_linux_populate_fault, 90)
{
	int reps = mmk_bench_reps();
	double pop[8], flt[8];
	for (int r = 0; r < reps; r++) {
		uint64_t t0 = mmk_bench_now_ns();
		char *p = map_anon(MAP_POPULATE);
		pop[r] = (double)(mmk_bench_now_ns() - t0) / PAGES;
		munmap(p, SIZE);

		p = map_anon(0);
		t0 = mmk_bench_now_ns();
		touch(p);
		flt[r] = (double)(mmk_bench_now_ns() - t0) / PAGES;
		munmap(p, SIZE);
	}
	report("linux.populate", pop, reps);
	report("linux.fault", flt, reps);
}

MMK_BENCH(bench_linux_mprotect_munmap, 91)
{
	int reps = mmk_bench_reps();
	double prot[8], unmap[8];
	for (int r = 0; r < reps; r++) {
		char *p = map_anon(0);
		touch(p);
		uint64_t t0 = mmk_bench_now_ns();
		mprotect(p, SIZE, PROT_READ);
		prot[r] = (double)(mmk_bench_now_ns() - t0) / PAGES;
		t0 = mmk_bench_now_ns();
		munmap(p, SIZE);
		unmap[r] = (double)(mmk_bench_now_ns() - t0) / PAGES;
	}
	report("linux.mprotect", prot, reps);
	report("linux.munmap", unmap, reps);
}

MMK_BENCH(bench_linux_fork, 92)
{
	int reps = mmk_bench_reps();
	double fk[8], cow[8];
	for (int r = 0; r < reps; r++) {
		char *p = map_anon(0);
		touch(p);
		int fd[2];
		if (pipe(fd) != 0)
			exit(1);
		uint64_t t0 = mmk_bench_now_ns();
		pid_t pid = fork();
		if (pid == 0) {
			/* child: a write per page, each a copy-on-write fault
			 */
			uint64_t c0 = mmk_bench_now_ns();
			touch(p);
			double ns = (double)(mmk_bench_now_ns() - c0) / PAGES;
			if (write(fd[1], &ns, sizeof(ns)) != sizeof(ns))
				_exit(1);
			_exit(0);
		}
		fk[r] = (double)(mmk_bench_now_ns() - t0) / PAGES;
		if (read(fd[0], &cow[r], sizeof(cow[r])) != sizeof(cow[r]))
			exit(1);
		waitpid(pid, NULL, 0);
		close(fd[0]);
		close(fd[1]);
		munmap(p, SIZE);
	}
	report("linux.fork", fk, reps);
	report("linux.cow_fault", cow, reps);
}
