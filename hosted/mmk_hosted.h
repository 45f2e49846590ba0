/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the hosted HAL: Linux user space plays the machine.
 *
 * "Physical memory" is one arena reserved with mmap (not touched until
 * used) whose physical addresses start at MMK_HOSTED_PHYS_BASE, so physical
 * and virtual addresses always differ and a missing phys_to_virt crashes.
 * Threads register as CPUs.  For tests it injects allocation failures,
 * counts live frames and objects, and records every TLB flush and root
 * write it is asked for.  Each CPU has a software TLB that the access
 * helpers of mmk_hosted_tlb.h fill and the flush hooks empty (the hosted
 * build gives the shootdown hooks, MMK_CFG_HAL_TLB_SHOOTDOWN=1).
 * Everything here is thread-safe.
 */
#ifndef MMK_HOSTED_H
#define MMK_HOSTED_H

#include <mmkit/frame.h>
#include <mmkit/hal.h>

#include <stdio.h>
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

/*
 * One at a time: the allocator owns the whole arena (its frames' counts
 * live in the arena's frame table), so a second one would hand out the
 * same frames again.  A second live one is refused on the spot.
 */
static int mmk_hosted_frames_live;

static inline struct mmk_frames *mmk_hosted_frames_new(void)
{
	struct mmk_bootmem bm;
	if (mmk_hosted_frames_live++) {
		fputs("mmk_hosted_frames_new: one allocator owns the arena "
		      "already (destroy it first)\n",
		      stderr);
		abort();
	}
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
	mmk_hosted_frames_live--;
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
/** The same for CPU @cpu. */
mmk_paddr_t mmk_hosted_cpu_root(unsigned cpu, uint32_t *asid);

/* ------------------------------------------------------- software TLB */
/*
 * Every CPU id has a software TLB of MMK_HOSTED_TLB_ENTRIES entries
 * (fully associative, round-robin replacement).  An entry is what a CPU
 * caches after a walk: the leaf [va, va + size) -> pa with its rights,
 * tagged with the ASID the CPU ran with, and (for the checks only) the
 * root it was walked from.  Flush requests empty it: locally, or on other
 * CPUs through mmk_hal_tlb_shootdown, which delivers to a CPU that serves
 * its interrupts (mmk_hosted_ipi_serve) through its mailbox and empties
 * any other CPU's TLB itself, as if that CPU's handler had run.
 */
#define MMK_HOSTED_TLB_ENTRIES 64

struct mmk_hosted_tlbe {
	bool valid;
	bool global;
	uint32_t asid;
	uint32_t rights; /* MMK_PT_RWX bits */
	mmk_vaddr_t va;	 /* leaf start */
	uint64_t size;	 /* leaf size */
	mmk_paddr_t pa;	 /* of va */
	mmk_paddr_t root;
};

/** Hold CPU @cpu's TLB (a walk and its fill are one step). */
void mmk_hosted_tlb_lock(unsigned cpu);
void mmk_hosted_tlb_unlock(unsigned cpu);
/** The entry of @cpu's current ASID (or global) holding @va.  Lock held. */
bool mmk_hosted_tlb_find(unsigned cpu, mmk_vaddr_t va,
			 struct mmk_hosted_tlbe *out);
/** Drop that entry (a fault on a present entry).  Lock held. */
void mmk_hosted_tlb_forget(unsigned cpu, mmk_vaddr_t va);
/** Cache @e (its valid flag is set).  Lock held. */
void mmk_hosted_tlb_fill(unsigned cpu, const struct mmk_hosted_tlbe *e);
/** Copy @cpu's valid entries into @out (MMK_HOSTED_TLB_ENTRIES room). */
size_t mmk_hosted_tlb_entries(unsigned cpu, struct mmk_hosted_tlbe *out);
/** Empty every TLB and zero every count below; cancels drop_next. */
void mmk_hosted_tlb_reset(void);
/** Zero the counts below and the flush log; the TLBs keep their entries. */
void mmk_hosted_tlb_count_reset(void);

/** Requests sent to @cpu by other CPUs (interrupts it took). */
long mmk_hosted_tlb_ipis(unsigned cpu);
long mmk_hosted_tlb_ipis_total(void);
/** Flushes @cpu did for itself (local hooks, its own part of a
 *  shootdown). */
long mmk_hosted_tlb_local_flushes(unsigned cpu);
/**
 * Flush requests (not of everything, not global) that reached a CPU which
 * could not have cached what they name: it had not run with their ASID
 * since it last flushed that ASID.  Zero where the rules say so.
 */
long mmk_hosted_tlb_useless(void);
/** Time CPU @cpu spent answering requests from its mailbox. */
uint64_t mmk_hosted_tlb_serve_ns(unsigned cpu);

/**
 * Debug hook: the next shootdown is recorded but never reaches CPU @cpu
 * (a misdirected flush), or reaches no CPU at all with @cpu -1 (a missed
 * one).  The software-TLB check must then catch it.
 */
void mmk_hosted_tlb_drop_next(int cpu);

/**
 * Debug hook: @fn(@arg) runs at the start of every shootdown (before it is
 * recorded or sent), on the sending thread, until set to NULL (or
 * mmk_hosted_tlb_reset): a test makes things happen in the middle of an
 * operation, e.g. a CPU's hardware walk.  Single-threaded tests only.
 */
void mmk_hosted_tlb_on_shootdown(void (*fn)(void *arg), void *arg);

/** Debug hook: @fn(@arg) runs after every frame block mmkit allocates
 *  (MMK_CFG_DEBUG_HOOKS builds), until set to NULL.  As above. */
void mmk_hosted_on_frame_alloc(void (*fn)(void *arg), void *arg);

/**
 * The calling thread becomes CPU @cpu (< MMK_CFG_MAX_CPUS) without
 * registering: counting tests play 64 CPUs from one thread.  Returns the
 * id it had (-1 if none).
 */
int mmk_hosted_set_cpu(unsigned cpu);

/**
 * The calling CPU answers shootdowns itself (@on) through its mailbox, as
 * a CPU taking interrupts: it must then call mmk_hosted_ipi_poll often
 * (mmk_hal_cpu_relax does).  Turning it off answers what is pending.
 */
void mmk_hosted_ipi_serve(bool on);
/** Answer the requests waiting in the calling CPU's mailbox. */
void mmk_hosted_ipi_poll(void);

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
