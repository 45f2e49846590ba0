/* SPDX-License-Identifier: MIT */
/*
 * Model-based test of shared and file mappings across fork: four spaces,
 * random writes, unmaps, maps, protects, syncs, forks and exits, with
 * every readable page of every space compared byte for byte with the
 * model after every step, on every format (16 KiB pages included).
 *
 * Each space has the same four regions of NP pages:
 *
 *   R_SHM  BASE            shared anonymous (one object for all)
 *   R_FSH  BASE + 1 MiB    the file, shared
 *   R_FPR  BASE + 2 MiB    the file, private (file pages NP..2NP-1)
 *   R_ANON BASE + 3 MiB    alloc (copy-on-write on fork)
 *
 * The model: the object's pages and the file's cache pages are global;
 * a private file page shows the cache page until written (then a copy of
 * the space's own, as on Linux); an anonymous page is the space's own.
 * Fork copies a space's model.  At the end, after every space is gone,
 * the file on disk holds every write made through shared mappings.
 */
#include "aspace_test.h"

#include <mmk_hosted_pager.h>
#include <mmkit/backend.h>
#include <mmkit/pager.h>
#include <mmkit/shm.h>

#define BASE   0x40000000ull
#define SPACE  (64 * MMK_MIB)
#define PGMAX  16384u
#define NP     12
#define NS     4
#define NR     4
#define STEPS  400
#define R_SHM  0
#define R_FSH  1
#define R_FPR  2
#define R_ANON 3

static struct mmk_frames *fa;

struct mpage {
	bool mapped, writable;
	bool own; /* private file / anon: the space's own bytes */
	unsigned char b[PGMAX];
};

struct mspace {
	bool alive;
	struct mmk_aspace as;
	struct mpage p[NR][NP];
};

static struct mspace sp[NS];
static unsigned char obj[NP][PGMAX];	   /* the shm object */
static unsigned char cache[2 * NP][PGMAX]; /* the file as its cache holds it */
static struct mmk_shm *shm;
static struct mmk_hosted_file *hf;
static enum mmk_pt_format_id fmt;
static unsigned pg, pshift; /* the format's base page */
static uint64_t seed;

static mmk_vaddr_t va_of(unsigned r, unsigned i)
{
	return BASE + r * MMK_MIB + (mmk_vaddr_t)i * pg;
}

/* What page i of region r of space s reads as. */
static const unsigned char *expect(struct mspace *s, unsigned r, unsigned i)
{
	struct mpage *p = &s->p[r][i];
	if (r == R_SHM)
		return obj[i];
	if (r == R_FSH)
		return cache[i];
	if (r == R_FPR && !p->own)
		return cache[NP + i];
	return p->b;
}

static int map_region(struct mspace *s, unsigned r, unsigned i, unsigned n)
{
	mmk_vaddr_t va = va_of(r, i);
	uint64_t size = (uint64_t)n * pg;
	struct mmk_file *f = mmk_hosted_file_file(hf);
	switch (r) {
	case R_SHM:
		return mmk_aspace_map_shared(&s->as, va, size, MMK_PT_RW, shm,
					     (uint64_t)i * pg);
	case R_FSH:
		return mmk_aspace_map_file(&s->as, va, size, MMK_PT_RW, f,
					   (uint64_t)i * pg,
					   MMK_MAP_FILE_SHARED);
	case R_FPR:
		return mmk_aspace_map_file(&s->as, va, size, MMK_PT_RW, f,
					   (uint64_t)(NP + i) * pg, 0);
	default:
		return mmk_aspace_map_alloc(&s->as, va, size, MMK_PT_RW, false);
	}
}

static void space_new(struct mspace *s)
{
	assert_int_equal(mmk_aspace_create(&s->as, BASE, SPACE, fmt, 0, fa), 0);
	s->alive = true;
	memset(s->p, 0, sizeof(s->p));
}

static void space_fill(struct mspace *s)
{
	for (unsigned r = 0; r < NR; r++) {
		assert_int_equal(map_region(s, r, 0, NP), 0);
		for (unsigned i = 0; i < NP; i++)
			s->p[r][i].mapped = s->p[r][i].writable = true;
	}
}

/* ------------------------------------------------------------ steps */

static void step_write(struct mspace *s, unsigned r, unsigned i)
{
	struct mpage *p = &s->p[r][i];
	if (!p->mapped || !p->writable)
		return;
	unsigned off = (unsigned)(mmk_test_rand(&seed) % pg);
	unsigned len = 1 + (unsigned)(mmk_test_rand(&seed) % (pg - off));
	unsigned char buf[PGMAX];
	for (unsigned k = 0; k < len; k++)
		buf[k] = (unsigned char)mmk_test_rand(&seed);
	assert_int_equal(
		mmk_aspace_write_kernel(&s->as, va_of(r, i) + off, buf, len),
		0);
	if (r == R_FPR && !p->own) { /* the copy on write */
		memcpy(p->b, cache[NP + i], pg);
		p->own = true;
	}
	unsigned char *dst = r == R_SHM ? obj[i] : r == R_FSH ? cache[i] : p->b;
	memcpy(dst + off, buf, len);
}

static void step_unmap(struct mspace *s, unsigned r, unsigned i, unsigned n)
{
	assert_int_equal(
		mmk_aspace_unmap(&s->as, va_of(r, i), (uint64_t)n * pg), 0);
	for (unsigned k = i; k < i + n; k++) {
		s->p[r][k].mapped = false;
		s->p[r][k].own = false;
	}
}

/* Map the unmapped pages of [i, i + n) again, run by run (an anonymous
 * page comes back zeroed, a private file page as the cache has it). */
static void step_map(struct mspace *s, unsigned r, unsigned i, unsigned n)
{
	for (unsigned k = i; k < i + n;) {
		if (s->p[r][k].mapped) {
			k++;
			continue;
		}
		unsigned e = k;
		while (e < i + n && !s->p[r][e].mapped)
			e++;
		assert_int_equal(map_region(s, r, k, e - k), 0);
		for (unsigned j = k; j < e; j++) {
			struct mpage *p = &s->p[r][j];
			p->mapped = p->writable = true;
			p->own = r == R_ANON;
			memset(p->b, 0, pg);
		}
		k = e;
	}
}

static void step_protect(struct mspace *s, unsigned r, unsigned i, unsigned n,
			 bool w)
{
	assert_int_equal(mmk_aspace_protect(&s->as, va_of(r, i),
					    (uint64_t)n * pg,
					    w ? MMK_PT_RW : MMK_PT_READ),
			 0);
	for (unsigned k = i; k < i + n; k++)
		if (s->p[r][k].mapped)
			s->p[r][k].writable = w;
}

static void step_fork(struct mspace *parent, struct mspace *child)
{
	space_new(child);
	assert_int_equal(mmk_aspace_clone(&parent->as, &child->as), 0);
	memcpy(child->p, parent->p, sizeof(parent->p));
}

static void step_exit(struct mspace *s)
{
	mmk_aspace_destroy(&s->as);
	s->alive = false;
}

/* ------------------------------------------------------------ checks */

static int count_area(const struct mmk_aspace_area *a, void *arg)
{
	long *n = arg;
	if (a->backend == &mmk_backend_shared)
		n[0]++;
	else if (a->backend == &mmk_backend_file_shared ||
		 a->backend == &mmk_backend_file_private)
		n[1]++;
	return 0;
}

static void check_all(unsigned step)
{
	long n[2] = {0, 0};
	static unsigned char buf[PGMAX];
	for (unsigned s = 0; s < NS; s++) {
		if (!sp[s].alive)
			continue;
		assert_int_equal(
			mmk_aspace_foreach_area(&sp[s].as, 0, count_area, n),
			0);
		for (unsigned r = 0; r < NR; r++)
			for (unsigned i = 0; i < NP; i++) {
				if (!sp[s].p[r][i].mapped)
					continue;
				assert_int_equal(mmk_aspace_read_kernel(
							 &sp[s].as, va_of(r, i),
							 buf, pg),
						 0);
				if (memcmp(buf, expect(&sp[s], r, i), pg))
					fail_msg("step %u space %u region %u "
						 "page %u differs",
						 step, s, r, i);
			}
	}
	/* one reference per area, plus the creator's */
	assert_int_equal(mmk_shm_refs(shm), n[0] + 1);
	struct mmk_file *f = mmk_hosted_file_file(hf);
	assert_int_equal(mmk_atomic_load(&f->refs, MMK_MO_RELAXED), n[1] + 1);
}

static void run(enum mmk_pt_format_id id)
{
	struct mmk_pt_info info;
	assert_int_equal(mmk_pt_format_info(id, &info), 0);
	fmt = id;
	pshift = info.page_shift;
	pg = 1u << pshift;
	hf = mmk_hosted_file_new_ps(fa, 2 * NP, pshift);
	unsigned char *d = mmk_hosted_file_data(hf);
	for (unsigned i = 0; i < 2 * NP; i++) {
		for (unsigned k = 0; k < pg; k++)
			d[i * pg + k] = (unsigned char)(i * 31 + k);
		memcpy(cache[i], d + i * pg, pg);
	}
	memset(obj, 0, sizeof(obj));
	assert_int_equal(mmk_shm_create(fa, NP * pg, pshift, &shm), 0);
	space_new(&sp[0]);
	space_fill(&sp[0]);
	for (unsigned step = 0; step < STEPS; step++) {
		unsigned s = (unsigned)(mmk_test_rand(&seed) % NS);
		unsigned r = (unsigned)(mmk_test_rand(&seed) % NR);
		unsigned i = (unsigned)(mmk_test_rand(&seed) % NP);
		unsigned n = 1 + (unsigned)(mmk_test_rand(&seed) % (NP - i));
		unsigned op = (unsigned)(mmk_test_rand(&seed) % 16);
		struct mspace *x = &sp[s];
		if (!x->alive) {
			/* fork into the dead slot from a live space */
			for (unsigned t = 0; t < NS; t++)
				if (sp[t].alive) {
					step_fork(&sp[t], x);
					break;
				}
			if (!x->alive) {
				space_new(x);
				space_fill(x);
			}
		} else if (op < 7) {
			step_write(x, r, i);
		} else if (op < 9) {
			step_unmap(x, r, i, n);
		} else if (op < 11) {
			step_map(x, r, i, n);
		} else if (op < 13) {
			step_protect(x, r, i, n, op == 12);
		} else if (op == 13) {
			assert_int_equal(mmk_aspace_sync(&x->as,
							 va_of(R_FSH, 0),
							 (uint64_t)NP * pg),
					 0);
		} else if (op == 14) {
			unsigned t = (s + 1) % NS;
			if (sp[t].alive)
				step_exit(&sp[t]);
			step_fork(x, &sp[t]);
		} else {
			step_exit(x);
		}
		check_all(step);
	}
	for (unsigned s = 0; s < NS; s++)
		if (sp[s].alive)
			step_exit(&sp[s]);
	mmk_shm_put(shm);
	/* every write through a shared mapping is on the disk */
	for (unsigned i = 0; i < NP; i++)
		if (memcmp(d + i * pg, cache[i], pg))
			fail_msg("file page %u not written back", i);
	for (unsigned i = NP; i < 2 * NP; i++)
		assert_memory_equal(d + i * pg, cache[i], pg);
	assert_int_equal(mmk_hosted_file_ndirty(hf), 0);
	mmk_hosted_file_destroy(hf);
	assert_int_equal(mmk_hosted_live_frames(), 0);
	assert_int_equal(mmk_hosted_live_objs(), 0);
}

static void random_steps_over_four_spaces_match_the_model(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_log_reset(true);
	fa = mmk_hosted_frames_new();
	seed = mmk_test_seed(0x5eed12);
	unsigned formats = 0, big = 0;
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++) {
		struct mmk_pt_info info;
		if (mmk_pt_format_info((enum mmk_pt_format_id)id, &info))
			continue;
		for (int round = 0; round < 3; round++)
			run((enum mmk_pt_format_id)id);
		formats++;
		big += info.page_shift > 12;
	}
	print_message("%u formats (%u with pages over 4 KiB)\n", formats, big);
	assert_true(formats >= 4); /* every compiled-in format */
	mmk_hosted_frames_destroy(fa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_steps_over_four_spaces_match_the_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
