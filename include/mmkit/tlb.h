/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the TLB gather: what a set of page-table edits must flush, where,
 * and what may be freed only after that flush.
 *
 * One gather lives on the caller's stack for one operation.  Edits record
 * into it; the caller finishes it once.  The order is Linux's mmu_gather
 * order, and the reason for the object:
 *
 *   unhook   the edits clear entries and unhook table pages (recording the
 *            ranges and queueing the pages / frames with mmk_tlb_gather_put)
 *   flush    mmk_tlb_gather_finish invalidates the recorded ranges (or
 *            everything) on @cpus for @asid, through the HAL
 *   free     only then does it drop the queued references: no CPU can
 *            still reach a freed frame through a stale TLB entry or a
 *            cached walk of a freed table.
 *
 * Every HAL flush mmkit issues goes through one function of gather.c
 * (tlb_flush_now), so a shootdown to other CPUs (issue 13) changes that one
 * place: @cpus already says where the translations may be cached.
 *
 * The queued frames are threaded through their frame metadata (next/prev
 * belong to the owner of an allocated block), never through the pages
 * themselves, which a hardware walker may still read until the flush.  So
 * queueing needs no memory and cannot fail.
 *
 * Locking: a gather is private to its caller; the tables it records for are
 * edited under the caller's lock.  mmk_tlb_gather_finish may run with that
 * lock still held (it takes the frame allocator's lock, which is below).
 */
#ifndef MMKIT_TLB_H
#define MMKIT_TLB_H

#include <mmkit/frame.h>
#include <mmkit/hal.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Ranges kept before one full flush replaces them (at most a request's,
 * MMK_TLB_FLUSH_RANGES).  Few: a fault's gather lives on its stack, under
 * 1 KiB in all (docs/STACK.md), and an operation's edits are mostly one
 * run (Linux keeps one range); past four runs, or
 * MMK_TLB_GATHER_FLUSH_ALL_PAGES pages, one full flush costs less than
 * the page flushes would.
 */
#define MMK_TLB_GATHER_RANGES 4
/** Past this many base pages one full flush replaces the ranges. */
#define MMK_TLB_GATHER_FLUSH_ALL_PAGES 64

struct mmk_tlb_ctx;

/*
 * Fields may be read by callers (tests, statistics); only the functions
 * below change them.
 */
/* mmk_tlb_gather_init sets every field but range[] one by one (the array
 * is most of the gather): a new field needs its line there. */
struct mmk_tlb_gather {
	/* Where the translations may be cached; NULL: active nowhere, so
	 * finish flushes nothing (the puts still happen).  Kept by pointer
	 * until finish. */
	const mmk_cpumask_t *cpus;
	uint32_t asid; /* ASID the translations belong to */
	/* When set, the ASID is read from this context at each flush
	 * instead: a space's ASID may change under an operation (a rollover
	 * on another CPU), and the flush must name the one in use after the
	 * edits. */
	const struct mmk_tlb_ctx *asid_src;
	bool all;    /* flush everything of @asid (of every ASID if global) */
	bool global; /* a global translation was removed or reduced */
	unsigned nranges;
	uint64_t npages; /* base pages recorded in range[] */
	struct mmk_tlb_range range[MMK_TLB_GATHER_RANGES]; /* coalesced */
	/* Frames to put after the flush, first queued first put. */
	struct mmk_frames *frames;   /* all puts of one gather share it */
	uint64_t put_head, put_tail; /* frame number + 1; 0 = none */
	unsigned long nput;
};

/** Start an empty gather for translations cached on @cpus with @asid. */
void mmk_tlb_gather_init(struct mmk_tlb_gather *g, const mmk_cpumask_t *cpus,
			 uint32_t asid);

/** Read @g's ASID from @src at each flush (see asid_src above). */
static inline void mmk_tlb_gather_track_asid(struct mmk_tlb_gather *g,
					     const struct mmk_tlb_ctx *src)
{
	g->asid_src = src;
}

/** Out of line part of mmk_tlb_gather_range (a new range, thresholds). */
void mmk__tlb_gather_range_slow(struct mmk_tlb_gather *g, mmk_vaddr_t start,
				mmk_vaddr_t end, bool global);

/**
 * Record that [start, end) must be flushed (@global: it held a global
 * translation).  A range that continues the last one extends it; past
 * MMK_TLB_GATHER_RANGES ranges or MMK_TLB_GATHER_FLUSH_ALL_PAGES pages the
 * gather turns into one full flush.  Inline: the region loops call it once
 * per run of leaves.
 */
static inline void mmk_tlb_gather_range(struct mmk_tlb_gather *g,
					mmk_vaddr_t start, mmk_vaddr_t end,
					bool global)
{
	g->global |= global;
	if (g->all)
		return;
	if (MMK_LIKELY(g->nranges && g->range[g->nranges - 1].end == start)) {
		g->npages += (end - start) >> MMK_PAGE_SHIFT;
		g->range[g->nranges - 1].end = end;
		if (MMK_LIKELY(g->npages <= MMK_TLB_GATHER_FLUSH_ALL_PAGES))
			return;
		g->all = true;
		return;
	}
	mmk__tlb_gather_range_slow(g, start, end, global);
}

/** Flush [start, end) on @g's CPUs now, global included, recording nothing
 *  (the page table's break-before-make). */
void mmk__tlb_flush_range_now(const struct mmk_tlb_gather *g, mmk_vaddr_t start,
			      mmk_vaddr_t end);

/**
 * Flush [start, end) on @cpus (NULL: nowhere) now, without a gather: the
 * one page a fault installed on a format that may cache invalid entries
 * (a gather with its ranges is too big for the fault path's stack).  The
 * ASID is @asid, or @asid_src's current one when it is not NULL, read
 * after the caller's edit as a tracking gather would.
 */
void mmk__tlb_flush_one(const mmk_cpumask_t *cpus, uint32_t asid,
			const struct mmk_tlb_ctx *asid_src, mmk_vaddr_t start,
			mmk_vaddr_t end, bool global);

/** mmk__tlb_flush_one for everything of the ASID (not the global
 *  translations): a fault's unshare on a format that needs a full flush. */
void mmk__tlb_flush_asid(const mmk_cpumask_t *cpus, uint32_t asid,
			 const struct mmk_tlb_ctx *asid_src);

/** Record that everything of the ASID must be flushed. */
void mmk_tlb_gather_all(struct mmk_tlb_gather *g, bool global);

/**
 * Drop one reference to the frame block at @pa (mmk_frame_put) once the
 * flush is done: table pages (a block with one reference) and data frames
 * alike.  Every put of one gather names the same @frames.  Cannot fail.
 */
void mmk_tlb_gather_put(struct mmk_tlb_gather *g, struct mmk_frames *frames,
			mmk_paddr_t pa);

/** True if there is nothing to flush and nothing to put. */
bool mmk_tlb_gather_empty(const struct mmk_tlb_gather *g);

/**
 * Flush what is recorded now and forget it, keeping the queued puts
 * (break-before-make, or a caller that must flush before going on).
 */
void mmk_tlb_gather_flush(struct mmk_tlb_gather *g);

/**
 * Flush, then drop the queued references in the order they were queued.
 * Afterwards @g is empty (same @cpus and @asid) and may be reused.
 */
void mmk_tlb_gather_finish(struct mmk_tlb_gather *g);

/* ---------------------------------------------------------------------
 * Where a space's translations may be cached, and its ASID.
 *
 * Every space embeds one struct mmk_tlb_ctx.  Two CPU masks:
 *
 *   active  CPUs that have the space loaded now
 *   cached  CPUs that may still hold its translations: active, plus (with
 *           ASIDs on) CPUs that switched away but have not flushed since,
 *           under the ASID the space still owns.  Always a superset of
 *           active.  Flushes go to exactly these CPUs.
 *
 * ASIDs (PCIDs on x86_64) come from one machine-wide allocator with
 * generations, after Linux's arm64 allocator: an id is
 *
 *     63                    16 15           0
 *    +------------------------+--------------+
 *    |      generation        |     ASID     |   (0: no ASID yet)
 *    +------------------------+--------------+
 *
 * A switch to a space whose id is of the current generation flushes
 * nothing (and takes no lock: one compare-and-swap on the CPU's slot).
 * When the numbers run out, the generation moves on: every number is free
 * again except the ones loaded on some CPU right now (they stay with their
 * spaces), and every CPU flushes its whole TLB once, at its next switch,
 * before it loads any number of the new generation.  A space whose id is
 * of an old generation gets a number at its next activation, and its
 * cached mask restarts from its active mask (the CPUs that cached it
 * under the old number can no longer reach those entries: each flushes
 * before it loads a new-generation number).
 *
 * With the allocator off (mmk_tlb_asid_init never called, or with 0
 * bits) or for a space given a fixed ASID, nothing is allocated: the
 * space uses its fixed number (0 by default) and a CPU switching away
 * flushes it locally, so cached == active.
 *
 * Locking: activate / deactivate on the calling CPU with interrupts off
 * (or the thread pinned); the allocator's own spinlock is taken only on
 * the slow path (new number, rollover, pending flush).  The masks change
 * with atomic bit operations; writers of the space read them with
 * seq_cst after their page-table edits.
 * --------------------------------------------------------------------- */

/** Widest ASID the allocator handles (riscv64, aarch64 with 16 bits). */
#define MMK_ASID_BITS_MAX 16
/* ASID widths of the architectures (the kernel passes what its CPU has). */
#define MMK_ASID_BITS_X86_64	  12 /* PCID, when CR4.PCIDE can be set */
#define MMK_ASID_BITS_RISCV64	  16 /* at most: ASIDLEN as satp reports it */
#define MMK_ASID_BITS_AARCH64	  8  /* 16 with ID_AA64MMFR0_EL1.ASIDBits */
#define MMK_ASID_BITS_LOONGARCH64 10 /* ASID.ASIDBITS */

struct mmk_tlb_ctx {
	mmk_cpumask_t active; /* atomic bit operations */
	mmk_cpumask_t cached; /* superset of active */
	/* generation << 16 | ASID; the fixed ASID when @fixed */
	MMK_ATOMIC(uint64_t) id;
	bool fixed; /* never allocated: the allocator is off or set_asid */
};

/**
 * Start the allocator with @bits-wide ASIDs (0: off, every space keeps its
 * fixed ASID and a switch away flushes) for @ncpus CPUs (ids below it).
 * ASID 0 is never handed out (the kernel's / no-ASID tag).  Call once at
 * boot before any space is activated (tests: between runs, with no space
 * active).  MMK_EINVAL if @bits > MMK_ASID_BITS_MAX, @ncpus is 0 or above
 * MMK_CFG_MAX_CPUS, or there are not more numbers than CPUs
 * (2^bits - 1 <= ncpus: a rollover must leave a free one).
 */
int mmk_tlb_asid_init(unsigned bits, unsigned ncpus);

/** The width the allocator runs with (0: off). */
unsigned mmk_tlb_asid_bits(void);

/** Generations passed since mmk_tlb_asid_init (rollovers). */
uint64_t mmk_tlb_asid_rollovers(void);

/** True if @cpu must flush everything at its next switch (a rollover
 *  happened and it has not switched since). */
bool mmk_tlb_asid_flush_pending(unsigned cpu);

/** True if @id is of the current generation (or a fixed ASID). */
bool mmk_tlb_asid_live(uint64_t id);

/** An empty context: active nowhere, allocated ASIDs (if the allocator
 *  is on), no number yet. */
void mmk_tlb_ctx_init(struct mmk_tlb_ctx *c);

/** Give @c the fixed ASID @asid instead of allocated ones.  The context
 *  must be active nowhere. */
void mmk_tlb_ctx_set_fixed(struct mmk_tlb_ctx *c, uint32_t asid);

/** The ASID @c's translations are tagged with now. */
static inline uint32_t mmk_tlb_ctx_asid(const struct mmk_tlb_ctx *c)
{
	return (uint32_t)(mmk_atomic_load(&c->id, MMK_MO_RELAXED) &
			  (((uint64_t)1 << MMK_ASID_BITS_MAX) - 1));
}

/**
 * The calling CPU starts using @c: sets its bits in active and cached,
 * finds @c a number of the current generation if it has none, does the
 * rollover flush this CPU owes (locally), and returns the ASID to load
 * with the root.  The caller then writes the root (mmk_pt_activate).
 * Interrupts off or the thread pinned.  Cannot fail.
 */
uint32_t mmk_tlb_ctx_activate(struct mmk_tlb_ctx *c);

/**
 * The calling CPU stops using @c (it is switching to another space).
 * With allocated ASIDs the CPU stays in cached; with a fixed ASID it
 * flushes that ASID locally and leaves cached too.
 */
void mmk_tlb_ctx_deactivate(struct mmk_tlb_ctx *c);

/**
 * @c's space dies: it must be active nowhere.  Its number is flushed on
 * the CPUs that may still cache it and returned to the allocator.
 */
void mmk_tlb_ctx_release(struct mmk_tlb_ctx *c);

/** Snapshot where @c may be cached (seq_cst: after the caller's edits):
 *  its cached mask, narrowed after a rollover to the CPUs that can still
 *  reach its old-generation entries (see asid.c). */
void mmk_tlb_ctx_cached(const struct mmk_tlb_ctx *c, mmk_cpumask_t *out);

/**
 * Carry out @f on every CPU of @cpus (mmk_hal_tlb_shootdown, or the
 * synchronous hooks one range at a time).  Empty @cpus: nothing.  The
 * one place mmkit sends a flush to other CPUs.
 */
void mmk_tlb_shootdown(const mmk_cpumask_t *cpus,
		       const struct mmk_tlb_flush *f);

/** Flush everything tagged @asid on the calling CPU only. */
void mmk_tlb_local_all(uint32_t asid);

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_TLB_H */
