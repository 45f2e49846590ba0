/* SPDX-License-Identifier: MIT */
/* The hosted HAL: see mmk_hosted.h for what it promises. */
#include "mmk_hosted.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

uintptr_t mmk_hal_pv_offset;

static void *arena;
static uint64_t arena_size;

/* ---------------------------------------------------------------- arena */

void mmk_hosted_init(uint64_t size)
{
	if (size == 0) {
		const char *e = getenv("MMK_ARENA_MB");
		size = e ? strtoull(e, NULL, 10) << 20
			 : MMK_HOSTED_DEFAULT_ARENA;
	}
	mmk_hosted_register_cpu();
	if (arena && arena_size == size)
		return;
	if (arena)
		munmap(arena, arena_size);
	/* Reserve only: MAP_NORESERVE, nothing touched until used. */
	arena = mmap(NULL, size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (arena == MAP_FAILED) {
		perror("mmk_hosted_init: mmap");
		abort();
	}
	arena_size = size;
	mmk_hal_pv_offset = (uintptr_t)arena - (uintptr_t)MMK_HOSTED_PHYS_BASE;
}

void *mmk_hosted_arena(void)
{
	return arena;
}

uint64_t mmk_hosted_arena_size(void)
{
	return arena_size;
}

mmk_paddr_t mmk_hosted_phys_base(void)
{
	return mmk_pa(MMK_HOSTED_PHYS_BASE);
}

void mmk_hosted_prefault(void)
{
	/* A kernel maps RAM with large pages; ask the host for the same so
	 * its TLB misses do not swamp what is measured (the benchmark's cold
	 * buffers get the same treatment). */
	madvise(arena, arena_size, MADV_HUGEPAGE);
	/* MADV_POPULATE_WRITE (Linux 5.14) faults in without a loop of
	 * stores; fall back to touching each page. */
#ifdef MADV_POPULATE_WRITE
	if (madvise(arena, arena_size, MADV_POPULATE_WRITE) == 0)
		return;
#endif
	for (uint64_t off = 0; off < arena_size; off += 4096)
		((volatile char *)arena)[off] = 0;
}

void mmk_hosted_discard(void)
{
	madvise(arena, arena_size, MADV_DONTNEED);
}

/* ---------------------------------------------------- failure injection */

struct failsite {
	_Atomic long attempts;
	_Atomic long injected;
	_Atomic long nth;   /* fail when attempts reaches this (once); 0 off */
	_Atomic long after; /* fail every attempt > this; -1 off */
};

static struct failsite sites[2] = {{0, 0, 0, -1}, {0, 0, 0, -1}};

static void site_reset(struct failsite *s, long nth, long after)
{
	atomic_store(&s->attempts, 0);
	atomic_store(&s->injected, 0);
	atomic_store(&s->nth, nth);
	atomic_store(&s->after, after);
}

void mmk_hosted_fail_nth(enum mmk_failsite site, long n)
{
	mmk_hosted_fail_off();
	site_reset(&sites[site], n, -1);
}

void mmk_hosted_fail_after(enum mmk_failsite site, long n)
{
	mmk_hosted_fail_off();
	site_reset(&sites[site], 0, n);
}

void mmk_hosted_fail_off(void)
{
	for (size_t i = 0; i < MMK_ARRAY_SIZE(sites); i++)
		site_reset(&sites[i], 0, -1);
}

long mmk_hosted_attempts(enum mmk_failsite site)
{
	return atomic_load(&sites[site].attempts);
}

long mmk_hosted_injected(enum mmk_failsite site)
{
	return atomic_load(&sites[site].injected);
}

static bool site_should_fail(struct failsite *s)
{
	long a = atomic_fetch_add(&s->attempts, 1) + 1;
	long nth = atomic_load(&s->nth);
	long after = atomic_load(&s->after);
	if ((nth > 0 && a == nth) || (after >= 0 && a > after)) {
		atomic_fetch_add(&s->injected, 1);
		return true;
	}
	return false;
}

/* ------------------------------------------------- hooks and accounting */

static _Atomic long live_frames;
static _Atomic long live_objs;

/* mmk_hosted_on_frame_alloc */
static void (*_Atomic alloc_hook)(void *arg);
static void *_Atomic alloc_arg;

void mmk_hosted_on_frame_alloc(void (*fn)(void *arg), void *arg)
{
	atomic_store(&alloc_arg, arg);
	atomic_store(&alloc_hook, fn);
}

#if MMK_CFG_DEBUG_HOOKS
bool mmk_hal_failpoint(enum mmk_failsite site)
{
	return site_should_fail(&sites[site]);
}

void mmk_hal_frame_note(mmk_paddr_t pa, unsigned order, bool alloc)
{
	(void)pa;
	atomic_fetch_add(&live_frames, alloc ? (1L << order) : -(1L << order));
	void (*hook)(void *) = atomic_load(&alloc_hook);
	if (alloc && hook)
		hook(atomic_load(&alloc_arg));
}
#endif

long mmk_hosted_live_frames(void)
{
	return atomic_load(&live_frames);
}

long mmk_hosted_live_objs(void)
{
	return atomic_load(&live_objs);
}

void *mmk_hal_obj_alloc(size_t size, size_t align)
{
	if (site_should_fail(&sites[MMK_FAIL_OBJ]))
		return NULL;
	if (align < sizeof(void *))
		align = sizeof(void *);
	void *p = aligned_alloc(align, MMK_ALIGN_UP(size ? size : 1, align));
	if (p)
		atomic_fetch_add(&live_objs, 1);
	return p;
}

void mmk_hal_obj_free(void *p, size_t size)
{
	(void)size;
	if (!p)
		return;
	atomic_fetch_sub(&live_objs, 1);
	free(p);
}

/* ----------------------------------------------------------------- CPUs */

static _Atomic unsigned ncpus;
_Thread_local int mmk_hosted_cpu = -1;

unsigned mmk_hosted_register_cpu(void)
{
	if (mmk_hosted_cpu < 0) {
		unsigned id = atomic_fetch_add(&ncpus, 1);
		if (id >= MMK_CFG_MAX_CPUS) {
			fprintf(stderr, "mmk_hosted: more than %d CPUs\n",
				MMK_CFG_MAX_CPUS);
			abort();
		}
		mmk_hosted_cpu = (int)id;
	}
	return (unsigned)mmk_hosted_cpu;
}

void mmk_hosted_not_a_cpu(void)
{
	fprintf(stderr, "mmk_hosted: a thread that is not a CPU called mmkit "
			"(mmk_hosted_register_cpu first)\n");
	abort();
}

unsigned mmk_hal_cpu_id(void)
{
	if (MMK_UNLIKELY(mmk_hosted_cpu < 0))
		return mmk_hosted_register_cpu();
	return (unsigned)mmk_hosted_cpu;
}

/* User space cannot mask interrupts and has none to mask. */
unsigned long mmk_hal_irq_save(void)
{
	return 0;
}

void mmk_hal_irq_restore(unsigned long flags)
{
	(void)flags;
}

/*
 * Host threads can be preempted while holding a spinlock (there are no
 * interrupts to disable), so a waiter yields instead of burning its slice.
 */
void mmk_hal_cpu_relax(void)
{
	mmk_hosted_relax();
}

/* A spinning CPU still takes interrupts: answer shootdowns meanwhile. */
void mmk_hosted_relax(void)
{
	mmk_hosted_ipi_poll();
	sched_yield();
}

/* -------------------------------------------------------------- logging */

static _Atomic long log_errors;
static _Thread_local char last_line[256];
static _Atomic bool log_quiet;

void mmk_hal_log(int level, const char *line)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	if (level == MMK_LOG_ERROR)
		atomic_fetch_add(&log_errors, 1);
	snprintf(last_line, sizeof(last_line), "%s", line);
	if (!atomic_load(&log_quiet) && level <= MMK_LOG_INFO)
		fprintf(stderr, "mmkit %s: %s\n", names[level & 3], line);
}

long mmk_hosted_log_errors(void)
{
	return atomic_load(&log_errors);
}

const char *mmk_hosted_last_log(void)
{
	return last_line;
}

void mmk_hosted_log_reset(bool quiet)
{
	atomic_store(&log_errors, 0);
	last_line[0] = 0;
	atomic_store(&log_quiet, quiet);
}
