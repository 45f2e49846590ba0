/* SPDX-License-Identifier: MIT */
/*
 * mmkit — page tables: moving whole leaf tables (mremap's move).  The
 * checks that do not depend on the encoding; the work is the engine's
 * (pt/engine/move.h).
 */
#include <mmkit/pt.h>

#include "pt/checks.h"
#include "pt/format.h"

int mmk_pt_reserve_move(struct mmk_pt *pt, struct mmk_pt_resv *r,
			mmk_vaddr_t to, uint64_t size)
{
	MMK_ASSERT(r->pt == pt);
	uint64_t ia;
	int err = pt_check_range(pt, to, size,
				 (uint64_t)1 << pt->fmt->page_shift, true, &ia);
	if (err)
		return err;
	mmk__pt_reap(pt);
	return pt->fmt->ops->move_reserve(pt, r, ia, size);
}

uint64_t mmk_pt_move_tables(struct mmk_pt *pt, struct mmk_pt_resv *r,
			    mmk_vaddr_t from, mmk_vaddr_t to, uint64_t size,
			    struct mmk_tlb_gather *g)
{
	MMK_ASSERT(r->pt == pt && g != NULL);
	uint64_t s, d, page = (uint64_t)1 << pt->fmt->page_shift;
	int err = pt_check_range(pt, from, size, page, true, &s);
	if (!err)
		err = pt_check_range(pt, to, size, page, true, &d);
	MMK_ASSERT(err == 0); /* the caller checked both ranges */
	return pt->fmt->ops->move_tables(pt, r, s, d, size, g);
}
