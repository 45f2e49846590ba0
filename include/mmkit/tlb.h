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

/** Ranges kept before one full flush replaces them. */
#define MMK_TLB_GATHER_RANGES 16
/** Past this many base pages one full flush replaces the ranges. */
#define MMK_TLB_GATHER_FLUSH_ALL_PAGES 64

/*
 * Fields may be read by callers (tests, statistics); only the functions
 * below change them.
 */
struct mmk_tlb_gather {
	/* Where the translations may be cached; NULL: active nowhere, so
	 * finish flushes nothing (the puts still happen).  Kept by pointer
	 * until finish. */
	const mmk_cpumask_t *cpus;
	uint32_t asid; /* ASID the translations belong to */
	bool all;      /* flush everything of @asid (of every ASID if global) */
	bool global;   /* a global translation was removed or reduced */
	unsigned nranges;
	uint64_t npages; /* base pages recorded in range[] */
	struct {
		mmk_vaddr_t start, end; /* [start, end), coalesced */
	} range[MMK_TLB_GATHER_RANGES];
	/* Frames to put after the flush, first queued first put. */
	struct mmk_frames *frames;   /* all puts of one gather share it */
	uint64_t put_head, put_tail; /* frame number + 1; 0 = none */
	unsigned long nput;
};

/** Start an empty gather for translations cached on @cpus with @asid. */
void mmk_tlb_gather_init(struct mmk_tlb_gather *g, const mmk_cpumask_t *cpus,
			 uint32_t asid);

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

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_TLB_H */
