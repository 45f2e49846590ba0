/* SPDX-License-Identifier: MIT */
/*
 * mmkit — page tables: fork (mmk_pt_clone_range) and the unshare of a
 * shared leaf table (mmk_pt_unshare).  The checks that do not depend on
 * the encoding; the work is the engine's (pt/engine/clone.h, share.h).
 */
#include <mmkit/pt.h>

#include "pt/checks.h"
#include "pt/format.h"

#define CLONE_FLAGS                                                            \
	(MMK_PT_CLONE_GET | MMK_PT_CLONE_WRPROTECT | MMK_PT_CLONE_SHARE)

int mmk_pt_clone_range(struct mmk_pt *dst, struct mmk_pt *src,
		       mmk_vaddr_t start, mmk_vaddr_t end, unsigned flags,
		       struct mmk_tlb_gather *g)
{
	if (!dst || !src || dst == src || !dst->fmt || dst->fmt != src->fmt ||
	    dst->frames != src->frames || dst->opts != src->opts)
		return MMK_EINVAL;
	if ((flags & ~CLONE_FLAGS) ||
	    ((flags & MMK_PT_CLONE_SHARE) &&
	     (flags & (MMK_PT_CLONE_GET | MMK_PT_CLONE_WRPROTECT)) !=
		     (MMK_PT_CLONE_GET | MMK_PT_CLONE_WRPROTECT)) ||
	    ((flags & MMK_PT_CLONE_WRPROTECT) && !g))
		return MMK_EINVAL;
	uint64_t page = (uint64_t)1 << src->fmt->page_shift;
	if ((start | end) & (page - 1))
		return MMK_EALIGN;
	if (end < start)
		return MMK_ERANGE;
	if (end == start)
		return MMK_OK;
	uint64_t ia, dia;
	int err = pt_check_range(src, start, end - start, page, true, &ia);
	if (!err)
		err = pt_check_range(dst, start, end - start, page, true, &dia);
	if (err == MMK_ENONCANON)
		err = MMK_ERANGE;
	if (err)
		return err;
	mmk__pt_reap(src);
	mmk__pt_reap(dst);
	return src->fmt->ops->clone_range(dst, src, ia, ia + (end - start),
					  flags, g);
}

int mmk_pt_unshare(struct mmk_pt *pt, mmk_vaddr_t va, struct mmk_tlb_gather *g)
{
	uint64_t ia, page = (uint64_t)1 << pt->fmt->page_shift;
	int err = pt_check_range(pt, va & ~(page - 1), page, page, false, &ia);
	if (err)
		return err;
	return pt->fmt->ops->unshare(pt, ia, g);
}

bool mmk_pt_unshare_flush(const struct mmk_pt *pt, mmk_vaddr_t va,
			  struct mmk_tlb_range *r)
{
	uint64_t span = (uint64_t)1 << pt->shift[1];
	r->start = va & ~(span - 1);
	r->end = r->start + ((uint64_t)1 << pt->fmt->page_shift);
	return (pt->fmt->caps & MMK__FMT_TABLE_FREE_FULL) != 0;
}
