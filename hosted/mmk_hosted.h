/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the hosted HAL: Linux user space plays the machine.
 *
 * "Physical memory" is one arena reserved with mmap (not touched until
 * used) whose physical addresses start at MMK_HOSTED_PHYS_BASE, so physical
 * and virtual addresses always differ and a missing phys_to_virt crashes.
 * Threads register as CPUs.  For tests it injects allocation failures,
 * counts live frames and objects, and records every TLB flush and root
 * write it is asked for.  Everything here is thread-safe.
 */
#ifndef MMK_HOSTED_H
#define MMK_HOSTED_H

#include <mmkit/frame.h>
#include <mmkit/hal.h>

#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MMK_HOSTED_PHYS_BASE	 0x80000000ull
#define MMK_HOSTED_DEFAULT_ARENA (1ull << 30)

/**
 * Reserve the arena (idempotent for the same size; a different size maps a
 * new arena, which invalidates every allocator over the old one).  0 means
 * the default (1 GiB, or $MMK_ARENA_MB MiB when set).  Registers the calling
 * thread as CPU 0 if it is not a CPU yet.  Aborts if mmap fails.
 */
void mmk_hosted_init(uint64_t arena_size);

void *mmk_hosted_arena(void);
uint64_t mmk_hosted_arena_size(void);
mmk_paddr_t mmk_hosted_phys_base(void);

/** Touch every page of the arena so no host page fault lands in a timing. */
void mmk_hosted_prefault(void);

/** Give the arena back to the host (MADV_DONTNEED) to bound RSS in tests. */
void mmk_hosted_discard(void);

/*
 * Convenience for tests and benchmarks (inline, so that the HAL itself
 * never calls into the core): the whole arena as one RAM range, and a buddy
 * allocator over it allocated with malloc.
 */
static inline void mmk_hosted_bootmem(struct mmk_bootmem *bm)
{
	mmk_bootmem_init(bm);
	if (mmk_bootmem_add_ram(bm, mmk_hosted_phys_base(),
				mmk_hosted_arena_size()) != 0)
		__builtin_trap();
}

static inline struct mmk_frames *mmk_hosted_frames_new(void)
{
	struct mmk_bootmem bm;
	struct mmk_frames *fa = (struct mmk_frames *)aligned_alloc(
		64, MMK_ALIGN_UP(sizeof(*fa), 64));
	if (!fa)
		__builtin_trap();
	mmk_hosted_bootmem(&bm);
	if (mmk_frames_init(fa, &bm) != 0)
		__builtin_trap();
	return fa;
}

static inline void mmk_hosted_frames_destroy(struct mmk_frames *fa)
{
	free(fa);
}

/* ---------------------------------------------------- failure injection */
/** The @n-th allocation at @site from now (1 = the next) fails, once. */
void mmk_hosted_fail_nth(enum mmk_failsite site, long n);
/** Every allocation at @site after the next @n successful ones fails. */
void mmk_hosted_fail_after(enum mmk_failsite site, long n);
/** Stop injecting failures at every site. */
void mmk_hosted_fail_off(void);
/** Allocations attempted at @site since the last mmk_hosted_fail_* call. */
long mmk_hosted_attempts(enum mmk_failsite site);
/** Failures injected at @site since the last mmk_hosted_fail_* call. */
long mmk_hosted_injected(enum mmk_failsite site);

/* ------------------------------------------------------------ accounting */
/** Pages currently handed out by mmkit's frame allocators (all of them). */
long mmk_hosted_live_frames(void);
/** Objects currently allocated through mmk_hal_obj_alloc. */
long mmk_hosted_live_objs(void);

/* ------------------------------------------------------------ TLB record */
enum mmk_hosted_flush_kind { MMK_HOSTED_FLUSH_RANGE, MMK_HOSTED_FLUSH_ALL };

struct mmk_hosted_flush {
	enum mmk_hosted_flush_kind kind;
	mmk_cpumask_t cpus;
	uint32_t asid;
	mmk_vaddr_t start, end; /* RANGE only */
	bool global;
};

/** Start recording flushes afresh (the log holds the last 65,536). */
void mmk_hosted_flush_reset(void);
size_t mmk_hosted_flush_count(void);
/** The @i-th flush since the reset (i < count), copied into @out. */
void mmk_hosted_flush_get(size_t i, struct mmk_hosted_flush *out);
/** True if some recorded flush covers page @va (a range or a full flush). */
bool mmk_hosted_flushed(mmk_vaddr_t va);

/** The last root written on this CPU (physical address 0 if none). */
mmk_paddr_t mmk_hosted_current_root(uint32_t *asid);

/* ---------------------------------------------------------------- CPUs */
/** Make the calling thread a CPU; returns its id (idempotent per thread). */
unsigned mmk_hosted_register_cpu(void);

/**
 * The calling thread's CPU id, -1 until registered (mmk_hosted_inline.h).
 * __thread, not _Thread_local: C++ reads it too, and its thread_local
 * would go through an initialisation wrapper the C definition lacks.
 */
extern __thread int mmk_hosted_cpu;
/** Stops the process: the inline mmk_hal_cpu_id on a thread not a CPU. */
__attribute__((noreturn, cold)) void mmk_hosted_not_a_cpu(void);
/** What mmk_hal_cpu_relax does here: yield the host CPU. */
void mmk_hosted_relax(void);

/* ------------------------------------------------------------- logging */
/** Count of lines logged at MMK_LOG_ERROR since the last reset. */
long mmk_hosted_log_errors(void);
/** The last line logged (any level), "" if none. */
const char *mmk_hosted_last_log(void);
/** Reset the error count and last line; @quiet hides lines from stderr. */
void mmk_hosted_log_reset(bool quiet);

#ifdef __cplusplus
}
#endif

#endif /* MMK_HOSTED_H */
