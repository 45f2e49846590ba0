/* SPDX-License-Identifier: MIT */
/*
 * The early bump allocator.  RAM ranges minus reserved ranges are free; an
 * allocation takes the lowest fitting free piece and becomes a reserved
 * range itself, so mmk_frames_init later sees exactly what is left.
 */
#include "frame_internal.h"

#include <mmkit/log.h>

void mmk_bootmem_init(struct mmk_bootmem *bm)
{
	bm->nram = 0;
	bm->nresv = 0;
	bm->closed = false;
}

static bool range_ok(uint64_t start, uint64_t size)
{
	return size != 0 && start + size > start;
}

int mmk_bootmem_add_ram(struct mmk_bootmem *bm, mmk_paddr_t start,
			uint64_t size)
{
	if (bm->closed)
		return MMK_EBUSY;
	if (!range_ok(start.v, size))
		return MMK_EWRAP;
	uint64_t s = MMK_ALIGN_UP(start.v, MMK_PAGE_SIZE);
	uint64_t e = MMK_ALIGN_DOWN(start.v + size, MMK_PAGE_SIZE);
	if (s >= e || s < start.v)
		return MMK_EINVAL; /* less than one whole page */
	for (unsigned i = 0; i < bm->nram; i++)
		if (s < bm->ram[i].end && bm->ram[i].start < e)
			return MMK_EEXIST;
	if (bm->nram == MMK_FRAME_MAX_REGIONS)
		return MMK_ERANGE;
	/* keep sorted by start */
	unsigned i = bm->nram++;
	while (i > 0 && bm->ram[i - 1].start > s) {
		bm->ram[i] = bm->ram[i - 1];
		i--;
	}
	bm->ram[i] = (struct mmk_prange){s, e};
	return MMK_OK;
}

/* Insert [s, e) into the sorted reserved list, merging what it touches. */
static int resv_insert(struct mmk_bootmem *bm, uint64_t s, uint64_t e)
{
	unsigned i = 0;
	while (i < bm->nresv && bm->resv[i].end < s)
		i++;
	unsigned j = i;
	while (j < bm->nresv && bm->resv[j].start <= e) {
		s = MMK_MIN(s, bm->resv[j].start);
		e = MMK_MAX(e, bm->resv[j].end);
		j++;
	}
	if (j == i) { /* no overlap: a new entry at i */
		if (bm->nresv == MMK_BOOTMEM_MAX_RANGES)
			return MMK_ENOMEM;
		for (unsigned k = bm->nresv; k > i; k--)
			bm->resv[k] = bm->resv[k - 1];
		bm->nresv++;
	} else { /* entries i..j-1 collapse into i */
		unsigned gone = j - i - 1;
		for (unsigned k = i + 1; k + gone < bm->nresv; k++)
			bm->resv[k] = bm->resv[k + gone];
		bm->nresv -= gone;
	}
	bm->resv[i] = (struct mmk_prange){s, e};
	return MMK_OK;
}

int mmk_bootmem_reserve(struct mmk_bootmem *bm, mmk_paddr_t start,
			uint64_t size)
{
	if (bm->closed)
		return MMK_EBUSY;
	if (!range_ok(start.v, size))
		return MMK_EWRAP;
	/* Whole pages: a partly reserved page is not free. */
	uint64_t s = MMK_ALIGN_DOWN(start.v, MMK_PAGE_SIZE);
	uint64_t e = MMK_ALIGN_UP(start.v + size, MMK_PAGE_SIZE);
	if (e < start.v + size) /* rounding wrapped at the top */
		e = UINT64_MAX & ~(MMK_PAGE_SIZE - 1);
	return resv_insert(bm, s, e);
}

int mmk_bootmem_alloc(struct mmk_bootmem *bm, uint64_t size, uint64_t align,
		      mmk_paddr_t *out)
{
	if (bm->closed)
		return MMK_EBUSY;
	/* Zero, or so large that rounding up to pages wraps to zero. */
	if (size == 0 || size > UINT64_MAX - (MMK_PAGE_SIZE - 1))
		return MMK_EWRAP;
	if (!MMK_IS_POW2(align))
		return MMK_EINVAL;
	if (align < MMK_PAGE_SIZE)
		align = MMK_PAGE_SIZE;
	size = MMK_ALIGN_UP(size, MMK_PAGE_SIZE);
	for (unsigned r = 0; r < bm->nram; r++) {
		uint64_t p = MMK_ALIGN_UP(bm->ram[r].start, align);
		/* step over reserved ranges in address order */
		for (unsigned k = 0; k <= bm->nresv; k++) {
			if (p < bm->ram[r].start || p + size < p ||
			    p + size > bm->ram[r].end)
				break;
			if (k == bm->nresv || p + size <= bm->resv[k].start) {
				int err = resv_insert(bm, p, p + size);
				if (err)
					return err;
				*out = mmk_pa(p);
				return MMK_OK;
			}
			if (bm->resv[k].end > p)
				p = MMK_ALIGN_UP(bm->resv[k].end, align);
		}
	}
	return MMK_ENOMEM;
}

void mmk__bootmem_unalloc(struct mmk_bootmem *bm, mmk_paddr_t pa, uint64_t size)
{
	uint64_t s = pa.v, e = pa.v + MMK_ALIGN_UP(size, MMK_PAGE_SIZE);
	unsigned k = 0;
	while (k < bm->nresv && bm->resv[k].end < e)
		k++;
	/* The allocation became part of exactly one reserved range. */
	MMK_ASSERT(k < bm->nresv && bm->resv[k].start <= s);
	struct mmk_prange *r = &bm->resv[k];
	if (r->start == s && r->end == e) { /* it was a range of its own */
		for (unsigned i = k; i + 1 < bm->nresv; i++)
			bm->resv[i] = bm->resv[i + 1];
		bm->nresv--;
	} else if (r->start == s) {
		r->start = e;
	} else if (r->end == e) {
		r->end = s;
	} else { /* it joined the ranges on both sides: split them again */
		MMK_ASSERT(bm->nresv < MMK_BOOTMEM_MAX_RANGES);
		for (unsigned i = bm->nresv; i > k + 1; i--)
			bm->resv[i] = bm->resv[i - 1];
		bm->nresv++;
		bm->resv[k + 1] = (struct mmk_prange){e, r->end};
		r->end = s;
	}
}

uint64_t mmk_bootmem_free_bytes(const struct mmk_bootmem *bm)
{
	uint64_t total = 0;
	for (unsigned r = 0; r < bm->nram; r++) {
		uint64_t s = bm->ram[r].start, e = bm->ram[r].end;
		total += e - s;
		for (unsigned k = 0; k < bm->nresv; k++) {
			uint64_t a = MMK_MAX(s, bm->resv[k].start);
			uint64_t b = MMK_MIN(e, bm->resv[k].end);
			if (a < b)
				total -= b - a;
		}
	}
	return total;
}
