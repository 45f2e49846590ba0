/* SPDX-License-Identifier: MIT */
/*
 * mmkit — page tables: the checks that do not depend on the encoding
 * (wrap, alignment, canonical form, physical width, borrowed root slots,
 * flag bits), shared by the files of src/pt.  Private to the layer.
 */
#ifndef MMK_PT_CHECKS_H
#define MMK_PT_CHECKS_H

#include "pt/format.h"

static inline uint64_t pt_ia(const struct mmk_pt *pt, mmk_vaddr_t va)
{
	return va & (((uint64_t)1 << pt->fmt->va_bits) - 1);
}

/*
 * Adding canon_add moves the canonical range(s) onto [0, 2^va_bits):
 * 2^(va_bits-1) for sign-extended formats (the upper half wraps to the
 * bottom), 0 for a lower-only table, 2^va_bits for an upper-only one.
 */
static inline bool pt_canonical(const struct mmk_pt *pt, mmk_vaddr_t va)
{
	return ((va + pt->canon_add) >> pt->fmt->va_bits) == 0;
}

static inline uint64_t pt_canon_add(const struct mmk__pt_format *f)
{
	switch (f->canon) {
	case MMK__CANON_LOW:
		return 0;
	case MMK__CANON_HIGH:
		return (uint64_t)1 << f->va_bits;
	default:
		return (uint64_t)1 << (f->va_bits - 1);
	}
}

/*
 * The checks shared by every range: EWRAP, EALIGN (to @align), ENONCANON,
 * ERANGE (crossing the hole), EBUSY (borrowed root slots, if @edit).
 */
static inline int pt_check_range(const struct mmk_pt *pt, mmk_vaddr_t va,
				 uint64_t size, uint64_t align, bool edit,
				 uint64_t *ia)
{
	if (size == 0 || va + (size - 1) < va)
		return MMK_EWRAP;
	if ((va | size) & (align - 1))
		return MMK_EALIGN;
	mmk_vaddr_t last = va + (size - 1);
	if (!pt_canonical(pt, va) || !pt_canonical(pt, last))
		return MMK_ENONCANON;
	*ia = pt_ia(pt, va);
	if (pt->fmt->canon == MMK__CANON_SIGNEXT &&
	    ((*ia ^ pt_ia(pt, last)) >> (pt->fmt->va_bits - 1)))
		return MMK_ERANGE; /* from the lower half into the upper */
	if (edit && pt->nborrowed) {
		unsigned top = pt->fmt->levels - 1, sh = pt->shift[top];
		for (uint64_t i = *ia >> sh; i <= pt_ia(pt, last) >> sh; i++)
			if (pt->borrowed[i / 64] >> (i % 64) & 1)
				return MMK_EBUSY;
	}
	return MMK_OK;
}

static inline int pt_check_pa(const struct mmk_pt *pt, mmk_paddr_t pa,
			      uint64_t size, uint64_t align)
{
	if (pa.v & (align - 1))
		return MMK_EALIGN;
	if (pa.v + (size - 1) < pa.v)
		return MMK_ERANGE;
	if (pt->fmt->pa_bits < 64 && (pa.v + (size - 1)) >> pt->fmt->pa_bits)
		return MMK_ERANGE;
	return MMK_OK;
}

/* Level whose leaves are @page_size bytes, or -1. */
static inline int pt_level_of(const struct mmk_pt *pt, uint64_t page_size)
{
	for (unsigned l = 0; l < pt->fmt->levels; l++)
		if ((pt->fmt->leaf_levels >> l & 1) &&
		    page_size == (uint64_t)1 << pt->shift[l])
			return (int)l;
	return -1;
}

static inline int pt_check_flags(uint32_t flags)
{
	return (flags & ~MMK_PT_FLAGS_ALL) ? MMK_ENOTSUP : MMK_OK;
}

#endif /* MMK_PT_CHECKS_H */
