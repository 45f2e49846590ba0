/* SPDX-License-Identifier: MIT */
/* Frame allocator figures, each beside its bound measured in the same run. */
#include "bench.h"

#include <mmk_hosted.h>
#include <mmkit/frame.h>

#include <pthread.h>
#include <stdatomic.h>
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

/*
 * The memory-pressure slow path: an allocation that finds its own cache and
 * the lists empty while another CPU's cache is full (64 frames), so it
 * drains that cache and visits every CPU's.  Per round the peer CPU frees
 * 64 frames (not timed), then one allocation is timed; the 63 left are
 * taken back untimed, so every round starts with nothing free anywhere
 * but the peer's cache.  No bound: nothing simpler does the same work.
 */
#define STEAL_ROUNDS 2000

struct steal {
	struct mmk_frames *fa;
	uint64_t pas[MMK_FRAME_PCP_SIZE];
	_Atomic int turn; /* 1: the peer frees pas[], 0: the main CPU runs */
	int rounds;
};

static void *steal_peer(void *arg)
{
	struct steal *s = arg;
	mmk_hosted_register_cpu();
	for (int r = 0; r < s->rounds; r++) {
		while (atomic_load(&s->turn) != 1)
			mmk_hosted_relax();
		for (int i = 0; i < MMK_FRAME_PCP_SIZE; i++)
			mmk_frame_free(s->fa, mmk_pa(s->pas[i]));
		atomic_store(&s->turn, 0);
	}
	return NULL;
}

static double steal_ns(struct steal *s, uint64_t *held, int rounds)
{
	pthread_t t;
	s->rounds = rounds;
	atomic_store(&s->turn, 0);
	pthread_create(&t, NULL, steal_peer, s);
	uint64_t sum = 0;
	for (int r = 0; r < rounds; r++) {
		memcpy(s->pas, held, sizeof(s->pas));
		atomic_store(&s->turn, 1);
		while (atomic_load(&s->turn) != 0)
			mmk_hosted_relax();
		mmk_paddr_t p;
		uint64_t t0 = mmk_bench_now_ns();
		int err = mmk_frame_alloc(s->fa, 0, 0, &p);
		sum += mmk_bench_now_ns() - t0;
		if (err)
			abort();
		held[0] = p.v;
		for (int i = 1; i < MMK_FRAME_PCP_SIZE; i++) {
			if (mmk_frame_alloc(s->fa, 0, 0, &p) != 0)
				abort();
			held[i] = p.v;
		}
	}
	pthread_join(t, NULL);
	return (double)sum / rounds;
}

MMK_BENCH(bench_frame_alloc_reclaim, 12)
{
	struct mmk_frames *fa = mmk_hosted_frames_new();
	struct mmk_frame_stats st;
	mmk_frames_stats(fa, &st);
	uint64_t n = st.free_pages, got = 0;
	uint64_t *pas = malloc(n * sizeof(*pas));
	mmk_paddr_t p;
	while (got < n && mmk_frame_alloc(fa, 0, 0, &p) == 0)
		pas[got++] = p.v;
	static struct steal s;
	s.fa = fa;
	int reps = mmk_bench_reps();
	double v[8];
	for (int r = 0; r < reps; r++)
		v[r] = steal_ns(&s, pas, STEAL_ROUNDS);
	struct mmk_bench_result res = {.metric = "frame.alloc_reclaim",
				       .value = mmk_bench_median(v, reps),
				       .unit = "ns/op",
				       .n = MMK_FRAME_PCP_SIZE};
	mmk_bench_report(&res);
	for (uint64_t i = 0; i < got; i++)
		mmk_frame_free(fa, mmk_pa(pas[i]));
	free(pas);
	mmk_hosted_frames_destroy(fa);
}
