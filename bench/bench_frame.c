/* SPDX-License-Identifier: MIT */
/* Frame allocator figures, each beside its bound measured in the same run. */
#include "bench.h"

#include <mmk_hosted.h>
#include <mmkit/frame.h>

#include <stdlib.h>
#include <string.h>

#define PAIRS 1000000

/*
 * Bound for alloc+free: a pop and a push on a plain singly linked free list
 * of frames, the least any frame allocator can do.  The list is threaded
 * through the first word of each frame, as a trivial kernel allocator would.
 */
struct node {
	struct node *next;
};

struct list {
	struct node *head;
};

/* Out of line, as an allocator's entry points are: the head lives in
 * memory, not in a register of the benchmark loop. */
__attribute__((noinline)) static struct node *list_pop(struct list *l)
{
	struct node *n = l->head;
	l->head = n->next;
	return n;
}

__attribute__((noinline)) static void list_push(struct list *l, struct node *n)
{
	n->next = l->head;
	l->head = n;
}

static double list_pop_push_ns(void)
{
	size_t size;
	char *buf = mmk_bench_cold(&size);
	static struct list list;
	for (size_t off = 0; off < (64u << 12); off += 4096)
		list_push(&list, (struct node *)(buf + off));
	uint64_t t0 = mmk_bench_now_ns();
	for (int i = 0; i < PAIRS; i++) {
		struct node *n = list_pop(&list);
		MMK_BENCH_SINK(n);
		list_push(&list, n);
	}
	double ns = (double)(mmk_bench_now_ns() - t0) / PAIRS;
	list.head = NULL;
	return ns;
}

static double alloc_free_ns(struct mmk_frames *fa, unsigned order, int pairs)
{
	uint64_t t0 = mmk_bench_now_ns();
	for (int i = 0; i < pairs; i++) {
		mmk_paddr_t p;
		if (mmk_frame_alloc(fa, order, 0, &p) != 0)
			abort();
		MMK_BENCH_SINK(p.v);
		mmk_frame_free(fa, p);
	}
	return (double)(mmk_bench_now_ns() - t0) / pairs;
}

MMK_BENCH(bench_frame_alloc_free, 10)
{
	struct mmk_frames *fa = mmk_hosted_frames_new();
	int reps = mmk_bench_reps();
	double v[8], b[8];
	alloc_free_ns(fa, 0, 1000); /* warm the per-CPU cache */
	for (int r = 0; r < reps; r++) {
		b[r] = list_pop_push_ns();
		v[r] = alloc_free_ns(fa, 0, PAIRS);
	}
	struct mmk_bench_result res = {.metric = "frame.alloc_free",
				       .value = mmk_bench_median(v, reps),
				       .unit = "ns/pair",
				       .bound = mmk_bench_median(b, reps),
				       .goal = 10,
				       .goal_dir = -1};
	mmk_bench_report(&res);

	for (int r = 0; r < reps; r++)
		v[r] = alloc_free_ns(fa, 9, PAIRS / 10);
	struct mmk_bench_result res9 = {.metric = "frame.alloc_order9",
					.value = mmk_bench_median(v, reps),
					.unit = "ns/pair"};
	mmk_bench_report(&res9);
	mmk_hosted_frames_destroy(fa);
}

/*
 * Allocate and zero every page of (almost) 1 GiB, then free them; the bound
 * is a 4 KiB memset page after page over a faulted-in 1 GiB buffer.
 */
MMK_BENCH(bench_frame_alloc_zeroed, 11)
{
	struct mmk_frames *fa = mmk_hosted_frames_new();
	struct mmk_frame_stats st;
	mmk_frames_stats(fa, &st);
	uint64_t n = st.free_pages;
	uint64_t *pas = malloc(n * sizeof(*pas));
	int reps = mmk_bench_reps();
	double v[8], b[8];
	for (int r = 0; r < reps; r++) {
		b[r] = mmk_bench_memset4k_ns();
		uint64_t t0 = mmk_bench_now_ns();
		for (uint64_t i = 0; i < n; i++) {
			mmk_paddr_t p;
			if (mmk_frame_alloc(fa, 0, MMK_FRAME_ZERO, &p) != 0)
				abort();
			pas[i] = p.v;
		}
		v[r] = (double)(mmk_bench_now_ns() - t0) / (double)n;
		for (uint64_t i = 0; i < n; i++)
			mmk_frame_free(fa, mmk_pa(pas[i]));
	}
	struct mmk_bench_result res = {.metric = "frame.alloc_zeroed",
				       .value = mmk_bench_median(v, reps),
				       .unit = "ns/page",
				       .n = (long)n,
				       .bound = mmk_bench_median(b, reps),
				       .goal = 1.1,
				       .goal_dir = -1};
	mmk_bench_report(&res);
	free(pas);
	mmk_hosted_frames_destroy(fa);
}
