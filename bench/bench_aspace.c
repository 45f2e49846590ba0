/* SPDX-License-Identifier: MIT */
/*
 * Address-space figures, each beside its bound measured in the same run,
 * and Linux's figure for the same work measured inline (as bench_linux.c
 * does: 1 GiB of anonymous memory, no transparent huge pages).
 *
 *   aspace.populate     populate 1 GiB of lazy alloc area      ns/page
 *                       bound memset 4 KiB, goal <= 1.3x; linux.populate
 *   aspace.fault_lazy   first-touch faults over 1 GiB          ns/fault
 *                       bound memset 4 KiB, goal <= 1.5x; linux.fault
 *   aspace.protect      RW -> R over 1 GiB populated            ns/page
 *                       bound linux.mprotect, goal <= 0.25x
 *   aspace.unmap        1 GiB populated, frames returned        ns/page
 *                       bound linux.munmap, goal <= 0.25x
 *   aspace.read/write   64 MiB populated area, 1 MiB calls      GB/s
 *                       bound memcpy (4 KiB pages, cold), goal >= 0.8x
 *   aspace.fault_scaling first-touch faults/s from n threads on disjoint
 *                       pages of one space; n=2 bound = n=1, goal >= 1.6x
 *   aspace.clone, aspace.fork_exit, aspace.cow_fault, aspace.zero_page_read
 *                       fork figures (bench_aspace_fork, further down)
 *
 * The arena is grown to 1.5 GiB for the 1 GiB figures (frames and tables
 * must fit) and set back to the default at the end.
 */
#include "bench.h"

#include <mmk_hosted.h>
#include <mmkit/aspace.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIZE  (1ull << 30)
#define PAGES (SIZE / 4096)
#define BASE  0x100000000ull

static const enum mmk_pt_format_id fmts[] = {MMK_PT_X86_64_4L,
					     MMK_PT_RISCV_SV39};

static const char *fmt_name(enum mmk_pt_format_id id)
{
	struct mmk_pt_info i;
	mmk_pt_format_info(id, &i);
	return i.arch;
}

static struct mmk_frames *fa;

static void big_arena(void)
{
	mmk_hosted_init(1536 * MMK_MIB);
	mmk_hosted_prefault();
	fa = mmk_hosted_frames_new();
}

static void default_arena(void)
{
	mmk_hosted_frames_destroy(fa);
	fa = NULL;
	mmk_hosted_init(0);
	mmk_hosted_prefault();
}

static void new_space(struct mmk_aspace *as, enum mmk_pt_format_id id)
{
	if (mmk_aspace_create(as, BASE, 4 * SIZE, id, 0, fa) != 0)
		abort();
	mmk_aspace_activate(as);
}

static double ns_per(uint64_t t0, uint64_t n)
{
	return (double)(mmk_bench_now_ns() - t0) / (double)n;
}

static char *linux_map(int extra)
{
	char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	madvise(p, SIZE, MADV_NOHUGEPAGE);
	return p;
}

static void report(const char *metric, const char *arch, double v,
		   const char *unit, double bound, double goal, int dir,
		   const char *peer, double peer_v)
{
	struct mmk_bench_result r = {.metric = metric,
				     .arch = arch,
				     .value = v,
				     .unit = unit,
				     .bound = bound,
				     .goal = goal,
				     .goal_dir = dir};
	if (peer) {
		r.extra[0].key = peer;
		r.extra[0].value = peer_v;
	}
	mmk_bench_report(&r);
}

/* populate, protect, unmap of 1 GiB, and Linux's populate/mprotect/munmap */
static void populate_protect_unmap(enum mmk_pt_format_id id, bool with_linux)
{
	int reps = mmk_bench_reps();
	double pop[8], prot[8], unm[8], lpop[8], lprot[8], lunm[8], ms[8];
	static struct mmk_aspace as;
	new_space(&as, id);
	for (int r = 0; r < reps; r++) {
		ms[r] = mmk_bench_memset4k_ns();
		if (mmk_aspace_map_alloc(&as, BASE, SIZE, MMK_PT_RW, false))
			abort();
		uint64_t t0 = mmk_bench_now_ns();
		if (mmk_aspace_populate(&as, BASE, SIZE, MMK_ACCESS_WRITE))
			abort();
		pop[r] = ns_per(t0, PAGES);
		t0 = mmk_bench_now_ns();
		if (mmk_aspace_protect(&as, BASE, SIZE, MMK_PT_READ))
			abort();
		prot[r] = ns_per(t0, PAGES);
		t0 = mmk_bench_now_ns();
		if (mmk_aspace_unmap(&as, BASE, SIZE))
			abort();
		unm[r] = ns_per(t0, PAGES);
		if (!with_linux)
			continue;
		t0 = mmk_bench_now_ns();
		char *p = linux_map(MAP_POPULATE);
		lpop[r] = ns_per(t0, PAGES);
		t0 = mmk_bench_now_ns();
		mprotect(p, SIZE, PROT_READ);
		lprot[r] = ns_per(t0, PAGES);
		t0 = mmk_bench_now_ns();
		munmap(p, SIZE);
		lunm[r] = ns_per(t0, PAGES);
	}
	mmk_aspace_destroy(&as);
	const char *a = fmt_name(id);
	double lp = with_linux ? mmk_bench_median(lpop, reps) : 0;
	double lpr = with_linux ? mmk_bench_median(lprot, reps) : 0;
	double lu = with_linux ? mmk_bench_median(lunm, reps) : 0;
	report("aspace.populate", a, mmk_bench_median(pop, reps), "ns/page",
	       mmk_bench_median(ms, reps), 1.3, -1,
	       with_linux ? "linux.populate" : NULL, lp);
	if (!with_linux)
		return;
	report("aspace.protect", a, mmk_bench_median(prot, reps), "ns/page",
	       lpr, 0.25, -1, "linux.mprotect", lpr);
	report("aspace.unmap", a, mmk_bench_median(unm, reps), "ns/page", lu,
	       0.25, -1, "linux.munmap", lu);
}

static void fault_lazy(enum mmk_pt_format_id id, bool with_linux)
{
	int reps = mmk_bench_reps();
	double flt[8], lflt[8], ms[8];
	static struct mmk_aspace as;
	new_space(&as, id);
	for (int r = 0; r < reps; r++) {
		ms[r] = mmk_bench_memset4k_ns();
		if (mmk_aspace_map_alloc(&as, BASE, SIZE, MMK_PT_RW, false))
			abort();
		uint64_t t0 = mmk_bench_now_ns();
		for (uint64_t va = BASE; va < BASE + SIZE; va += 4096)
			if (!mmk_aspace_handle_page_fault(&as, va,
							  MMK_ACCESS_WRITE))
				abort();
		flt[r] = ns_per(t0, PAGES);
		mmk_aspace_unmap(&as, BASE, SIZE);
		if (!with_linux)
			continue;
		char *p = linux_map(0);
		t0 = mmk_bench_now_ns();
		for (uint64_t off = 0; off < SIZE; off += 4096)
			p[off] = 1;
		lflt[r] = ns_per(t0, PAGES);
		munmap(p, SIZE);
	}
	mmk_aspace_destroy(&as);
	report("aspace.fault_lazy", fmt_name(id), mmk_bench_median(flt, reps),
	       "ns/fault", mmk_bench_median(ms, reps), 1.5, -1,
	       with_linux ? "linux.fault" : NULL,
	       with_linux ? mmk_bench_median(lflt, reps) : 0);
}

MMK_BENCH(bench_aspace_populate_protect_unmap, 40)
{
	big_arena();
	for (size_t i = 0; i < MMK_ARRAY_SIZE(fmts); i++)
		populate_protect_unmap(fmts[i], i == 0);
	for (size_t i = 0; i < MMK_ARRAY_SIZE(fmts); i++)
		fault_lazy(fmts[i], i == 0);
	default_arena();
}

/* read / write of a 64 MiB populated area in 1 MiB calls */
#define RW_SIZE (64 * MMK_MIB)
#define RW_CALL MMK_MIB

MMK_BENCH(bench_aspace_read_write, 41)
{
	fa = mmk_hosted_frames_new();
	static struct mmk_aspace as;
	new_space(&as, MMK_PT_X86_64_4L);
	if (mmk_aspace_map_alloc(&as, BASE, RW_SIZE, MMK_PT_RW, true))
		abort();
	size_t csize;
	char *cold = mmk_bench_cold(&csize);
	int reps = mmk_bench_reps();
	double rd[8], wr[8], mc[8];
	for (int r = 0; r < reps; r++) {
		mc[r] = 4096.0 / mmk_bench_memcpy4k_ns();
		/* the kernel-side buffer: a cold part of the cold buffer */
		char *buf = cold + (size_t)(r % 8) * RW_SIZE;
		uint64_t t0 = mmk_bench_now_ns();
		for (uint64_t off = 0; off < RW_SIZE; off += RW_CALL)
			if (mmk_aspace_read_kernel(&as, BASE + off, buf + off,
						   RW_CALL))
				abort();
		rd[r] = (double)RW_SIZE / (double)(mmk_bench_now_ns() - t0);
		t0 = mmk_bench_now_ns();
		for (uint64_t off = 0; off < RW_SIZE; off += RW_CALL)
			if (mmk_aspace_write_kernel(&as, BASE + off, buf + off,
						    RW_CALL))
				abort();
		wr[r] = (double)RW_SIZE / (double)(mmk_bench_now_ns() - t0);
	}
	mmk_aspace_destroy(&as);
	double b = mmk_bench_median(mc, reps);
	report("aspace.read", "x86_64", mmk_bench_median(rd, reps), "GB/s", b,
	       0.8, +1, NULL, 0);
	report("aspace.write", "x86_64", mmk_bench_median(wr, reps), "GB/s", b,
	       0.8, +1, NULL, 0);
	mmk_hosted_frames_destroy(fa);
	fa = NULL;
}

/* ------------------------------------------------------- fault scaling */

#define SCALE_PER_THREAD (192 * MMK_MIB)

struct scale_arg {
	struct mmk_aspace *as;
	mmk_vaddr_t start;
	pthread_barrier_t *go;
	uint64_t ns;
	uint64_t cpu_ns; /* CPU time the thread got */
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *scale_thread(void *p)
{
	struct scale_arg *a = p;
	mmk_hosted_register_cpu();
	mmk_aspace_activate(a->as);
	pthread_barrier_wait(a->go);
	uint64_t t0 = mmk_bench_now_ns(), c0 = thread_cpu_ns();
	for (uint64_t va = a->start; va < a->start + SCALE_PER_THREAD;
	     va += 4096)
		if (!mmk_aspace_handle_page_fault(a->as, va, MMK_ACCESS_WRITE))
			abort();
	a->ns = mmk_bench_now_ns() - t0;
	a->cpu_ns = thread_cpu_ns() - c0;
	mmk_aspace_deactivate(a->as);
	return NULL;
}

/* Faults per second of @n threads, each over its own 192 MiB; *cpu gets
 * the CPU time per fault the threads were given (an increase with n would
 * be contention inside; a wall-clock loss without it is CPUs not given). */
static double faults_per_s(struct mmk_aspace *as, int n, double *cpu)
{
	pthread_t th[2];
	struct scale_arg arg[2];
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, (unsigned)n);
	if (mmk_aspace_map_alloc(as, BASE, 2 * SCALE_PER_THREAD, MMK_PT_RW,
				 false))
		abort();
	for (int i = 0; i < n; i++) {
		/* 1 GiB apart: separate tables down from the top level's
		 * child, as two processes' threads would touch */
		arg[i] = (struct scale_arg){as, BASE + i * SCALE_PER_THREAD,
					    &go, 0, 0};
		pthread_create(&th[i], NULL, scale_thread, &arg[i]);
	}
	uint64_t worst = 0, cpu_ns = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		worst = MMK_MAX(worst, arg[i].ns);
		cpu_ns += arg[i].cpu_ns;
	}
	*cpu = (double)cpu_ns / (double)n / (SCALE_PER_THREAD / 4096);
	pthread_barrier_destroy(&go);
	mmk_aspace_unmap(as, BASE, 2 * SCALE_PER_THREAD);
	return (double)n * (SCALE_PER_THREAD / 4096) / ((double)worst / 1e9);
}

/*
 * The same zeroing without mmkit: n threads each memset their own 192 MiB
 * of the cold buffer page by page.  Its 2-thread speedup is what this
 * machine allows the fault path (each fault zeroes a page); reported
 * beside fault_scaling.
 */
struct zero_arg {
	char *buf;
	pthread_barrier_t *go;
	uint64_t ns;
};

static void *zero_thread(void *p)
{
	struct zero_arg *a = p;
	pthread_barrier_wait(a->go);
	uint64_t t0 = mmk_bench_now_ns();
	for (uint64_t off = 0; off < SCALE_PER_THREAD; off += 4096)
		memset(a->buf + off, 0, 4096);
	MMK_BENCH_SINK(a->buf);
	a->ns = mmk_bench_now_ns() - t0;
	return NULL;
}

static double zero_pages_per_s(int n)
{
	size_t size;
	char *cold = mmk_bench_cold(&size);
	pthread_t th[2];
	struct zero_arg arg[2];
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		arg[i] = (struct zero_arg){cold + i * (size / 2), &go, 0};
		pthread_create(&th[i], NULL, zero_thread, &arg[i]);
	}
	uint64_t worst = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		worst = MMK_MAX(worst, arg[i].ns);
	}
	pthread_barrier_destroy(&go);
	return (double)n * (SCALE_PER_THREAD / 4096) / ((double)worst / 1e9);
}

MMK_BENCH(bench_aspace_fault_scaling, 42)
{
	fa = mmk_hosted_frames_new();
	static struct mmk_aspace as;
	new_space(&as, MMK_PT_X86_64_4L);
	int reps = mmk_bench_reps();
	double one[8], two[8], z1[8], z2[8], c1[8], c2[8];
	for (int r = 0; r < reps; r++) {
		one[r] = faults_per_s(&as, 1, &c1[r]);
		two[r] = faults_per_s(&as, 2, &c2[r]);
		z1[r] = zero_pages_per_s(1);
		z2[r] = zero_pages_per_s(2);
	}
	mmk_aspace_destroy(&as);
	double o = mmk_bench_median(one, reps);
	struct mmk_bench_result r1 = {.metric = "aspace.fault_scaling",
				      .arch = "x86_64",
				      .n = 1,
				      .value = o,
				      .unit = "faults/s"};
	double cpu1 = mmk_bench_median(c1, reps),
	       cpu2 = mmk_bench_median(c2, reps);
	r1.extra[0].key = "cpu_ns_per_fault";
	r1.extra[0].value = cpu1;
	mmk_bench_report(&r1);
	struct mmk_bench_result r2 = {.metric = "aspace.fault_scaling",
				      .arch = "x86_64",
				      .n = 2,
				      .value = mmk_bench_median(two, reps),
				      .unit = "faults/s",
				      .bound = o,
				      .goal = 1.6,
				      .goal_dir = +1};
	double zs = mmk_bench_median(z2, reps) / mmk_bench_median(z1, reps);
	r2.extra[0].key = "memset_speedup_2t";
	r2.extra[0].value = zs;
	r2.extra[1].key = "cpu_ns_per_fault";
	r2.extra[1].value = cpu2;
	/* the speedup if both threads had had a CPU all the time */
	r2.extra[2].key = "cpu_time_speedup";
	r2.extra[2].value = 2 * cpu1 / cpu2;
	mmk_bench_report(&r2);
	printf("  (CPU time per fault: %.0f ns with 1 thread, %.0f ns with 2: "
	       "%.2fx in CPU time)\n",
	       cpu1, cpu2, 2 * cpu1 / cpu2);
	/* the machine's own limit for the same zeroing, same run */
	struct mmk_bench_result rz = {.metric = "memset.scaling",
				      .n = 2,
				      .value = mmk_bench_median(z2, reps),
				      .unit = "pages/s",
				      .bound = mmk_bench_median(z1, reps)};
	mmk_bench_report(&rz);
	mmk_hosted_frames_destroy(fa);
	fa = NULL;
}

/*
 * Fork figures (issue 12), x86_64, 1 GiB of 4 KiB pages populated:
 *
 *   aspace.clone        mmk_aspace_clone of the space      ns/page
 *                       bound linux.fork (same run), goal <= 0.01x
 *   aspace.fork_exit    clone, then destroy the child      ns/page
 *                       bound linux.fork_exit (fork, child _exit, parent
 *                       waitpid), goal <= 0.01x
 *   aspace.cow_fault    a write fault on every page of the child after
 *                       the fork (each copies 4 KiB)       ns/page
 *                       bound memcpy 4 KiB cold, goal <= 1.3x
 *   aspace.zero_page_read read faults on never-touched pages, ns/fault;
 *                       "data_frames": frames they took besides page
 *                       tables (the zero page: 1)
 *
 * The arena is 2.5 GiB here: the parent's 1 GiB and the child's copies.
 */
static void linux_fork_exit(double *fk, double *fe)
{
	char *p = linux_map(0);
	for (uint64_t off = 0; off < SIZE; off += 4096)
		p[off] = 1;
	uint64_t t0 = mmk_bench_now_ns();
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	*fk = ns_per(t0, PAGES);
	waitpid(pid, NULL, 0);
	*fe = ns_per(t0, PAGES);
	munmap(p, SIZE);
}

static void fork_figures(enum mmk_pt_format_id id)
{
	int reps = mmk_bench_reps();
	double cl[8], fe[8], cow[8], mc[8], lfk[8], lfe[8], zr[8], zf[8];
	static struct mmk_aspace p, c;
	for (int r = 0; r < reps; r++) {
		linux_fork_exit(&lfk[r], &lfe[r]);
		mc[r] = mmk_bench_memcpy4k_ns();
		new_space(&p, id);
		if (mmk_aspace_map_alloc(&p, BASE, SIZE, MMK_PT_RW, true))
			abort();
		/* fork then exit */
		if (mmk_aspace_create(&c, BASE, 4 * SIZE, id, 0, fa))
			abort();
		uint64_t t0 = mmk_bench_now_ns();
		if (mmk_aspace_clone(&p, &c))
			abort();
		mmk_aspace_destroy(&c);
		fe[r] = ns_per(t0, PAGES);
		/* fork, then a write to every page of the child; the parent
		 * is writable again only where it writes, so fork afresh */
		mmk_aspace_destroy(&p);
		new_space(&p, id);
		if (mmk_aspace_map_alloc(&p, BASE, SIZE, MMK_PT_RW, true))
			abort();
		if (mmk_aspace_create(&c, BASE, 4 * SIZE, id, 0, fa))
			abort();
		t0 = mmk_bench_now_ns();
		if (mmk_aspace_clone(&p, &c))
			abort();
		cl[r] = ns_per(t0, PAGES);
		t0 = mmk_bench_now_ns();
		for (uint64_t va = BASE; va < BASE + SIZE; va += 4096)
			if (mmk_aspace_fault(&c, va, MMK_ACCESS_WRITE))
				abort();
		cow[r] = ns_per(t0, PAGES);
		mmk_aspace_destroy(&c);
		mmk_aspace_destroy(&p);
		/* read faults on a lazy area: the zero page */
		new_space(&p, id);
		if (mmk_aspace_map_alloc(&p, BASE, SIZE, MMK_PT_RW, false))
			abort();
		struct mmk_frame_stats st;
		mmk_frames_stats(fa, &st);
		long f0 = (long)st.allocated_pages;
		long t_0 = mmk_pt_table_pages(mmk_aspace_pt(&p));
		t0 = mmk_bench_now_ns();
		for (uint64_t va = BASE; va < BASE + SIZE; va += 4096)
			if (mmk_aspace_fault(&p, va, MMK_ACCESS_READ))
				abort();
		zr[r] = ns_per(t0, PAGES);
		mmk_frames_stats(fa, &st);
		zf[r] = (double)((long)st.allocated_pages - f0 -
				 (mmk_pt_table_pages(mmk_aspace_pt(&p)) - t_0));
		mmk_aspace_destroy(&p);
	}
	const char *a = fmt_name(id);
	double lf = mmk_bench_median(lfk, reps),
	       le = mmk_bench_median(lfe, reps);
	report("aspace.clone", a, mmk_bench_median(cl, reps), "ns/page", lf,
	       0.01, -1, "linux.fork", lf);
	report("linux.fork_exit", NULL, le, "ns/page", 0, 0, 0, NULL, 0);
	report("aspace.fork_exit", a, mmk_bench_median(fe, reps), "ns/page", le,
	       0.01, -1, "linux.fork_exit", le);
	report("aspace.cow_fault", a, mmk_bench_median(cow, reps), "ns/page",
	       mmk_bench_median(mc, reps), 1.3, -1, NULL, 0);
	report("aspace.zero_page_read", a, mmk_bench_median(zr, reps),
	       "ns/fault", 0, 0, 0, "data_frames", mmk_bench_median(zf, reps));
}

MMK_BENCH(bench_aspace_fork, 43)
{
	mmk_hosted_init(2560 * MMK_MIB);
	mmk_hosted_prefault();
	fa = mmk_hosted_frames_new();
	fork_figures(MMK_PT_X86_64_4L);
	default_arena();
}
