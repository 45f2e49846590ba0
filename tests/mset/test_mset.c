/* SPDX-License-Identifier: MIT */
/*
 * The memory set: a model-based random test against a sorted array, the
 * edges of the address space and of the arguments, injected allocation
 * failure in every kind of split and at every allocation of every
 * prepare, commits that allocate nothing, aborts, the dead list, and the
 * exact backend calls a driver makes from the transactions (what the
 * address space does with its backends).
 *
 * Pictures use one character per page:  [aaaa]  an area,  .  free.
 */
#include "mmk_test.h"

#include <mmkit/mset.h>

#include <stdio.h>
#include <string.h>

#define PG  4096ull
#define TOP UINT64_MAX

/* ------------------------------------------------ a recording backend */

enum { EV_MAP, EV_UNMAP, EV_PROTECT, EV_SPLIT, EV_RELEASE };

struct ev {
	int kind;
	uint64_t start, end; /* the subrange (protect: the area) */
	uint32_t flags;	     /* protect: the new flags */
	uint64_t offset;     /* unmap: backend offset of start */
};

#define MAXEV 4096
static struct ev evs[MAXEV];
static int nev;
static long made, released; /* area objects given a priv / released */
static int map_fail_rc;	    /* next map returns this once */
static int split_fail_rc;   /* next split returns this once */

static void rec(int kind, uint64_t s, uint64_t e, uint32_t f, uint64_t off)
{
	if (nev < MAXEV) /* an overflow shows as a count mismatch */
		evs[nev] = (struct ev){kind, s, e, f, off};
	nev++;
}

/*
 * A fake backend: which hooks it has.  An area's kind points at one; the
 * driver below calls the hooks as the address space does with its
 * backends.  priv is a tag: areas merge only with the same tag.
 */
struct be {
	bool map, unmap, protect, split, release;
};

static const struct be be1 = {true, true, true, true, true};
static const struct be be2 = {false, true, false, true, true};

static const struct be *be_of(const struct mmk_mset_area *a)
{
	return a->kind;
}

static int be_map(const struct mmk_mset_area *a)
{
	if (map_fail_rc) {
		int rc = map_fail_rc;
		map_fail_rc = 0;
		return rc;
	}
	rec(EV_MAP, a->start, a->end, a->flags, a->offset);
	return 0;
}

static int be_split(const struct mmk_mset_area *o, struct mmk_mset_area *p)
{
	(void)o;
	(void)p;
	if (split_fail_rc) {
		int rc = split_fail_rc;
		split_fail_rc = 0;
		return rc;
	}
	made++;
	return 0;
}

static void be_release(const struct mmk_mset_area *a)
{
	if (be_of(a) && be_of(a)->release)
		released++;
}

static struct mmk_mset set;
static long objs0;

/* ------------------------------------------------ the test's driver */

/*
 * What the address space does with a transaction: between prepare and
 * commit, the split hook on every piece (undone and aborted if one
 * fails), the unmap / protect hooks on every area of the range as it is
 * before the commit, the new area's map hook; after the commit, release
 * every dead object.  It also checks the dead list: exactly the objects
 * that left the set (those of the range and its two neighbours, the new
 * one and the pieces, minus what is in the set afterwards).
 */
#define WINMAX 1024
static const struct mmk_mset_area *win_before[WINMAX + 3];
static int nwin_before;

static int window(uint64_t s, uint64_t e, const struct mmk_mset_area **out)
{
	uint64_t lo = s ? s - 1 : 0, hi = e < TOP ? e + 1 : TOP;
	int n = 0;
	for (const struct mmk_mset_area *a = mmk_mset_find_first(&set, lo, hi);
	     a && a->start < hi; a = mmk_mset_next(&set, a)) {
		assert_true(n < WINMAX);
		out[n++] = a;
	}
	return n;
}

static bool in_list(const struct mmk_mset_area *a,
		    const struct mmk_mset_area *const *l, int n)
{
	for (int i = 0; i < n; i++)
		if (l[i] == a)
			return true;
	return false;
}

static void check_dead(const struct mmk_mset_txn *t, uint64_t s, uint64_t e,
		       const struct mmk_mset_area *newa)
{
	static const struct mmk_mset_area *after[WINMAX];
	int na = window(s, e, after), ndead = 0, nexp = 0;
	for (const struct mmk_mset_area *d = t->dead; d; d = d->link) {
		ndead++;
		assert_true(ndead <= WINMAX);
		assert_false(in_list(d, after, na)); /* left the set */
		assert_true(in_list(d, win_before, nwin_before) || d == newa ||
			    d == t->piece[0] || d == t->piece[1]);
		assert_true(d->start < d->end);
	}
	for (int i = 0; i < nwin_before; i++)
		nexp += !in_list(win_before[i], after, na);
	nexp += newa && !in_list(newa, after, na);
	for (unsigned i = 0; i < t->npieces; i++)
		nexp += !in_list(t->piece[i], after, na);
	assert_int_equal(ndead, nexp);
}

static void release_dead(struct mmk_mset_txn *t)
{
	for (struct mmk_mset_area *a = t->dead, *next; a; a = next) {
		next = a->link;
		be_release(a);
		mmk_mset_area_free(&set, a);
	}
}

/* The split hook on each piece; on failure undo those done, abort. */
static int split_pieces(struct mmk_mset_txn *t)
{
	for (unsigned i = 0; i < t->npieces; i++) {
		const struct be *b = be_of(t->orig[i]);
		if (!b || !b->split)
			continue;
		int rc = be_split(t->orig[i], t->piece[i]);
		if (rc) {
			for (unsigned j = 0; j < i; j++)
				be_release(t->piece[j]);
			mmk_mset_abort(&set, t);
			return rc;
		}
	}
	return 0;
}

static void record_unmaps(uint64_t s, uint64_t e)
{
	for (const struct mmk_mset_area *a = mmk_mset_find_first(&set, s, e);
	     a && a->start < e; a = mmk_mset_next(&set, a)) {
		uint64_t cs = a->start > s ? a->start : s;
		uint64_t ce = a->end < e ? a->end : e;
		if (be_of(a) && be_of(a)->unmap)
			rec(EV_UNMAP, cs, ce, a->flags,
			    a->offset + (cs - a->start));
	}
}

static void record_protects(uint64_t s, uint64_t e, uint32_t f)
{
	for (const struct mmk_mset_area *a = mmk_mset_find_first(&set, s, e);
	     a && a->start < e; a = mmk_mset_next(&set, a)) {
		uint64_t cs = a->start > s ? a->start : s;
		uint64_t ce = a->end < e ? a->end : e;
		if (a->flags != f && be_of(a) && be_of(a)->protect)
			rec(EV_PROTECT, cs, ce, f, a->offset + (cs - a->start));
	}
}

static void finish(struct mmk_mset_txn *t, uint64_t s, uint64_t e,
		   const struct mmk_mset_area *newa)
{
	nwin_before = window(s, e, win_before);
	mmk_mset_commit(&set, t);
	check_dead(t, s, e, newa);
	release_dead(t);
}

static int drv_insert(const struct mmk_mset_area *tm, unsigned mode,
		      struct mmk_mset_area **out)
{
	struct mmk_mset_txn t;
	int rc = mmk_mset_prepare_insert(&set, tm, mode, &t);
	if (rc)
		return rc;
	rc = split_pieces(&t);
	if (rc)
		return rc;
	int nev0 = nev;
	record_unmaps(tm->start, tm->end);
	if (be_of(t.area) && be_of(t.area)->map) {
		rc = be_map(t.area);
		if (rc) {
			/* Nothing happened: drop what was recorded. */
			nev = nev0;
			for (unsigned i = 0; i < t.npieces; i++)
				be_release(t.piece[i]);
			mmk_mset_abort(&set, &t);
			return rc;
		}
	}
	finish(&t, tm->start, tm->end, t.area);
	if (out)
		*out = t.area;
	return 0;
}

static int drv_unmap(uint64_t s, uint64_t size)
{
	struct mmk_mset_txn t;
	int rc = mmk_mset_prepare_unmap(&set, s, size, &t);
	if (rc)
		return rc;
	rc = split_pieces(&t);
	if (rc)
		return rc;
	record_unmaps(s, s + size);
	finish(&t, s, s + size, NULL);
	return 0;
}

static int drv_protect(uint64_t s, uint64_t size, uint32_t f)
{
	struct mmk_mset_txn t;
	int rc = mmk_mset_prepare_protect(&set, s, size, f, &t);
	if (rc)
		return rc;
	rc = split_pieces(&t);
	if (rc)
		return rc;
	record_protects(s, s + size, f);
	finish(&t, s, s + size, NULL);
	return 0;
}

static int unmap_release_fn(struct mmk_mset_area *a, void *arg)
{
	(void)arg;
	if (be_of(a) && be_of(a)->unmap)
		rec(EV_UNMAP, a->start, a->end, a->flags, a->offset);
	be_release(a);
	return 0;
}

/* Unmap and release every area, in order, then clear the set. */
static void drv_clear(void)
{
	mmk_mset_foreach(&set, 0, unmap_release_fn, NULL);
	mmk_mset_clear(&set);
}

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_fail_off();
	mmk_hosted_log_reset(true);
	mmk_mset_init(&set);
	nev = 0;
	made = released = 0;
	map_fail_rc = split_fail_rc = 0;
	objs0 = mmk_hosted_live_objs();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmk_hosted_fail_off();
	drv_clear();
	mmk_mset_destroy(&set);
	/* Every object back, every priv released exactly once. */
	assert_int_equal(mmk_hosted_live_objs(), objs0);
	assert_int_equal(made, released);
	return 0;
}

static struct mmk_mset_area tmpl(uint64_t s, uint64_t e, uint32_t flags,
				 uintptr_t tag)
{
	struct mmk_mset_area t = {0};
	t.start = s;
	t.end = e;
	t.offset = s;
	t.flags = flags;
	t.kind = &be1;
	t.priv = (void *)tag;
	return t;
}

static int ins(uint64_t s, uint64_t e, uint32_t flags, uintptr_t tag,
	       unsigned mode)
{
	struct mmk_mset_area t = tmpl(s, e, flags, tag);
	int rc = drv_insert(&t, mode, NULL);
	if (rc == 0)
		made++;
	return rc;
}
#define CHECK_SET() assert_int_equal(mmk_mset_check(&set), 0)

/* ------------------------------------------------------------ the model */

struct marea {
	uint64_t start, end, offset;
	uint32_t flags;
	uintptr_t tag;
	const void *kind;
};

#define MMAX 20000
static struct marea model[MMAX];
static int mn;

static int m_first(uint64_t s, uint64_t e) /* first intersecting or -1 */
{
	for (int i = 0; i < mn; i++)
		if (model[i].end > s)
			return model[i].start < e ? i : -1;
	return -1;
}

static void m_insert_at(int i, struct marea a)
{
	assert_true(mn < MMAX);
	memmove(&model[i + 1], &model[i], (size_t)(mn - i) * sizeof(model[0]));
	model[i] = a;
	mn++;
}

static void m_remove_at(int i)
{
	memmove(&model[i], &model[i + 1],
		(size_t)(mn - i - 1) * sizeof(model[0]));
	mn--;
}

static int m_pos(uint64_t s) /* index of the first area starting >= s */
{
	int i = 0;
	while (i < mn && model[i].start < s)
		i++;
	return i;
}

static bool m_mergeable(const struct marea *lo, const struct marea *hi)
{
	return lo->end == hi->start && lo->kind == hi->kind &&
	       lo->flags == hi->flags &&
	       lo->offset + (lo->end - lo->start) == hi->offset &&
	       lo->tag == hi->tag;
}

static void m_normalize(void)
{
	for (int i = 0; i + 1 < mn;) {
		if (m_mergeable(&model[i], &model[i + 1])) {
			model[i].end = model[i + 1].end;
			m_remove_at(i + 1);
		} else {
			i++;
		}
	}
}

/* Unmap [s, e) in the model; appends the expected callbacks to @ex. */
static void m_unmap(uint64_t s, uint64_t e, struct ev *ex, int *nex)
{
	for (int i = 0; i < mn;) {
		struct marea *a = &model[i];
		if (a->end <= s) {
			i++;
			continue;
		}
		if (a->start >= e)
			break;
		uint64_t cs = a->start > s ? a->start : s;
		uint64_t ce = a->end < e ? a->end : e;
		ex[(*nex)++] = (struct ev){EV_UNMAP, cs, ce, a->flags,
					   a->offset + (cs - a->start)};
		if (a->start < s && a->end > e) {
			struct marea up = *a;
			up.offset += e - a->start;
			up.start = e;
			a->end = s;
			m_insert_at(i + 1, up);
			break;
		}
		if (a->start < s) {
			a->end = s;
			i++;
		} else if (a->end > e) {
			a->offset += e - a->start;
			a->start = e;
			break;
		} else {
			m_remove_at(i);
		}
	}
}

static void m_protect(uint64_t s, uint64_t e, uint32_t f, struct ev *ex,
		      int *nex)
{
	/* Split at s and e where flags change, then flip. */
	for (int i = 0; i < mn; i++) {
		struct marea *a = &model[i];
		if (a->start < s && a->end > s && a->flags != f) {
			struct marea up = *a;
			up.offset += s - a->start;
			up.start = s;
			a->end = s;
			m_insert_at(i + 1, up);
			break;
		}
	}
	for (int i = 0; i < mn; i++) {
		struct marea *a = &model[i];
		if (a->start < e && a->end > e && a->flags != f) {
			struct marea up = *a;
			up.offset += e - a->start;
			up.start = e;
			a->end = e;
			m_insert_at(i + 1, up);
			break;
		}
	}
	for (int i = 0; i < mn; i++) {
		struct marea *a = &model[i];
		if (a->end <= s || a->start >= e || a->flags == f)
			continue;
		if (a->kind == &be1)
			ex[(*nex)++] = (struct ev){EV_PROTECT, a->start, a->end,
						   f, a->offset};
		a->flags = f;
	}
	m_normalize();
}

static uint64_t align_up_sat(uint64_t x, uint64_t a, bool *ovf)
{
	if (x > TOP - (a - 1)) {
		*ovf = true;
		return 0;
	}
	*ovf = false;
	return (x + a - 1) & ~(a - 1);
}

/* Brute force over every gap of the model. */
static int m_find_free(uint64_t hint, uint64_t size, uint64_t lo, uint64_t hi,
		       uint64_t align, unsigned dir, uint64_t *out)
{
	if (align == 0 || (align & (align - 1)))
		return MMK_EALIGN;
	if (size == 0)
		return MMK_EWRAP;
	if (lo >= hi)
		return MMK_EINVAL;
	if (hint < lo || hint > hi)
		return MMK_ERANGE;
	uint64_t wl = dir == MMK_MSET_TOP_DOWN ? lo : hint;
	uint64_t wh = dir == MMK_MSET_TOP_DOWN ? hint : hi;
	bool found = false;
	uint64_t best = 0;
	for (int g = 0; g <= mn; g++) {
		uint64_t gs = g == 0 ? 0 : model[g - 1].end;
		uint64_t ge = g == mn ? TOP : model[g].start;
		uint64_t l = gs > wl ? gs : wl, h = ge < wh ? ge : wh;
		if (l >= h || h - l < size)
			continue;
		if (dir == MMK_MSET_TOP_DOWN) {
			uint64_t x = (h - size) & ~(align - 1);
			if (x >= l) {
				best = x; /* later gaps are higher */
				found = true;
			}
		} else {
			bool ovf;
			uint64_t x = align_up_sat(l, align, &ovf);
			if (!ovf && x <= h && h - x >= size) {
				*out = x;
				return 0;
			}
		}
	}
	if (!found)
		return MMK_ENOMEM;
	*out = best;
	return 0;
}

/* The set must equal the model, area by area. */
struct cmp_state {
	int i;
	bool ok;
};

static int cmp_fn(struct mmk_mset_area *a, void *arg)
{
	struct cmp_state *c = arg;
	if (c->i >= mn) {
		c->ok = false;
		return 1;
	}
	const struct marea *m = &model[c->i++];
	if (a->start != m->start || a->end != m->end ||
	    a->offset != m->offset || a->flags != m->flags ||
	    (uintptr_t)a->priv != m->tag || a->kind != m->kind) {
		fprintf(stderr,
			"area %d: set [%#lx,%#lx) off %#lx f %u tag %lu; "
			"model [%#lx,%#lx) off %#lx f %u tag %lu\n",
			c->i - 1, (unsigned long)a->start,
			(unsigned long)a->end, (unsigned long)a->offset,
			a->flags, (unsigned long)(uintptr_t)a->priv,
			(unsigned long)m->start, (unsigned long)m->end,
			(unsigned long)m->offset, m->flags,
			(unsigned long)m->tag);
		c->ok = false;
		return 1;
	}
	return 0;
}

static char opdesc[160];

static void compare_model(void)
{
	int chk = mmk_mset_check(&set);
	if (chk)
		fprintf(stderr, "check %d after %s\n", chk, opdesc);
	assert_int_equal(chk, 0);
	struct cmp_state c = {0, true};
	mmk_mset_foreach(&set, 0, cmp_fn, &c);
	if (!c.ok || c.i != mn) {
		fprintf(stderr, "mismatch after %s (%d areas, model %d)\n",
			opdesc, c.i, mn);
		int lo = c.i > 6 ? c.i - 6 : 0;
		for (int i = lo; i < mn && i < c.i + 6; i++)
			fprintf(stderr,
				" m[%d] %#lx-%#lx f %u tag %lu off %#lx\n", i,
				(unsigned long)model[i].start,
				(unsigned long)model[i].end, model[i].flags,
				(unsigned long)model[i].tag,
				(unsigned long)model[i].offset);
		struct mmk_mset_area *a =
			mmk_mset_find_first(&set, model[lo].start, TOP);
		for (int i = 0; a && i < 12; a = mmk_mset_next(&set, a), i++)
			fprintf(stderr, " s %#lx-%#lx f %u tag %lu off %#lx\n",
				(unsigned long)a->start, (unsigned long)a->end,
				a->flags, (unsigned long)(uintptr_t)a->priv,
				(unsigned long)a->offset);
	}
	assert_true(c.ok);
	assert_int_equal(c.i, mn);
	assert_int_equal(mmk_mset_count(&set), mn);
}

static void expect_events(const struct ev *ex, int nex)
{
	if (nev != nex)
		fprintf(stderr, "events: got %d, expected %d\n", nev, nex);
	assert_int_equal(nev, nex);
	for (int i = 0; i < nex; i++) {
		assert_int_equal(evs[i].kind, ex[i].kind);
		assert_int_equal(evs[i].start, ex[i].start);
		assert_int_equal(evs[i].end, ex[i].end);
		assert_int_equal(evs[i].flags, ex[i].flags);
		if (ex[i].kind != EV_PROTECT)
			assert_int_equal(evs[i].offset, ex[i].offset);
	}
}

/* Load the model from the set (for snapshots). */
static int snap_fn(struct mmk_mset_area *a, void *arg)
{
	struct marea *m = arg;
	int *n = (int *)&m[MMAX];
	m[(*n)++] =
		(struct marea){a->start,	   a->end, a->offset, a->flags,
			       (uintptr_t)a->priv, a->kind};
	return 0;
}

static void model_from_set(void)
{
	static struct marea buf[MMAX + 1];
	int *n = (int *)&buf[MMAX];
	*n = 0;
	mmk_mset_foreach(&set, 0, snap_fn, buf);
	memcpy(model, buf, sizeof(model[0]) * (size_t)*n);
	mn = *n;
}

/* ---------------------------------------------------- the random test */

#define WIN_PAGES 16384ull
#define WIN_BASE  0x10000000ull

static uint64_t rnd(uint64_t *s, uint64_t n)
{
	return mmk_test_rand(s) % n;
}

static uint64_t rnd_page(uint64_t *s)
{
	return WIN_BASE + rnd(s, WIN_PAGES) * PG;
}

static uint64_t rnd_len(uint64_t *s)
{
	uint64_t r = rnd(s, 100);
	if (r < 70)
		return (1 + rnd(s, 2)) * PG;
	if (r < 95)
		return (1 + rnd(s, 8)) * PG;
	return (1 + rnd(s, 64)) * PG;
}

static void random_ops_match_a_sorted_array_model(void **state)
{
	(void)state;
	uint64_t seed = mmk_test_seed(0x5eedf00d1234ull);
	long nops = 100000;
	const char *e = getenv("MMK_MSET_OPS");
	if (e)
		nops = atol(e);
	static struct ev ex[MAXEV];
	long stats[8] = {0};
	int maxn = 0;
	unsigned maxh = 0;
	mn = 0;
	for (long op = 0; op < nops; op++) {
		uint64_t r = rnd(&seed, 100);
		int nex = 0;
		nev = 0;
		/* Sometimes make one of the next allocations fail. */
		bool inject = rnd(&seed, 100) < 4;
		if (inject)
			mmk_hosted_fail_nth(MMK_FAIL_OBJ,
					    1 + (long)rnd(&seed, 4));
		long objs_before = mmk_hosted_live_objs();
		/* Bias the size of the set around ~1,500 areas. */
		bool grow = mn < 1500;
		if (r < (grow ? 40u : 25u)) {
			uint64_t s = rnd_page(&seed), len = rnd_len(&seed);
			uint32_t f = (uint32_t)rnd(&seed, 3);
			uintptr_t tag = 1 + rnd(&seed, 2);
			unsigned mode =
				rnd(&seed, 3) == 0 ? MMK_MSET_REPLACE : 0;
			struct mmk_mset_area t = tmpl(s, s + len, f, tag);
			if (rnd(&seed, 4) == 0)
				t.offset = rnd(&seed, 4) * PG;
			if (rnd(&seed, 10) == 0)
				t.kind = &be2;
			snprintf(opdesc, sizeof(opdesc),
				 "op %ld insert [%#lx,%#lx) f %u tag %lu mode "
				 "%u",
				 op, (unsigned long)s, (unsigned long)(s + len),
				 f, (unsigned long)tag, mode);
			int rc = drv_insert(&t, mode, NULL);
			bool overlap = m_first(s, s + len) >= 0;
			if (!(mode & MMK_MSET_REPLACE) && overlap) {
				assert_int_equal(rc, MMK_EEXIST);
			} else if (rc == MMK_ENOMEM) {
				assert_true(inject);
				assert_int_equal(nev, 0);
				assert_int_equal(mmk_hosted_live_objs(),
						 objs_before);
				stats[7]++;
			} else {
				assert_int_equal(rc, 0);
				made++;
				m_unmap(s, s + len, ex, &nex);
				if (t.kind == &be1)
					ex[nex++] =
						(struct ev){EV_MAP, s, s + len,
							    f, t.offset};
				m_insert_at(m_pos(s),
					    (struct marea){s, s + len, t.offset,
							   f, tag, t.kind});
				m_normalize();
				/* split hooks are not in the model's list */
				int k = 0;
				for (int i = 0; i < nev; i++)
					if (evs[i].kind != EV_SPLIT &&
					    evs[i].kind != EV_RELEASE)
						evs[k++] = evs[i];
				nev = k;
				expect_events(ex, nex);
			}
			stats[0]++;
		} else if (r < 60) {
			uint64_t s = rnd_page(&seed), len = rnd_len(&seed) * 2;
			snprintf(opdesc, sizeof(opdesc),
				 "op %ld unmap [%#lx,%#lx)", op,
				 (unsigned long)s, (unsigned long)(s + len));
			int rc = drv_unmap(s, len);
			if (rc == MMK_ENOMEM) {
				assert_true(inject);
				assert_int_equal(nev, 0);
				stats[7]++;
			} else {
				assert_int_equal(rc, 0);
				m_unmap(s, s + len, ex, &nex);
				expect_events(ex, nex);
			}
			stats[1]++;
		} else if (r < 75) {
			uint64_t s = rnd_page(&seed), len = rnd_len(&seed);
			uint32_t f = (uint32_t)rnd(&seed, 3);
			snprintf(opdesc, sizeof(opdesc),
				 "op %ld protect [%#lx,%#lx) f %u", op,
				 (unsigned long)s, (unsigned long)(s + len), f);
			int rc = drv_protect(s, len, f);
			if (rc == MMK_ENOMEM) {
				assert_true(inject);
				assert_int_equal(nev, 0);
				stats[7]++;
			} else {
				assert_int_equal(rc, 0);
				m_protect(s, s + len, f, ex, &nex);
				expect_events(ex, nex);
			}
			stats[2]++;
		} else if (r < 85) {
			uint64_t a = rnd_page(&seed) + rnd(&seed, PG);
			struct mmk_mset_area *got = mmk_mset_find(&set, a);
			int i = m_first(a, a + 1);
			if (i < 0) {
				assert_null(got);
			} else {
				assert_non_null(got);
				assert_int_equal(got->start, model[i].start);
			}
			uint64_t len = rnd_len(&seed);
			got = mmk_mset_find_first(&set, a, a + len);
			i = m_first(a, a + len);
			if (i < 0)
				assert_null(got);
			else
				assert_int_equal(got->start, model[i].start);
			bool cov = mmk_mset_covers(&set, a, len);
			bool mcov = true;
			uint64_t at = a;
			for (int j = i < 0 ? mn : i; j < mn && at < a + len;
			     j++) {
				if (model[j].start > at)
					break;
				at = model[j].end;
			}
			mcov = i >= 0 && at >= a + len;
			assert_int_equal(cov, mcov);
			stats[3]++;
		} else {
			/* find_free: random hint, limit, size, alignment. */
			uint64_t lo = WIN_BASE + rnd(&seed, WIN_PAGES / 2) * PG;
			uint64_t hi = lo + rnd(&seed, WIN_PAGES) * PG +
				      rnd(&seed, 4) * 17;
			if (rnd(&seed, 10) == 0)
				lo = 0;
			if (rnd(&seed, 10) == 0)
				hi = TOP;
			uint64_t span = hi - lo;
			uint64_t hint =
				lo + (span == TOP ? mmk_test_rand(&seed)
						  : rnd(&seed, span + 1));
			if (rnd(&seed, 4) == 0)
				hint = rnd(&seed, 2) ? lo : hi;
			if (rnd(&seed, 50) == 0)
				hint = hi + 1; /* outside */
			uint64_t size = rnd_len(&seed);
			if (rnd(&seed, 8) == 0)
				size = 1 + rnd(&seed, 3 * PG);
			uint64_t align = 1ull << rnd(&seed, 24);
			if (rnd(&seed, 20) == 0)
				align = 1ull << (30 + rnd(&seed, 34));
			unsigned dir = (unsigned)rnd(&seed, 2);
			uint64_t x = 0, mx = 0;
			int rc = mmk_mset_find_free(&set, hint, size, lo, hi,
						    align, dir, &x);
			int mrc = m_find_free(hint, size, lo, hi, align, dir,
					      &mx);
			if (rc != mrc || (rc == 0 && x != mx))
				fprintf(stderr,
					"find_free(hint %#lx size %#lx "
					"[%#lx,%#lx) align %#lx dir %u): "
					"%d %#lx, model %d %#lx\n",
					(unsigned long)hint,
					(unsigned long)size, (unsigned long)lo,
					(unsigned long)hi, (unsigned long)align,
					dir, rc, (unsigned long)x, mrc,
					(unsigned long)mx);
			assert_int_equal(rc, mrc);
			if (rc == 0)
				assert_int_equal(x, mx);
			stats[4 + (rc == 0)]++;
		}
		mmk_hosted_fail_off();
		compare_model();
		if (mn > maxn)
			maxn = mn;
		if (set.height > maxh)
			maxh = set.height;
	}
	print_message("  %ld ops: insert %ld unmap %ld protect %ld find %ld "
		      "find_free %ld (%ld found), %ld injected ENOMEM; "
		      "up to %d areas, height %u\n",
		      nops, stats[0], stats[1], stats[2], stats[3],
		      stats[4] + stats[5], stats[5], stats[7], maxn, maxh);
	assert_true(maxh >= 3);
	drv_clear();
	assert_int_equal(mmk_mset_count(&set), 0);
	assert_int_equal(mmk_hosted_live_objs(), objs0);
	assert_int_equal(made, released);
}

/* ------------------------------------------------------- exact events */

static void unmap_tells_the_backend_exactly_which_subranges_went(void **st)
{
	(void)st;
	/*
	 *   0x10   0x14      0x18  0x1a   0x20
	 *   [aaaa][bbbbbb]   [cc]   ...   [dddddddd]
	 * unmap [0x12, 0x19):  a loses its right part, b goes whole,
	 * c loses its left page.
	 */
	assert_int_equal(ins(0x10 * PG, 0x14 * PG, 1, 1, 0), 0);
	assert_int_equal(ins(0x14 * PG, 0x18 * PG, 2, 1, 0), 0);
	assert_int_equal(ins(0x18 * PG, 0x1a * PG, 3, 1, 0), 0);
	assert_int_equal(ins(0x20 * PG, 0x28 * PG, 1, 1, 0), 0);
	assert_int_equal(mmk_mset_count(&set), 4);
	nev = 0;
	assert_int_equal(drv_unmap(0x12 * PG, 7 * PG), 0);
	struct ev ex[] = {
		{EV_UNMAP, 0x12 * PG, 0x14 * PG, 1, 0x12 * PG},
		{EV_UNMAP, 0x14 * PG, 0x18 * PG, 2, 0x14 * PG},
		{EV_UNMAP, 0x18 * PG, 0x19 * PG, 3, 0x18 * PG},
	};
	expect_events(ex, 3);
	assert_int_equal(mmk_mset_count(&set), 3);
	struct mmk_mset_area *c = mmk_mset_find(&set, 0x19 * PG);
	assert_non_null(c);
	assert_int_equal(c->start, 0x19 * PG);
	assert_int_equal(c->offset, 0x19 * PG); /* offset follows the start */
	assert_null(mmk_mset_find(&set, 0x18 * PG));

	/* A hole in the middle of d: one callback, two pieces. */
	nev = 0;
	assert_int_equal(drv_unmap(0x22 * PG, 2 * PG), 0);
	struct ev ex2[] = {{EV_UNMAP, 0x22 * PG, 0x24 * PG, 1, 0x22 * PG}};
	expect_events(ex2, 1);
	struct mmk_mset_area *lo = mmk_mset_find(&set, 0x21 * PG);
	struct mmk_mset_area *hi = mmk_mset_find(&set, 0x24 * PG);
	assert_non_null(lo);
	assert_non_null(hi);
	assert_int_equal(lo->end, 0x22 * PG);
	assert_int_equal(hi->start, 0x24 * PG);
	assert_int_equal(hi->end, 0x28 * PG);
	assert_int_equal(hi->offset, 0x24 * PG);
	CHECK_SET();

	/* An unmap of only holes tells nobody anything. */
	nev = 0;
	assert_int_equal(drv_unmap(0x1a * PG, 6 * PG), 0);
	assert_int_equal(nev, 0);
}

static void protect_splits_only_the_covered_parts_and_merges_back(void **st)
{
	(void)st;
	/*  [aaaaaaaaaaaaaaaa]  one area, flags 1
	 *  protect [4, 8) to 2:  [aaaa][BBBB][aaaaaaaa]
	 *  protect [4, 8) to 1:  [aaaaaaaaaaaaaaaa]  merged again */
	assert_int_equal(ins(0, 16 * PG, 1, 1, 0), 0);
	nev = 0;
	assert_int_equal(drv_protect(4 * PG, 4 * PG, 2), 0);
	assert_int_equal(mmk_mset_count(&set), 3);
	int np = 0;
	for (int i = 0; i < nev; i++)
		if (evs[i].kind == EV_PROTECT) {
			np++;
			assert_int_equal(evs[i].start, 4 * PG);
			assert_int_equal(evs[i].end, 8 * PG);
			assert_int_equal(evs[i].flags, 2);
		}
	assert_int_equal(np, 1);
	struct mmk_mset_area *m = mmk_mset_find(&set, 5 * PG);
	assert_int_equal(m->flags, 2);
	assert_int_equal(m->offset, 4 * PG);
	assert_int_equal(mmk_mset_find(&set, 3 * PG)->flags, 1);
	assert_int_equal(mmk_mset_find(&set, 8 * PG)->flags, 1);
	CHECK_SET();
	assert_int_equal(drv_protect(4 * PG, 4 * PG, 1), 0);
	assert_int_equal(mmk_mset_count(&set), 1);
	CHECK_SET();

	/* Same flags: nothing split, no callback. */
	nev = 0;
	assert_int_equal(drv_protect(2 * PG, 3 * PG, 1), 0);
	assert_int_equal(nev, 0);
	assert_int_equal(mmk_mset_count(&set), 1);

	/* Left edge only and right edge only. */
	assert_int_equal(drv_protect(12 * PG, 8 * PG, 3), 0);
	assert_int_equal(mmk_mset_count(&set), 2);
	assert_int_equal(mmk_mset_find(&set, 12 * PG)->start, 12 * PG);
	assert_int_equal(drv_protect(0, 2 * PG, 3), 0);
	assert_int_equal(mmk_mset_count(&set), 3);
	CHECK_SET();
}

static void neighbours_merge_only_when_everything_agrees(void **st)
{
	(void)st;
	assert_int_equal(ins(0, PG, 1, 1, 0), 0);
	assert_int_equal(ins(PG, 2 * PG, 1, 1, 0), 0);
	assert_int_equal(mmk_mset_count(&set), 1); /* same everything */
	assert_int_equal(ins(2 * PG, 3 * PG, 2, 1, 0), 0);
	assert_int_equal(mmk_mset_count(&set), 2); /* flags differ */
	assert_int_equal(ins(3 * PG, 4 * PG, 2, 2, 0), 0);
	assert_int_equal(mmk_mset_count(&set), 3); /* can_merge says no */
	struct mmk_mset_area t = tmpl(4 * PG, 5 * PG, 2, 2);
	t.offset = 0x999000;
	assert_int_equal(drv_insert(&t, 0, NULL), 0);
	made++;
	assert_int_equal(mmk_mset_count(&set), 4); /* offsets apart */
	t = tmpl(5 * PG, 6 * PG, 2, 2);
	t.kind = &be2;
	assert_int_equal(drv_insert(&t, 0, NULL), 0);
	made++;
	assert_int_equal(mmk_mset_count(&set), 5); /* other backend */
	assert_int_equal(ins(7 * PG, 8 * PG, 1, 1, MMK_MSET_NOMERGE), 0);
	assert_int_equal(ins(8 * PG, 9 * PG, 1, 1, MMK_MSET_NOMERGE), 0);
	assert_int_equal(mmk_mset_count(&set), 7); /* asked not to */
	/* A filler joins both sides at once. */
	struct mmk_mset_area *out = NULL;
	t = tmpl(PG * 10, PG * 11, 1, 1);
	assert_int_equal(ins(12 * PG, 13 * PG, 1, 1, 0), 0);
	assert_int_equal(drv_insert(&t, 0, &out), 0);
	made++;
	assert_int_equal(ins(11 * PG, 12 * PG, 1, 1, 0), 0);
	out = mmk_mset_find(&set, 11 * PG);
	assert_int_equal(out->start, 10 * PG);
	assert_int_equal(out->end, 13 * PG);
	CHECK_SET();
}

static void insert_refuses_overlap_and_replace_cuts_like_map_fixed(void **st)
{
	(void)st;
	assert_int_equal(ins(0x10 * PG, 0x20 * PG, 1, 1, 0), 0);
	assert_int_equal(ins(0x1f * PG, 0x21 * PG, 2, 1, 0), MMK_EEXIST);
	assert_int_equal(ins(0x8 * PG, 0x11 * PG, 2, 1, 0), MMK_EEXIST);
	assert_int_equal(ins(0x10 * PG, 0x10 * PG, 2, 1, 0), MMK_EWRAP);
	assert_int_equal(ins(0x11 * PG, 0x10 * PG, 2, 1, 0), MMK_EWRAP);
	assert_int_equal(drv_insert(NULL, 0, NULL), MMK_EINVAL);
	/* Replace the middle: [aaaa][BB][aaaaaaaaaa] */
	nev = 0;
	assert_int_equal(ins(0x14 * PG, 0x16 * PG, 2, 1, MMK_MSET_REPLACE), 0);
	assert_int_equal(mmk_mset_count(&set), 3);
	int k = 0;
	for (int i = 0; i < nev; i++) {
		if (evs[i].kind == EV_UNMAP) {
			assert_int_equal(evs[i].start, 0x14 * PG);
			assert_int_equal(evs[i].end, 0x16 * PG);
			k++;
		}
		if (evs[i].kind == EV_MAP)
			assert_int_equal(k, 1); /* unmap comes first */
	}
	assert_int_equal(k, 1);
	CHECK_SET();
	/* A map failure leaves an insert without REPLACE undone. */
	long o = mmk_hosted_live_objs();
	map_fail_rc = MMK_EFAULT;
	assert_int_equal(ins(0x30 * PG, 0x31 * PG, 2, 1, 0), MMK_EFAULT);
	assert_int_equal(mmk_hosted_live_objs(), o);
	assert_int_equal(mmk_mset_count(&set), 3);
	/* A split hook failure changes nothing either. */
	split_fail_rc = MMK_EBUSY;
	nev = 0;
	assert_int_equal(drv_unmap(0x18 * PG, PG), MMK_EBUSY);
	assert_int_equal(nev, 0);
	assert_int_equal(mmk_mset_count(&set), 3);
	assert_int_equal(mmk_hosted_live_objs(), o);
	CHECK_SET();
}

/* ---------------------------------------------------------------- edges */

static void the_top_of_the_address_space_and_wrapping_sizes(void **st)
{
	(void)st;
	uint64_t hi = TOP - (TOP % PG); /* 0xffff_ffff_ffff_f000 */
	/* An area ending at the last representable end. */
	assert_int_equal(ins(hi - PG, TOP, 1, 1, 0), 0);
	assert_non_null(mmk_mset_find(&set, TOP - 1));
	assert_null(mmk_mset_find(&set, TOP));
	assert_null(mmk_mset_find(&set, hi - PG - 1));
	assert_null(mmk_mset_next(&set, mmk_mset_find(&set, hi)));
	/* Sizes that wrap or are zero. */
	assert_int_equal(drv_unmap(hi, PG), MMK_EWRAP);
	assert_int_equal(drv_unmap(PG, TOP), MMK_EWRAP);
	assert_int_equal(drv_unmap(PG, 0), MMK_EWRAP);
	assert_int_equal(drv_protect(PG, 0, 1), MMK_EWRAP);
	assert_int_equal(drv_protect(TOP - 1, 2, 1), MMK_EWRAP);
	assert_false(mmk_mset_covers(&set, hi, PG));
	assert_true(mmk_mset_covers(&set, hi - PG, TOP - (hi - PG)));
	uint64_t x;
	assert_int_equal(mmk_mset_find_free(&set, 0, 0, 0, TOP, PG, 0, &x),
			 MMK_EWRAP);
	assert_int_equal(mmk_mset_find_free(&set, 0, TOP, 0, TOP, 1, 0, &x),
			 MMK_ENOMEM);
	assert_int_equal(
		mmk_mset_find_free(&set, PG, TOP - PG, 0, TOP, 1, 0, &x),
		MMK_ENOMEM);
	/* The highest free page, just under the area at the top. */
	assert_int_equal(mmk_mset_find_free(&set, TOP, PG, 0, TOP, PG,
					    MMK_MSET_TOP_DOWN, &x),
			 0);
	assert_int_equal(x, hi - 2 * PG);
	/* Unmap at the top splits and trims without wrapping. */
	assert_int_equal(drv_unmap(hi - PG, PG), 0);
	assert_int_equal(mmk_mset_find(&set, TOP - 1)->start, hi);
	assert_int_equal(drv_protect(hi, PG - 1, 2), 0);
	assert_int_equal(mmk_mset_count(&set), 1);
	assert_int_equal(mmk_mset_find(&set, TOP - 1)->flags, 2);
	CHECK_SET();
	/* Free space right up to the top when the set is otherwise empty. */
	assert_int_equal(drv_unmap(hi, TOP - hi), 0);
	assert_int_equal(mmk_mset_find_free(&set, TOP, PG, 0, TOP, PG,
					    MMK_MSET_TOP_DOWN, &x),
			 0);
	assert_int_equal(x, hi - PG); /* [x, x + PG) must end <= TOP */
	assert_int_equal(mmk_mset_find_free(&set, TOP - 1, 1, 0, TOP, 1, 0, &x),
			 0);
	assert_int_equal(x, TOP - 1);
}

static void find_free_argument_errors_are_distinct(void **st)
{
	(void)st;
	uint64_t x = 0x1234;
	assert_int_equal(ins(0x100 * PG, 0x200 * PG, 1, 1, 0), 0);
	assert_int_equal(mmk_mset_find_free(&set, 0, PG, 0, TOP, 0, 0, &x),
			 MMK_EALIGN);
	assert_int_equal(mmk_mset_find_free(&set, 0, PG, 0, TOP, 3 * PG, 0, &x),
			 MMK_EALIGN);
	assert_int_equal(mmk_mset_find_free(&set, PG, PG, PG, PG, PG, 0, &x),
			 MMK_EINVAL);
	assert_int_equal(
		mmk_mset_find_free(&set, 2 * PG, PG, 5 * PG, 9 * PG, PG, 0, &x),
		MMK_ERANGE);
	assert_int_equal(mmk_mset_find_free(&set, 10 * PG, PG, 5 * PG, 9 * PG,
					    PG, 1, &x),
			 MMK_ERANGE);
	assert_int_equal(x, 0x1234); /* untouched on error */
	/* Alignment larger than the limit: no aligned address inside. */
	assert_int_equal(mmk_mset_find_free(&set, PG, PG, PG, 1ull << 62,
					    1ull << 63, 0, &x),
			 MMK_ENOMEM);
	/* ...but 0 and 2^63 are aligned, and free. */
	assert_int_equal(
		mmk_mset_find_free(&set, 0, PG, 0, TOP, 1ull << 63, 0, &x), 0);
	assert_int_equal(x, 0);
	assert_int_equal(
		mmk_mset_find_free(&set, PG, PG, 0, TOP, 1ull << 63, 0, &x), 0);
	assert_int_equal(x, 1ull << 63);
	assert_int_equal(
		mmk_mset_find_free(&set, TOP, PG, 0, TOP, 1ull << 63, 1, &x),
		0);
	assert_int_equal(x, 1ull << 63);
	/* 1 GiB alignment, bottom-up and top-down, around the area. */
	assert_int_equal(mmk_mset_find_free(&set, 0x100 * PG, PG, 0, TOP,
					    MMK_GIB, 0, &x),
			 0);
	assert_int_equal(x, MMK_GIB);
	assert_int_equal(mmk_mset_find_free(&set, 0x1ff * PG, PG, 0, TOP,
					    MMK_GIB, 1, &x),
			 0);
	assert_int_equal(x, 0);
	/* Exactly fitting the hole between two areas. */
	assert_int_equal(ins(0x203 * PG, 0x300 * PG, 1, 2, 0), 0);
	assert_int_equal(
		mmk_mset_find_free(&set, 0x150 * PG, 3 * PG, 0, TOP, PG, 0, &x),
		0);
	assert_int_equal(x, 0x200 * PG);
	assert_int_equal(
		mmk_mset_find_free(&set, 0x150 * PG, 4 * PG, 0, TOP, PG, 0, &x),
		0);
	assert_int_equal(x, 0x300 * PG);
	assert_int_equal(
		mmk_mset_find_free(&set, 0x250 * PG, 3 * PG, 0, TOP, PG, 1, &x),
		0);
	assert_int_equal(x, 0x200 * PG);
	/* Hint in the limit but the window is too small. */
	assert_int_equal(mmk_mset_find_free(&set, 0x1ff * PG, 2 * PG,
					    0x100 * PG, 0x201 * PG, PG, 0, &x),
			 MMK_ENOMEM);
}

/* ------------------------------------------------- injected failures */

static int snap_n;
static struct marea snap[MMAX];

static void take_snapshot(void)
{
	model_from_set();
	memcpy(snap, model, sizeof(model[0]) * (size_t)mn);
	snap_n = mn;
}

static void assert_unchanged(void)
{
	model_from_set();
	assert_int_equal(mn, snap_n);
	assert_memory_equal(model, snap, sizeof(model[0]) * (size_t)mn);
	CHECK_SET();
}

enum split_kind {
	K_UNMAP_HOLE,
	K_REPLACE_HOLE,
	K_PROTECT_LEFT,
	K_PROTECT_RIGHT,
	K_PROTECT_BOTH,
	K_PROTECT_TWO_AREAS,
	K_INSERT,
	K_COUNT
};

static int do_kind(int k, uint64_t base)
{
	switch (k) {
	case K_UNMAP_HOLE:
		return drv_unmap(base + PG, PG);
	case K_REPLACE_HOLE: {
		struct mmk_mset_area t = tmpl(base + PG, base + 2 * PG, 7, 3);
		int rc = drv_insert(&t, MMK_MSET_REPLACE, NULL);
		if (!rc)
			made++;
		return rc;
	}
	case K_PROTECT_LEFT:
		return drv_protect(base + PG, 3 * PG, 5);
	case K_PROTECT_RIGHT:
		return drv_protect(base - PG, 2 * PG, 5);
	case K_PROTECT_BOTH:
		return drv_protect(base + PG, PG, 5);
	case K_PROTECT_TWO_AREAS:
		return drv_protect(base + PG, 4 * PG, 5);
	default: {
		struct mmk_mset_area t =
			tmpl(base + 3 * PG, base + 4 * PG, 9, 3);
		int rc = drv_insert(&t, 0, NULL);
		if (!rc)
			made++;
		return rc;
	}
	}
}

static void allocation_failure_in_any_split_changes_nothing(void **st)
{
	(void)st;
	/* Each kind at several tree sizes so node splits cascade through
	 * one, two and three levels. */
	static const int sizes[] = {1, 15, 16, 17, 255, 256, 257, 4096, 5000};
	for (int k = 0; k < K_COUNT; k++) {
		for (size_t si = 0; si < MMK_ARRAY_SIZE(sizes); si++) {
			drv_clear();
			/* areas of 3 pages, 1 page apart, alternating tags so
			 * nothing merges:  [aaa].[bbb].[aaa]. ... */
			int n = sizes[si];
			for (int i = 0; i < n; i++)
				assert_int_equal(
					ins((uint64_t)i * 4 * PG + PG * 16,
					    (uint64_t)i * 4 * PG + PG * 19, 1,
					    1 + (i & 1), 0),
					0);
			/* the target: area n/2 (3 pages at base) */
			uint64_t base = (uint64_t)(n / 2) * 4 * PG + 16 * PG;
			int fails = 0, rc;
			for (long nth = 1;; nth++) {
				take_snapshot();
				long objs = mmk_hosted_live_objs();
				nev = 0;
				mmk_hosted_fail_nth(MMK_FAIL_OBJ, nth);
				rc = do_kind(k, base);
				mmk_hosted_fail_off();
				if (rc != MMK_ENOMEM)
					break;
				fails++;
				assert_int_equal(nev, 0);
				assert_int_equal(mmk_hosted_live_objs(), objs);
				assert_unchanged();
				assert_true(nth < 64);
			}
			assert_int_equal(rc, 0);
			CHECK_SET();
			/* Everything but the insert into an empty gap needs
			 * at least one allocation. */
			if (k != K_INSERT)
				assert_true(fails >= 1);
		}
	}
	/* With an empty reserve, a cascading split needs a node per level. */
	drv_clear();
	int maxfails = 0;
	for (int i = 0; i < 5000; i++) {
		int fails = 0, rc;
		for (long nth = 1;; nth++) {
			mmk_hosted_fail_nth(MMK_FAIL_OBJ, nth);
			rc = ins((uint64_t)i * 2 * PG,
				 (uint64_t)i * 2 * PG + PG, 1, 1, 0);
			mmk_hosted_fail_off();
			if (rc != MMK_ENOMEM)
				break;
			fails++;
		}
		assert_int_equal(rc, 0);
		if (fails > maxfails)
			maxfails = fails;
	}
	CHECK_SET();
	assert_true(maxfails >= 1);
}

/* ------------------------------------------------- the transaction */

/*
 * Every kind of prepare, relative to a target area [base, base + 3) in the
 * layout of the failure tests ([aaa].[bbb].[aaa]. ..., tags alternating):
 * what it asks, and the same change applied to the model.
 */
enum { T_INSERT, T_REPLACE, T_UNMAP, T_PROTECT };

struct txkind {
	const char *name;
	int op;
	int s, e; /* pages from base */
	uint32_t flags;
	uintptr_t tag; /* 0: the target's tag (so that it merges) */
};

static const struct txkind txkinds[] = {
	{"insert into a gap", T_INSERT, 3, 4, 9, 3},
	{"insert merging left", T_INSERT, 3, 4, 1, 0},
	{"replace a hole", T_REPLACE, 1, 2, 7, 3},
	{"replace across two areas", T_REPLACE, 2, 5, 7, 3},
	{"replace merging both ways", T_REPLACE, 1, 2, 1, 0},
	{"unmap a hole", T_UNMAP, 1, 2, 0, 0},
	{"unmap across three areas", T_UNMAP, -2, 6, 0, 0},
	{"unmap nothing", T_UNMAP, 3, 4, 0, 0},
	{"protect the left edge", T_PROTECT, 1, 4, 5, 0},
	{"protect the right edge", T_PROTECT, -1, 1, 5, 0},
	{"protect both edges", T_PROTECT, 1, 2, 5, 0},
	{"protect two areas", T_PROTECT, 1, 5, 5, 0},
	{"protect to the same flags", T_PROTECT, 0, 2, 1, 0},
};

static uint64_t tx_base(int n)
{
	return (uint64_t)(n / 2) * 4 * PG + 16 * PG;
}

static void tx_layout(int n)
{
	drv_clear();
	for (int i = 0; i < n; i++)
		assert_int_equal(ins((uint64_t)i * 4 * PG + PG * 16,
				     (uint64_t)i * 4 * PG + PG * 19, 1,
				     1 + (i & 1), 0),
				 0);
}

static struct mmk_mset_area tx_tmpl(const struct txkind *k, int n)
{
	uint64_t base = tx_base(n);
	uintptr_t tag = k->tag ? k->tag : (uintptr_t)(1 + ((n / 2) & 1));
	return tmpl(base + (uint64_t)k->s * PG, base + (uint64_t)k->e * PG,
		    k->flags, tag);
}

static int tx_prepare(const struct txkind *k, int n, struct mmk_mset_txn *t)
{
	uint64_t base = tx_base(n);
	uint64_t s = base + (uint64_t)k->s * PG,
		 len = (uint64_t)(k->e - k->s) * PG;
	struct mmk_mset_area tm = tx_tmpl(k, n);
	switch (k->op) {
	case T_INSERT:
		return mmk_mset_prepare_insert(&set, &tm, 0, t);
	case T_REPLACE:
		return mmk_mset_prepare_insert(&set, &tm, MMK_MSET_REPLACE, t);
	case T_UNMAP:
		return mmk_mset_prepare_unmap(&set, s, len, t);
	default:
		return mmk_mset_prepare_protect(&set, s, len, k->flags, t);
	}
}

/* The model (loaded from the set) after the same change. */
static void tx_model(const struct txkind *k, int n)
{
	static struct ev ex[MAXEV];
	int nex = 0;
	struct mmk_mset_area tm = tx_tmpl(k, n);
	model_from_set();
	switch (k->op) {
	case T_INSERT:
	case T_REPLACE:
		m_unmap(tm.start, tm.end, ex, &nex);
		m_insert_at(m_pos(tm.start),
			    (struct marea){tm.start, tm.end, tm.offset,
					   tm.flags, (uintptr_t)tm.priv,
					   tm.kind});
		m_normalize();
		break;
	case T_UNMAP:
		m_unmap(tm.start, tm.end, ex, &nex);
		break;
	default:
		m_protect(tm.start, tm.end, k->flags, ex, &nex);
		break;
	}
}

/* A prepared txn's objects now have a priv to release later. */
static void tx_count_made(const struct mmk_mset_txn *t)
{
	made += (long)t->npieces + (t->area ? 1 : 0);
}

static const int tx_sizes[] = {0, 1, 15, 16, 17, 255, 256, 257, 4096};

static void
every_allocation_of_every_prepare_failed_in_turn_changes_nothing(void **st)
{
	(void)st;
	for (size_t ki = 0; ki < MMK_ARRAY_SIZE(txkinds); ki++) {
		const struct txkind *k = &txkinds[ki];
		for (size_t si = 0; si < MMK_ARRAY_SIZE(tx_sizes); si++) {
			int n = tx_sizes[si];
			tx_layout(n);
			struct mmk_mset_txn t;
			int rc, fails = 0;
			for (long nth = 1;; nth++) {
				take_snapshot();
				long objs = mmk_hosted_live_objs();
				mmk_hosted_fail_nth(MMK_FAIL_OBJ, nth);
				rc = tx_prepare(k, n, &t);
				mmk_hosted_fail_off();
				if (rc != MMK_ENOMEM)
					break;
				fails++;
				assert_int_equal(mmk_hosted_live_objs(), objs);
				assert_unchanged();
				/* An abort after a failed prepare is a no-op.
				 */
				mmk_mset_abort(&set, &t);
				assert_int_equal(mmk_hosted_live_objs(), objs);
				assert_unchanged();
				assert_true(nth < 64);
			}
			if (rc)
				fprintf(stderr, "%s at %d areas: %d\n", k->name,
					n, rc);
			assert_int_equal(rc, 0);
			/* What allocates: a new area, a piece, a first leaf. */
			if (t.area || t.npieces)
				assert_true(fails >= 1);
			tx_count_made(&t);
			tx_model(k, n);
			/* The commit with every allocation failing. */
			struct mmk_mset_area tm = tx_tmpl(k, n), *newa = t.area;
			mmk_hosted_fail_after(MMK_FAIL_OBJ, 0);
			nwin_before = window(tm.start, tm.end, win_before);
			mmk_mset_commit(&set, &t);
			assert_int_equal(mmk_hosted_attempts(MMK_FAIL_OBJ), 0);
			mmk_hosted_fail_off();
			check_dead(&t, tm.start, tm.end, newa);
			release_dead(&t);
			snprintf(opdesc, sizeof(opdesc), "%s at %d areas",
				 k->name, n);
			compare_model();
		}
	}
}

static void abort_after_prepare_changes_nothing(void **st)
{
	(void)st;
	static const int sizes[] = {1, 17, 257};
	for (size_t ki = 0; ki < MMK_ARRAY_SIZE(txkinds); ki++) {
		for (size_t si = 0; si < MMK_ARRAY_SIZE(sizes); si++) {
			int n = sizes[si];
			tx_layout(n);
			take_snapshot();
			long objs = mmk_hosted_live_objs();
			struct mmk_mset_txn t;
			assert_int_equal(tx_prepare(&txkinds[ki], n, &t), 0);
			/* The caller's split hook ran, and is undone. */
			for (unsigned i = 0; i < t.npieces; i++) {
				assert_ptr_equal(t.piece[i]->kind,
						 t.orig[i]->kind);
				assert_ptr_equal(t.piece[i]->priv,
						 t.orig[i]->priv);
				assert_int_equal(t.piece[i]->offset,
						 t.orig[i]->offset +
							 (t.piece[i]->start -
							  t.orig[i]->start));
				/* not visible */
				assert_true(mmk_mset_find(&set,
							  t.piece[i]->start) !=
					    t.piece[i]);
				t.piece[i]->priv = (void *)0xdead;
			}
			for (unsigned i = 0; i < t.npieces; i++)
				t.piece[i]->priv = (void *)t.orig[i]->priv;
			assert_unchanged();
			mmk_mset_abort(&set, &t);
			assert_int_equal(mmk_hosted_live_objs(), objs);
			assert_unchanged();
		}
	}
}

static bool dead_is(const struct mmk_mset_txn *t,
		    const struct mmk_mset_area *const *want, int n)
{
	int k = 0;
	for (const struct mmk_mset_area *d = t->dead; d; d = d->link) {
		if (!in_list(d, want, n))
			return false;
		k++;
	}
	return k == n;
}

static struct mmk_mset_area *plain(uint64_t s, uint64_t e, uint32_t f)
{
	struct mmk_mset_area t = tmpl(s * PG, e * PG, f, 1), *out = NULL;
	t.kind = NULL; /* no backend: nothing to release */
	assert_int_equal(mmk_mset_insert(&set, &t, 0, &out), 0);
	return out;
}

static void the_dead_list_holds_exactly_the_objects_that_left(void **st)
{
	(void)st;
	struct mmk_mset_txn t;
	/* [aaaa][bbbb][cc]  unmap [0x12, 0x19): b goes, a and c trimmed. */
	struct mmk_mset_area *a = plain(0x10, 0x14, 1),
			     *b = plain(0x14, 0x18, 2);
	struct mmk_mset_area *c = plain(0x18, 0x1a, 3);
	assert_int_equal(mmk_mset_prepare_unmap(&set, 0x12 * PG, 7 * PG, &t),
			 0);
	mmk_mset_commit(&set, &t);
	const struct mmk_mset_area *w1[] = {b};
	assert_true(dead_is(&t, w1, 1));
	assert_int_equal(b->start, 0x14 * PG); /* as it was */
	assert_int_equal(b->end, 0x18 * PG);
	assert_int_equal(b->flags, 2);
	assert_ptr_equal(mmk_mset_find(&set, 0x11 * PG), a);
	assert_ptr_equal(mmk_mset_find(&set, 0x19 * PG), c);
	release_dead(&t);
	assert_int_equal(mmk_mset_unmap(&set, 0, 0x100 * PG), 0);

	/* [aaaa][BBBB][aaaa]  protect B to a's flags: one area, b and c
	 * absorbed into a. */
	a = plain(0x10, 0x14, 1);
	b = plain(0x14, 0x18, 2);
	c = plain(0x18, 0x1c, 1);
	assert_int_equal(
		mmk_mset_prepare_protect(&set, 0x14 * PG, 4 * PG, 1, &t), 0);
	assert_int_equal(t.npieces, 0);
	mmk_mset_commit(&set, &t);
	const struct mmk_mset_area *w2[] = {b, c};
	assert_true(dead_is(&t, w2, 2));
	assert_int_equal(b->start, 0x14 * PG);
	assert_int_equal(b->end, 0x18 * PG);
	assert_int_equal(b->flags, 1); /* protected, then absorbed */
	assert_int_equal(c->start, 0x18 * PG);
	assert_int_equal(c->end, 0x1c * PG);
	assert_ptr_equal(mmk_mset_find(&set, 0x1b * PG), a);
	assert_int_equal(a->end, 0x1c * PG);
	assert_int_equal(mmk_mset_count(&set), 1);
	release_dead(&t);

	/* [aa].[cc]  insert into the hole: the new object and c go. */
	c = plain(0x1d, 0x1f, 1);
	struct mmk_mset_area tm = tmpl(0x1c * PG, 0x1d * PG, 1, 1);
	tm.kind = NULL;
	assert_int_equal(mmk_mset_prepare_insert(&set, &tm, 0, &t), 0);
	struct mmk_mset_area *na = t.area;
	assert_null(mmk_mset_find(&set, 0x1c * PG)); /* not visible yet */
	mmk_mset_commit(&set, &t);
	const struct mmk_mset_area *w3[] = {na, c};
	assert_true(dead_is(&t, w3, 2));
	assert_ptr_equal(t.area, a);
	assert_int_equal(a->end, 0x1f * PG);
	release_dead(&t);

	/* .[dd]  insert just below d: d goes, the new area takes over. */
	struct mmk_mset_area *d = plain(0x31, 0x33, 1);
	tm = tmpl(0x30 * PG, 0x31 * PG, 1, 1);
	tm.kind = NULL;
	assert_int_equal(mmk_mset_prepare_insert(&set, &tm, 0, &t), 0);
	na = t.area;
	mmk_mset_commit(&set, &t);
	const struct mmk_mset_area *w4[] = {d};
	assert_true(dead_is(&t, w4, 1));
	assert_ptr_equal(t.area, na);
	assert_int_equal(na->end, 0x33 * PG);
	release_dead(&t);

	/* Nothing to do: no allocation, no change, nothing dead. */
	take_snapshot();
	long objs = mmk_hosted_live_objs();
	mmk_hosted_fail_after(MMK_FAIL_OBJ, 0);
	assert_int_equal(mmk_mset_prepare_unmap(&set, 0x40 * PG, PG, &t), 0);
	assert_int_equal(t.npieces, 0);
	mmk_mset_commit(&set, &t);
	assert_null(t.dead);
	assert_int_equal(
		mmk_mset_prepare_protect(&set, 0x10 * PG, 2 * PG, 1, &t), 0);
	assert_int_equal(t.npieces, 0);
	mmk_mset_commit(&set, &t);
	assert_null(t.dead);
	assert_int_equal(mmk_hosted_attempts(MMK_FAIL_OBJ), 0);
	mmk_hosted_fail_off();
	assert_int_equal(mmk_hosted_live_objs(), objs);
	assert_unchanged();

	/* Replace a page of a with the same attributes: a is cut, the new
	 * area and the piece both merge back, and both are dead. */
	tm = tmpl(0x12 * PG, 0x13 * PG, 1, 1);
	tm.kind = NULL;
	assert_int_equal(
		mmk_mset_prepare_insert(&set, &tm, MMK_MSET_REPLACE, &t), 0);
	assert_int_equal(t.npieces, 1);
	assert_ptr_equal(t.orig[0], a);
	struct mmk_mset_area *pc = t.piece[0];
	assert_int_equal(pc->start, 0x13 * PG);
	assert_int_equal(pc->end, 0x1f * PG);
	na = t.area;
	mmk_mset_commit(&set, &t);
	const struct mmk_mset_area *w5[] = {na, pc};
	assert_true(dead_is(&t, w5, 2));
	assert_ptr_equal(t.area, a);
	assert_int_equal(a->start, 0x10 * PG);
	assert_int_equal(a->end, 0x1f * PG);
	release_dead(&t);
	CHECK_SET();

	/* The conveniences free what leaves (teardown counts the objects). */
	size_t n0 = mmk_mset_count(&set);
	assert_int_equal(mmk_mset_protect(&set, 0x11 * PG, PG, 4), 0);
	assert_int_equal(mmk_mset_count(&set), n0 + 2);
	assert_int_equal(mmk_mset_protect(&set, 0x11 * PG, PG, 1), 0);
	assert_int_equal(mmk_mset_count(&set), n0);
	assert_int_equal(mmk_mset_unmap(&set, 0x11 * PG, PG), 0);
	assert_int_equal(mmk_mset_count(&set), n0 + 1);
	struct mmk_mset_area *out = NULL;
	tm = tmpl(0x11 * PG, 0x12 * PG, 1, 1);
	tm.kind = NULL;
	assert_int_equal(mmk_mset_insert(&set, &tm, 0, &out), 0);
	assert_ptr_equal(out, a);
	assert_int_equal(mmk_mset_count(&set), n0);
	CHECK_SET();
}

static void clear_returns_every_object_and_the_set_is_reusable(void **st)
{
	(void)st;
	for (int i = 0; i < 3000; i++)
		assert_int_equal(ins((uint64_t)i * 2 * PG,
				     (uint64_t)i * 2 * PG + PG, 1, 1, 0),
				 0);
	assert_true(mmk_hosted_live_objs() > objs0 + 3000);
	nev = 0;
	drv_clear();
	assert_int_equal(nev, 3000); /* one unmap per area */
	for (int i = 0; i < nev; i++) {
		assert_int_equal(evs[i].kind, EV_UNMAP);
		assert_int_equal(evs[i].start, (uint64_t)i * 2 * PG);
	}
	assert_int_equal(mmk_hosted_live_objs(), objs0);
	assert_int_equal(made, released);
	assert_int_equal(mmk_mset_count(&set), 0);
	assert_null(mmk_mset_find(&set, 0));
	uint64_t x;
	assert_int_equal(mmk_mset_find_free(&set, 0, PG, 0, TOP, PG, 0, &x), 0);
	assert_int_equal(x, 0);
	assert_int_equal(ins(PG, 2 * PG, 1, 1, 0), 0);
	CHECK_SET();
}

static int stop_at_third(struct mmk_mset_area *a, void *arg)
{
	int *n = arg;
	(void)a;
	return ++*n == 3 ? 7 : 0;
}

static void iteration_runs_in_order_from_an_address(void **st)
{
	(void)st;
	for (int i = 999; i >= 0; i--) /* prepending builds a left edge */
		assert_int_equal(ins((uint64_t)i * 2 * PG,
				     (uint64_t)i * 2 * PG + PG, 1, 1 + (i & 1),
				     0),
				 0);
	CHECK_SET();
	struct mmk_mset_area *a = mmk_mset_find_first(&set, 501 * PG, TOP);
	assert_int_equal(a->start, 502 * PG);
	int n = 0;
	for (; a; a = mmk_mset_next(&set, a))
		n++;
	assert_int_equal(n, 1000 - 251);
	n = 0;
	assert_int_equal(mmk_mset_foreach(&set, 0, stop_at_third, &n), 7);
	assert_int_equal(n, 3);
	/* Empty everything from the middle out: the tree shrinks. */
	for (int i = 0; i < 1000; i++) {
		uint64_t s = (uint64_t)((i * 617) % 1000) * 2 * PG;
		assert_int_equal(drv_unmap(s, PG), 0);
		if (i % 50 == 0)
			CHECK_SET();
	}
	assert_int_equal(mmk_mset_count(&set), 0);
	assert_int_equal(set.height, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			unmap_tells_the_backend_exactly_which_subranges_went,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			protect_splits_only_the_covered_parts_and_merges_back,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			neighbours_merge_only_when_everything_agrees, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			insert_refuses_overlap_and_replace_cuts_like_map_fixed,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			the_top_of_the_address_space_and_wrapping_sizes, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			find_free_argument_errors_are_distinct, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			allocation_failure_in_any_split_changes_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			every_allocation_of_every_prepare_failed_in_turn_changes_nothing,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			abort_after_prepare_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			the_dead_list_holds_exactly_the_objects_that_left,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			clear_returns_every_object_and_the_set_is_reusable,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			iteration_runs_in_order_from_an_address, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			random_ops_match_a_sorted_array_model, setup, teardown),
	};
	return cmocka_run_group_tests_name("mset", tests, NULL, NULL);
}
