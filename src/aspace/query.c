/* SPDX-License-Identifier: MIT */
/* Queries of a space's areas: all under the shared lock, changing nothing. */
#include "aspace_internal.h"

static void area_copy(const struct mmk_mset_area *a, struct mmk_aspace_area *o)
{
	o->start = a->start;
	o->end = a->end;
	o->flags = a->flags;
	o->offset = a->offset;
	o->backend = mmk_backend_of(a);
	o->priv = a->priv;
}

bool mmk_aspace_find_area(struct mmk_aspace *as, mmk_vaddr_t addr,
			  struct mmk_aspace_area *out)
{
	_Atomic long *rl = mmk__as_read_lock(as);
	const struct mmk_mset_area *a = mmk_mset_find(&as->areas, addr);
	if (a && out)
		area_copy(a, out);
	mmk__as_read_unlock(rl);
	return a != NULL;
}

struct foreach_ctx {
	int (*fn)(const struct mmk_aspace_area *a, void *arg);
	void *arg;
};

static int foreach_one(struct mmk_mset_area *a, void *arg)
{
	struct foreach_ctx *c = arg;
	struct mmk_aspace_area copy;
	area_copy(a, &copy);
	return c->fn(&copy, c->arg);
}

int mmk_aspace_foreach_area(struct mmk_aspace *as, mmk_vaddr_t from,
			    int (*fn)(const struct mmk_aspace_area *a,
				      void *arg),
			    void *arg)
{
	struct foreach_ctx c = {fn, arg};
	_Atomic long *rl = mmk__as_read_lock(as);
	int r = mmk_mset_foreach(&as->areas, from, foreach_one, &c);
	mmk__as_read_unlock(rl);
	return r;
}

size_t mmk_aspace_area_count(struct mmk_aspace *as)
{
	_Atomic long *rl = mmk__as_read_lock(as);
	size_t n = mmk_mset_count(&as->areas);
	mmk__as_read_unlock(rl);
	return n;
}

/* The free-area search both ways share: arguments checked, [lo, hi)
 * clipped to the space, the memory set asked under the shared lock. */
static int find_free(struct mmk_aspace *as, mmk_vaddr_t hint, uint64_t size,
		     mmk_vaddr_t lo, mmk_vaddr_t hi, uint64_t align,
		     unsigned dir, mmk_vaddr_t *out)
{
	if (align == 0)
		align = as->page_size;
	if (!MMK_IS_POW2(align) || align < as->page_size)
		return MMK_EALIGN;
	if (size == 0)
		return MMK_EWRAP;
	if (size & (as->page_size - 1))
		return MMK_EALIGN;
	lo = MMK_MAX(lo, as->base);
	hi = MMK_MIN(hi, as->end);
	if (lo >= hi)
		return MMK_ENOMEM;
	hint = MMK_MIN(MMK_MAX(hint, lo), hi);
	_Atomic long *rl = mmk__as_read_lock(as);
	int err = mmk_mset_find_free(&as->areas, hint, size, lo, hi, align, dir,
				     out);
	mmk__as_read_unlock(rl);
	return err;
}

int mmk_aspace_find_free_area(struct mmk_aspace *as, mmk_vaddr_t hint,
			      uint64_t size, mmk_vaddr_t lo, mmk_vaddr_t hi,
			      uint64_t align, mmk_vaddr_t *out)
{
	return find_free(as, hint, size, lo, hi, align, MMK_MSET_BOTTOM_UP,
			 out);
}

int mmk_aspace_find_free_area_down(struct mmk_aspace *as, mmk_vaddr_t hint,
				   uint64_t size, mmk_vaddr_t lo,
				   mmk_vaddr_t hi, uint64_t align,
				   mmk_vaddr_t *out)
{
	return find_free(as, hint, size, lo, hi, align, MMK_MSET_TOP_DOWN, out);
}

int mmk_aspace_walk_pages(struct mmk_aspace *as, mmk_vaddr_t start,
			  uint64_t size, mmk_pt_walk_fn fn, void *ctx)
{
	_Atomic long *rl = mmk__as_read_lock(as);
	int r = mmk_pt_walk(&as->pt, start, size, fn, ctx);
	mmk__as_read_unlock(rl);
	return r;
}

struct dump_ctx {
	mmk_pt_line_fn out;
	void *ctx;
};

/* The protection shown is the one asked for (--x on x86_64 too, whose
 * pages are mapped readable), as /proc/PID/maps shows it. */
/* "start-end perms offset", the head of a /proc/PID/maps line, shared by
 * mmk_aspace_dump_maps and the layout dump (layout.c): their areas must
 * read the same.  Returns the length written. */
size_t mmk__area_maps_head(char *buf, size_t size,
			   const struct mmk_mset_area *a)
{
	const struct mmk_backend *b = mmk_backend_of(a);
	uint32_t f = a->flags;
	return mmk_snprintf(
		buf, size, "%08llx-%08llx %c%c%c%c %08llx",
		(unsigned long long)a->start, (unsigned long long)a->end,
		f & MMK_PT_READ ? 'r' : '-', f & MMK_PT_WRITE ? 'w' : '-',
		f & MMK_PT_EXEC ? 'x' : '-',
		b->props & MMK_BACKEND_SHARED ? 's' : 'p',
		(unsigned long long)(b->props & MMK_BACKEND_SHOW_OFFSET
					     ? a->offset
					     : 0));
}

static int dump_one(struct mmk_mset_area *a, void *arg)
{
	struct dump_ctx *d = arg;
	const struct mmk_backend *b = mmk_backend_of(a);
	char line[160];
	size_t n = mmk__area_maps_head(line, sizeof(line), a);
	mmk_snprintf(line + n, sizeof(line) - n, " 00:00 0 %s",
		     b->name ? b->name : "");
	d->out(d->ctx, line);
	return 0;
}

int mmk_aspace_dump_maps(struct mmk_aspace *as, mmk_pt_line_fn out, void *ctx)
{
	struct dump_ctx d = {out, ctx};
	_Atomic long *rl = mmk__as_read_lock(as);
	int r = mmk_mset_foreach(&as->areas, 0, dump_one, &d);
	mmk__as_read_unlock(rl);
	return r;
}

bool mmk__as_can_access_locked(struct mmk_aspace *as, mmk_vaddr_t start,
			       uint64_t size, uint32_t access, uint32_t need)
{
	if (size == 0)
		return true;
	mmk_vaddr_t end = start + size;
	if (end < start)
		return false;
	const struct mmk_mset_area *a = mmk_mset_find(&as->areas, start);
	mmk_vaddr_t cur = start;
	while (a && a->start <= cur) {
		if ((mmk__as_rights(as, a->flags) & access) != access ||
		    (a->flags & need) != need)
			return false;
		if (a->end >= end)
			return true;
		cur = a->end;
		a = mmk_mset_next(&as->areas, a);
	}
	return false;
}

bool mmk_aspace_can_access_range(struct mmk_aspace *as, mmk_vaddr_t start,
				 uint64_t size, uint32_t access)
{
	if (mmk__as_check_access(access))
		return false;
	_Atomic long *rl = mmk__as_read_lock(as);
	bool ok = mmk__as_can_access_locked(as, start, size, access, 0);
	mmk__as_read_unlock(rl);
	return ok;
}
