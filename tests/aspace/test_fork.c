/* SPDX-License-Identifier: MIT */
/*
 * Fork (mmk_aspace_clone) with Linux's semantics for private memory:
 * copy-on-write of alloc areas, the shared zero page, fork of a fork,
 * unmap and protect after a fork, children destroyed before and after
 * their parents, the flush record, failure injection at every allocation
 * of a clone and of a copy-on-write fault, and threads faulting while a
 * fork runs.  After every test: zero live frames and objects.
 *
 *   BASE          alloc RW, 64 pages populated, page i holds pattern(i)
 *   BASE + 1 MiB  alloc RW lazy, 64 pages (some read, some written)
 */
#include "aspace_test.h"

#include <mmkit/backend.h>

#include <pthread.h>

#define BASE  0x40000000ull
#define SPACE (1024 * MMK_MIB)
#define PG    4096ull
#define LAZY  (BASE + MMK_MIB)
#define NPOP  64

static struct mmk_frames *fa;
static struct mmk_aspace sp[4];

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_log_reset(true);
	mmk_hosted_fail_off();
	fa = mmk_hosted_frames_new();
	for (int i = 0; i < 4; i++) {
		assert_int_equal(mmk_aspace_create(&sp[i], BASE, SPACE,
						   MMK_PT_X86_64_4L, 0, fa),
				 0);
		mmk_aspace_set_asid(&sp[i], (uint32_t)i + 1);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 4; i++)
		mmk_aspace_destroy(&sp[i]);
	mmk_hosted_fail_off();
	assert_int_equal(mmk_hosted_live_frames(), 0);
	assert_int_equal(mmk_hosted_live_objs(), 0);
	mmk_hosted_frames_destroy(fa);
	return 0;
}

static uint64_t get(struct mmk_aspace *as, mmk_vaddr_t va)
{
	uint64_t v;
	assert_int_equal(mmk_aspace_read_kernel(as, va, &v, 8), 0);
	return v;
}

static void put(struct mmk_aspace *as, mmk_vaddr_t va, uint64_t v)
{
	assert_int_equal(mmk_aspace_write_kernel(as, va, &v, 8), 0);
}

static mmk_paddr_t pa_of(struct mmk_aspace *as, mmk_vaddr_t va)
{
	mmk_paddr_t pa;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(as), va, &pa, NULL, NULL),
			 0);
	return pa;
}

static uint32_t flags_of(struct mmk_aspace *as, mmk_vaddr_t va)
{
	uint32_t fl;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(as), va, NULL, &fl, NULL),
			 0);
	return fl & MMK_PT_RWX;
}

static uint64_t pattern(unsigned i, unsigned gen)
{
	return 0x1000u * gen + i + 1;
}

/* The parent of every test: a populated and a lazy alloc area. */
static void make_parent(struct mmk_aspace *as)
{
	assert_int_equal(
		mmk_aspace_map_alloc(as, BASE, NPOP * PG, MMK_PT_RW, true), 0);
	for (unsigned i = 0; i < NPOP; i++)
		put(as, BASE + i * PG, pattern(i, 0));
	assert_int_equal(
		mmk_aspace_map_alloc(as, LAZY, 64 * PG, MMK_PT_RW, false), 0);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(get(as, LAZY + i * PG), 0); /* zero page */
	put(as, LAZY + 10 * PG, 77);
}

static void fork_shares_frames_read_only_and_writes_stay_private(void **state)
{
	(void)state;
	struct mmk_aspace *p = &sp[0], *c = &sp[1];
	make_parent(p);
	long frames = mmk_hosted_live_frames();
	mmk_paddr_t pa0 = pa_of(p, BASE);
	assert_int_equal(mmk_aspace_clone(p, c), 0);
	assert_int_equal(mmk_aspace_area_count(c), 2);
	/* no page was copied; only the child's tables were made */
	assert_true(mmk_hosted_live_frames() - frames <= 4);
	for (unsigned i = 0; i < NPOP; i++) {
		mmk_vaddr_t va = BASE + i * PG;
		assert_int_equal(pa_of(c, va).v, pa_of(p, va).v);
		assert_int_equal(flags_of(p, va), MMK_PT_READ);
		assert_int_equal(flags_of(c, va), MMK_PT_READ);
		assert_int_equal(mmk_frame_refcount(fa, pa_of(p, va)), 2);
		assert_int_equal(get(c, va), pattern(i, 0));
	}
	/* the zero page is the same in both */
	assert_int_equal(pa_of(c, LAZY).v, pa_of(p, LAZY).v);
	assert_int_equal(get(c, LAZY + 10 * PG), 77);
	/* the child writes: it copies, the parent keeps its value */
	put(c, BASE, 1234);
	assert_int_equal(get(c, BASE), 1234);
	assert_int_equal(get(p, BASE), pattern(0, 0));
	assert_int_not_equal(pa_of(c, BASE).v, pa0.v);
	assert_int_equal(mmk_frame_refcount(fa, pa0), 1);
	/* the parent writes the same page: alone now, it takes it over */
	put(p, BASE, 99);
	assert_int_equal(pa_of(p, BASE).v, pa0.v);
	assert_int_equal(flags_of(p, BASE), MMK_PT_RW);
	assert_int_equal(get(c, BASE), 1234);
	/* the parent writes a still-shared page: it copies */
	put(p, BASE + PG, 5);
	assert_int_equal(get(c, BASE + PG), pattern(1, 0));
	/* writes to the zero page copy it, zeroed */
	put(c, LAZY + 3 * PG + 8, 42);
	assert_int_equal(get(c, LAZY + 3 * PG), 0);
	assert_int_equal(get(p, LAZY + 3 * PG + 8), 0);
	/* a never-touched page of the child reads zero, takes no frame */
	long f = mmk_hosted_live_frames();
	assert_int_equal(get(c, LAZY + 40 * PG), 0);
	assert_int_equal(mmk_hosted_live_frames(), f);
}

static void fork_of_a_fork_keeps_each_generation_apart(void **state)
{
	(void)state;
	make_parent(&sp[0]);
	for (int g = 1; g < 4; g++) {
		assert_int_equal(mmk_aspace_clone(&sp[g - 1], &sp[g]), 0);
		/* generation g writes page g and the lazy page g */
		for (unsigned i = 0; i < NPOP; i += 4)
			put(&sp[g], BASE + i * PG, pattern(i, (unsigned)g));
		put(&sp[g], LAZY + (unsigned)g * PG, (uint64_t)g);
	}
	for (int g = 0; g < 4; g++) {
		for (unsigned i = 0; i < NPOP; i++) {
			uint64_t want = pattern(i, 0);
			if (g > 0 && i % 4 == 0)
				want = pattern(i, (unsigned)g);
			assert_int_equal(get(&sp[g], BASE + i * PG), want);
		}
		/* the lazy page k: written by generation k, inherited by
		 * the later ones only */
		for (int k = 1; k < 4; k++)
			assert_int_equal(get(&sp[g], LAZY + (unsigned)k * PG),
					 k <= g ? (uint64_t)k : 0);
	}
	/* frames shared by all four generations: count 4 */
	assert_int_equal(mmk_frame_refcount(fa, pa_of(&sp[0], BASE + PG)), 4);
}

static void unmap_and_protect_in_the_parent_after_fork(void **state)
{
	(void)state;
	struct mmk_aspace *p = &sp[0], *c = &sp[1];
	make_parent(p);
	assert_int_equal(mmk_aspace_clone(p, c), 0);
	assert_int_equal(mmk_aspace_unmap(p, BASE, 16 * PG), 0);
	assert_int_equal(
		mmk_aspace_protect(p, BASE + 16 * PG, 16 * PG, MMK_PT_READ), 0);
	for (unsigned i = 0; i < 32; i++)
		assert_int_equal(get(c, BASE + i * PG), pattern(i, 0));
	/* unmapped in the parent: the child's frames are its own now */
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(
			mmk_frame_refcount(fa, pa_of(c, BASE + i * PG)), 1);
	put(c, BASE, 1);
	put(c, BASE + 16 * PG, 2);
	uint64_t v = 3;
	assert_int_equal(mmk_aspace_write_kernel(p, BASE + 17 * PG, &v, 8),
			 MMK_EFAULT);
	/* protect back to RW: still shared pages stay read-only, so the
	 * parent's write copies */
	assert_int_equal(
		mmk_aspace_protect(p, BASE + 16 * PG, 16 * PG, MMK_PT_RW), 0);
	assert_int_equal(flags_of(p, BASE + 17 * PG), MMK_PT_READ);
	/* page 16 is the parent's alone (the child copied it): writable */
	assert_int_equal(flags_of(p, BASE + 16 * PG), MMK_PT_RW);
	mmk_paddr_t shared = pa_of(p, BASE + 17 * PG);
	put(p, BASE + 17 * PG, 4);
	assert_int_not_equal(pa_of(p, BASE + 17 * PG).v, shared.v);
	assert_int_equal(get(c, BASE + 17 * PG), pattern(17, 0));
	assert_int_equal(get(p, BASE + 16 * PG), pattern(16, 0));
	assert_int_equal(get(c, BASE + 16 * PG), 2);
}

static void child_destroyed_before_or_after_its_parent(void **state)
{
	(void)state;
	/* child first: the parent's pages are its own again */
	make_parent(&sp[0]);
	long frames = mmk_hosted_live_frames();
	assert_int_equal(mmk_aspace_clone(&sp[0], &sp[1]), 0);
	put(&sp[1], BASE, 1);
	mmk_aspace_destroy(&sp[1]); /* its root goes too */
	assert_int_equal(mmk_hosted_live_frames(), frames - 1);
	frames--;
	for (unsigned i = 0; i < NPOP; i++) {
		assert_int_equal(
			mmk_frame_refcount(fa, pa_of(&sp[0], BASE + i * PG)),
			1);
		assert_int_equal(get(&sp[0], BASE + i * PG), pattern(i, 0));
	}
	/* writes take the pages over: no new frame */
	put(&sp[0], BASE + 5 * PG, 6);
	assert_int_equal(mmk_hosted_live_frames(), frames);
	/* parent first: the child keeps everything, the zero page too */
	assert_int_equal(
		mmk_aspace_create(&sp[1], BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	assert_int_equal(mmk_aspace_clone(&sp[0], &sp[1]), 0);
	mmk_aspace_destroy(&sp[0]);
	assert_int_equal(get(&sp[1], BASE + 5 * PG), 6);
	assert_int_equal(get(&sp[1], LAZY + 10 * PG), 77);
	assert_int_equal(get(&sp[1], LAZY), 0);
	assert_int_equal(get(&sp[1], LAZY + 50 * PG), 0);
	put(&sp[1], LAZY, 8);
	mmk_aspace_destroy(&sp[1]);
	assert_int_equal(
		mmk_aspace_create(&sp[0], BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	assert_int_equal(
		mmk_aspace_create(&sp[1], BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
}

static void parent_flushed_once_per_fork_child_never(void **state)
{
	(void)state;
	struct mmk_aspace *p = &sp[0];
	make_parent(p);
	/* two COW runs apart (a linear area between them) */
	mmk_paddr_t lin;
	assert_int_equal(mmk_frame_alloc(fa, 4, MMK_FRAME_ZERO, &lin), 0);
	assert_int_equal(mmk_aspace_map_linear(p, BASE + 2 * MMK_MIB, lin,
					       16 * PG, MMK_PT_RW),
			 0);
	assert_int_equal(mmk_aspace_map_alloc(p, BASE + 3 * MMK_MIB, 8 * PG,
					      MMK_PT_RW, true),
			 0);
	mmk_aspace_activate(p);
	for (int g = 1; g < 4; g++) {
		mmk_hosted_flush_reset();
		assert_int_equal(mmk_aspace_clone(p, &sp[g]), 0);
		/* once, in the parent's ASID (the children's are 2..4 and
		 * active nowhere) */
		assert_int_equal(mmk_hosted_flush_count(), 1);
		struct mmk_hosted_flush f;
		mmk_hosted_flush_get(0, &f);
		assert_int_equal(f.asid, 1);
		assert_true(mmk_hosted_flushed(BASE));
		assert_true(mmk_hosted_flushed(BASE + 3 * MMK_MIB));
		/* the child maps the linear frames itself, writable */
		assert_int_equal(pa_of(&sp[g], BASE + 2 * MMK_MIB).v, lin.v);
		assert_int_equal(flags_of(&sp[g], BASE + 2 * MMK_MIB),
				 MMK_PT_RW);
		assert_int_equal(flags_of(&sp[g], BASE + 3 * MMK_MIB),
				 MMK_PT_READ);
		assert_int_equal(flags_of(p, BASE + 3 * MMK_MIB), MMK_PT_READ);
		assert_int_equal(flags_of(p, BASE), MMK_PT_READ);
		/* the parent writes everything again (its flushes only) */
		mmk_hosted_flush_reset();
		for (unsigned i = 0; i < NPOP; i++)
			put(p, BASE + i * PG, 1);
		for (unsigned i = 0; i < 8; i++)
			put(p, BASE + 3 * MMK_MIB + i * PG, 1);
		for (size_t i = 0; i < mmk_hosted_flush_count(); i++) {
			mmk_hosted_flush_get(i, &f);
			assert_int_equal(f.asid, 1);
		}
	}
	/* nothing writable left: a fork flushes nothing */
	mmk_aspace_destroy(&sp[3]);
	assert_int_equal(
		mmk_aspace_create(&sp[3], BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	assert_int_equal(mmk_aspace_clone(p, &sp[3]), 0);
	mmk_aspace_destroy(&sp[2]);
	assert_int_equal(
		mmk_aspace_create(&sp[2], BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_clone(p, &sp[2]), 0);
	assert_int_equal(mmk_hosted_flush_count(), 0);
	mmk_aspace_deactivate(p);
	for (int g = 0; g < 4; g++)
		mmk_aspace_clear(&sp[g]);
	assert_int_equal(mmk_frame_free(fa, lin), 0);
}

/* A backend with no clone hook (COPY) whose frames are not its own. */
static const struct mmk_backend borrowing = {
	.name = "borrowing",
	.fault = mmk_backend_anon_fault,
};

static void clone_refuses_bad_pairs(void **state)
{
	(void)state;
	make_parent(&sp[0]);
	struct mmk_aspace other;
	assert_int_equal(mmk_aspace_create(&other, BASE, SPACE / 2,
					   MMK_PT_X86_64_4L, 0, fa),
			 0);
	assert_int_equal(mmk_aspace_clone(&sp[0], &sp[0]), MMK_EINVAL);
	assert_int_equal(mmk_aspace_clone(&sp[0], &other), MMK_EINVAL);
	mmk_aspace_destroy(&other);
	assert_int_equal(mmk_aspace_create(&other, BASE, SPACE,
					   MMK_PT_RISCV_SV48, 0, fa),
			 0);
	assert_int_equal(mmk_aspace_clone(&sp[0], &other), MMK_EINVAL);
	mmk_aspace_destroy(&other);
	assert_int_equal(mmk_aspace_map_alloc(&sp[1], BASE + 100 * MMK_MIB, PG,
					      MMK_PT_RW, false),
			 0);
	assert_int_equal(mmk_aspace_clone(&sp[0], &sp[1]), MMK_EEXIST);
	assert_int_equal(mmk_aspace_area_count(&sp[1]), 1);
	assert_int_equal(flags_of(&sp[0], BASE), MMK_PT_RW);
	/* COPY (no clone hook) of frames the backend does not own */
	assert_int_equal(mmk_aspace_unmap(&sp[1], BASE + 100 * MMK_MIB, PG), 0);
	assert_int_equal(mmk_aspace_map(&sp[0], BASE + 200 * MMK_MIB, 8 * PG,
					MMK_PT_RW, false, &borrowing, 0, NULL),
			 0);
	size_t areas = mmk_aspace_area_count(&sp[0]);
	long frames = mmk_hosted_live_frames();
	long tables = mmk_pt_table_pages(mmk_aspace_pt(&sp[1]));
	assert_int_equal(mmk_aspace_clone(&sp[0], &sp[1]), MMK_ENOTSUP);
	assert_int_equal(mmk_aspace_area_count(&sp[1]), 0);
	assert_int_equal(mmk_pt_table_pages(mmk_aspace_pt(&sp[1])), tables);
	assert_int_equal(mmk_aspace_area_count(&sp[0]), areas);
	assert_int_equal(mmk_hosted_live_frames(), frames);
	assert_int_equal(flags_of(&sp[0], BASE), MMK_PT_RW);
	assert_int_equal(get(&sp[0], BASE + PG), pattern(1, 0));
}

/* ------------------------------------------------ failure injection */

/* A backend with no clone hook (COPY) that owns its frames. */
static const struct mmk_backend copying = {
	.name = "copying",
	.props = MMK_BACKEND_OWNS_FRAMES,
	.fault = mmk_backend_anon_fault,
};

/* One that is not inherited. */
static enum mmk_clone_mode drop_clone(const struct mmk_mset_area *a)
{
	(void)a;
	return MMK_CLONE_DROP;
}

static const struct mmk_backend dropped = {
	.name = "dropped",
	.props = MMK_BACKEND_OWNS_FRAMES,
	.fault = mmk_backend_anon_fault,
	.clone = drop_clone,
};

/* One whose priv is an object each area holds (dup allocates). */
struct held {
	long refs;
};

static int held_dup(const struct mmk_mset_area *orig,
		    struct mmk_mset_area *copy)
{
	(void)orig;
	struct held *h = mmk_hal_obj_alloc(sizeof(*h), 8);
	if (!h)
		return MMK_ENOMEM;
	h->refs = 1;
	copy->priv = h;
	return 0;
}

static void held_release(const struct mmk_mset_area *a)
{
	mmk_hal_obj_free(a->priv, sizeof(struct held));
}

static enum mmk_clone_mode cow_clone(const struct mmk_mset_area *a)
{
	(void)a;
	return MMK_CLONE_COW;
}

static const struct mmk_backend holding = {
	.name = "holding",
	.props = MMK_BACKEND_OWNS_FRAMES,
	.fault = mmk_backend_anon_fault,
	.protect = mmk_backend_protect_private,
	.clone = cow_clone,
	.dup = held_dup,
	.release = held_release,
};

/*
 *  BASE: alloc populated | LAZY: alloc lazy | +2 MiB: linear (SHARE)
 *  +3 MiB: alloc (a second COW run) | +4 MiB: copying | +5 MiB: dropped
 *  +6 MiB: guard | +7 MiB: holding (dup) | +8 MiB: alloc, 600 pages
 */
static mmk_paddr_t lin;

static void make_rich_parent(struct mmk_aspace *p)
{
	make_parent(p);
	assert_int_equal(mmk_frame_alloc(fa, 4, MMK_FRAME_ZERO, &lin), 0);
	assert_int_equal(mmk_aspace_map_linear(p, BASE + 2 * MMK_MIB, lin,
					       16 * PG, MMK_PT_RW),
			 0);
	assert_int_equal(mmk_aspace_map_alloc(p, BASE + 3 * MMK_MIB, 8 * PG,
					      MMK_PT_RW, true),
			 0);
	assert_int_equal(mmk_aspace_map(p, BASE + 4 * MMK_MIB, 8 * PG,
					MMK_PT_RW, false, &copying, 0, NULL),
			 0);
	for (unsigned i = 0; i < 8; i += 2)
		put(p, BASE + 4 * MMK_MIB + i * PG, i + 100);
	assert_int_equal(mmk_aspace_map(p, BASE + 5 * MMK_MIB, 8 * PG,
					MMK_PT_RW, false, &dropped, 0, NULL),
			 0);
	put(p, BASE + 5 * MMK_MIB, 1);
	assert_int_equal(mmk_aspace_map_guard(p, BASE + 6 * MMK_MIB, 8 * PG),
			 0);
	struct held *h0 = mmk_hal_obj_alloc(sizeof(*h0), 8);
	assert_non_null(h0);
	assert_int_equal(mmk_aspace_map(p, BASE + 7 * MMK_MIB, 8 * PG,
					MMK_PT_RW, false, &holding, 0, h0),
			 0);
	put(p, BASE + 7 * MMK_MIB, 9);
	assert_int_equal(mmk_aspace_map_alloc(p, BASE + 8 * MMK_MIB, 600 * PG,
					      MMK_PT_RW, true),
			 0);
}

static void check_rich_child(struct mmk_aspace *c)
{
	assert_int_equal(mmk_aspace_area_count(c), 8);
	for (unsigned i = 0; i < NPOP; i++)
		assert_int_equal(get(c, BASE + i * PG), pattern(i, 0));
	assert_int_equal(get(c, LAZY + 10 * PG), 77);
	assert_int_equal(pa_of(c, BASE + 2 * MMK_MIB).v, lin.v);
	for (unsigned i = 0; i < 8; i += 2)
		assert_int_equal(get(c, BASE + 4 * MMK_MIB + i * PG), i + 100);
	struct mmk_aspace_area a;
	assert_false(mmk_aspace_find_area(c, BASE + 5 * MMK_MIB, &a));
	assert_true(mmk_aspace_find_area(c, BASE + 6 * MMK_MIB, &a));
	assert_ptr_equal(a.backend, &mmk_backend_guard);
	assert_true(mmk_aspace_find_area(c, BASE + 7 * MMK_MIB, &a));
	assert_ptr_equal(a.backend, &holding);
	assert_int_equal(get(c, BASE + 7 * MMK_MIB), 9);
	/* COPY: the child's own frames, writable */
	assert_int_equal(flags_of(c, BASE + 4 * MMK_MIB), MMK_PT_RW);
	assert_int_equal(mmk_frame_refcount(fa, pa_of(c, BASE + 4 * MMK_MIB)),
			 1);
}

static struct as_snap s0, s1;

static void clone_is_all_or_nothing_under_allocation_failure(void **state)
{
	(void)state;
	struct mmk_aspace *p = &sp[0], *c = &sp[1];
	make_rich_parent(p);
	as_snapshot(p, fa, &s0);
	long failed[2] = {0, 0};
	for (int site = MMK_FAIL_FRAME; site <= MMK_FAIL_OBJ; site++) {
		for (long n = 1;; n++) {
			long frames = mmk_hosted_live_frames();
			long objs = mmk_hosted_live_objs();
			mmk_hosted_fail_nth((enum mmk_failsite)site, n);
			int err = mmk_aspace_clone(p, c);
			mmk_hosted_fail_off();
			if (err == 0)
				break;
			failed[site]++;
			assert_int_equal(err, MMK_ENOMEM);
			as_snapshot(p, fa, &s1);
			as_snap_equal(&s0, &s1, "parent after a failed clone");
			assert_int_equal(mmk_aspace_area_count(c), 0);
			struct mmk_pt_leaf l;
			assert_int_equal(
				mmk_pt_lookup(mmk_aspace_pt(c), BASE, &l),
				MMK_ENOENT);
			assert_int_equal(mmk_pt_table_pages(mmk_aspace_pt(c)),
					 1);
			assert_int_equal(mmk_hosted_live_frames(), frames);
			assert_int_equal(mmk_hosted_live_objs(), objs);
			assert_true(n < 10000);
		}
		check_rich_child(c);
		mmk_aspace_destroy(c);
		assert_int_equal(mmk_aspace_create(c, BASE, SPACE,
						   MMK_PT_X86_64_4L, 0, fa),
				 0);
		/* the parent lost WRITE in that fork: make it writable
		 * again so the next sweep starts from the same state */
		mmk_aspace_clear(p);
		assert_int_equal(mmk_frame_free(fa, lin), 0);
		make_rich_parent(p);
		as_snapshot(p, fa, &s0);
	}
	print_message("clone: %ld frame and %ld object failures, each undone\n",
		      failed[0], failed[1]);
	assert_true(failed[0] > 0 && failed[1] > 0);
	mmk_aspace_clear(p);
	assert_int_equal(mmk_frame_free(fa, lin), 0);
}

static void cow_fault_is_all_or_nothing_under_allocation_failure(void **state)
{
	(void)state;
	struct mmk_aspace *p = &sp[0], *c = &sp[1];
	make_parent(p);
	assert_int_equal(mmk_aspace_clone(p, c), 0);
	/* a shared page, a zero page, a never-touched page */
	static const mmk_vaddr_t at[] = {BASE + 3 * PG, LAZY + 2 * PG,
					 LAZY + 30 * PG};
	long failed = 0;
	for (size_t k = 0; k < MMK_ARRAY_SIZE(at); k++) {
		for (long n = 1;; n++) {
			as_snapshot(c, fa, &s0);
			mmk_hosted_fail_nth(MMK_FAIL_FRAME, n);
			int err = mmk_aspace_fault(c, at[k], MMK_ACCESS_WRITE);
			mmk_hosted_fail_off();
			if (err == 0)
				break;
			failed++;
			assert_int_equal(err, MMK_ENOMEM);
			as_snapshot(c, fa, &s1);
			as_snap_equal(&s0, &s1, "child after a failed fault");
			assert_true(n < 100);
		}
		assert_int_equal(flags_of(c, at[k]), MMK_PT_RW);
	}
	assert_true(failed >= 3);
	assert_int_equal(get(c, BASE + 3 * PG), pattern(3, 0));
	assert_int_equal(get(p, BASE + 3 * PG), pattern(3, 0));
}

/* ------------------------------------------------------- threads */

struct writer {
	struct mmk_aspace *as;
	_Atomic bool stop;
	_Atomic uint64_t round; /* rounds completed */
	unsigned seed;
};

/* Write round r into every page of the lazy area, page by page. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	mmk_hosted_register_cpu();
	for (uint64_t r = 1; !atomic_load(&w->stop); r++) {
		for (unsigned i = 0; i < 64; i++) {
			uint64_t v = r;
			if (mmk_aspace_write_kernel(w->as, LAZY + i * PG, &v,
						    8) != 0)
				abort();
			uint64_t back;
			if (mmk_aspace_read_kernel(w->as, LAZY + i * PG + 8,
						   &back, 8) != 0)
				abort();
		}
		atomic_store(&w->round, r);
	}
	return NULL;
}

static void fork_while_another_thread_faults_the_area(void **state)
{
	(void)state;
	struct mmk_aspace *p = &sp[0];
	make_parent(p);
	put(p, LAZY + 10 * PG, 0); /* round 0 everywhere */
	struct writer w = {.as = p};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
	for (int k = 0; k < 200; k++) {
		struct mmk_aspace *c = &sp[1 + k % 3];
		uint64_t before = atomic_load(&w.round);
		assert_int_equal(mmk_aspace_clone(p, c), 0);
		uint64_t after = atomic_load(&w.round);
		/* every page holds a round at least as new as the last
		 * one completed before the fork, at most one newer than
		 * the last completed after it */
		for (unsigned i = 0; i < 64; i++) {
			uint64_t v = get(c, LAZY + i * PG);
			assert_true(v >= before);
			assert_true(v <= after + 1);
		}
		for (unsigned i = 0; i < NPOP; i++)
			assert_int_equal(get(c, BASE + i * PG), pattern(i, 0));
		mmk_aspace_destroy(c);
		assert_int_equal(mmk_aspace_create(c, BASE, SPACE,
						   MMK_PT_X86_64_4L, 0, fa),
				 0);
	}
	while (atomic_load(&w.round) < 1)
		sched_yield();
	atomic_store(&w.stop, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	/* the parent's pages are its own again */
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(
			mmk_frame_refcount(fa, pa_of(p, LAZY + i * PG)), 1);
}

/* Parent and child write the same shared pages at once: both copy or one
 * takes over; every count ends right. */
static void parent_and_child_fault_one_frame_at_once(void **state)
{
	(void)state;
	struct mmk_aspace *p = &sp[0], *c = &sp[1];
	make_parent(p);
	for (unsigned i = 0; i < 64; i++)
		put(p, LAZY + i * PG, i);
	for (int round = 0; round < 10; round++) {
		long frames = mmk_hosted_live_frames();
		assert_int_equal(mmk_aspace_clone(p, c), 0);
		struct writer wp = {.as = p}, wc = {.as = c};
		pthread_t a, b;
		assert_int_equal(pthread_create(&a, NULL, writer_main, &wp), 0);
		assert_int_equal(pthread_create(&b, NULL, writer_main, &wc), 0);
		while (atomic_load(&wp.round) < 2 || atomic_load(&wc.round) < 2)
			sched_yield();
		atomic_store(&wp.stop, true);
		atomic_store(&wc.stop, true);
		assert_int_equal(pthread_join(a, NULL), 0);
		assert_int_equal(pthread_join(b, NULL), 0);
		for (unsigned i = 0; i < 64; i++) {
			mmk_vaddr_t va = LAZY + i * PG;
			assert_int_not_equal(pa_of(p, va).v, pa_of(c, va).v);
			assert_int_equal(mmk_frame_refcount(fa, pa_of(p, va)),
					 1);
			assert_int_equal(mmk_frame_refcount(fa, pa_of(c, va)),
					 1);
		}
		mmk_aspace_destroy(c);
		assert_int_equal(mmk_aspace_create(c, BASE, SPACE,
						   MMK_PT_X86_64_4L, 0, fa),
				 0);
		/* the populated pages are the parent's alone again */
		assert_int_equal(mmk_hosted_live_frames(), frames);
	}
}

/* madvise(MADV_DONTFORK): an area with the attribute stays out of the
 * child, its pages keep their rights in the parent; the rest forks. */
static void dontfork_areas_stay_out_of_the_child(void **state)
{
	(void)state;
	make_parent(&sp[0]);
	mmk_vaddr_t df = LAZY + MMK_MIB;
	assert_int_equal(mmk_aspace_map_alloc(&sp[0], df, 4 * PG,
					      MMK_PT_RW | MMK_ASPACE_DONTFORK,
					      true),
			 0);
	put(&sp[0], df, 99);
	assert_int_equal(mmk_aspace_clone(&sp[0], &sp[1]), 0);
	assert_false(mmk_aspace_find_area(&sp[1], df, NULL));
	assert_true(mmk_aspace_find_area(&sp[1], BASE, NULL));
	assert_int_equal(flags_of(&sp[0], df), MMK_PT_RW); /* not COW */
	assert_int_equal(mmk_frame_refcount(fa, pa_of(&sp[0], df)), 1);
	assert_int_equal(get(&sp[1], BASE), pattern(0, 0));
	uint64_t v;
	assert_int_equal(mmk_aspace_read_kernel(&sp[1], df, &v, 8), MMK_EFAULT);
}

/* Two snapshots show the same areas and leaves (address, frame, rights,
 * size), whoever holds which table. */
static void same_view(const struct as_snap *a, const struct as_snap *b)
{
	assert_int_equal(a->nareas, b->nareas);
	for (size_t i = 0; i < a->nareas; i++) {
		assert_int_equal(a->areas[i].start, b->areas[i].start);
		assert_int_equal(a->areas[i].end, b->areas[i].end);
		assert_int_equal(a->areas[i].flags, b->areas[i].flags);
		assert_int_equal(a->areas[i].offset, b->areas[i].offset);
		assert_ptr_equal(a->areas[i].backend, b->areas[i].backend);
	}
	assert_int_equal(a->nleaves, b->nleaves);
	for (size_t i = 0; i < a->nleaves; i++) {
		assert_int_equal(a->leaves[i].va, b->leaves[i].va);
		assert_int_equal(a->leaves[i].pa.v, b->leaves[i].pa.v);
		assert_int_equal(a->leaves[i].flags & MMK_PT_RWX,
				 b->leaves[i].flags & MMK_PT_RWX);
		assert_int_equal(a->leaves[i].page_size,
				 b->leaves[i].page_size);
	}
}

/* A protect in a child whose leaf tables it shares with its parent
 * (whole 2 MiB tables of a COW run) must copy them first; that copy can
 * run out of memory, and then nothing changes, in either space. */
static void protect_under_shared_tables_is_all_or_nothing(void **state)
{
	(void)state;
	struct mmk_aspace *p = &sp[0], *c = &sp[1];
	mmk_vaddr_t x = BASE + 8 * MMK_MIB; /* 2 MiB aligned */
	assert_int_equal(
		mmk_aspace_map_alloc(p, x, 8 * MMK_MIB, MMK_PT_RW, true), 0);
	for (uint64_t off = 0; off < 8 * MMK_MIB; off += 64 * PG)
		put(p, x + off, off + 1);
	assert_int_equal(mmk_aspace_clone(p, c), 0);
	assert_true(mmk_aspace_pt(c)->nshared > 0);
	as_snapshot(p, fa, &s0);
	as_snapshot(c, fa, &s1);
	static struct as_snap s2;
	long failed = 0;
	for (long n = 1;; n++) {
		long frames = mmk_hosted_live_frames();
		mmk_hosted_fail_nth(MMK_FAIL_FRAME, n);
		int err = mmk_aspace_protect(c, x + PG, 6 * MMK_MIB,
					     MMK_PT_READ | MMK_PT_EXEC);
		mmk_hosted_fail_off();
		if (err == 0)
			break;
		failed++;
		assert_int_equal(err, MMK_ENOMEM);
		/* What either space maps is as it was; the tables the child
		 * copied before the failure stay copied (invisible: the same
		 * entries), so counts of tables and references may differ. */
		as_snapshot(c, fa, &s2);
		same_view(&s1, &s2);
		as_snapshot(p, fa, &s2);
		same_view(&s0, &s2);
		(void)frames;
		assert_true(n < 1000);
	}
	assert_true(failed > 0);
	assert_int_equal(flags_of(c, x + PG), MMK_PT_READ | MMK_PT_EXEC);
	assert_int_equal(flags_of(c, x), MMK_PT_READ);
	assert_int_equal(flags_of(p, x + PG), MMK_PT_READ);
	for (uint64_t off = 0; off < 8 * MMK_MIB; off += 64 * PG) {
		assert_int_equal(get(c, x + off), off + 1);
		assert_int_equal(get(p, x + off), off + 1);
	}
	put(p, x + PG, 5); /* the parent's copy-on-write, unseen in c */
	assert_int_equal(get(c, x + PG), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			fork_shares_frames_read_only_and_writes_stay_private,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			fork_of_a_fork_keeps_each_generation_apart, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			unmap_and_protect_in_the_parent_after_fork, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			child_destroyed_before_or_after_its_parent, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			parent_flushed_once_per_fork_child_never, setup,
			teardown),
		cmocka_unit_test_setup_teardown(clone_refuses_bad_pairs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			clone_is_all_or_nothing_under_allocation_failure, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			cow_fault_is_all_or_nothing_under_allocation_failure,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			fork_while_another_thread_faults_the_area, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			parent_and_child_fault_one_frame_at_once, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			dontfork_areas_stay_out_of_the_child, setup, teardown),
		cmocka_unit_test_setup_teardown(
			protect_under_shared_tables_is_all_or_nothing, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
