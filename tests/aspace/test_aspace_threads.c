/* SPDX-License-Identifier: MIT */
/*
 * Threads playing CPUs on one space, for a bounded time: each maps,
 * unmaps, protects, faults, reads and writes in a region of its own
 * (checked against its own model as it goes), and all of them fault and
 * write their own slots of one shared lazy area at once, so that CPUs race
 * to map the same pages.  At the end the main thread checks every region
 * and every shared slot, then destroys the space and expects the live
 * frame and object counts back.  Now and then one of them populates part
 * of the shared area (exclusive) while the others fault it.  Built again
 * under ThreadSanitizer.
 *
 *   BASE + t MiB: thread t's region (RPAGES pages)
 *   SHARED:       SPAGES pages, alloc RW lazy, slot t of each page
 *                 (8 bytes at t * 8) written only by thread t
 *
 * MMK_THREADS_MS sets the duration (default 400 ms per format).
 */
#include "aspace_test.h"

#include <pthread.h>
#include <time.h>

#define BASE   0x40000000ull
#define SHARED (BASE + 64 * MMK_MIB)
#define NT     4
#define RPAGES 48
#define SPAGES 256
#define PG     4096ull

static struct mmk_frames *fa;
static struct mmk_aspace as;
static _Atomic bool stop;

struct tpage {
	bool area;
	uint32_t flags;
	uint64_t val; /* the 8 bytes at offset 16 */
};

struct thr {
	pthread_t th;
	unsigned t;
	uint64_t rng;
	struct tpage pg[RPAGES];
	uint64_t slot[SPAGES]; /* what this thread wrote to shared pages */
	long ops, faults, shared_writes;
};

static struct thr thr[NT];

static const uint32_t tflags[] = {MMK_PT_READ, MMK_PT_RW, 0};

static mmk_vaddr_t rva(const struct thr *me, unsigned p)
{
	return BASE + me->t * MMK_MIB + p * PG;
}

static uint64_t r(struct thr *me, uint64_t n)
{
	return mmk_test_rand(&me->rng) % n;
}

static void own_op(struct thr *me)
{
	unsigned p = (unsigned)r(me, RPAGES);
	unsigned n = 1 + (unsigned)r(me, MMK_MIN(6, RPAGES - p));
	switch (r(me, 6)) {
	case 0: {
		uint32_t fl = tflags[r(me, 3)];
		bool free_ = true;
		for (unsigned i = p; i < p + n; i++)
			free_ &= !me->pg[i].area;
		int err = mmk_aspace_map_alloc(&as, rva(me, p), n * PG, fl,
					       r(me, 2));
		assert_int_equal(err, free_ ? 0 : MMK_EEXIST);
		if (!err)
			for (unsigned i = p; i < p + n; i++)
				me->pg[i] = (struct tpage){true, fl, 0};
		break;
	}
	case 1:
		assert_int_equal(mmk_aspace_unmap(&as, rva(me, p), n * PG), 0);
		for (unsigned i = p; i < p + n; i++)
			me->pg[i] = (struct tpage){false, 0, 0};
		break;
	case 2: {
		uint32_t fl = tflags[r(me, 3)];
		assert_int_equal(
			mmk_aspace_protect(&as, rva(me, p), n * PG, fl), 0);
		for (unsigned i = p; i < p + n; i++)
			if (me->pg[i].area)
				me->pg[i].flags = fl;
		break;
	}
	case 3: {
		uint64_t v = mmk_test_rand(&me->rng);
		bool ok = me->pg[p].area && (me->pg[p].flags & MMK_PT_WRITE);
		int err = mmk_aspace_write_kernel(&as, rva(me, p) + 16, &v, 8);
		assert_int_equal(err, ok ? 0 : MMK_EFAULT);
		if (ok)
			me->pg[p].val = v;
		break;
	}
	case 4: {
		uint64_t v = 0;
		bool ok = me->pg[p].area && (me->pg[p].flags & MMK_PT_READ);
		int err = mmk_aspace_read_kernel(&as, rva(me, p) + 16, &v, 8);
		assert_int_equal(err, ok ? 0 : MMK_EFAULT);
		if (ok)
			assert_int_equal(v, me->pg[p].val);
		break;
	}
	default: {
		bool ok = me->pg[p].area && (me->pg[p].flags & MMK_PT_READ);
		assert_int_equal(mmk_aspace_handle_page_fault(&as, rva(me, p),
							      MMK_ACCESS_READ),
				 ok);
		break;
	}
	}
}

static void shared_op(struct thr *me)
{
	unsigned p = (unsigned)r(me, SPAGES);
	mmk_vaddr_t va = SHARED + p * PG;
	switch (r(me, 3)) {
	case 0:
		if (r(me, 16) == 0) {
			/* exclusive, over pages others fault meanwhile */
			unsigned n =
				1 + (unsigned)r(me, MMK_MIN(8, SPAGES - p));
			assert_int_equal(mmk_aspace_populate(&as, va, n * PG,
							     MMK_ACCESS_READ),
					 0);
			break;
		}
		assert_true(mmk_aspace_handle_page_fault(&as, va,
							 MMK_ACCESS_WRITE));
		me->faults++;
		break;
	case 1: {
		uint64_t v = mmk_test_rand(&me->rng) | 1;
		assert_int_equal(
			mmk_aspace_write_kernel(&as, va + me->t * 8, &v, 8), 0);
		me->slot[p] = v;
		me->shared_writes++;
		break;
	}
	default: {
		uint64_t v;
		assert_int_equal(
			mmk_aspace_read_kernel(&as, va + me->t * 8, &v, 8), 0);
		assert_int_equal(v, me->slot[p]);
		break;
	}
	}
}

static void *thread_main(void *arg)
{
	struct thr *me = arg;
	mmk_hosted_register_cpu();
	mmk_aspace_activate(&as);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		if (r(me, 4) == 0)
			own_op(me);
		else
			shared_op(me);
		me->ops++;
	}
	mmk_aspace_deactivate(&as);
	return NULL;
}

static void check_thread(struct thr *me)
{
	for (unsigned p = 0; p < RPAGES; p++) {
		const struct tpage *q = &me->pg[p];
		struct mmk_aspace_area a;
		bool found = mmk_aspace_find_area(&as, rva(me, p), &a);
		assert_int_equal(found, q->area);
		if (!q->area)
			continue;
		assert_int_equal(a.flags, q->flags);
		mmk_paddr_t pa;
		uint32_t fl;
		if (mmk_pt_query(mmk_aspace_pt(&as), rva(me, p), &pa, &fl,
				 NULL) == 0) {
			/* a page never written is the zero page, read-only
			 * until its first write */
			uint64_t zero = atomic_load(&as.zero_page) & ~1ull;
			if ((fl & MMK_PT_RWX) != q->flags) {
				assert_int_equal(fl & MMK_PT_RWX,
						 q->flags & ~MMK_PT_WRITE);
				assert_int_equal(pa.v & ~(PG - 1), zero);
			}
			uint64_t v;
			memcpy(&v, (char *)mmk_phys_to_virt(pa) + 16, 8);
			assert_int_equal(v, q->val);
		} else {
			assert_int_equal(q->val, 0);
		}
	}
}

static void run_format(enum mmk_pt_format_id id)
{
	struct mmk_pt_info info;
	if (mmk_pt_format_info(id, &info) != 0)
		return;
	fa = mmk_hosted_frames_new();
	long f0 = mmk_hosted_live_frames(), o0 = mmk_hosted_live_objs();
	assert_int_equal(mmk_aspace_create(&as, BASE, 1 * MMK_GIB, id, 0, fa),
			 0);
	assert_int_equal(mmk_aspace_map_alloc(&as, SHARED, SPAGES * PG,
					      MMK_PT_RW, false),
			 0);
	const char *e = getenv("MMK_THREADS_MS");
	long ms = e ? atol(e) : 400;
	uint64_t seed = mmk_test_seed(0x7417ead5);
	atomic_store(&stop, false);
	for (unsigned t = 0; t < NT; t++) {
		memset(&thr[t], 0, sizeof(thr[t]));
		thr[t].t = t;
		thr[t].rng = seed + t * 0x9e3779b97f4a7c15ull;
		assert_int_equal(
			pthread_create(&thr[t].th, NULL, thread_main, &thr[t]),
			0);
	}
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
	atomic_store(&stop, true);
	long ops = 0, faults = 0;
	for (unsigned t = 0; t < NT; t++) {
		pthread_join(thr[t].th, NULL);
		ops += thr[t].ops;
		faults += thr[t].faults;
	}
	for (unsigned t = 0; t < NT; t++)
		check_thread(&thr[t]);
	/* every shared slot holds what its thread wrote last (or zero) */
	for (unsigned p = 0; p < SPAGES; p++) {
		mmk_paddr_t pa;
		if (mmk_pt_query(mmk_aspace_pt(&as), SHARED + p * PG, &pa, NULL,
				 NULL) != 0) {
			for (unsigned t = 0; t < NT; t++)
				assert_int_equal(thr[t].slot[p], 0);
			continue;
		}
		const uint64_t *w = mmk_phys_to_virt(pa);
		for (unsigned t = 0; t < NT; t++)
			assert_int_equal(w[t], thr[t].slot[p]);
		for (unsigned i = NT; i < PG / 8; i++)
			assert_int_equal(w[i], 0);
	}
	assert_int_equal(mmk_mset_check(&as.areas), 0);
	print_message("%s: %d threads, %ld ms: %ld operations, %ld shared "
		      "faults\n",
		      info.name, NT, ms, ops, faults);
	mmk_aspace_destroy(&as);
	assert_int_equal(mmk_hosted_live_frames(), f0);
	assert_int_equal(mmk_hosted_live_objs(), o0);
	assert_int_equal(f0, 0); /* nothing else lives in this test */
	assert_int_equal(o0, 0);
	mmk_hosted_frames_destroy(fa);
}

/*
 * x86_64 (adding a mapping flushes nothing) and loongarch64 (a fault
 * flushes the page it maps: the TLB may hold the invalid half of a pair).
 */
static void threads_fault_map_unmap_protect_one_space(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_log_reset(true);
	run_format(MMK_PT_X86_64_4L);
	run_format(MMK_PT_LA64_4K_4L);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(threads_fault_map_unmap_protect_one_space),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
