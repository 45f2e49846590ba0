/* SPDX-License-Identifier: MIT */
/*
 * mmkit — page tables: what a format can express (fitting flags to it),
 * single entries encoded and decoded, and the raw view of a table.
 */
#include <mmkit/log.h>
#include <mmkit/pt.h>

#include "pt/checks.h"

/* ------------------------------------------------- fitting flags */
/* Does the encoder take @f and give exactly @f back (A/D presets aside)? */
static bool pt_exact(const struct mmk_pt *pt, uint32_t f)
{
	uint64_t pte;
	mmk_paddr_t pa;
	uint32_t back;
	if (pt->fmt->ops->encode_leaf(pt, 0, 0, f, &pte) != 0)
		return false;
	if (pt->fmt->ops->decode_leaf(pt, 0, pte, &pa.v, &back) != 0)
		return false;
	uint32_t ad = MMK_PT_ACCESSED | MMK_PT_DIRTY;
	return ((back ^ f) & ~ad) == 0;
}

int mmk_pt_fit_flags(const struct mmk_pt *pt, uint32_t want, uint32_t *have)
{
	if (want & ~MMK_PT_FLAGS_ALL)
		return MMK_EINVAL;
	/* The access bits to add, fewest first (then READ before WRITE
	 * before EXEC): the smallest superset the hardware forces. */
	static const uint32_t add[] = {
		0,
		MMK_PT_READ,
		MMK_PT_WRITE,
		MMK_PT_EXEC,
		MMK_PT_READ | MMK_PT_WRITE,
		MMK_PT_READ | MMK_PT_EXEC,
		MMK_PT_WRITE | MMK_PT_EXEC,
		MMK_PT_RWX,
	};
	for (unsigned i = 0; i < MMK_ARRAY_SIZE(add); i++) {
		if (add[i] & want)
			continue;
		if (pt_exact(pt, want | add[i])) {
			*have = want | add[i];
			return MMK_OK;
		}
	}
	return MMK_ENOTSUP;
}

bool mmk_pt_can_express(const struct mmk_pt *pt, uint32_t flags)
{
	uint32_t have;
	return mmk_pt_fit_flags(pt, flags, &have) == 0 && have == flags;
}

/* ------------------------------------------------ encodings (tests) */
int mmk_pt_encode_leaf(const struct mmk_pt *pt, unsigned level, mmk_paddr_t pa,
		       uint32_t flags, uint64_t *pte)
{
	if (level >= pt->fmt->levels)
		return MMK_EINVAL; /* as decode_leaf and raw_entry */
	if (!(pt->fmt->leaf_levels >> level & 1))
		return MMK_ENOTSUP;
	int err = pt_check_flags(flags);
	if (!err)
		err = pt_check_pa(pt, pa, (uint64_t)1 << pt->shift[level],
				  (uint64_t)1 << pt->shift[level]);
	if (err)
		return err;
	return pt->fmt->ops->encode_leaf(pt, level, pa.v, flags, pte);
}

int mmk_pt_decode_leaf(const struct mmk_pt *pt, unsigned level, uint64_t pte,
		       mmk_paddr_t *pa, uint32_t *flags)
{
	if (level >= pt->fmt->levels)
		return MMK_EINVAL;
	if (!(pt->fmt->leaf_levels >> level & 1))
		return MMK_ENOENT; /* no leaf can sit there */
	uint64_t p;
	int err = pt->fmt->ops->decode_leaf(pt, level, pte, &p, flags);
	if (!err)
		*pa = mmk_pa(p);
	return err;
}

int mmk_pt_raw_entry(const struct mmk_pt *pt, mmk_vaddr_t va, unsigned level,
		     uint64_t *pte)
{
	if (!pt_canonical(pt, va))
		return MMK_ENONCANON;
	if (level >= pt->fmt->levels)
		return MMK_EINVAL;
	return pt->fmt->ops->raw_entry(pt, pt_ia(pt, va), level, pte);
}
