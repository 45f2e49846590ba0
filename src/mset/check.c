/* SPDX-License-Identifier: MIT */
/*
 * The memory set's checker: every invariant of mset_internal.h, for tests
 * and debug builds.  Read-only.
 */
#include "mset_internal.h"

struct chk {
	uint64_t prev_end;
	bool any;
	size_t count;
};

#define CHK(c)                                                                 \
	do {                                                                   \
		if (!(c))                                                      \
			return -__LINE__;                                      \
	} while (0)

static int check_node(struct chk *k, const node_t *x, unsigned level, bool root,
		      bool leftmost, bool rightmost)
{
	CHK(x->level == level);
	CHK(x->n >= 1 && x->n <= FANOUT);
	if (root)
		CHK(level == 0 || x->n >= 2);
	else if (!leftmost && !rightmost)
		CHK(x->n >= MINFILL);
	for (unsigned i = x->n; i < FANOUT; i++)
		CHK(x->start[i] == NONE);
	for (unsigned i = 0; i < x->n; i++) {
		if (i > 0)
			CHK(x->start[i] >= x->end[i - 1]);
		CHK(x->start[i] < x->end[i]);
		if (level == 0) {
			const area_t *a = x->ptr[i];
			CHK(a && a->start == x->start[i] &&
			    a->end == x->end[i]);
			CHK(!k->any || a->start >= k->prev_end);
			k->prev_end = a->end;
			k->any = true;
			k->count++;
			continue;
		}
		const node_t *c = x->ptr[i];
		CHK(c != NULL);
		int rc = check_node(k, c, level - 1, false, leftmost && i == 0,
				    rightmost && i + 1 == x->n);
		if (rc)
			return rc;
		CHK(x->start[i] == c->start[0]);
		CHK(x->end[i] == c->end[c->n - 1]);
		CHK(x->gap[i] == mmk__mset_node_gap(c));
	}
	return 0;
}

int mmk_mset_check(const struct mmk_mset *set)
{
	struct chk k = {0};
	CHK(set->nspare_leaf <= SPARE_CAP && set->nspare_inner <= SPARE_CAP);
	if (!set->root) {
		CHK(set->height == 0 && set->count == 0);
		return 0;
	}
	CHK(set->height >= 1 && set->height <= MAXH);
	int rc = check_node(&k, set->root, set->height - 1, true, true, true);
	if (rc)
		return rc;
	CHK(k.count == set->count);
	return 0;
}
