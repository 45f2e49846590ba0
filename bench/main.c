/* SPDX-License-Identifier: MIT */
/* mmkit-bench: runs every registered benchmark, prints and records it. */
#include "bench.h"

#include <mmk_hosted.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct entry {
	const char *name;
	mmk_bench_fn fn;
	int order;
};

static struct entry entries[256];
static int nentries;
static FILE *json;
static struct mmk_bench_result results[1024];
static int nresults;

void mmk_bench_register(const char *name, mmk_bench_fn fn, int order)
{
	if (nentries < (int)(sizeof(entries) / sizeof(entries[0])))
		entries[nentries++] = (struct entry){name, fn, order};
}

uint64_t mmk_bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double mmk_bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int mmk_bench_reps(void)
{
	const char *q = getenv("MMK_BENCH_QUICK");
	return q && *q == '1' ? 3 : 5;
}

void mmk_bench_progress(const char *fmt, ...)
{
	if (!isatty(2))
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "\r\033[K");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static void *cold;
static size_t cold_size = 1ull << 30;

void *mmk_bench_cold(size_t *size)
{
	if (!cold) {
		cold = mmap(NULL, cold_size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (cold == MAP_FAILED) {
			perror("mmap");
			exit(1);
		}
		/* Host-backed like the arena (see mmk_hosted_prefault), so the
		 * host's TLB costs the same on both sides of a ratio. */
		madvise(cold, cold_size, MADV_HUGEPAGE);
#ifdef MADV_POPULATE_WRITE
		if (madvise(cold, cold_size, MADV_POPULATE_WRITE) != 0)
#endif
			memset(cold, 1, cold_size);
	}
	if (size)
		*size = cold_size;
	return cold;
}

double mmk_bench_memset4k_ns(void)
{
	size_t size;
	char *buf = mmk_bench_cold(&size);
	int reps = mmk_bench_reps();
	double v[8];
	for (int r = 0; r < reps; r++) {
		uint64_t t0 = mmk_bench_now_ns();
		for (size_t off = 0; off < size; off += 4096)
			memset(buf + off, 0, 4096);
		MMK_BENCH_SINK(buf);
		v[r] = (double)(mmk_bench_now_ns() - t0) /
		       (double)(size / 4096);
	}
	return mmk_bench_median(v, reps);
}

double mmk_bench_memcpy4k_ns(void)
{
	size_t size;
	char *buf = mmk_bench_cold(&size);
	size_t half = size / 2;
	int reps = mmk_bench_reps();
	double v[8];
	for (int r = 0; r < reps; r++) {
		uint64_t t0 = mmk_bench_now_ns();
		for (size_t off = 0; off < half; off += 4096)
			memcpy(buf + half + off, buf + off, 4096);
		MMK_BENCH_SINK(buf);
		v[r] = (double)(mmk_bench_now_ns() - t0) /
		       (double)(half / 4096);
	}
	return mmk_bench_median(v, reps);
}

/* Whether @r has a goal and met it (false when it has none). */
static bool goal_missed(const struct mmk_bench_result *r)
{
	if (r->goal <= 0 || (!r->goal_abs && r->bound <= 0))
		return false;
	double x = r->goal_abs ? r->value : r->value / r->bound;
	return r->goal_dir < 0 ? !(x <= r->goal) : !(x >= r->goal);
}

static const char *goal_text(const struct mmk_bench_result *r, char *buf,
			     size_t n)
{
	if (r->goal <= 0) {
		snprintf(buf, n, "-");
		return buf;
	}
	snprintf(buf, n, "%s %s %g%s", goal_missed(r) ? "MISSED" : "met   ",
		 r->goal_dir < 0 ? "<=" : ">=", r->goal,
		 r->goal_abs ? "" : "x bound");
	return buf;
}

/*
 * Is the machine busy with other work?  /proc/loadavg's fourth field counts
 * the tasks runnable right now, this one included; sampled before every
 * benchmark, the mean of the others per core says whether the figures were
 * taken on a quiet machine.  The 1-minute averages before and after are
 * printed beside it (they include the build that `make bench` ran first).
 */
static double load_others_sum;
static int load_samples;

static bool read_loadavg(double *avg1, int *running)
{
	FILE *f = fopen("/proc/loadavg", "r");
	if (!f)
		return false;
	int ok = fscanf(f, "%lf %*f %*f %d/", avg1, running) == 2;
	fclose(f);
	return ok;
}

static void load_sample(void)
{
	double avg1;
	int running;
	if (!read_loadavg(&avg1, &running))
		return;
	load_others_sum += running > 1 ? running - 1 : 0;
	load_samples++;
}

static const char *n_text(long n, char *buf, size_t len)
{
	if (n)
		snprintf(buf, len, "%ld", n);
	else
		snprintf(buf, len, "-");
	return buf;
}

void mmk_bench_report(const struct mmk_bench_result *r)
{
	if (nresults < (int)(sizeof(results) / sizeof(results[0])))
		results[nresults++] = *r;
	char g[64], ratio[32] = "-", bound[32] = "-", n[32];
	if (r->bound > 0) {
		snprintf(ratio, sizeof(ratio), "%.2f", r->value / r->bound);
		snprintf(bound, sizeof(bound), "%.3f", r->bound);
	}
	if (isatty(2))
		fprintf(stderr, "\r\033[K");
	printf("%-26s %-12s %9s %12.3f %-8s %10s %8s  %s\n", r->metric,
	       r->arch ? r->arch : "-", n_text(r->n, n, sizeof(n)), r->value,
	       r->unit, bound, ratio, goal_text(r, g, sizeof(g)));
	fflush(stdout);
	if (!json)
		return;
	fprintf(json, "{\"metric\":\"%s\",\"value\":%.4f,\"unit\":\"%s\"",
		r->metric, r->value, r->unit);
	if (r->arch)
		fprintf(json, ",\"arch\":\"%s\"", r->arch);
	if (r->n)
		fprintf(json, ",\"n\":%ld", r->n);
	if (r->bound > 0)
		fprintf(json, ",\"bound\":%.4f,\"ratio\":%.4f", r->bound,
			r->value / r->bound);
	if (r->goal > 0)
		fprintf(json, ",\"goal\":%g,\"goal_kind\":\"%s%s\"", r->goal,
			r->goal_dir < 0 ? "<=" : ">=",
			r->goal_abs ? "" : "x_bound");
	for (int i = 0; i < 4 && r->extra[i].key; i++)
		fprintf(json, ",\"%s\":%.4f", r->extra[i].key,
			r->extra[i].value);
	fprintf(json, "}\n");
	fflush(json);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->order != y->order)
		return x->order - y->order;
	return strcmp(x->name, y->name);
}

int main(int argc, char **argv)
{
	const char *out = "bench.json";
	const char *only = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "-f") && i + 1 < argc)
			only = argv[++i];
		else {
			fprintf(stderr,
				"usage: %s [-o bench.json] [-f filter]\n",
				argv[0]);
			return 2;
		}
	}
	json = fopen(out, "w");
	if (!json) {
		perror(out);
		return 1;
	}
	/* Bounded output buffering keeps the table readable when piped. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	qsort(entries, (size_t)nentries, sizeof(entries[0]), cmp_entry);
	mmk_hosted_init(0);
	mmk_hosted_log_reset(false);
	mmk_bench_progress("faulting in the arena and the cold buffer...");
	mmk_hosted_prefault();
	mmk_bench_cold(NULL);
	double avg_before = 0, avg_after = 0;
	int running;
	read_loadavg(&avg_before, &running);
	printf("bound:   the same work done at its physical limit, measured in "
	       "this run beside the\n"
	       "         metric (a 4 KiB memset per page, a plain loop writing "
	       "entries, the fastest\n"
	       "         of glibc/jemalloc/mimalloc, ...); docs/BENCHMARKS.md "
	       "says which for each.\n"
	       "v/bound: the ratio value / bound: times the limit for costs "
	       "(lower is better),\n"
	       "         the share of it for rates such as GB/s (higher is "
	       "better).\n"
	       "goal:    the ratio (\"x bound\") or value wanted; MISSED when "
	       "this run did not reach it.\n"
	       "-:       not applicable (no size n, no bound, no goal).\n\n");
	printf("%-26s %-12s %9s %12s %-8s %10s %8s  %s\n", "metric", "arch",
	       "n", "value", "unit", "bound", "v/bound", "goal");
	uint64_t t0 = mmk_bench_now_ns();
	for (int i = 0; i < nentries; i++) {
		if (only && !strstr(entries[i].name, only))
			continue;
		load_sample();
		mmk_bench_progress("[%d/%d] %s ...", i + 1, nentries,
				   entries[i].name);
		entries[i].fn();
	}
	if (isatty(2))
		fprintf(stderr, "\r\033[K");
	load_sample();
	read_loadavg(&avg_after, &running);
	printf("%d figures in %.1f s; JSON lines in %s\n", nresults,
	       (double)(mmk_bench_now_ns() - t0) / 1e9, out);
	int missed = 0;
	for (int i = 0; i < nresults; i++)
		missed += goal_missed(&results[i]);
	if (missed) {
		printf("%d goal%s MISSED:", missed, missed == 1 ? "" : "s");
		for (int i = 0; i < nresults; i++)
			if (goal_missed(&results[i]))
				printf(" %s%s%s", results[i].metric,
				       results[i].arch ? "/" : "",
				       results[i].arch ? results[i].arch : "");
		printf("\n");
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	double others = load_samples ? load_others_sum / load_samples : 0;
	if (cores > 0 && others / (double)cores > 0.5)
		printf("WARNING: the machine was busy: on average %.1f other "
		       "tasks were runnable on %ld cores (%.2f per core > 0.5; "
		       "load average %.2f before, %.2f after).  The figures, "
		       "and any MISSED goal, are not reliable: rerun on an "
		       "idle "
		       "machine.\n",
		       others, cores, others / (double)cores, avg_before,
		       avg_after);
	else
		printf("load: %.1f other runnable tasks on %ld cores on "
		       "average "
		       "(load average %.2f before, %.2f after): quiet enough\n",
		       others, cores, avg_before, avg_after);
	fclose(json);
	return 0;
}
