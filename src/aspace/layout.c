/* SPDX-License-Identifier: MIT */
/*
 * The machine-readable layout of a space (mmk_aspace_dump_layout): its
 * areas, the runs of pages in each (mapped or not yet faulted, leaf size,
 * leaf table shared after a fork) and the table pages it costs, between
 * markers, for tools/mmkit-maps.  The line format is in
 * include/mmkit/aspace.h.  Small stack (issue 16): one line buffer for
 * the whole dump, in its context, and no line is formatted under the
 * page-table walk's frames.
 */
#include "aspace_internal.h"

struct layout {
	struct mmk_aspace *as;
	mmk_pt_line_fn out;
	void *ctx;
	unsigned long areas, runs;
	/* the area being walked, and where its next run starts */
	mmk_vaddr_t end, cur;
	/* the run of leaves being gathered (have: there is one) */
	bool have;
	mmk_vaddr_t rs, re;
	uint64_t psize;
	uint32_t pflags;
	bool shared;
	char line[160];
};

static void emit(struct layout *l)
{
	l->out(l->ctx, l->line);
}

/* "run <start>-<end> pop|lazy <leaf size> <rwx> own|shared" */
static void run_line(struct layout *l, mmk_vaddr_t s, mmk_vaddr_t e, bool pop,
		     uint64_t psize, uint32_t f, bool shared)
{
	mmk_snprintf(l->line, sizeof(l->line),
		     "run %08llx-%08llx %s %llx %c%c%c %s",
		     (unsigned long long)s, (unsigned long long)e,
		     pop ? "pop" : "lazy", (unsigned long long)psize,
		     f & MMK_PT_READ ? 'r' : '-', f & MMK_PT_WRITE ? 'w' : '-',
		     f & MMK_PT_EXEC ? 'x' : '-', shared ? "shared" : "own");
	emit(l);
	l->runs++;
}

/* The hole before @upto (pages not yet faulted), if any. */
static void hole_upto(struct layout *l, mmk_vaddr_t upto)
{
	if (upto > l->cur)
		run_line(l, l->cur, upto, false, l->as->page_size, 0, false);
	l->cur = MMK_MAX(l->cur, upto);
}

/*
 * Gathers one run of like leaves from l->cur on.  It prints nothing: the
 * first leaf that does not extend the run stops the walk (1), the run is
 * printed by layout_area outside the walk, which then walks again from
 * the run's end.  So a line is formatted on a shallow stack, never under
 * the walk's frames.
 */
static int layout_leaf(void *ctx, const struct mmk_pt_leaf *lf)
{
	struct layout *l = ctx;
	/* a huge leaf is reported whole: clip it to the area */
	mmk_vaddr_t s = MMK_MAX(lf->va, l->have ? l->re : l->cur);
	mmk_vaddr_t e = MMK_MIN(lf->va + lf->size, l->end);
	uint32_t f = lf->flags & MMK_PT_RWX;
	if (e <= s)
		return 0;
	if (!l->have) {
		l->have = true;
		l->rs = s;
		l->re = e;
		l->psize = lf->page_size;
		l->pflags = f;
		l->shared = lf->shared;
		return 0;
	}
	if (l->re == s && l->psize == lf->page_size && l->pflags == f &&
	    l->shared == lf->shared) {
		l->re = e;
		return 0;
	}
	return 1;
}

/* "area <start>-<end> <rwxp> <offset> <flags> <backend>": the first four
 * fields as mmk_aspace_dump_maps writes them, then the whole protection
 * and attributes (MMK_ASPACE_FLAGS) in hex. */
__attribute__((noinline)) static int layout_area(struct layout *l,
						 const struct mmk_mset_area *a)
{
	const struct mmk_backend *b = mmk_backend_of(a);
	size_t n = mmk_snprintf(l->line, sizeof(l->line), "area ");
	n += mmk__area_maps_head(l->line + n, sizeof(l->line) - n, a);
	mmk_snprintf(l->line + n, sizeof(l->line) - n, " %08x %s",
		     (unsigned)a->flags, b->name && b->name[0] ? b->name : "-");
	emit(l);
	l->areas++;
	l->end = a->end;
	l->cur = a->start;
	for (;;) {
		l->have = false;
		int r = mmk_pt_walk(&l->as->pt, l->cur, l->end - l->cur,
				    layout_leaf, l);
		if (r < 0)
			return r;
		if (!l->have)
			break; /* no leaf left in the area */
		hole_upto(l, l->rs);
		run_line(l, l->rs, l->re, true, l->psize, l->pflags, l->shared);
		l->cur = l->re;
		if (r == 0 || l->cur == l->end)
			break; /* the walk reached the area's end */
	}
	hole_upto(l, l->end);
	return 0;
}

/* "tables <levels> <n>:<bytes> ... shared <n>", level 0 first.  Not
 * inlined, here and below: the counts stay off the stack of the walk. */
__attribute__((noinline)) static void layout_tables(struct layout *l)
{
	struct mmk_pt_table_count c;
	mmk_pt_count_tables(&l->as->pt, &c);
	size_t n =
		mmk_snprintf(l->line, sizeof(l->line), "tables %u", c.levels);
	for (unsigned i = 0; i < c.levels && n < sizeof(l->line); i++)
		n += mmk_snprintf(l->line + n, sizeof(l->line) - n, " %ld:%x",
				  c.pages[i], (unsigned)c.bytes[i]);
	if (n < sizeof(l->line))
		mmk_snprintf(l->line + n, sizeof(l->line) - n, " shared %ld",
			     c.shared_leaf);
	emit(l);
}

__attribute__((noinline)) static void layout_head(struct layout *l,
						  const char *name)
{
	struct mmk_aspace *as = l->as;
	struct mmk_pt_info info;
	mmk_pt_info(&as->pt, &info);
	mmk_snprintf(l->line, sizeof(l->line), "MMKIT-MAPS-BEGIN %s",
		     name && name[0] ? name : "-");
	emit(l);
	mmk_snprintf(l->line, sizeof(l->line), "format %u %s %llx %llx-%llx",
		     MMK_ASPACE_LAYOUT_VERSION, info.name,
		     (unsigned long long)as->page_size,
		     (unsigned long long)as->base, (unsigned long long)as->end);
	emit(l);
}

int mmk_aspace_dump_layout(struct mmk_aspace *as, const char *name,
			   mmk_pt_line_fn out, void *ctx)
{
	if (!as || !out)
		return MMK_EINVAL;
	struct layout l = {.as = as, .out = out, .ctx = ctx};
	layout_head(&l, name);
	_Atomic long *rl = mmk__as_read_lock(as);
	/* areas one by one (not mmk_mset_foreach: its frame would sit
	 * under the walk's) */
	int r = 0;
	for (const struct mmk_mset_area *a =
		     mmk_mset_find_first(&as->areas, 0, UINT64_MAX);
	     a && r >= 0; a = mmk_mset_next(&as->areas, a))
		r = layout_area(&l, a);
	if (r >= 0)
		layout_tables(&l);
	mmk__as_read_unlock(rl);
	if (r < 0) {
		/* no END line: a reader sees the dump is cut short */
		mmk_snprintf(l.line, sizeof(l.line), "error %d", r);
		emit(&l);
		return r;
	}
	mmk_snprintf(l.line, sizeof(l.line), "total %lu %lu", l.areas, l.runs);
	emit(&l);
	mmk_snprintf(l.line, sizeof(l.line), "MMKIT-MAPS-END");
	emit(&l);
	return 0;
}
