/* SPDX-License-Identifier: MIT */
/*
 * Shared anonymous memory (include/mmkit/shm.h) and file mappings through
 * a pager (include/mmkit/pager.h, the hosted in-memory pager).
 *
 * Two spaces A and B over the same frames (x86_64 4-level unless a test
 * loops over the formats):
 *
 *   BASE = 0x4000_0000                               BASE + 64 MiB
 *   |------------------------------------------------------------|
 */
#include "aspace_test.h"

#include <mmk_hosted_pager.h>
#include <mmkit/backend.h>
#include <mmkit/pager.h>
#include <mmkit/shm.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define BASE  0x40000000ull
#define SPACE (64 * MMK_MIB)
#define PG    4096ull

static struct mmk_frames *fa;
static struct mmk_aspace as, bs;
static struct as_snap s0, s1;

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_fail_off();
	mmk_hosted_log_reset(true);
	fa = mmk_hosted_frames_new();
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	assert_int_equal(
		mmk_aspace_create(&bs, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	mmk_aspace_activate(&as);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmk_aspace_destroy(&as);
	mmk_aspace_destroy(&bs);
	mmk_hosted_fail_off();
	assert_int_equal(mmk_hosted_live_frames(), 0);
	assert_int_equal(mmk_hosted_live_objs(), 0);
	mmk_hosted_frames_destroy(fa);
	return 0;
}

static bool query(struct mmk_aspace *s, mmk_vaddr_t va, mmk_paddr_t *pa,
		  uint32_t *flags)
{
	uint32_t f;
	mmk_paddr_t p;
	if (mmk_pt_query(mmk_aspace_pt(s), va, &p, &f, NULL) != 0)
		return false;
	if (pa)
		*pa = p;
	if (flags)
		*flags = f & ~(MMK_PT_ACCESSED | MMK_PT_DIRTY);
	return true;
}

static bool mapped(struct mmk_aspace *s, mmk_vaddr_t va)
{
	return query(s, va, NULL, NULL);
}

static uint32_t pte_flags(struct mmk_aspace *s, mmk_vaddr_t va)
{
	uint32_t f = 0xffffffffu;
	(void)query(s, va, NULL, &f);
	return f;
}

static unsigned char peek(struct mmk_aspace *s, mmk_vaddr_t va)
{
	unsigned char c = 0xee;
	assert_int_equal(mmk_aspace_read_kernel(s, va, &c, 1), 0);
	return c;
}

static void poke(struct mmk_aspace *s, mmk_vaddr_t va, unsigned char c)
{
	assert_int_equal(mmk_aspace_write_kernel(s, va, &c, 1), 0);
}

/* A file of @n pages, page i filled with the byte 'a' + i % 26, every
 * page in the cache when @cached. */
static struct mmk_hosted_file *file_new(uint64_t n, bool cached)
{
	struct mmk_hosted_file *hf = mmk_hosted_file_new(fa, n);
	unsigned char *d = mmk_hosted_file_data(hf);
	for (uint64_t i = 0; i < n; i++)
		memset(d + i * PG, 'a' + (int)(i % 26), PG);
	for (uint64_t i = 0; cached && i < n; i++)
		assert_int_equal(mmk_hosted_file_cache(hf, i), 0);
	return hf;
}

/* ---------------------------------------------------- shared memory */

static void shm_writes_in_one_space_are_seen_in_every_space(void **state)
{
	(void)state;
	struct mmk_shm *o;
	assert_int_equal(mmk_shm_create(fa, 16 * PG, 12, &o), 0);
	assert_int_equal(mmk_shm_resident(o), 0);
	/* A maps it all at BASE, B maps pages 4..11 at BASE + 1 MiB */
	assert_int_equal(
		mmk_aspace_map_shared(&as, BASE, 16 * PG, MMK_PT_RW, o, 0), 0);
	assert_int_equal(mmk_aspace_map_shared(&bs, BASE + MMK_MIB, 8 * PG,
					       MMK_PT_RW, o, 4 * PG),
			 0);
	assert_int_equal(mmk_shm_refs(o), 3);
	/* a never-touched page reads zero, and takes one frame for all */
	assert_int_equal(peek(&bs, BASE + MMK_MIB + PG), 0);
	assert_int_equal(mmk_shm_resident(o), 1);
	poke(&as, BASE + 5 * PG + 7, 0x5a);
	assert_int_equal(mmk_shm_resident(o), 1);
	assert_int_equal(peek(&bs, BASE + MMK_MIB + PG + 7), 0x5a);
	poke(&bs, BASE + MMK_MIB + 7 * PG, 0x77);
	assert_int_equal(peek(&as, BASE + 11 * PG), 0x77);
	mmk_paddr_t pa, pb;
	uint32_t f;
	assert_true(query(&as, BASE + 5 * PG, &pa, &f));
	assert_int_equal(f, MMK_PT_RW);
	assert_true(query(&bs, BASE + MMK_MIB + PG, &pb, NULL));
	assert_int_equal(pa.v, pb.v);
	/* the object's reference and each leaf's */
	assert_int_equal(mmk_frame_refcount(fa, pa), 3);
	assert_false(mapped(&as, BASE));
	mmk_shm_put(o);
}

static void shm_goes_with_its_last_mapping(void **state)
{
	(void)state;
	struct mmk_shm *o;
	assert_int_equal(mmk_shm_create(fa, 64 * PG, 12, &o), 0);
	assert_int_equal(
		mmk_aspace_map_shared(&as, BASE, 64 * PG, MMK_PT_RW, o, 0), 0);
	assert_int_equal(
		mmk_aspace_map_shared(&bs, BASE, 64 * PG, MMK_PT_RW, o, 0), 0);
	for (uint64_t i = 0; i < 64; i += 3)
		poke(&as, BASE + i * PG, (unsigned char)i);
	mmk_shm_put(o); /* the creator's: the areas keep it */
	assert_int_equal(mmk_shm_refs(o), 2);
	long frames = mmk_hosted_live_frames();
	assert_int_equal(mmk_aspace_unmap(&as, BASE, 64 * PG), 0);
	assert_int_equal(mmk_shm_refs(o), 1);
	assert_int_equal(peek(&bs, BASE + 63 * PG), 63);
	assert_true(mmk_hosted_live_frames() <= frames);
	/* the last mapping: the object, its nodes and its pages go */
	mmk_aspace_clear(&bs);
	mmk_aspace_clear(&as);
	assert_int_equal(mmk_aspace_area_count(&bs), 0);
	/* only the two spaces' root tables are left */
	assert_int_equal(mmk_hosted_live_frames(),
			 mmk_pt_table_pages(mmk_aspace_pt(&as)) +
				 mmk_pt_table_pages(mmk_aspace_pt(&bs)));
}

static void shm_partial_unmap_and_protect_split_and_keep_the_data(void **state)
{
	(void)state;
	struct mmk_shm *o;
	assert_int_equal(mmk_shm_create(fa, 16 * PG, 12, &o), 0);
	assert_int_equal(
		mmk_aspace_map_shared(&as, BASE, 16 * PG, MMK_PT_RW, o, 0), 0);
	for (uint64_t i = 0; i < 16; i++)
		poke(&as, BASE + i * PG, (unsigned char)(0x40 + i));
	/* a hole in the middle: two areas, two references */
	assert_int_equal(mmk_aspace_unmap(&as, BASE + 6 * PG, 4 * PG), 0);
	assert_int_equal(mmk_aspace_area_count(&as), 2);
	assert_int_equal(mmk_shm_refs(o), 3);
	assert_false(mapped(&as, BASE + 7 * PG));
	assert_int_equal(peek(&as, BASE + 12 * PG), 0x4c);
	/* the object keeps the pages: mapped again, the data is there */
	assert_int_equal(mmk_shm_resident(o), 16);
	assert_int_equal(mmk_aspace_map_shared(&as, BASE + 6 * PG, 4 * PG,
					       MMK_PT_RW, o, 6 * PG),
			 0);
	/* it merged with both neighbours: one area, one reference */
	assert_int_equal(mmk_aspace_area_count(&as), 1);
	assert_int_equal(mmk_shm_refs(o), 2);
	assert_int_equal(peek(&as, BASE + 7 * PG), 0x47);
	/* protect a part read-only: three areas; writes there refused */
	assert_int_equal(
		mmk_aspace_protect(&as, BASE + 2 * PG, 2 * PG, MMK_PT_READ), 0);
	assert_int_equal(mmk_aspace_area_count(&as), 3);
	assert_int_equal(mmk_shm_refs(o), 4);
	assert_int_equal(pte_flags(&as, BASE + 2 * PG), MMK_PT_READ);
	assert_int_equal(mmk_aspace_fault(&as, BASE + 2 * PG, MMK_ACCESS_WRITE),
			 MMK_EACCES);
	assert_int_equal(peek(&as, BASE + 3 * PG), 0x43);
	assert_int_equal(
		mmk_aspace_protect(&as, BASE + 2 * PG, 2 * PG, MMK_PT_RW), 0);
	assert_int_equal(mmk_aspace_area_count(&as), 1);
	assert_int_equal(mmk_shm_refs(o), 2);
	poke(&as, BASE + 2 * PG, 1);
	/* an area at another offset of the object sees the same page */
	assert_int_equal(mmk_aspace_map_shared(&as, BASE + MMK_MIB, PG,
					       MMK_PT_READ, o, 2 * PG),
			 0);
	assert_int_equal(peek(&as, BASE + MMK_MIB), 1);
	mmk_shm_put(o);
}

static void shm_bad_input_is_refused_and_changes_nothing(void **state)
{
	(void)state;
	struct mmk_shm *o;
	assert_int_equal(mmk_shm_create(NULL, PG, 12, &o), MMK_EINVAL);
	assert_int_equal(mmk_shm_create(fa, 0, 12, &o), MMK_EWRAP);
	assert_int_equal(mmk_shm_create(fa, PG + 1, 12, &o), MMK_EALIGN);
	assert_int_equal(mmk_shm_create(fa, PG, 11, &o), MMK_EINVAL);
	/* out of memory for the object or its first node: nothing kept */
	for (long n = 1; n <= 2; n++) {
		long objs = mmk_hosted_live_objs();
		mmk_hosted_fail_nth(MMK_FAIL_OBJ, n);
		assert_int_equal(mmk_shm_create(fa, 8 * PG, 12, &o),
				 MMK_ENOMEM);
		mmk_hosted_fail_off();
		assert_int_equal(mmk_hosted_live_objs(), objs);
	}
	assert_int_equal(mmk_shm_create(fa, 8 * PG, 12, &o), 0);
	as_snapshot(&as, fa, &s0);
	assert_int_equal(mmk_aspace_map_shared(&as, BASE, 0, MMK_PT_RW, o, 0),
			 MMK_EWRAP);
	assert_int_equal(mmk_aspace_map_shared(&as, BASE, PG, MMK_PT_RW, o, 5),
			 MMK_EALIGN);
	assert_int_equal(
		mmk_aspace_map_shared(&as, BASE, 2 * PG, MMK_PT_RW, o, 7 * PG),
		MMK_ERANGE);
	assert_int_equal(
		mmk_aspace_map_shared(&as, BASE, PG, MMK_PT_RW, NULL, 0),
		MMK_EINVAL);
	assert_int_equal(
		mmk_aspace_map_shared(&as, BASE - PG, PG, MMK_PT_RW, o, 0),
		MMK_ERANGE);
	assert_int_equal(
		mmk_aspace_map_shared(&as, BASE, PG, 0x00800000u, o, 0),
		MMK_EINVAL);
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE, PG, MMK_PT_RW, false),
			 0);
	assert_int_equal(mmk_aspace_map_shared(&as, BASE, PG, MMK_PT_RW, o, 0),
			 MMK_EEXIST);
	assert_int_equal(mmk_aspace_unmap(&as, BASE, PG), 0);
	as_snapshot(&as, fa, &s1);
	as_snap_equal(&s0, &s1, "bad shm maps");
	assert_int_equal(mmk_shm_refs(o), 1);
	mmk_shm_put(o);
}

/* Every allocation of a first touch failed in turn (object nodes, the
 * frame, the space's tables): the fault fails, nothing changed. */
static void shm_first_touch_is_all_or_nothing(void **state)
{
	(void)state;
	/* big enough for a three-level tree; pages far apart in it */
	struct mmk_shm *o;
	assert_int_equal(mmk_shm_create(fa, 512ull * 512 * 2 * PG, 12, &o), 0);
	assert_int_equal(
		mmk_aspace_map_shared(&as, BASE, 32 * MMK_MIB, MMK_PT_RW, o, 0),
		0);
	static const uint64_t at[] = {0, 3, 700, 5000, 8190};
	long failed = 0;
	for (size_t k = 0; k < MMK_ARRAY_SIZE(at); k++) {
		for (int site = MMK_FAIL_FRAME; site <= MMK_FAIL_OBJ; site++) {
			/* a page of its own for each site */
			mmk_vaddr_t va = BASE + (at[k] + (uint64_t)site) * PG;
			for (long n = 1;; n++) {
				as_snapshot(&as, fa, &s0);
				uint64_t res = mmk_shm_resident(o);
				mmk_hosted_fail_nth((enum mmk_failsite)site, n);
				int err = mmk_aspace_fault(&as, va,
							   MMK_ACCESS_WRITE);
				mmk_hosted_fail_off();
				if (err == 0)
					break;
				failed++;
				assert_int_equal(err, MMK_ENOMEM);
				as_snapshot(&as, fa, &s1);
				as_snap_equal(&s0, &s1, "shm first touch");
				assert_int_equal(mmk_shm_resident(o), res);
				assert_true(n < 100);
			}
			poke(&as, va, (unsigned char)(k + 1));
		}
	}
	assert_true(failed > 5);
	assert_int_equal(mmk_shm_resident(o), 2 * MMK_ARRAY_SIZE(at));
	/* another space sees what was written */
	assert_int_equal(mmk_aspace_map_shared(&bs, BASE, 32 * MMK_MIB,
					       MMK_PT_READ, o, 0),
			 0);
	for (size_t k = 0; k < MMK_ARRAY_SIZE(at); k++)
		assert_int_equal(peek(&bs, BASE + (at[k] + 1) * PG), k + 1);
	mmk_shm_put(o);
}

/* A forced read (ptrace's) of a shared page nothing touched yet, in a
 * region with no tables: the first touch's map asks for a table
 * (MMK_EAGAIN), the forced access reserves it and asks again; out of
 * memory at any allocation changes nothing. */
static void forced_read_of_a_first_touch_is_all_or_nothing(void **state)
{
	(void)state;
	struct mmk_shm *o;
	assert_int_equal(mmk_shm_create(fa, 4 * MMK_MIB, 12, &o), 0);
	assert_int_equal(
		mmk_aspace_map_shared(&as, BASE, 4 * MMK_MIB, MMK_PT_RW, o, 0),
		0);
	mmk_vaddr_t va = BASE + 3 * MMK_MIB + 5 * PG; /* its own leaf table */
	uint64_t word = 1;
	long failed = 0;
	for (long n = 1;; n++) {
		as_snapshot(&as, fa, &s0);
		mmk_hosted_fail_nth(MMK_FAIL_FRAME, n);
		int err = mmk_aspace_access_forced(&as, va, &word, 8, false);
		mmk_hosted_fail_off();
		if (err == 0)
			break;
		failed++;
		assert_int_equal(err, MMK_ENOMEM);
		as_snapshot(&as, fa, &s1);
		as_snap_equal(&s0, &s1, "forced first touch");
		assert_int_equal(mmk_shm_resident(o), 0);
		assert_true(n < 100);
	}
	assert_true(failed >= 2); /* the table, then the page */
	assert_int_equal(word, 0);
	assert_int_equal(mmk_shm_resident(o), 1);
	assert_true(query(&as, va, NULL, NULL));
	mmk_aspace_clear(&as);
	mmk_shm_put(o);
}

/* Every format: the same frame in two spaces, written in one, read in
 * the other; the file's private pages copy on write. */
static void shm_and_file_work_on_every_format(void **state)
{
	(void)state;
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++) {
		struct mmk_pt_info info;
		if (mmk_pt_format_info((enum mmk_pt_format_id)id, &info) != 0)
			continue;
		uint64_t ps = 1ull << info.page_shift;
		struct mmk_aspace x, y;
		assert_int_equal(mmk_aspace_create(&x, BASE, SPACE,
						   (enum mmk_pt_format_id)id, 0,
						   fa),
				 0);
		assert_int_equal(mmk_aspace_create(&y, BASE, SPACE,
						   (enum mmk_pt_format_id)id, 0,
						   fa),
				 0);
		struct mmk_shm *o;
		assert_int_equal(
			mmk_shm_create(fa, 4 * ps, info.page_shift, &o), 0);
		assert_int_equal(mmk_aspace_map_shared(&x, BASE, 4 * ps,
						       MMK_PT_RW, o, 0),
				 0);
		assert_int_equal(mmk_aspace_map_shared(&y, BASE + 4 * ps,
						       4 * ps, MMK_PT_RW, o, 0),
				 0);
		poke(&x, BASE + 2 * ps + 1, 0x99);
		assert_int_equal(peek(&y, BASE + 6 * ps + 1), 0x99);
		mmk_shm_put(o);
		if (info.page_shift == 12) {
			struct mmk_hosted_file *hf = file_new(8, true);
			struct mmk_file *f = mmk_hosted_file_file(hf);
			assert_int_equal(mmk_aspace_map_file(&x, BASE + MMK_MIB,
							     8 * PG, MMK_PT_RW,
							     f, 0, 0),
					 0);
			assert_int_equal(peek(&x, BASE + MMK_MIB + 3 * PG),
					 'd');
			poke(&x, BASE + MMK_MIB + 3 * PG, 'Z');
			assert_int_equal(peek(&x, BASE + MMK_MIB + 3 * PG),
					 'Z');
			assert_int_equal(mmk_hosted_file_data(hf)[3 * PG], 'd');
			mmk_aspace_destroy(&x);
			mmk_hosted_file_destroy(hf);
		} else {
			mmk_aspace_destroy(&x);
		}
		mmk_aspace_destroy(&y);
		assert_int_equal(
			mmk_hosted_live_frames(),
			mmk_pt_table_pages(mmk_aspace_pt(&as)) +
				mmk_pt_table_pages(mmk_aspace_pt(&bs)));
	}
}

/* ------------------------------------------------------ file private */

static void file_private_reads_the_file_and_copies_on_write(void **state)
{
	(void)state;
	struct mmk_hosted_file *hf = file_new(32, false);
	struct mmk_file *f = mmk_hosted_file_file(hf);
	f->around = 0;
	/* pages 4..19 of the file at BASE */
	assert_int_equal(mmk_aspace_map_file(&as, BASE, 16 * PG, MMK_PT_RW, f,
					     4 * PG, 0),
			 0);
	/* a read maps the cache page read-only */
	assert_int_equal(peek(&as, BASE + 2 * PG), 'g');
	mmk_paddr_t pa;
	uint32_t fl;
	assert_true(query(&as, BASE + 2 * PG, &pa, &fl));
	assert_int_equal(fl, MMK_PT_READ);
	assert_int_equal(pa.v, mmk_hosted_file_cache_pa(hf, 6).v);
	assert_int_equal(mmk_frame_refcount(fa, pa), 2);
	/* the first write copies it: writable, our own frame */
	poke(&as, BASE + 2 * PG + 1, 'X');
	mmk_paddr_t pb;
	assert_true(query(&as, BASE + 2 * PG, &pb, &fl));
	assert_int_equal(fl, MMK_PT_RW);
	assert_true(pb.v != pa.v);
	assert_int_equal(mmk_frame_refcount(fa, pb), 1);
	assert_int_equal(mmk_frame_refcount(fa, pa), 1); /* the cache's */
	assert_int_equal(peek(&as, BASE + 2 * PG), 'g');
	assert_int_equal(peek(&as, BASE + 2 * PG + 1), 'X');
	/* a write to an absent page copies at once */
	poke(&as, BASE + 9 * PG, 'Y');
	assert_true(query(&as, BASE + 9 * PG, &pb, &fl));
	assert_int_equal(fl, MMK_PT_RW);
	assert_true(pb.v != mmk_hosted_file_cache_pa(hf, 13).v);
	assert_int_equal(peek(&as, BASE + 9 * PG + 1), 'n');
	/* protect RO then RW: the copies are ours and writable again, the
	 * cache page stays read-only */
	assert_int_equal(peek(&as, BASE + 5 * PG), 'j');
	assert_int_equal(mmk_aspace_protect(&as, BASE, 16 * PG, MMK_PT_READ),
			 0);
	assert_int_equal(pte_flags(&as, BASE + 9 * PG), MMK_PT_READ);
	assert_int_equal(mmk_aspace_protect(&as, BASE, 16 * PG, MMK_PT_RW), 0);
	assert_int_equal(pte_flags(&as, BASE + 9 * PG), MMK_PT_RW);
	assert_int_equal(pte_flags(&as, BASE + 2 * PG), MMK_PT_RW);
	assert_int_equal(pte_flags(&as, BASE + 5 * PG), MMK_PT_READ);
	long frames = mmk_hosted_live_frames();
	poke(&as, BASE + 9 * PG + 2, 'W');
	assert_int_equal(mmk_hosted_live_frames(), frames);
	mmk_paddr_t pc;
	assert_true(query(&as, BASE + 9 * PG, &pc, &fl));
	assert_int_equal(pc.v, pb.v);
	/* the cache page is copied on its write, as any */
	poke(&as, BASE + 5 * PG, 'V');
	assert_true(query(&as, BASE + 5 * PG, &pc, &fl));
	assert_true(pc.v != mmk_hosted_file_cache_pa(hf, 9).v);
	assert_int_equal(fl, MMK_PT_RW);
	/* the file never changed, nobody was told of a write */
	unsigned char *d = mmk_hosted_file_data(hf);
	assert_int_equal(d[6 * PG + 1], 'g');
	assert_int_equal(d[13 * PG], 'n');
	assert_int_equal(d[9 * PG], 'j');
	assert_int_equal(mmk_hosted_file_ndirty(hf), 0);
	assert_int_equal(mmk_hosted_file_calls(hf, MMK_HOSTED_PAGER_DIRTY), 0);
	assert_int_equal(mmk_aspace_sync(&as, BASE, 16 * PG), 0);
	assert_int_equal(mmk_hosted_file_calls(hf, MMK_HOSTED_PAGER_WRITEBACK),
			 0);
	/* the file goes with its last reference, after the mappings */
	mmk_aspace_clear(&as);
	assert_false(mmk_hosted_file_released(hf));
	mmk_hosted_file_destroy(hf);
}

/* ------------------------------------------------------- file shared */

static void file_shared_writes_reach_the_file_on_sync_and_unmap(void **state)
{
	(void)state;
	struct mmk_hosted_file *hf = file_new(16, false);
	struct mmk_file *f = mmk_hosted_file_file(hf);
	unsigned char *d = mmk_hosted_file_data(hf);
	assert_int_equal(mmk_aspace_map_file(&as, BASE, 16 * PG, MMK_PT_RW, f,
					     0, MMK_MAP_FILE_SHARED),
			 0);
	assert_int_equal(mmk_aspace_map_file(&bs, BASE, 8 * PG, MMK_PT_RW, f, 0,
					     MMK_MAP_FILE_SHARED),
			 0);
	/* a read: read-only, clean */
	assert_int_equal(peek(&as, BASE + 3 * PG), 'd');
	assert_int_equal(pte_flags(&as, BASE + 3 * PG), MMK_PT_READ);
	assert_false(mmk_hosted_file_dirty(hf, 3));
	/* the write: dirty, writable, the cache page itself, seen by B */
	poke(&as, BASE + 3 * PG, 'Q');
	assert_true(mmk_hosted_file_dirty(hf, 3));
	mmk_paddr_t pa;
	uint32_t fl;
	assert_true(query(&as, BASE + 3 * PG, &pa, &fl));
	assert_int_equal(fl, MMK_PT_RW);
	assert_int_equal(pa.v, mmk_hosted_file_cache_pa(hf, 3).v);
	assert_int_equal(peek(&bs, BASE + 3 * PG), 'Q');
	/* a write to an absent page: dirty at once */
	poke(&as, BASE + 10 * PG, 'R');
	assert_true(mmk_hosted_file_dirty(hf, 10));
	assert_int_equal(pte_flags(&as, BASE + 10 * PG), MMK_PT_RW);
	assert_int_equal(mmk_hosted_file_ndirty(hf), 2);
	assert_int_equal(d[3 * PG], 'd'); /* not written back yet */
	/* sync: on the disk, clean, read-only again, flushed */
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_sync(&as, BASE, 16 * PG), 0);
	assert_int_equal(d[3 * PG], 'Q');
	assert_int_equal(d[10 * PG], 'R');
	assert_int_equal(mmk_hosted_file_ndirty(hf), 0);
	assert_int_equal(pte_flags(&as, BASE + 3 * PG), MMK_PT_READ);
	assert_int_equal(pte_flags(&as, BASE + 10 * PG), MMK_PT_READ);
	assert_true(mmk_hosted_flushed(BASE + 3 * PG));
	assert_true(mmk_hosted_flushed(BASE + 10 * PG));
	/* the next write is seen again */
	poke(&as, BASE + 3 * PG + 1, 'S');
	assert_true(mmk_hosted_file_dirty(hf, 3));
	assert_int_equal(d[3 * PG + 1], 'd');
	/* a write through B, then B unmapped: written back */
	poke(&bs, BASE + 5 * PG, 'T');
	assert_int_equal(mmk_aspace_unmap(&bs, BASE, 8 * PG), 0);
	assert_int_equal(d[5 * PG], 'T');
	assert_int_equal(d[3 * PG + 1], 'S'); /* the range's dirty pages */
	/* a write-back error: sync returns it, the page stays dirty */
	poke(&as, BASE + 12 * PG, 'U');
	mmk_hosted_file_fail_nth(hf, MMK_HOSTED_PAGER_WRITEBACK, 1, MMK_EBUSY);
	assert_int_equal(mmk_aspace_sync(&as, BASE, 16 * PG), MMK_EBUSY);
	assert_true(mmk_hosted_file_dirty(hf, 12));
	assert_int_equal(d[12 * PG], 'm');
	/* unmap of A: everything on the disk */
	assert_int_equal(mmk_aspace_unmap(&as, BASE, 16 * PG), 0);
	assert_int_equal(d[12 * PG], 'U');
	assert_int_equal(mmk_hosted_file_ndirty(hf), 0);
	mmk_hosted_file_destroy(hf);
}

static void file_shared_protect_keeps_dirty_tracking(void **state)
{
	(void)state;
	struct mmk_hosted_file *hf = file_new(4, true);
	struct mmk_file *f = mmk_hosted_file_file(hf);
	assert_int_equal(mmk_aspace_map_file(&as, BASE, 4 * PG, MMK_PT_RW, f, 0,
					     MMK_MAP_FILE_SHARED),
			 0);
	poke(&as, BASE + PG, 'P');
	assert_int_equal(mmk_aspace_sync(&as, BASE, 4 * PG), 0);
	poke(&as, BASE + PG, 'p');
	/* read-only now and back: the page must fault once more, and a
	 * sync in between still writes what was written */
	assert_int_equal(mmk_aspace_protect(&as, BASE, 4 * PG, MMK_PT_READ), 0);
	assert_int_equal(pte_flags(&as, BASE + PG), MMK_PT_READ);
	assert_int_equal(mmk_aspace_sync(&as, BASE, 4 * PG), 0);
	assert_int_equal(mmk_hosted_file_data(hf)[PG], 'p');
	assert_int_equal(mmk_aspace_protect(&as, BASE, 4 * PG, MMK_PT_RW), 0);
	assert_int_equal(pte_flags(&as, BASE + PG), MMK_PT_READ);
	assert_false(mmk_hosted_file_dirty(hf, 1));
	poke(&as, BASE + PG, 'q');
	assert_true(mmk_hosted_file_dirty(hf, 1));
	mmk_aspace_clear(&as);
	assert_int_equal(mmk_hosted_file_data(hf)[PG], 'q');
	mmk_hosted_file_destroy(hf);
}

/* ------------------------------------------------------ fault-around */

static void fault_around_maps_the_cached_pages_of_the_window(void **state)
{
	(void)state;
	struct mmk_hosted_file *hf = file_new(64, false);
	struct mmk_file *f = mmk_hosted_file_file(hf);
	for (uint64_t i = 0; i < 40; i++)
		if (i != 5 && i != 9)
			assert_int_equal(mmk_hosted_file_cache(hf, i), 0);
	/* the area starts 8 pages into a window and ends 4 into one */
	mmk_vaddr_t a0 = BASE + 8 * PG;
	assert_int_equal(
		mmk_aspace_map_file(&as, a0, 28 * PG, MMK_PT_READ, f, 0, 0), 0);
	/* pages 0..7 of the file are at a0..; the window of a0 + 3 pages is
	 * [BASE, BASE + 16 pages): only a0.. a0 + 8 pages of it is area */
	long gets = mmk_hosted_file_calls(hf, MMK_HOSTED_PAGER_GET);
	assert_int_equal(mmk_aspace_fault(&as, a0 + 3 * PG, MMK_ACCESS_READ),
			 0);
	for (uint64_t i = 0; i < 8; i++)
		assert_int_equal(mapped(&as, a0 + i * PG), i != 5);
	assert_false(mapped(&as, BASE + 7 * PG));
	assert_false(mapped(&as, a0 + 8 * PG));
	assert_int_equal(pte_flags(&as, a0), MMK_PT_READ);
	assert_int_equal(mmk_hosted_file_calls(hf, MMK_HOSTED_PAGER_GET) - gets,
			 8);
	/* the next window: 16 pages from one fault, page 9 not cached */
	assert_int_equal(mmk_aspace_fault(&as, a0 + 8 * PG, MMK_ACCESS_READ),
			 0);
	for (uint64_t i = 8; i < 24; i++)
		assert_int_equal(mapped(&as, a0 + i * PG), i != 9);
	/* the last window ends with the area */
	assert_int_equal(mmk_aspace_fault(&as, a0 + 27 * PG, MMK_ACCESS_READ),
			 0);
	for (uint64_t i = 24; i < 28; i++)
		assert_true(mapped(&as, a0 + i * PG));
	assert_false(mapped(&as, a0 + 28 * PG));
	/* what the window finds mapped stays as it is; page 5 (not
	 * cached) comes on its own fault, read from the disk */
	assert_int_equal(peek(&as, a0 + 5 * PG), 'f');
	assert_int_equal(peek(&as, a0 + 9 * PG), 'j');
	for (uint64_t i = 0; i < 28; i++) {
		mmk_paddr_t pa = mmk_pa(0);
		assert_true(query(&as, a0 + i * PG, &pa, NULL));
		assert_int_equal(pa.v, mmk_hosted_file_cache_pa(hf, i).v);
		assert_int_equal(mmk_frame_refcount(fa, pa), 2);
	}
	/* a write fault maps only its own page */
	mmk_aspace_clear(&as);
	assert_int_equal(
		mmk_aspace_map_file(&as, BASE, 16 * PG, MMK_PT_RW, f, 0, 0), 0);
	poke(&as, BASE + 2 * PG, 1);
	assert_false(mapped(&as, BASE + 3 * PG));
	/* a read fault next to a private copy leaves the copy */
	mmk_paddr_t copy;
	assert_true(query(&as, BASE + 2 * PG, &copy, NULL));
	assert_int_equal(peek(&as, BASE + 3 * PG), 'd');
	mmk_paddr_t now;
	assert_true(query(&as, BASE + 2 * PG, &now, NULL));
	assert_int_equal(now.v, copy.v);
	assert_true(mapped(&as, BASE + 15 * PG));
	/* around = 0: one page per fault */
	mmk_aspace_clear(&as);
	f->around = 0;
	assert_int_equal(
		mmk_aspace_map_file(&as, BASE, 16 * PG, MMK_PT_READ, f, 0, 0),
		0);
	assert_int_equal(peek(&as, BASE + 3 * PG), 'd');
	assert_false(mapped(&as, BASE + 2 * PG));
	assert_false(mapped(&as, BASE + 4 * PG));
	mmk_aspace_clear(&as);
	mmk_hosted_file_destroy(hf);
}

/* ------------------------------------------------------ pager errors */

static void pager_errors_are_returned_by_the_fault(void **state)
{
	(void)state;
	struct mmk_hosted_file *hf = file_new(8, false);
	struct mmk_file *f = mmk_hosted_file_file(hf);
	/* 12 pages over an 8-page file: the last 4 are past its end */
	assert_int_equal(mmk_aspace_map_file(&as, BASE, 12 * PG, MMK_PT_RW, f,
					     0, MMK_MAP_FILE_SHARED),
			 0);
	as_snapshot(&as, fa, &s0);
	mmk_hosted_file_fail_nth(hf, MMK_HOSTED_PAGER_GET, 1, MMK_EBUSY);
	assert_int_equal(mmk_aspace_fault(&as, BASE, MMK_ACCESS_READ),
			 MMK_EBUSY);
	assert_int_equal(mmk_aspace_fault(&as, BASE + 9 * PG, MMK_ACCESS_READ),
			 MMK_EFAULT);
	char c;
	assert_int_equal(mmk_aspace_read_kernel(&as, BASE + 9 * PG, &c, 1),
			 MMK_EFAULT);
	as_snapshot(&as, fa, &s1);
	s1.live_frames -= (long)mmk_hosted_file_cached(hf);
	as_snap_equal(&s0, &s1, "get_page errors");
	/* set_dirty refuses: the write fails, the page stays read-only */
	assert_int_equal(mmk_aspace_fault(&as, BASE + PG, MMK_ACCESS_READ), 0);
	mmk_hosted_file_fail_nth(hf, MMK_HOSTED_PAGER_DIRTY, 1, MMK_EACCES);
	assert_int_equal(mmk_aspace_fault(&as, BASE + PG, MMK_ACCESS_WRITE),
			 MMK_EACCES);
	assert_int_equal(pte_flags(&as, BASE + PG), MMK_PT_READ);
	assert_false(mmk_hosted_file_dirty(hf, 1));
	/* and on an absent page: nothing mapped, the reference given back */
	mmk_hosted_file_fail_nth(hf, MMK_HOSTED_PAGER_DIRTY, 1, MMK_EACCES);
	assert_int_equal(mmk_aspace_fault(&as, BASE + 6 * PG, MMK_ACCESS_WRITE),
			 MMK_EACCES);
	assert_false(mapped(&as, BASE + 6 * PG));
	mmk_paddr_t pa = mmk_hosted_file_cache_pa(hf, 6);
	if (pa.v)
		assert_int_equal(mmk_frame_refcount(fa, pa), 1);
	mmk_aspace_clear(&as);
	mmk_hosted_file_destroy(hf);
}

/* ------------------------------------------- failure injection sweep */

struct fcase {
	const char *name;
	bool shared, cached, premap;
	uint32_t access;
};

/* Set up the case: a fresh area over the file, maybe the page read in
 * (mapped read-only) first. */
static void fcase_prep(const struct fcase *c, struct mmk_file *f)
{
	mmk_aspace_clear(&as);
	assert_int_equal(
		mmk_aspace_map_file(&as, BASE, 32 * PG, MMK_PT_RW, f, 0,
				    c->shared ? MMK_MAP_FILE_SHARED : 0),
		0);
	if (c->premap)
		assert_int_equal(
			mmk_aspace_fault(&as, BASE + 5 * PG, MMK_ACCESS_READ),
			0);
}

/* Snapshot with the pager's cache left out (its frames are its own). */
static void fsnap(struct mmk_hosted_file *hf, struct as_snap *s)
{
	as_snapshot(&as, fa, s);
	s->live_frames -= (long)mmk_hosted_file_cached(hf);
}

static void sweep_case(const struct fcase *c)
{
	long failed = 0;
	for (int site = 0; site < 2 + MMK_HOSTED_PAGER_NCALLS; site++) {
		for (long n = 1;; n++) {
			struct mmk_hosted_file *hf = file_new(32, c->cached);
			struct mmk_file *f = mmk_hosted_file_file(hf);
			fcase_prep(c, f);
			fsnap(hf, &s0);
			if (site < 2)
				mmk_hosted_fail_nth((enum mmk_failsite)site, n);
			else
				mmk_hosted_file_fail_nth(
					hf,
					(enum mmk_hosted_pager_call)(site - 2),
					n, MMK_EBUSY);
			int err =
				mmk_aspace_fault(&as, BASE + 5 * PG, c->access);
			mmk_hosted_fail_off();
			mmk_hosted_file_fail_off(hf);
			if (err) {
				failed++;
				assert_true(err == MMK_ENOMEM ||
					    err == MMK_EBUSY);
				fsnap(hf, &s1);
				char what[96];
				snprintf(what, sizeof(what), "%s site %d n %ld",
					 c->name, site, n);
				as_snap_equal(&s0, &s1, what);
				/* the pager learns of a write before the
				 * page is in: a table page missing then
				 * leaves it dirty (unchanged), nothing else */
				bool late = c->shared && err == MMK_ENOMEM &&
					    (c->access & MMK_ACCESS_WRITE);
				assert_true(mmk_hosted_file_ndirty(hf) <=
					    (late ? 1u : 0u));
			} else {
				uint32_t fl = pte_flags(&as, BASE + 5 * PG);
				assert_true((fl & c->access) == c->access);
			}
			mmk_aspace_clear(&as);
			mmk_hosted_file_destroy(hf);
			if (!err)
				break;
			assert_true(n < 100);
		}
	}
	print_message("sweep %-22s %3ld failures, each undone\n", c->name,
		      failed);
}

/* populate reads the file in and maps its pages read-only, all or
 * nothing at every allocation and pager failure. */
static void file_populate_maps_read_only_all_or_nothing(void **state)
{
	(void)state;
	/* 100 pages: two chunks of the populate, a hole in the middle */
	long failed = 0;
	for (int site = 0; site < 3; site++) {
		for (long n = 1;; n++) {
			struct mmk_hosted_file *hf = file_new(100, false);
			struct mmk_file *f = mmk_hosted_file_file(hf);
			for (uint64_t i = 0; i < 100; i += 7)
				assert_int_equal(mmk_hosted_file_cache(hf, i),
						 0);
			bool shared = n & 1;
			assert_int_equal(
				mmk_aspace_map_file(
					&as, BASE, 100 * PG, MMK_PT_RW, f, 0,
					shared ? MMK_MAP_FILE_SHARED : 0),
				0);
			assert_int_equal(mmk_aspace_fault(&as, BASE + 70 * PG,
							  MMK_ACCESS_WRITE),
					 0);
			fsnap(hf, &s0);
			if (site < 2)
				mmk_hosted_fail_nth((enum mmk_failsite)site, n);
			else
				mmk_hosted_file_fail_nth(
					hf, MMK_HOSTED_PAGER_GET, n, MMK_EBUSY);
			int err = mmk_aspace_populate(&as, BASE, 100 * PG,
						      MMK_ACCESS_READ);
			mmk_hosted_fail_off();
			mmk_hosted_file_fail_off(hf);
			if (err) {
				failed++;
				assert_true(err == MMK_ENOMEM ||
					    err == MMK_EBUSY);
				fsnap(hf, &s1);
				as_snap_equal(&s0, &s1, "file populate");
			} else {
				for (uint64_t i = 0; i < 100; i++) {
					mmk_paddr_t pa;
					uint32_t fl;
					assert_true(query(&as, BASE + i * PG,
							  &pa, &fl));
					if (i == 70)
						continue;
					assert_int_equal(fl, MMK_PT_READ);
					assert_int_equal(
						pa.v,
						mmk_hosted_file_cache_pa(hf, i)
							.v);
				}
				assert_int_equal(peek(&as, BASE + 99 * PG),
						 'a' + 99 % 26);
			}
			mmk_aspace_clear(&as);
			mmk_hosted_file_destroy(hf);
			if (!err)
				break;
			assert_true(n < 300);
		}
	}
	assert_true(failed > 3);
}

static void file_faults_are_all_or_nothing_at_every_failure(void **state)
{
	(void)state;
	static const struct fcase cases[] = {
		{"private read", false, false, false, MMK_ACCESS_READ},
		{"private read cached", false, true, false, MMK_ACCESS_READ},
		{"private write", false, false, false, MMK_ACCESS_WRITE},
		{"private cow", false, true, true, MMK_ACCESS_WRITE},
		{"shared read", true, false, false, MMK_ACCESS_READ},
		{"shared write", true, false, false, MMK_ACCESS_WRITE},
		{"shared mkwrite", true, true, true, MMK_ACCESS_WRITE},
	};
	for (size_t i = 0; i < MMK_ARRAY_SIZE(cases); i++)
		sweep_case(&cases[i]);
}

/* ---------------------------------------------------------- threads */

#define TPAGES 1024

struct racer {
	pthread_t th;
	struct mmk_aspace *as;
	mmk_vaddr_t shm, file;
	unsigned id;
};

/* Every page of both areas, in an order of the thread's own: writes to
 * the object (a byte of its own per page), reads of the file. */
static void *racer_main(void *arg)
{
	struct racer *r = arg;
	mmk_hosted_register_cpu();
	for (unsigned k = 0; k < TPAGES; k++) {
		unsigned i = r->id & 1 ? TPAGES - 1 - k : (k * 7) % TPAGES;
		unsigned char c = (unsigned char)(r->id + 1);
		if (mmk_aspace_write_kernel(r->as, r->shm + i * PG + r->id, &c,
					    1))
			abort();
		if (mmk_aspace_read_kernel(r->as, r->file + i * PG, &c, 1) ||
		    c != 'a' + i % 26)
			abort();
	}
	return NULL;
}

static void faults_race_on_one_object_from_two_spaces(void **state)
{
	(void)state;
	struct mmk_shm *o;
	assert_int_equal(mmk_shm_create(fa, TPAGES * PG, 12, &o), 0);
	struct mmk_hosted_file *hf = file_new(TPAGES, false);
	for (uint64_t i = 0; i < TPAGES; i += 3)
		assert_int_equal(mmk_hosted_file_cache(hf, i), 0);
	struct mmk_file *f = mmk_hosted_file_file(hf);
	mmk_vaddr_t sa = BASE, sb = BASE + 8 * MMK_MIB;
	mmk_vaddr_t fl = BASE + 16 * MMK_MIB;
	assert_int_equal(
		mmk_aspace_map_shared(&as, sa, TPAGES * PG, MMK_PT_RW, o, 0),
		0);
	assert_int_equal(
		mmk_aspace_map_shared(&bs, sb, TPAGES * PG, MMK_PT_RW, o, 0),
		0);
	assert_int_equal(
		mmk_aspace_map_file(&as, fl, TPAGES * PG, MMK_PT_READ, f, 0, 0),
		0);
	assert_int_equal(mmk_aspace_map_file(&bs, fl, TPAGES * PG, MMK_PT_READ,
					     f, 0, MMK_MAP_FILE_SHARED),
			 0);
	struct racer r[4];
	for (unsigned t = 0; t < 4; t++) {
		r[t].as = t < 2 ? &as : &bs;
		r[t].shm = t < 2 ? sa : sb;
		r[t].file = fl;
		r[t].id = t;
		assert_int_equal(
			pthread_create(&r[t].th, NULL, racer_main, &r[t]), 0);
	}
	for (unsigned t = 0; t < 4; t++)
		assert_int_equal(pthread_join(r[t].th, NULL), 0);
	/* one frame per page, the same in both spaces, every byte there */
	assert_int_equal(mmk_shm_resident(o), TPAGES);
	for (uint64_t i = 0; i < TPAGES; i++) {
		mmk_paddr_t pa, pb;
		assert_true(query(&as, sa + i * PG, &pa, NULL));
		assert_true(query(&bs, sb + i * PG, &pb, NULL));
		assert_int_equal(pa.v, pb.v);
		assert_int_equal(mmk_frame_refcount(fa, pa), 3);
		for (unsigned t = 0; t < 4; t++)
			assert_int_equal(peek(&as, sa + i * PG + t), t + 1);
		assert_true(query(&as, fl + i * PG, &pa, NULL));
		assert_true(query(&bs, fl + i * PG, &pb, NULL));
		assert_int_equal(pa.v, pb.v);
		assert_int_equal(pa.v, mmk_hosted_file_cache_pa(hf, i).v);
		assert_int_equal(mmk_frame_refcount(fa, pa), 3);
	}
	mmk_shm_put(o);
	mmk_aspace_clear(&as);
	mmk_aspace_clear(&bs);
	assert_int_equal(mmk_hosted_file_ndirty(hf), 0);
	mmk_hosted_file_destroy(hf);
}

/* ------------------------------------------------------------ fork */

/*
 * The parent's layout for the fork tests:
 *
 *   BASE            shm, 16 pages RW (pages 0..7 touched before fork)
 *   BASE + 1 MiB    file, shared, 16 pages RW (page 2 written)
 *   BASE + 2 MiB    file, private, 16 pages RW (page 1 read, 3 written)
 */
#define SHM BASE
#define FSH (BASE + MMK_MIB)
#define FPR (BASE + 2 * MMK_MIB)

static void fork_parent(struct mmk_aspace *p, struct mmk_shm *o,
			struct mmk_file *f)
{
	assert_int_equal(
		mmk_aspace_map_shared(p, SHM, 16 * PG, MMK_PT_RW, o, 0), 0);
	assert_int_equal(mmk_aspace_map_file(p, FSH, 16 * PG, MMK_PT_RW, f, 0,
					     MMK_MAP_FILE_SHARED),
			 0);
	assert_int_equal(
		mmk_aspace_map_file(p, FPR, 16 * PG, MMK_PT_RW, f, 16 * PG, 0),
		0);
	for (uint64_t i = 0; i < 8; i++)
		poke(p, SHM + i * PG, (unsigned char)(0x10 + i));
	poke(p, FSH + 2 * PG, 'P');
	assert_int_equal(peek(p, FPR + PG), 'r');
	poke(p, FPR + 3 * PG, 'p');
}

static void fork_of_a_fork_shares_shared_and_file_mappings(void **state)
{
	(void)state;
	struct mmk_hosted_file *hf = file_new(32, true);
	struct mmk_file *f = mmk_hosted_file_file(hf);
	unsigned char *d = mmk_hosted_file_data(hf);
	struct mmk_shm *o;
	assert_int_equal(mmk_shm_create(fa, 16 * PG, 12, &o), 0);
	fork_parent(&as, o, f);
	struct mmk_aspace c2;
	/* one flush of the parent (its private copy lost WRITE), none for
	 * the shared areas, none of the child */
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_clone(&as, &bs), 0);
	assert_int_equal(mmk_hosted_flush_count(), 1);
	assert_true(mmk_hosted_flushed(FPR + 3 * PG));
	assert_false(mmk_hosted_flushed(SHM));
	assert_false(mmk_hosted_flushed(FSH + 2 * PG));
	assert_int_equal(mmk_shm_refs(o), 3);
	/* the private copy is read-only in both now; the shared ones not */
	assert_int_equal(pte_flags(&as, FPR + 3 * PG), MMK_PT_READ);
	assert_int_equal(pte_flags(&as, SHM), MMK_PT_RW);
	assert_int_equal(pte_flags(&bs, SHM), MMK_PT_RW);
	assert_int_equal(pte_flags(&bs, FSH + 2 * PG), MMK_PT_RW);
	/* child writes: shared ones reach the parent, private ones not */
	poke(&bs, SHM + PG, 0xc1);
	poke(&bs, SHM + 12 * PG, 0xc2); /* a first touch after the fork */
	poke(&bs, FSH + 4 * PG, 'C');
	poke(&bs, FPR + 3 * PG, 'c');
	poke(&bs, FPR + 5 * PG, 'c');
	assert_int_equal(peek(&as, SHM + PG), 0xc1);
	assert_int_equal(peek(&as, SHM + 12 * PG), 0xc2);
	assert_int_equal(peek(&as, FSH + 4 * PG), 'C');
	assert_int_equal(peek(&as, FPR + 3 * PG), 'p');
	assert_int_equal(peek(&as, FPR + 5 * PG), 'v');
	/* the child forks in turn */
	assert_int_equal(
		mmk_aspace_create(&c2, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	assert_int_equal(mmk_aspace_clone(&bs, &c2), 0);
	assert_int_equal(mmk_shm_refs(o), 4);
	assert_int_equal(peek(&c2, FPR + 3 * PG), 'c');
	assert_int_equal(peek(&c2, SHM + 12 * PG), 0xc2);
	/* grandchild writes: shared everywhere, private its own */
	poke(&c2, SHM + 13 * PG, 0xc3);
	poke(&c2, FSH + 6 * PG, 'G');
	poke(&c2, FPR + 3 * PG, 'g');
	poke(&as, FPR + 3 * PG, 'q');
	assert_int_equal(peek(&as, SHM + 13 * PG), 0xc3);
	assert_int_equal(peek(&bs, SHM + 13 * PG), 0xc3);
	assert_int_equal(peek(&as, FSH + 6 * PG), 'G');
	assert_int_equal(peek(&bs, FPR + 3 * PG), 'c');
	assert_int_equal(peek(&as, FPR + 3 * PG), 'q');
	assert_int_equal(peek(&c2, FPR + 3 * PG), 'g');
	/* the file: unchanged by private writes; shared ones after sync */
	assert_int_equal(d[19 * PG], 't');
	assert_int_equal(d[21 * PG], 'v');
	assert_int_equal(mmk_aspace_sync(&c2, FSH, 16 * PG), 0);
	assert_int_equal(d[6 * PG], 'G');
	assert_int_equal(d[4 * PG], 'C');
	assert_int_equal(d[2 * PG], 'P');
	/* the child exits before its parent and its child */
	mmk_aspace_destroy(&bs);
	assert_int_equal(mmk_shm_refs(o), 3);
	assert_int_equal(peek(&c2, SHM + PG), 0xc1);
	assert_int_equal(peek(&c2, FPR + 3 * PG), 'g');
	poke(&c2, FSH + 7 * PG, 'H');
	mmk_shm_put(o);
	/* the parent, then the grandchild: everything written goes back */
	mmk_aspace_destroy(&as);
	assert_int_equal(mmk_shm_refs(o), 1);
	assert_int_equal(peek(&c2, SHM + 5 * PG), 0x15);
	mmk_aspace_destroy(&c2);
	assert_int_equal(d[7 * PG], 'H');
	assert_int_equal(mmk_hosted_file_ndirty(hf), 0);
	mmk_hosted_file_destroy(hf);
	/* setup's spaces again, for the teardown */
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	assert_int_equal(
		mmk_aspace_create(&bs, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	assert_int_equal(mmk_hosted_live_frames(), 2);
}

/* Every allocation of the fork failed in turn: the child stays empty, the
 * parent, the object and the file as they were. */
static void fork_with_shared_and_file_areas_is_all_or_nothing(void **state)
{
	(void)state;
	struct mmk_hosted_file *hf = file_new(32, true);
	struct mmk_file *f = mmk_hosted_file_file(hf);
	struct mmk_shm *o;
	assert_int_equal(mmk_shm_create(fa, 16 * PG, 12, &o), 0);
	fork_parent(&as, o, f);
	long failed = 0;
	for (int site = MMK_FAIL_FRAME; site <= MMK_FAIL_OBJ; site++) {
		for (long n = 1;; n++) {
			as_snapshot(&as, fa, &s0);
			long refs = mmk_shm_refs(o);
			long frefs = mmk_atomic_load(&f->refs, MMK_MO_RELAXED);
			long ctables = mmk_pt_table_pages(mmk_aspace_pt(&bs));
			mmk_hosted_fail_nth((enum mmk_failsite)site, n);
			int err = mmk_aspace_clone(&as, &bs);
			mmk_hosted_fail_off();
			if (!err)
				break;
			failed++;
			assert_int_equal(err, MMK_ENOMEM);
			assert_int_equal(mmk_aspace_area_count(&bs), 0);
			as_snapshot(&as, fa, &s1);
			/* the child is as it was: empty, its root only */
			assert_int_equal(mmk_pt_table_pages(mmk_aspace_pt(&bs)),
					 ctables);
			as_snap_equal(&s0, &s1, "fork");
			assert_int_equal(mmk_shm_refs(o), refs);
			assert_int_equal(
				mmk_atomic_load(&f->refs, MMK_MO_RELAXED),
				frefs);
			assert_true(n < 1000);
		}
		assert_int_equal(mmk_aspace_area_count(&bs), 3);
		assert_int_equal(peek(&bs, SHM + 7 * PG), 0x17);
		assert_int_equal(peek(&bs, FSH + 2 * PG), 'P');
		assert_int_equal(peek(&bs, FPR + 3 * PG), 'p');
		mmk_aspace_clear(&bs);
	}
	assert_true(failed > 0);
	print_message("fork sweep: %ld failures, each undone\n", failed);
	mmk_shm_put(o);
	mmk_aspace_clear(&as);
	mmk_hosted_file_destroy(hf);
}

struct forker_writer {
	pthread_t th;
	struct mmk_aspace *as;
	_Atomic bool stop;
	_Atomic unsigned rounds;
};

static void *fw_main(void *arg)
{
	struct forker_writer *w = arg;
	mmk_hosted_register_cpu();
	for (unsigned round = 0; !atomic_load(&w->stop);
	     round++, atomic_fetch_add(&w->rounds, 1))
		for (unsigned i = 0; i < 256; i++) {
			unsigned char c = (unsigned char)round;
			if (mmk_aspace_write_kernel(w->as, SHM + i * PG, &c,
						    1) ||
			    mmk_aspace_read_kernel(w->as, FSH + i * PG, &c, 1))
				abort();
		}
	return NULL;
}

/* Forks of a space whose shared areas another CPU faults meanwhile: every
 * page a child has is the object's (the parent's) page. */
static void fork_while_another_cpu_faults_shared_areas(void **state)
{
	(void)state;
	struct mmk_shm *o;
	assert_int_equal(mmk_shm_create(fa, 256 * PG, 12, &o), 0);
	struct mmk_hosted_file *hf = file_new(256, false);
	for (uint64_t i = 0; i < 256; i += 2)
		assert_int_equal(mmk_hosted_file_cache(hf, i), 0);
	struct mmk_file *f = mmk_hosted_file_file(hf);
	assert_int_equal(
		mmk_aspace_map_shared(&as, SHM, 256 * PG, MMK_PT_RW, o, 0), 0);
	assert_int_equal(mmk_aspace_map_file(&as, FSH, 256 * PG, MMK_PT_RW, f,
					     0, MMK_MAP_FILE_SHARED),
			 0);
	struct forker_writer w = {.as = &as};
	atomic_init(&w.stop, false);
	atomic_init(&w.rounds, 0);
	assert_int_equal(pthread_create(&w.th, NULL, fw_main, &w), 0);
	for (int k = 0; k < 20; k++) {
		assert_int_equal(mmk_aspace_clone(&as, &bs), 0);
		for (uint64_t i = 0; i < 256; i++) {
			mmk_paddr_t pc, pp;
			if (query(&bs, SHM + i * PG, &pc, NULL)) {
				assert_true(
					query(&as, SHM + i * PG, &pp, NULL));
				assert_int_equal(pc.v, pp.v);
			}
			if (query(&bs, FSH + i * PG, &pc, NULL))
				assert_int_equal(
					pc.v,
					mmk_hosted_file_cache_pa(hf, i).v);
		}
		/* the child writes too: the parent's thread sees the object */
		poke(&bs, SHM + 255 * PG + 1, (unsigned char)k);
		assert_int_equal(peek(&as, SHM + 255 * PG + 1), k);
		mmk_aspace_clear(&bs);
	}
	while (atomic_load(&w.rounds) == 0) /* every page touched once */
		sched_yield();
	atomic_store(&w.stop, true);
	assert_int_equal(pthread_join(w.th, NULL), 0);
	assert_int_equal(mmk_shm_resident(o), 256);
	assert_int_equal(mmk_shm_refs(o), 2);
	mmk_shm_put(o);
	mmk_aspace_clear(&as);
	assert_int_equal(mmk_hosted_file_ndirty(hf), 0);
	mmk_hosted_file_destroy(hf);
}

/* Maps and splitting unmaps of shared and file areas under every object
 * allocation failure: nothing changed, every reference as it was. */
static void maps_and_splits_are_all_or_nothing(void **state)
{
	(void)state;
	struct mmk_shm *o;
	assert_int_equal(mmk_shm_create(fa, 64 * PG, 12, &o), 0);
	struct mmk_hosted_file *hf = file_new(64, true);
	struct mmk_file *f = mmk_hosted_file_file(hf);
	long failed = 0;
	for (int op = 0; op < 6; op++) {
		for (long n = 1;; n++) {
			mmk_aspace_clear(&as);
			if (op >= 3) {
				assert_int_equal(
					mmk_aspace_map_shared(&as, SHM, 64 * PG,
							      MMK_PT_RW, o, 0),
					0);
				assert_int_equal(mmk_aspace_map_file(
							 &as, FSH, 64 * PG,
							 MMK_PT_RW, f, 0,
							 MMK_MAP_FILE_SHARED),
						 0);
				assert_int_equal(
					mmk_aspace_map_file(&as, FPR, 64 * PG,
							    MMK_PT_RW, f, 0, 0),
					0);
				for (uint64_t i = 0; i < 64; i++) {
					poke(&as, SHM + i * PG, 1);
					poke(&as, FSH + i * PG, 1);
					poke(&as, FPR + i * PG, 1);
				}
			}
			as_snapshot(&as, fa, &s0);
			long refs = mmk_shm_refs(o);
			long frefs = mmk_atomic_load(&f->refs, MMK_MO_RELAXED);
			mmk_vaddr_t at[] = {SHM, FSH, FPR};
			mmk_hosted_fail_nth(MMK_FAIL_OBJ, n);
			int err;
			if (op == 0)
				err = mmk_aspace_map_shared(&as, SHM, 64 * PG,
							    MMK_PT_RW, o, 0);
			else if (op < 3)
				err = mmk_aspace_map_file(
					&as, at[op], 64 * PG, MMK_PT_RW, f, 0,
					op == 1 ? MMK_MAP_FILE_SHARED : 0);
			else
				err = mmk_aspace_unmap(&as, at[op - 3] + 8 * PG,
						       8 * PG);
			mmk_hosted_fail_off();
			if (!err)
				break;
			failed++;
			assert_int_equal(err, MMK_ENOMEM);
			as_snapshot(&as, fa, &s1);
			as_snap_equal(&s0, &s1, "map/split");
			assert_int_equal(mmk_shm_refs(o), refs);
			assert_int_equal(
				mmk_atomic_load(&f->refs, MMK_MO_RELAXED),
				frefs);
			assert_true(n < 100);
		}
	}
	assert_true(failed >= 6);
	mmk_aspace_clear(&as);
	mmk_shm_put(o);
	mmk_hosted_file_destroy(hf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			shm_writes_in_one_space_are_seen_in_every_space, setup,
			teardown),
		cmocka_unit_test_setup_teardown(shm_goes_with_its_last_mapping,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			shm_partial_unmap_and_protect_split_and_keep_the_data,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			shm_bad_input_is_refused_and_changes_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			shm_first_touch_is_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			forced_read_of_a_first_touch_is_all_or_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			shm_and_file_work_on_every_format, setup, teardown),
		cmocka_unit_test_setup_teardown(
			file_private_reads_the_file_and_copies_on_write, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			file_shared_writes_reach_the_file_on_sync_and_unmap,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			file_shared_protect_keeps_dirty_tracking, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			file_populate_maps_read_only_all_or_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			fault_around_maps_the_cached_pages_of_the_window, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			pager_errors_are_returned_by_the_fault, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			file_faults_are_all_or_nothing_at_every_failure, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			faults_race_on_one_object_from_two_spaces, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			fork_of_a_fork_shares_shared_and_file_mappings, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			fork_with_shared_and_file_areas_is_all_or_nothing,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			fork_while_another_cpu_faults_shared_areas, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			maps_and_splits_are_all_or_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
