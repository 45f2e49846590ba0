/* SPDX-License-Identifier: MIT */
/*
 * msync: every area part in the range whose backend has a sync hook
 * writes back what was written through this space (shared file
 * mappings); the others have nothing to write.  One exclusive operation:
 * the hooks' write-protects and their flush go through its gather.
 */
#include "aspace_internal.h"

int mmk_aspace_sync(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size)
{
	int err = mmk__as_check_range(as, start, size);
	if (err)
		return err;
	mmk_vaddr_t end = start + size;
	struct mmk__aspace_work *w = mmk__op_begin(as);
	for (const struct mmk_mset_area *a =
		     mmk_mset_find_first(&as->areas, start, end);
	     a && a->start < end; a = mmk_mset_next(&as->areas, a)) {
		const struct mmk_backend *b = mmk_backend_of(a);
		if (!b->sync)
			continue;
		int e = b->sync(&w->op, a, MMK_MAX(a->start, start),
				MMK_MIN(a->end, end));
		if (e && !err)
			err = e < 0 ? e : MMK_EINVAL;
	}
	mmk__op_end(as);
	return err;
}
