/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the TLB gather (include/mmkit/tlb.h): ranges coalesced once,
 * here, for every caller; the flush; the deferred puts.
 */
#include <mmkit/log.h>
#include <mmkit/tlb.h>

void mmk_tlb_gather_init(struct mmk_tlb_gather *g, const mmk_cpumask_t *cpus,
			 uint32_t asid)
{
	/* Everything but range[]: only range[0, nranges) is ever read, and
	 * the array is most of the gather (one init per changing call). */
	g->cpus = cpus;
	g->asid = asid;
	g->asid_src = NULL;
	g->all = false;
	g->global = false;
	g->nranges = 0;
	g->npages = 0;
	g->frames = NULL;
	g->put_head = 0;
	g->put_tail = 0;
	g->nput = 0;
}

void mmk__tlb_gather_range_slow(struct mmk_tlb_gather *g, mmk_vaddr_t start,
				mmk_vaddr_t end, bool global)
{
	(void)global; /* already ORed in by the inline part */
	g->npages += (end - start) >> MMK_PAGE_SHIFT;
	if (g->npages > MMK_TLB_GATHER_FLUSH_ALL_PAGES ||
	    g->nranges == MMK_TLB_GATHER_RANGES) {
		g->all = true;
		return;
	}
	g->range[g->nranges].start = start;
	g->range[g->nranges].end = end;
	g->nranges++;
}

void mmk_tlb_gather_all(struct mmk_tlb_gather *g, bool global)
{
	g->global |= global;
	g->all = true;
}

bool mmk_tlb_gather_empty(const struct mmk_tlb_gather *g)
{
	return !g->all && g->nranges == 0 && g->put_head == 0;
}

/* Link field of a queued frame: its metadata's next/prev, 64 bits. */
static inline uint64_t tlb_link(const struct mmk_frame *m)
{
	return (uint64_t)m->next | (uint64_t)m->prev << 32;
}

static inline void tlb_set_link(struct mmk_frame *m, uint64_t v)
{
	m->next = (uint32_t)v;
	m->prev = (uint32_t)(v >> 32);
}

static inline mmk_paddr_t tlb_pa(uint64_t link)
{
	return mmk_pa((link - 1) << MMK_PAGE_SHIFT);
}

void mmk_tlb_gather_put(struct mmk_tlb_gather *g, struct mmk_frames *frames,
			mmk_paddr_t pa)
{
	struct mmk_frame *m = mmk_frame_meta(frames, pa);
	MMK_ASSERT(m != NULL);
	MMK_ASSERT(g->frames == NULL || g->frames == frames);
	g->frames = frames;
	uint64_t link = (pa.v >> MMK_PAGE_SHIFT) + 1;
	tlb_set_link(m, 0);
	if (g->put_tail)
		tlb_set_link(mmk_frame_meta(frames, tlb_pa(g->put_tail)), link);
	else
		g->put_head = link;
	g->put_tail = link;
	g->nput++;
}

/* The ASID to flush: the space's current one when the gather tracks it
 * (read after the edits, so it names what CPUs run with now). */
static inline uint32_t tlb_asid(const struct mmk_tlb_gather *g)
{
	if (!g->asid_src)
		return g->asid;
	atomic_thread_fence(memory_order_seq_cst);
	return mmk_tlb_ctx_asid(g->asid_src);
}

/*
 * With mmk__tlb_flush_range_now, the one place a gather invalidates TLBs:
 * one request with every range, one shootdown to the CPUs of @cpus (which
 * the caller has snapshot after its edits), in which the local flush
 * overlaps the remote ones.
 */
static void tlb_flush_now(const struct mmk_tlb_gather *g)
{
	if (!g->cpus || (!g->all && g->nranges == 0))
		return; /* active nowhere, or nothing recorded */
	struct mmk_tlb_flush f;
	f.asid = tlb_asid(g);
	f.all = g->all;
	f.global = g->global;
	f.nranges = g->all ? 0 : g->nranges;
	f.range = g->range;
	if (g->all && g->global)
		f.asid = MMK_ASID_ALL;
	mmk_tlb_shootdown(g->cpus, &f);
}

/*
 * Break-before-make: the CPUs that may cache the old entry *now*, after
 * the break (read from the space's context when the gather tracks one):
 * a CPU that started running the space since @g's mask was taken may have
 * walked the old entry, and nothing of this flush is recorded for later.
 * A CPU that comes after this snapshot walks the broken entry (nothing)
 * or the new one.  A gather with no cpus (a fork's child, active nowhere
 * by contract) reads its context too: that finds it empty.
 */
void mmk__tlb_flush_range_now(const struct mmk_tlb_gather *g, mmk_vaddr_t start,
			      mmk_vaddr_t end)
{
	mmk_cpumask_t now;
	const mmk_cpumask_t *cpus = g->cpus;
	if (g->asid_src) {
		mmk_tlb_ctx_cached(g->asid_src, &now);
		cpus = &now;
	}
	if (!cpus)
		return;
	struct mmk_tlb_range r = {start, end};
	struct mmk_tlb_flush f;
	f.asid = tlb_asid(g);
	f.all = false;
	f.global = true;
	f.nranges = 1;
	f.range = &r;
	mmk_tlb_shootdown(cpus, &f);
}

void mmk__tlb_flush_one(const mmk_cpumask_t *cpus, uint32_t asid,
			const struct mmk_tlb_ctx *asid_src, mmk_vaddr_t start,
			mmk_vaddr_t end, bool global)
{
	if (!cpus)
		return;
	if (asid_src) {
		atomic_thread_fence(memory_order_seq_cst);
		asid = mmk_tlb_ctx_asid(asid_src);
	}
	struct mmk_tlb_range r = {start, end};
	struct mmk_tlb_flush f;
	f.asid = asid;
	f.all = false;
	f.global = global;
	f.nranges = 1;
	f.range = &r;
	mmk_tlb_shootdown(cpus, &f);
}

void mmk__tlb_flush_asid(const mmk_cpumask_t *cpus, uint32_t asid,
			 const struct mmk_tlb_ctx *asid_src)
{
	if (!cpus)
		return;
	if (asid_src) {
		atomic_thread_fence(memory_order_seq_cst);
		asid = mmk_tlb_ctx_asid(asid_src);
	}
	struct mmk_tlb_flush f;
	f.asid = asid;
	f.all = true;
	f.global = false;
	f.nranges = 0;
	f.range = NULL;
	mmk_tlb_shootdown(cpus, &f);
}

void mmk_tlb_gather_flush(struct mmk_tlb_gather *g)
{
	tlb_flush_now(g);
	g->all = false;
	g->global = false;
	g->nranges = 0;
	g->npages = 0;
}

void mmk_tlb_gather_finish(struct mmk_tlb_gather *g)
{
	mmk_tlb_gather_flush(g);
	uint64_t link = g->put_head;
	while (link) {
		mmk_paddr_t pa = tlb_pa(link);
		struct mmk_frame *m = mmk_frame_meta(g->frames, pa);
		link = tlb_link(m);
		tlb_set_link(m, 0);
		int r = mmk_frame_put(g->frames, pa);
		MMK_ASSERT(r >= 0);
	}
	g->put_head = g->put_tail = 0;
	g->nput = 0;
	g->frames = NULL;
}
