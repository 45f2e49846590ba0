/* SPDX-License-Identifier: MIT */
/*
 * MAP_SHARED and file mappings through the system calls: mmap of shared
 * anonymous memory and of files (the hosted in-memory pager playing the
 * kernel's file table behind mm.shared), msync, and munmap / mprotect /
 * madvise / mremap over such areas, each with Linux's result.
 */
#include "mmk_test.h"

#include <mmk_hosted_pager.h>
#include <mmkit/backend.h>
#include <mmkit/pager.h>
#include <mmkit/shm.h>
#include <mmkit/syscalls.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define BASE  0x40000000ull
#define SPACE (256 * MMK_MIB)
#define PG    MMK_PAGE_SIZE
#define E(x)  (-(int64_t)MMK_SYS_##x)

#define RW    (MMK_SYS_PROT_READ | MMK_SYS_PROT_WRITE)
#define SHA   (MMK_SYS_MAP_SHARED | MMK_SYS_MAP_ANONYMOUS)
#define FD_RW 3 /* opened O_RDWR */
#define FD_RO 4 /* O_RDONLY */
#define FD_WO 5 /* O_WRONLY */
#define FD_NO 6 /* a file without mmap */

static struct mmk_frames *fa;
static struct mmk_aspace as;
static struct mmk_sys_mm mm;
static struct mmk_hosted_file *hf;

/* The kernel's file table: four descriptors on one file. */
static int get_file(struct mmk_sys_mm *m, int fd, struct mmk_file **file,
		    uint32_t *fmode)
{
	(void)m;
	static const uint32_t modes[] = {
		MMK_SYS_FMODE_READ | MMK_SYS_FMODE_WRITE, MMK_SYS_FMODE_READ,
		MMK_SYS_FMODE_WRITE, 0};
	if (fd < FD_RW || fd > FD_NO)
		return E(EBADF);
	*fmode = modes[fd - FD_RW];
	*file = NULL;
	if (fd == FD_NO)
		return 0;
	*file = mmk_hosted_file_file(hf);
	mmk_file_get(*file);
	return 0;
}

static const struct mmk_sys_shared_ops ops = {get_file};

static int setup(void **state)
{
	(void)state;
	mmk_hosted_fail_off();
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	mmk_sys_mm_init(&mm, &as);
	mm.shared = &ops;
	hf = mmk_hosted_file_new(fa, 16);
	assert_non_null(hf);
	for (unsigned i = 0; i < 16; i++)
		memset(mmk_hosted_file_data(hf) + i * PG, 'a' + (int)i, PG);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmk_aspace_destroy(&as);
	mmk_hosted_file_destroy(hf);
	mmk_hosted_fail_off();
	assert_int_equal(mmk_hosted_live_frames(), 0);
	assert_int_equal(mmk_hosted_live_objs(), 0);
	return 0;
}

static unsigned char peek(uint64_t va)
{
	unsigned char c = 0;
	assert_int_equal(mmk_aspace_read(&as, va, &c, 1), 0);
	return c;
}

static void poke(uint64_t va, unsigned char c)
{
	assert_int_equal(mmk_aspace_write(&as, va, &c, 1), 0);
}

static struct mmk_aspace_area area_at(uint64_t va)
{
	struct mmk_aspace_area a;
	assert_true(mmk_aspace_find_area(&as, va, &a));
	return a;
}

static void shared_anonymous_mapping_is_one_object(void **state)
{
	(void)state;
	int64_t a = mmk_sys_mmap(&mm, 0, 4 * PG, RW, SHA, -1, 0);
	assert_true(a > 0);
	struct mmk_aspace_area ar = area_at((uint64_t)a);
	assert_ptr_equal(ar.backend, &mmk_backend_shared);
	/* the creator's reference dropped: only the area's is left */
	assert_int_equal(mmk_shm_refs(ar.priv), 1);
	assert_false(ar.flags & MMK_SYS_VM_ACCOUNT);
	assert_int_equal(peek((uint64_t)a + PG), 0);
	poke((uint64_t)a + PG, 'x');
	/* DONTNEED drops the mapping; the data stays in the object */
	assert_int_equal(mmk_sys_madvise(&mm, (uint64_t)a, 4 * PG,
					 MMK_SYS_MADV_DONTNEED),
			 0);
	assert_int_equal(mmk_shm_resident(ar.priv), 1);
	assert_int_equal(peek((uint64_t)a + PG), 'x');
	/* munmap of the middle: two areas on one object */
	assert_int_equal(mmk_sys_munmap(&mm, (uint64_t)a + 2 * PG, PG), 0);
	assert_int_equal(mmk_shm_refs(ar.priv), 2);
	assert_int_equal(peek((uint64_t)a + 3 * PG), 0);
	/* mprotect: read-only, then writable again (not charged) */
	assert_int_equal(
		mmk_sys_mprotect(&mm, (uint64_t)a, PG, MMK_SYS_PROT_READ), 0);
	assert_int_equal(mmk_aspace_write(&as, (uint64_t)a, "y", 1),
			 MMK_EFAULT);
	assert_int_equal(mmk_sys_mprotect(&mm, (uint64_t)a, PG, RW), 0);
	assert_false(area_at((uint64_t)a).flags & MMK_SYS_VM_ACCOUNT);
	poke((uint64_t)a, 'y');
	/* msync of anonymous memory: nothing to do, Linux's 0 */
	assert_int_equal(mmk_sys_msync(&mm, (uint64_t)a, PG, MMK_SYS_MS_SYNC),
			 0);
	assert_int_equal(mmk_sys_munmap(&mm, (uint64_t)a, 4 * PG), 0);
	assert_int_equal(mmk_sys_mmap(&mm, 0, PG, RW,
				      SHA | MMK_SYS_MAP_GROWSDOWN, -1, 0),
			 E(EINVAL));
}

static void shared_anonymous_fixed_replaces(void **state)
{
	(void)state;
	uint64_t at = BASE + 64 * PG;
	assert_int_equal(mmk_sys_mmap(&mm, at, 4 * PG, RW,
				      MMK_SYS_MAP_PRIVATE |
					      MMK_SYS_MAP_ANONYMOUS |
					      MMK_SYS_MAP_FIXED,
				      -1, 0),
			 (int64_t)at);
	poke(at, 'p');
	assert_int_equal(mmk_sys_mmap(&mm, at + PG, 2 * PG, RW,
				      SHA | MMK_SYS_MAP_FIXED, -1, 0),
			 (int64_t)(at + PG));
	assert_ptr_equal(area_at(at + PG).backend, &mmk_backend_shared);
	assert_int_equal(peek(at), 'p');
	assert_int_equal(peek(at + PG), 0);
	assert_int_equal(mmk_sys_mmap(&mm, at, PG, RW,
				      SHA | MMK_SYS_MAP_FIXED_NOREPLACE, -1, 0),
			 E(EEXIST));
}

static void shared_anonymous_out_of_memory_changes_nothing(void **state)
{
	(void)state;
	for (long n = 0;; n++) {
		mmk_hosted_fail_after(MMK_FAIL_OBJ, n);
		int64_t r = mmk_sys_mmap(&mm, 0, 4 * PG, RW, SHA, -1, 0);
		mmk_hosted_fail_off();
		if (r > 0) {
			assert_true(n > 0); /* some allocation was failed */
			break;
		}
		assert_int_equal(r, E(ENOMEM));
		struct mmk_aspace_area a;
		assert_false(mmk_aspace_find_area(&as, BASE + SPACE - PG, &a));
		assert_true(n < 100);
	}
}

static void file_mappings_check_the_descriptor(void **state)
{
	(void)state;
	uint64_t fl = MMK_SYS_MAP_SHARED;
	assert_int_equal(mmk_sys_mmap(&mm, 0, PG, RW, fl, 9, 0), E(EBADF));
	assert_int_equal(mmk_sys_mmap(&mm, 0, PG, RW, fl, FD_RW, 1), E(EINVAL));
	assert_int_equal(mmk_sys_mmap(&mm, 0, PG, RW, fl, FD_NO, 0), E(ENODEV));
	assert_int_equal(mmk_sys_mmap(&mm, 0, PG, RW, fl, FD_RO, 0), E(EACCES));
	assert_int_equal(
		mmk_sys_mmap(&mm, 0, PG, MMK_SYS_PROT_READ, fl, FD_WO, 0),
		E(EACCES));
	assert_int_equal(
		mmk_sys_mmap(&mm, 0, PG, RW, MMK_SYS_MAP_PRIVATE, FD_WO, 0),
		E(EACCES));
	/* a private writable mapping of a read-only file is fine */
	assert_true(mmk_sys_mmap(&mm, 0, PG, RW, MMK_SYS_MAP_PRIVATE, FD_RO,
				 0) > 0);
	/* no failed call kept a file reference: after the unmap only the
	 * creator's is left (the teardown's destroy aborts otherwise) */
	assert_int_equal(mmk_sys_munmap(&mm, BASE, SPACE), 0);
	assert_int_equal(mmk_hosted_file_file(hf)->refs, 1);
}

static void shared_file_writes_reach_the_file_on_msync(void **state)
{
	(void)state;
	int64_t a = mmk_sys_mmap(&mm, 0, 4 * PG, RW, MMK_SYS_MAP_SHARED, FD_RW,
				 2 * PG);
	assert_true(a > 0);
	uint64_t va = (uint64_t)a;
	assert_ptr_equal(area_at(va).backend, &mmk_backend_file_shared);
	assert_int_equal(peek(va), 'c');
	poke(va + PG, 'Z');
	assert_true(mmk_hosted_file_dirty(hf, 3));
	/* MS_ASYNC: nothing written (Linux since 2.6.19) */
	assert_int_equal(mmk_sys_msync(&mm, va, 4 * PG, MMK_SYS_MS_ASYNC), 0);
	assert_int_equal(mmk_hosted_file_data(hf)[3 * PG], 'd');
	assert_int_equal(mmk_sys_msync(&mm, va, 4 * PG,
				       MMK_SYS_MS_SYNC | MMK_SYS_MS_INVALIDATE),
			 0);
	assert_int_equal(mmk_hosted_file_data(hf)[3 * PG], 'Z');
	assert_false(mmk_hosted_file_dirty(hf, 3));
	/* a write-back error is msync's error */
	poke(va + PG, 'Y');
	mmk_hosted_file_fail_nth(hf, MMK_HOSTED_PAGER_WRITEBACK, 1, MMK_ENOMEM);
	assert_int_equal(mmk_sys_msync(&mm, va, 4 * PG, MMK_SYS_MS_SYNC),
			 E(ENOMEM));
	mmk_hosted_file_fail_off(hf);
	/* a hole before the area: ENOMEM after syncing what is mapped */
	assert_int_equal(mmk_sys_msync(&mm, va - PG, 5 * PG, MMK_SYS_MS_SYNC),
			 E(ENOMEM));
	assert_int_equal(mmk_hosted_file_data(hf)[3 * PG], 'Y');
	/* locked and MS_INVALIDATE: EBUSY */
	assert_int_equal(mmk_sys_mlock(&mm, va, PG), 0);
	assert_int_equal(mmk_sys_msync(&mm, va, PG, MMK_SYS_MS_INVALIDATE),
			 E(EBUSY));
	assert_int_equal(mmk_sys_munlock(&mm, va, PG), 0);
	/* DONTNEED drops the pages, the file keeps the data */
	poke(va + 2 * PG, 'Q');
	assert_int_equal(
		mmk_sys_madvise(&mm, va, 4 * PG, MMK_SYS_MADV_DONTNEED), 0);
	assert_int_equal(peek(va + 2 * PG), 'Q');
	/* munmap writes back what is dirty */
	assert_int_equal(mmk_sys_munmap(&mm, va, 4 * PG), 0);
	assert_int_equal(mmk_hosted_file_data(hf)[4 * PG], 'Q');
}

static void read_only_shared_file_cannot_become_writable(void **state)
{
	(void)state;
	int64_t a = mmk_sys_mmap(&mm, 0, 2 * PG, MMK_SYS_PROT_READ,
				 MMK_SYS_MAP_SHARED, FD_RO, 0);
	assert_true(a > 0);
	uint64_t va = (uint64_t)a;
	assert_int_equal(peek(va + PG), 'b');
	assert_int_equal(mmk_sys_mprotect(&mm, va, 2 * PG, RW), E(EACCES));
	assert_int_equal(mmk_aspace_write(&as, va, "w", 1), MMK_EFAULT);
	assert_int_equal(mmk_sys_mprotect(&mm, va, PG, MMK_SYS_PROT_NONE), 0);
	assert_int_equal(mmk_sys_mprotect(&mm, va, PG, MMK_SYS_PROT_READ), 0);
	assert_int_equal(mmk_sys_munmap(&mm, va, 2 * PG), 0);
}

static void private_file_mapping_copies_on_write(void **state)
{
	(void)state;
	int64_t a = mmk_sys_mmap(&mm, 0, 2 * PG, RW,
				 MMK_SYS_MAP_PRIVATE | MMK_SYS_MAP_POPULATE,
				 FD_RO, PG);
	assert_true(a > 0);
	uint64_t va = (uint64_t)a;
	assert_ptr_equal(area_at(va).backend, &mmk_backend_file_private);
	assert_int_equal(peek(va), 'b');
	poke(va, 'P');
	assert_int_equal(peek(va), 'P');
	assert_int_equal(mmk_sys_msync(&mm, va, 2 * PG, MMK_SYS_MS_SYNC), 0);
	assert_int_equal(mmk_hosted_file_data(hf)[PG], 'b');
	/* DONTNEED drops the private copy: the file's page again */
	assert_int_equal(mmk_sys_madvise(&mm, va, PG, MMK_SYS_MADV_DONTNEED),
			 0);
	assert_int_equal(peek(va), 'b');
	assert_int_equal(mmk_sys_munmap(&mm, va, 2 * PG), 0);
	assert_int_equal(mmk_hosted_file_data(hf)[PG], 'b');
}

static void mremap_moves_shared_areas(void **state)
{
	(void)state;
	int64_t a = mmk_sys_mmap(&mm, 0, 2 * PG, RW, SHA, -1, 0);
	assert_true(a > 0);
	poke((uint64_t)a + PG, 'm');
	uint64_t to = BASE + 128 * PG;
	int64_t r = mmk_sys_mremap(
		&mm, (uint64_t)a, 2 * PG, 2 * PG,
		MMK_SYS_MREMAP_MAYMOVE | MMK_SYS_MREMAP_FIXED, to);
	assert_int_equal(r, (int64_t)to);
	assert_int_equal(peek(to + PG), 'm');
	assert_int_equal(mmk_shm_refs(area_at(to).priv), 1);
	/* shrink */
	assert_int_equal(mmk_sys_mremap(&mm, to, 2 * PG, PG, 0, 0),
			 (int64_t)to);
	assert_int_equal(mmk_sys_munmap(&mm, to, PG), 0);
	/* a shared file area moves too */
	int64_t f =
		mmk_sys_mmap(&mm, 0, 2 * PG, RW, MMK_SYS_MAP_SHARED, FD_RW, 0);
	assert_true(f > 0);
	poke((uint64_t)f, 'F');
	r = mmk_sys_mremap(&mm, (uint64_t)f, 2 * PG, 2 * PG,
			   MMK_SYS_MREMAP_MAYMOVE | MMK_SYS_MREMAP_FIXED, to);
	assert_int_equal(r, (int64_t)to);
	assert_int_equal(peek(to), 'F');
	assert_int_equal(mmk_sys_munmap(&mm, to, 2 * PG), 0);
	assert_int_equal(mmk_hosted_file_data(hf)[0], 'F');
}

static void mremap_grows_shared_areas(void **state)
{
	(void)state;
	int64_t a = mmk_sys_mmap(&mm, BASE + 64 * PG, PG, RW, SHA, -1, 0);
	assert_int_equal(a, (int64_t)(BASE + 64 * PG));
	uint64_t va = (uint64_t)a;
	poke(va, 'g');
	void *shm = area_at(va).priv;
	/* in place: the area grows over the object's end (one page) */
	assert_int_equal(mmk_sys_mremap(&mm, va, PG, 3 * PG, 0, 0),
			 (int64_t)va);
	struct mmk_aspace_area ar = area_at(va);
	assert_int_equal(ar.end, va + 3 * PG); /* merged: one area */
	assert_int_equal(mmk_shm_refs(shm), 1);
	assert_int_equal(peek(va), 'g');
	/* past the object: Linux's SIGBUS, a failed fault here */
	assert_int_equal(mmk_sys_fault(&mm, va + PG, MMK_ACCESS_READ),
			 MMK_ERANGE);
	assert_int_equal(mmk_aspace_fault(&as, va + 2 * PG, MMK_ACCESS_WRITE),
			 MMK_ERANGE);
	unsigned char c;
	assert_int_equal(mmk_aspace_read(&as, va + 2 * PG, &c, 1), MMK_EFAULT);
	assert_int_equal(mmk_shm_resident(shm), 1);
	/* blocked above: MAYMOVE moves it, the grown part with it */
	uint64_t blk = va + 3 * PG;
	assert_int_equal(mmk_sys_mmap(&mm, blk, PG, RW,
				      MMK_SYS_MAP_PRIVATE |
					      MMK_SYS_MAP_ANONYMOUS |
					      MMK_SYS_MAP_FIXED,
				      -1, 0),
			 (int64_t)blk);
	assert_int_equal(mmk_sys_mremap(&mm, va, 3 * PG, 4 * PG, 0, 0),
			 E(ENOMEM));
	int64_t r = mmk_sys_mremap(&mm, va, 3 * PG, 5 * PG,
				   MMK_SYS_MREMAP_MAYMOVE, 0);
	assert_true(r > 0 && (uint64_t)r != va);
	uint64_t to = (uint64_t)r;
	assert_int_equal(area_at(to).end, to + 5 * PG);
	assert_ptr_equal(area_at(to).priv, shm);
	assert_int_equal(mmk_shm_refs(shm), 1);
	assert_int_equal(peek(to), 'g');
	assert_int_equal(mmk_sys_fault(&mm, to + 4 * PG, MMK_ACCESS_WRITE),
			 MMK_ERANGE);
	assert_false(mmk_aspace_find_area(&as, va, &ar));
	/* a locked area grows and its new part is populated (what the
	 * object has of it) */
	assert_int_equal(mmk_sys_munmap(&mm, to, 5 * PG), 0);
	a = mmk_sys_mmap(&mm, 0, 4 * PG, RW, SHA | MMK_SYS_MAP_LOCKED, -1, 0);
	assert_true(a > 0);
	shm = area_at((uint64_t)a).priv;
	assert_int_equal(mmk_shm_resident(shm), 4); /* populated, read */
	/* a locked PROT_NONE shared area made writable is not populated
	 * (mprotect_fixup populates private ones only) */
	int64_t n = mmk_sys_mmap(&mm, 0, 2 * PG, MMK_SYS_PROT_NONE,
				 SHA | MMK_SYS_MAP_LOCKED, -1, 0);
	assert_true(n > 0);
	void *nshm = area_at((uint64_t)n).priv;
	assert_int_equal(mmk_shm_resident(nshm), 0);
	assert_int_equal(mmk_sys_mprotect(&mm, (uint64_t)n, 2 * PG, RW), 0);
	assert_int_equal(mmk_shm_resident(nshm), 0);
	assert_int_equal(mmk_sys_mremap(&mm, (uint64_t)a, 2 * PG, PG, 0, 0),
			 (int64_t)a);
	assert_int_equal(mmk_sys_munmap(&mm, BASE, SPACE), 0);
}

static void mremap_grows_file_areas(void **state)
{
	(void)state;
	/* the last two pages of the 16-page file, grown by two */
	int64_t a = mmk_sys_mmap(&mm, BASE + 64 * PG, 2 * PG, RW,
				 MMK_SYS_MAP_SHARED, FD_RW, 14 * PG);
	assert_int_equal(a, (int64_t)(BASE + 64 * PG));
	uint64_t va = (uint64_t)a;
	struct mmk_file *file = mmk_hosted_file_file(hf);
	assert_int_equal(file->refs, 2);
	assert_int_equal(mmk_sys_mremap(&mm, va, 2 * PG, 4 * PG, 0, 0),
			 (int64_t)va);
	assert_int_equal(area_at(va).end, va + 4 * PG);
	assert_int_equal(file->refs, 2); /* merged into one area */
	assert_int_equal(peek(va + PG), 'p');
	unsigned char c;
	assert_int_equal(mmk_aspace_read(&as, va + 2 * PG, &c, 1), MMK_EFAULT);
	/* a private file area grows too */
	int64_t p = mmk_sys_mmap(&mm, BASE + 128 * PG, PG, RW,
				 MMK_SYS_MAP_PRIVATE, FD_RO, 0);
	assert_int_equal(p, (int64_t)(BASE + 128 * PG));
	assert_int_equal(mmk_sys_mremap(&mm, (uint64_t)p, PG, 3 * PG,
					MMK_SYS_MREMAP_MAYMOVE, 0),
			 p);
	assert_int_equal(peek((uint64_t)p + 2 * PG), 'c');
	assert_int_equal(file->refs, 3);
	/* a grown part that cannot be mapped: its reference given back */
	mmk_hosted_fail_after(MMK_FAIL_OBJ, 0);
	mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
	int64_t r = mmk_sys_mremap(&mm, (uint64_t)p, 3 * PG, 6 * PG,
				   MMK_SYS_MREMAP_MAYMOVE, 0);
	mmk_hosted_fail_off();
	if (r < 0)
		assert_int_equal(r, E(ENOMEM));
	assert_int_equal(mmk_sys_munmap(&mm, BASE, SPACE), 0);
	assert_int_equal(file->refs, 1);
}

static void mremap_duplicates_and_keeps_shared_areas(void **state)
{
	(void)state;
	int64_t a = mmk_sys_mmap(&mm, 0, 2 * PG, RW, SHA, -1, 0);
	assert_true(a > 0);
	uint64_t va = (uint64_t)a;
	void *shm = area_at(va).priv;
	poke(va + PG, 'd');
	/* old_len 0: a second mapping of the same pages */
	int64_t d =
		mmk_sys_mremap(&mm, va + PG, 0, PG, MMK_SYS_MREMAP_MAYMOVE, 0);
	assert_true(d > 0 && (uint64_t)d != va + PG);
	assert_int_equal(peek((uint64_t)d), 'd');
	poke((uint64_t)d, 'e');
	assert_int_equal(peek(va + PG), 'e');
	assert_int_equal(mmk_shm_refs(shm), 2);
	assert_int_equal(mmk_sys_mremap(&mm, va, 0, PG, 0, 0), E(ENOMEM));
	/* of a private area: EINVAL */
	int64_t p = mmk_sys_mmap(&mm, 0, PG, RW,
				 MMK_SYS_MAP_PRIVATE | MMK_SYS_MAP_ANONYMOUS,
				 -1, 0);
	assert_true(p > 0);
	assert_int_equal(mmk_sys_mremap(&mm, (uint64_t)p, 0, PG,
					MMK_SYS_MREMAP_MAYMOVE, 0),
			 E(EINVAL));
	/* a punch through one mapping is seen through the other: the page
	 * leaves both (and the object), and reads zeros */
	assert_int_equal(mmk_sys_madvise(&mm, va + PG, PG, MMK_SYS_MADV_REMOVE),
			 0);
	assert_int_equal(mmk_shm_resident(shm), 0);
	assert_int_equal(peek((uint64_t)d), 0);
	poke((uint64_t)d, 'e');
	/* FIXED onto the source itself: the unmap of the target takes the
	 * source area, which is then missing (EFAULT), as in Linux */
	int64_t d2 = mmk_sys_mremap(&mm, (uint64_t)d, 0, PG,
				    MMK_SYS_MREMAP_MAYMOVE, 0);
	assert_true(d2 > 0);
	assert_int_equal(
		mmk_sys_mremap(&mm, (uint64_t)d2, 0, PG,
			       MMK_SYS_MREMAP_MAYMOVE | MMK_SYS_MREMAP_FIXED,
			       (uint64_t)d2),
		E(EFAULT));
	struct mmk_aspace_area gone;
	assert_false(mmk_aspace_find_area(&as, (uint64_t)d2, &gone));
	assert_int_equal(mmk_shm_refs(shm), 2);
	/* DONTUNMAP: the old range stays, over the same object */
	uint64_t to = BASE + 200 * PG;
	assert_int_equal(mmk_sys_mremap(&mm, va, 2 * PG, 2 * PG,
					MMK_SYS_MREMAP_MAYMOVE |
						MMK_SYS_MREMAP_DONTUNMAP,
					to),
			 (int64_t)to);
	assert_int_equal(peek(to + PG), 'e');
	assert_int_equal(peek(va + PG), 'e'); /* the object's page again */
	poke(va, 'k');
	assert_int_equal(peek(to), 'k');
	assert_int_equal(mmk_shm_refs(shm), 3);
	assert_int_equal(mmk_sys_munmap(&mm, BASE, SPACE), 0);
}

static void madvise_remove_punches_shared_memory(void **state)
{
	(void)state;
	int64_t a = mmk_sys_mmap(&mm, 0, 4 * PG, RW, SHA, -1, 0);
	assert_true(a > 0);
	uint64_t va = (uint64_t)a;
	void *shm = area_at(va).priv;
	for (unsigned i = 0; i < 4; i++)
		poke(va + i * PG, (unsigned char)('1' + i));
	long frames = mmk_hosted_live_frames();
	assert_int_equal(
		mmk_sys_madvise(&mm, va + PG, 2 * PG, MMK_SYS_MADV_REMOVE), 0);
	assert_int_equal(mmk_shm_resident(shm), 2);
	assert_int_equal(mmk_hosted_live_frames(), frames - 2);
	unsigned char vec[4];
	uint64_t v = BASE + 300 * PG; /* mincore's vector, in the space */
	assert_int_equal(mmk_sys_mmap(&mm, v, PG, RW,
				      MMK_SYS_MAP_PRIVATE |
					      MMK_SYS_MAP_ANONYMOUS |
					      MMK_SYS_MAP_FIXED,
				      -1, 0),
			 (int64_t)v);
	assert_int_equal(mmk_sys_mincore(&mm, va, 4 * PG, v), 0);
	assert_int_equal(mmk_aspace_read(&as, v, vec, 4), 0);
	assert_memory_equal(vec, "\1\0\0\1", 4);
	assert_int_equal(peek(va + PG), 0);
	assert_int_equal(peek(va + 2 * PG), 0);
	assert_int_equal(peek(va + 3 * PG), '4');
	/* DONTNEED keeps the object's pages: mincore still says so */
	assert_int_equal(
		mmk_sys_madvise(&mm, va, 4 * PG, MMK_SYS_MADV_DONTNEED), 0);
	assert_int_equal(mmk_sys_mincore(&mm, va, 4 * PG, v), 0);
	assert_int_equal(mmk_aspace_read(&as, v, vec, 4), 0);
	assert_memory_equal(vec, "\1\1\1\1", 4);
	/* FREE is for private anonymous memory only */
	assert_int_equal(mmk_sys_madvise(&mm, va, PG, MMK_SYS_MADV_FREE),
			 E(EINVAL));
	/* private anonymous: EINVAL; locked: EINVAL */
	assert_int_equal(mmk_sys_madvise(&mm, v, PG, MMK_SYS_MADV_REMOVE),
			 E(EINVAL));
	assert_int_equal(mmk_sys_mlock(&mm, va, PG), 0);
	assert_int_equal(mmk_sys_madvise(&mm, va, PG, MMK_SYS_MADV_REMOVE),
			 E(EINVAL));
	/* files: private or read-only EACCES, shared EOPNOTSUPP (no hole
	 * punching through the pager) */
	int64_t f = mmk_sys_mmap(&mm, 0, PG, RW, MMK_SYS_MAP_SHARED, FD_RW, 0);
	int64_t fr = mmk_sys_mmap(&mm, 0, PG, MMK_SYS_PROT_READ,
				  MMK_SYS_MAP_SHARED, FD_RO, 0);
	int64_t fp =
		mmk_sys_mmap(&mm, 0, PG, RW, MMK_SYS_MAP_PRIVATE, FD_RO, 0);
	assert_true(f > 0 && fr > 0 && fp > 0);
	assert_int_equal(
		mmk_sys_madvise(&mm, (uint64_t)f, PG, MMK_SYS_MADV_REMOVE),
		E(EOPNOTSUPP));
	assert_int_equal(
		mmk_sys_madvise(&mm, (uint64_t)fr, PG, MMK_SYS_MADV_REMOVE),
		E(EACCES));
	assert_int_equal(
		mmk_sys_madvise(&mm, (uint64_t)fp, PG, MMK_SYS_MADV_REMOVE),
		E(EACCES));
	assert_int_equal(mmk_sys_munmap(&mm, BASE, SPACE), 0);
}

static void madvise_remove_zeroes_pages_a_fork_still_maps(void **state)
{
	(void)state;
	int64_t a = mmk_sys_mmap(&mm, 0, 2 * PG, RW, SHA, -1, 0);
	assert_true(a > 0);
	uint64_t va = (uint64_t)a;
	poke(va, 'f');
	poke(va + PG, 'g');
	struct mmk_aspace child;
	assert_int_equal(
		mmk_aspace_create(&child, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	assert_int_equal(mmk_aspace_clone(&as, &child), 0);
	unsigned char c = 0;
	assert_int_equal(mmk_aspace_read(&child, va, &c, 1), 0);
	assert_int_equal(c, 'f');
	assert_int_equal(mmk_sys_madvise(&mm, va, 2 * PG, MMK_SYS_MADV_REMOVE),
			 0);
	/* the child's mapped page reads zeros (zeroed where it is); its
	 * unmapped one comes fresh from the object */
	assert_int_equal(mmk_aspace_read(&child, va, &c, 1), 0);
	assert_int_equal(c, 0);
	assert_int_equal(mmk_aspace_read(&child, va + PG, &c, 1), 0);
	assert_int_equal(c, 0);
	assert_int_equal(mmk_aspace_write(&child, va + PG, "h", 1), 0);
	assert_int_equal(peek(va + PG), 'h');
	mmk_aspace_destroy(&child);
	assert_int_equal(mmk_sys_munmap(&mm, va, 2 * PG), 0);
}

static void shm_punch_bad_input_changes_nothing(void **state)
{
	(void)state;
	struct mmk_shm *shm;
	assert_int_equal(mmk_shm_create(fa, 4 * PG, MMK_PAGE_SHIFT, &shm), 0);
	assert_int_equal(mmk_aspace_map_shared(&as, BASE, 4 * PG,
					       MMK_PT_RW | MMK_PT_USER, shm, 0),
			 0);
	poke(BASE, 'q');
	assert_int_equal(mmk_shm_punch(shm, 1, PG), MMK_EALIGN);
	assert_int_equal(mmk_shm_punch(shm, 0, PG + 1), MMK_EALIGN);
	assert_int_equal(mmk_shm_punch(shm, PG, UINT64_MAX - PG + 1),
			 MMK_EWRAP);
	assert_int_equal(mmk_shm_resident(shm), 1);
	assert_int_equal(peek(BASE), 'q');
	/* past the object: nothing to punch, fine */
	assert_int_equal(mmk_shm_punch(shm, 8 * PG, PG), 0);
	assert_int_equal(mmk_shm_resident(shm), 1);
	/* still mapped here: zeroed in place, kept */
	assert_int_equal(mmk_shm_punch(shm, 0, 4 * PG), 0);
	assert_int_equal(mmk_shm_resident(shm), 1);
	assert_int_equal(peek(BASE), 0);
	mmk_shm_put(shm);
	assert_int_equal(mmk_aspace_unmap(&as, BASE, 4 * PG), 0);
}

/* A fork's child faulting an object's pages in while the parent punches
 * them: every read sees the bytes or zeros, and at the end every frame
 * and object is back (a fault that lost the race put what it took). */
struct punch_race {
	struct mmk_aspace *child;
	uint64_t va;
	_Atomic int stop;
	long bad, reads;
};

static void *punch_reader(void *arg)
{
	struct punch_race *r = arg;
	while (!atomic_load(&r->stop)) {
		for (unsigned i = 0; i < 8; i++) {
			unsigned char c = 1;
			if (mmk_aspace_read(r->child, r->va + i * PG, &c, 1) ||
			    (c != 0 && c != 'v'))
				r->bad++;
			r->reads++;
		}
		/* drop the child's mappings: the next reads fault again */
		if (mmk_aspace_zap(r->child, r->va, 8 * PG))
			r->bad++;
	}
	return NULL;
}

static void madvise_remove_races_with_faults_elsewhere(void **state)
{
	(void)state;
	int64_t a = mmk_sys_mmap(&mm, 0, 8 * PG, RW, SHA, -1, 0);
	assert_true(a > 0);
	static struct mmk_aspace child;
	assert_int_equal(
		mmk_aspace_create(&child, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	assert_int_equal(mmk_aspace_clone(&as, &child), 0);
	struct punch_race r = {.child = &child, .va = (uint64_t)a};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, punch_reader, &r), 0);
	for (unsigned n = 0; n < 3000; n++) {
		for (unsigned i = 0; i < 8; i++)
			poke((uint64_t)a + i * PG, 'v');
		assert_int_equal(mmk_sys_madvise(&mm, (uint64_t)a, 8 * PG,
						 MMK_SYS_MADV_REMOVE),
				 0);
	}
	atomic_store(&r.stop, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(r.bad, 0);
	assert_true(r.reads > 0);
	mmk_aspace_destroy(&child);
	assert_int_equal(mmk_sys_munmap(&mm, (uint64_t)a, 8 * PG), 0);
}

/* The areas and bytes of [BASE, BASE + 16 pages) as a string. */
static void snapshot(char *out, size_t n)
{
	size_t k = 0;
	struct mmk_aspace_area a;
	for (uint64_t cur = BASE; cur < BASE + 16 * PG; cur += PG) {
		if (!mmk_aspace_find_area(&as, cur, &a)) {
			k += (size_t)snprintf(out + k, n - k, "-");
			continue;
		}
		unsigned char c = 0;
		(void)mmk_aspace_access_forced(&as, cur, &c, 1, false);
		k += (size_t)snprintf(out + k, n - k, "%llx:%llx:%s:%x:%c|",
				      (unsigned long long)a.start,
				      (unsigned long long)a.end,
				      a.backend->name, a.flags, c ? c : '0');
	}
}

static void fixed_over_shared_areas_is_all_or_nothing(void **state)
{
	(void)state;
	static char before[4096], after[4096];
	for (unsigned kind = 0; kind < 4; kind++) {
		enum mmk_failsite site =
			kind & 2 ? MMK_FAIL_FRAME : MMK_FAIL_OBJ;
		for (long n = 0;; n++) {
			/* a shared anonymous area, a shared file area and a
			 * private one, written; then MAP_FIXED over parts of
			 * all three */
			assert_int_equal(mmk_sys_munmap(&mm, BASE, SPACE), 0);
			assert_int_equal(mmk_sys_mmap(&mm, BASE, 4 * PG, RW,
						      SHA | MMK_SYS_MAP_FIXED,
						      -1, 0),
					 (int64_t)BASE);
			assert_int_equal(mmk_sys_mmap(&mm, BASE + 4 * PG,
						      4 * PG, RW,
						      MMK_SYS_MAP_SHARED |
							      MMK_SYS_MAP_FIXED,
						      FD_RW, 0),
					 (int64_t)(BASE + 4 * PG));
			assert_int_equal(
				mmk_sys_mmap(&mm, BASE + 8 * PG, 4 * PG, RW,
					     MMK_SYS_MAP_PRIVATE |
						     MMK_SYS_MAP_ANONYMOUS |
						     MMK_SYS_MAP_FIXED,
					     -1, 0),
				(int64_t)(BASE + 8 * PG));
			for (unsigned i = 0; i < 12; i++)
				poke(BASE + i * PG, (unsigned char)('A' + i));
			snapshot(before, sizeof(before));
			long frames = mmk_hosted_live_frames();
			long objs = mmk_hosted_live_objs();
			mmk_hosted_fail_after(site, n);
			bool file = kind & 1;
			int64_t r =
				mmk_sys_mmap(&mm, BASE + 2 * PG, 8 * PG, RW,
					     (file ? MMK_SYS_MAP_SHARED : SHA) |
						     MMK_SYS_MAP_FIXED,
					     file ? FD_RW : -1, 8 * PG);
			mmk_hosted_fail_off();
			if (r > 0) {
				assert_int_equal(r, (int64_t)(BASE + 2 * PG));
				/* objects are needed (areas, pieces, the shm
				 * object): some failed first */
				if (site == MMK_FAIL_OBJ)
					assert_true(n > 0);
				struct mmk_aspace_area a =
					area_at(BASE + 5 * PG);
				assert_int_equal(a.start, BASE + 2 * PG);
				assert_int_equal(a.end, BASE + 10 * PG);
				assert_int_equal(peek(BASE + 2 * PG),
						 file ? 'i' : 0);
				assert_int_equal(peek(BASE + PG), 'B');
				assert_int_equal(peek(BASE + 10 * PG), 'K');
				break;
			}
			assert_int_equal(r, E(ENOMEM));
			snapshot(after, sizeof(after));
			assert_string_equal(before, after);
			assert_int_equal(mmk_hosted_live_frames(), frames);
			assert_int_equal(mmk_hosted_live_objs(), objs);
			assert_true(n < 200);
		}
	}
	assert_int_equal(mmk_sys_munmap(&mm, BASE, SPACE), 0);
}

int main(void)
{
	mmk_hosted_init(256 * MMK_MIB);
	fa = mmk_hosted_frames_new();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			shared_anonymous_mapping_is_one_object, setup,
			teardown),
		cmocka_unit_test_setup_teardown(shared_anonymous_fixed_replaces,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			shared_anonymous_out_of_memory_changes_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			file_mappings_check_the_descriptor, setup, teardown),
		cmocka_unit_test_setup_teardown(
			shared_file_writes_reach_the_file_on_msync, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			read_only_shared_file_cannot_become_writable, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			private_file_mapping_copies_on_write, setup, teardown),
		cmocka_unit_test_setup_teardown(mremap_moves_shared_areas,
						setup, teardown),
		cmocka_unit_test_setup_teardown(mremap_grows_shared_areas,
						setup, teardown),
		cmocka_unit_test_setup_teardown(mremap_grows_file_areas, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			mremap_duplicates_and_keeps_shared_areas, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			madvise_remove_punches_shared_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(
			madvise_remove_zeroes_pages_a_fork_still_maps, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			fixed_over_shared_areas_is_all_or_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			shm_punch_bad_input_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			madvise_remove_races_with_faults_elsewhere, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
