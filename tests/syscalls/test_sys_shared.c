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
	/* growth of shared areas: refused for now (Linux grows them) */
	assert_int_equal(mmk_sys_mremap(&mm, va, PG, 2 * PG, 0, 0), E(ENOMEM));
	assert_int_equal(
		mmk_sys_mremap(&mm, va, PG, 3 * PG, MMK_SYS_MREMAP_MAYMOVE, 0),
		E(ENOMEM));
	assert_int_equal(mmk_shm_refs(shm), 1);
	assert_int_equal(peek(va), 'g');
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
