/* SPDX-License-Identifier: MIT */
/*
 * Every error number each system call can return, produced once for a
 * reason Linux has for it (the differential test checks the same against
 * the host kernel at random; this file names each one).
 */
#include "mmk_test.h"

#include <mmkit/backend.h>
#include <mmkit/syscalls.h>

#define BASE  0x40000000ull
#define SPACE (256 * MMK_MIB)
#define PG    MMK_PAGE_SIZE
#define E(x)  (-(int64_t)MMK_SYS_##x)

#define RW   (MMK_SYS_PROT_READ | MMK_SYS_PROT_WRITE)
#define ANON (MMK_SYS_MAP_PRIVATE | MMK_SYS_MAP_ANONYMOUS)
#define FIX  (ANON | MMK_SYS_MAP_FIXED)

static struct mmk_frames *fa;
static struct mmk_aspace as;
static struct mmk_sys_mm mm;

static int setup(void **state)
{
	(void)state;
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	mmk_sys_mm_init(&mm, &as);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmk_aspace_destroy(&as);
	return 0;
}

static int64_t map_fixed(uint64_t at, uint64_t len, uint64_t prot)
{
	return mmk_sys_mmap(&mm, at, len, prot, FIX, -1, 0);
}

static void errno_table_maps_every_code(void **state)
{
	(void)state;
	assert_int_equal(mmk_sys_errno(MMK_ENOMEM), MMK_SYS_ENOMEM);
	assert_int_equal(mmk_sys_errno(MMK_EALIGN), MMK_SYS_EINVAL);
	assert_int_equal(mmk_sys_errno(MMK_ERANGE), MMK_SYS_ENOMEM);
	assert_int_equal(mmk_sys_errno(MMK_ENOENT), MMK_SYS_ENOMEM);
	assert_int_equal(mmk_sys_errno(MMK_EEXIST), MMK_SYS_EEXIST);
	assert_int_equal(mmk_sys_errno(MMK_EFAULT), MMK_SYS_EFAULT);
	assert_int_equal(mmk_sys_errno(MMK_EACCES), MMK_SYS_EACCES);
	assert_int_equal(mmk_sys_errno(MMK_EAGAIN), MMK_SYS_EAGAIN);
	assert_int_equal(mmk_sys_errno(MMK_EBUSY), MMK_SYS_EBUSY);
	for (int e = -1; e > -MMK_ERR_COUNT_; e--)
		assert_true(mmk_sys_errno(e) > 0);
	assert_int_equal(mmk_sys_errno(-1000), MMK_SYS_EINVAL);
	assert_int_equal(mmk_sys_errno(0), MMK_SYS_EINVAL);
}

static void mmap_errors(void **state)
{
	(void)state;
	/* EINVAL: no length, offset, fixed address, type, unimplemented */
	assert_int_equal(mmk_sys_mmap(&mm, 0, 0, RW, ANON, -1, 0), E(EINVAL));
	assert_int_equal(mmk_sys_mmap(&mm, 0, PG, RW, ANON, -1, 1), E(EINVAL));
	assert_int_equal(map_fixed(BASE + 1, PG, RW), E(EINVAL));
	assert_int_equal(
		mmk_sys_mmap(&mm, 0, PG, RW, MMK_SYS_MAP_ANONYMOUS, -1, 0),
		E(EINVAL));
	assert_int_equal(mmk_sys_mmap(&mm, 0, PG, RW,
				      MMK_SYS_MAP_SHARED_VALIDATE |
					      MMK_SYS_MAP_ANONYMOUS,
				      -1, 0),
			 E(EINVAL));
	assert_int_equal(
		mmk_sys_mmap(&mm, 0, PG, RW, ANON | MMK_SYS_MAP_HUGETLB, -1, 0),
		E(EINVAL));
	assert_int_equal(mmk_sys_mmap(&mm, 0, PG, RW,
				      MMK_SYS_MAP_SHARED |
					      MMK_SYS_MAP_ANONYMOUS |
					      MMK_SYS_MAP_GROWSDOWN,
				      -1, 0),
			 E(EINVAL));
	/* ENOMEM: a length that wraps, no room, past the address limit */
	assert_int_equal(mmk_sys_mmap(&mm, 0, ~0ull - 5, RW, ANON, -1, 0),
			 E(ENOMEM));
	assert_int_equal(mmk_sys_mmap(&mm, 0, 2 * SPACE, RW, ANON, -1, 0),
			 E(ENOMEM));
	assert_int_equal(map_fixed(BASE + SPACE - PG, 2 * PG, RW), E(ENOMEM));
	/* EOVERFLOW (the offset's pages wrapping) cannot happen with a
	 * 64-bit offset: the page offset has 52 bits.  The check stays, as
	 * in Linux, for ABIs that pass page offsets. */
	/* EEXIST: MAP_FIXED_NOREPLACE over a mapping */
	assert_int_equal(map_fixed(BASE, PG, RW), (int64_t)BASE);
	assert_int_equal(mmk_sys_mmap(&mm, BASE, PG, RW,
				      ANON | MMK_SYS_MAP_FIXED_NOREPLACE, -1,
				      0),
			 E(EEXIST));
	/* EBADF: a file (no file table behind mm->shared); shared
	 * anonymous memory needs none (ENODEV for a file without mmap:
	 * test_sys_shared) */
	assert_int_equal(
		mmk_sys_mmap(&mm, 0, PG, RW, MMK_SYS_MAP_PRIVATE, 3, 0),
		E(EBADF));
	int64_t sh =
		mmk_sys_mmap(&mm, 0, PG, RW,
			     MMK_SYS_MAP_SHARED | MMK_SYS_MAP_ANONYMOUS, -1, 0);
	assert_true(sh > 0);
	assert_int_equal(mmk_sys_munmap(&mm, (uint64_t)sh, PG), 0);
	/* EPERM: MAP_LOCKED without a memlock limit or CAP_IPC_LOCK;
	 * EAGAIN: over the limit */
	mm.memlock_limit = 0;
	assert_int_equal(
		mmk_sys_mmap(&mm, 0, PG, RW, ANON | MMK_SYS_MAP_LOCKED, -1, 0),
		E(EPERM));
	mm.memlock_limit = 2 * PG;
	assert_int_equal(mmk_sys_mmap(&mm, 0, 4 * PG, RW,
				      ANON | MMK_SYS_MAP_LOCKED, -1, 0),
			 E(EAGAIN));
	/* ENOMEM: more areas than max_map_count */
	mm.max_map_count = 1;
	assert_int_equal(map_fixed(BASE + 8 * PG, PG, 0),
			 (int64_t)(BASE + 8 * PG));
	assert_int_equal(map_fixed(BASE + 16 * PG, PG, RW), E(ENOMEM));
}

static void mmap_out_of_memory_changes_nothing(void **state)
{
	(void)state;
	assert_int_equal(map_fixed(BASE, 8 * PG, RW), (int64_t)BASE);
	char c = 7;
	assert_int_equal(mmk_aspace_write(&as, BASE + 3 * PG, &c, 1), 0);
	long frames = mmk_hosted_live_frames();
	size_t areas = mmk_aspace_area_count(&as);
	mmk_hosted_fail_after(MMK_FAIL_OBJ, 0);
	/* MAP_FIXED over the middle: the split needs an object */
	assert_int_equal(map_fixed(BASE + 2 * PG, 2 * PG, MMK_SYS_PROT_READ),
			 E(ENOMEM));
	mmk_hosted_fail_off();
	assert_int_equal(mmk_aspace_area_count(&as), areas);
	assert_int_equal(mmk_hosted_live_frames(), frames);
	assert_int_equal(mmk_aspace_read(&as, BASE + 3 * PG, &c, 1), 0);
	assert_int_equal(c, 7); /* the old page is still there */
}

static void munmap_errors(void **state)
{
	(void)state;
	assert_int_equal(mmk_sys_munmap(&mm, BASE + 1, PG), E(EINVAL));
	assert_int_equal(mmk_sys_munmap(&mm, BASE, 0), E(EINVAL));
	assert_int_equal(mmk_sys_munmap(&mm, BASE, ~0ull), E(EINVAL));
	assert_int_equal(mmk_sys_munmap(&mm, mm.task_size + PG, PG), E(EINVAL));
	assert_int_equal(mmk_sys_munmap(&mm, BASE, PG), 0); /* a hole: fine */
	/* ENOMEM: a split past max_map_count */
	assert_int_equal(map_fixed(BASE, 8 * PG, RW), (int64_t)BASE);
	mm.max_map_count = 1;
	assert_int_equal(mmk_sys_munmap(&mm, BASE + PG, PG), E(ENOMEM));
	assert_int_equal(mmk_sys_munmap(&mm, BASE, PG), 0); /* an edge */
}

static void mprotect_errors(void **state)
{
	(void)state;
	assert_int_equal(map_fixed(BASE, 4 * PG, RW), (int64_t)BASE);
	assert_int_equal(mmk_sys_mprotect(&mm, BASE + 1, PG, 0), E(EINVAL));
	assert_int_equal(mmk_sys_mprotect(&mm, BASE, PG, 0x40), E(EINVAL));
	assert_int_equal(
		mmk_sys_mprotect(&mm, BASE, PG,
				 MMK_SYS_PROT_GROWSDOWN | MMK_SYS_PROT_GROWSUP),
		E(EINVAL));
	assert_int_equal(
		mmk_sys_mprotect(&mm, BASE, PG, MMK_SYS_PROT_GROWSDOWN),
		E(EINVAL)); /* not a MAP_GROWSDOWN area */
	assert_int_equal(mmk_sys_mprotect(&mm, BASE, 0, 0), 0);
	assert_int_equal(mmk_sys_mprotect(&mm, BASE, ~0ull - 5, 0), E(ENOMEM));
	assert_int_equal(mmk_sys_mprotect(&mm, BASE + 8 * PG, PG, 0),
			 E(ENOMEM)); /* no area there */
	/* a hole after the start: ENOMEM, and nothing changed */
	assert_int_equal(mmk_sys_mprotect(&mm, BASE, 8 * PG, 0), E(ENOMEM));
	struct mmk_aspace_area a;
	assert_true(mmk_aspace_find_area(&as, BASE, &a));
	assert_true(a.flags & MMK_PT_WRITE);
	/* PROT_GROWSDOWN: from the area's start */
	assert_int_equal(mmk_sys_mmap(&mm, BASE + 16 * PG, 4 * PG, RW,
				      FIX | MMK_SYS_MAP_GROWSDOWN, -1, 0),
			 (int64_t)(BASE + 16 * PG));
	assert_int_equal(
		mmk_sys_mprotect(&mm, BASE + 18 * PG, PG,
				 MMK_SYS_PROT_READ | MMK_SYS_PROT_GROWSDOWN),
		0);
	assert_true(mmk_aspace_find_area(&as, BASE + 16 * PG, &a));
	assert_int_equal(a.end, BASE + 19 * PG);
	assert_false(a.flags & MMK_PT_WRITE);
}

static void mremap_errors(void **state)
{
	(void)state;
	assert_int_equal(map_fixed(BASE, 4 * PG, RW), (int64_t)BASE);
	assert_int_equal(map_fixed(BASE + 4 * PG, 4 * PG, MMK_SYS_PROT_READ),
			 (int64_t)(BASE + 4 * PG));
	uint64_t M = MMK_SYS_MREMAP_MAYMOVE, F = MMK_SYS_MREMAP_FIXED,
		 D = MMK_SYS_MREMAP_DONTUNMAP;
	/* EINVAL */
	assert_int_equal(mmk_sys_mremap(&mm, BASE, PG, PG, 8, 0), E(EINVAL));
	assert_int_equal(mmk_sys_mremap(&mm, BASE, PG, PG, F, BASE + 64 * PG),
			 E(EINVAL));
	assert_int_equal(
		mmk_sys_mremap(&mm, BASE, PG, 2 * PG, M | D, BASE + 64 * PG),
		E(EINVAL));
	assert_int_equal(mmk_sys_mremap(&mm, BASE + 1, PG, PG, 0, 0),
			 E(EINVAL));
	assert_int_equal(mmk_sys_mremap(&mm, BASE, PG, 0, 0, 0), E(EINVAL));
	assert_int_equal(
		mmk_sys_mremap(&mm, BASE, 2 * PG, 2 * PG, M | F, BASE + PG),
		E(EINVAL)); /* overlap */
	assert_int_equal(mmk_sys_mremap(&mm, BASE, 0, PG, M, 0), E(EINVAL));
	/* EFAULT: no area, across areas, a grow of a linear area */
	assert_int_equal(mmk_sys_mremap(&mm, BASE + 32 * PG, PG, 2 * PG, M, 0),
			 E(EFAULT));
	assert_int_equal(
		mmk_sys_mremap(&mm, BASE + 2 * PG, 4 * PG, 8 * PG, M, 0),
		E(EFAULT));
	mmk_paddr_t lpa;
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &lpa), 0);
	assert_int_equal(mmk_aspace_map_linear(&as, BASE + 40 * PG, lpa, PG,
					       MMK_PT_RW | MMK_PT_USER),
			 0);
	assert_int_equal(mmk_sys_mremap(&mm, BASE + 40 * PG, PG, 2 * PG, M, 0),
			 E(EFAULT));
	assert_int_equal(mmk_aspace_unmap(&as, BASE + 40 * PG, PG), 0);
	assert_int_equal(mmk_frame_free(fa, lpa), 0);
	/* ENOMEM: no room to grow in place and no MREMAP_MAYMOVE */
	assert_int_equal(mmk_sys_mremap(&mm, BASE, 4 * PG, 8 * PG, 0, 0),
			 E(ENOMEM));
	/* EAGAIN: a locked area grown past the memlock limit */
	assert_int_equal(mmk_sys_mlock(&mm, BASE + 4 * PG, 4 * PG), 0);
	mm.memlock_limit = 4 * PG;
	assert_int_equal(
		mmk_sys_mremap(&mm, BASE + 4 * PG, 4 * PG, 8 * PG, M, 0),
		E(EAGAIN));
	/* ENOMEM: a move that could pass max_map_count */
	mm.max_map_count = 4;
	assert_int_equal(
		mmk_sys_mremap(&mm, BASE, PG, PG, M | F, BASE + 64 * PG),
		E(ENOMEM));
}

static void mremap_moves_grows_and_shrinks(void **state)
{
	(void)state;
	assert_int_equal(map_fixed(BASE, 4 * PG, RW), (int64_t)BASE);
	char c = 42;
	assert_int_equal(mmk_aspace_write(&as, BASE + PG, &c, 1), 0);
	uint64_t M = MMK_SYS_MREMAP_MAYMOVE, F = MMK_SYS_MREMAP_FIXED;
	/* grow in place, shrink, move with MREMAP_FIXED, DONTUNMAP */
	assert_int_equal(mmk_sys_mremap(&mm, BASE, 4 * PG, 6 * PG, 0, 0),
			 (int64_t)BASE);
	assert_int_equal(mmk_sys_mremap(&mm, BASE, 6 * PG, 2 * PG, 0, 0),
			 (int64_t)BASE);
	assert_int_equal(mmk_sys_mremap(&mm, BASE, 2 * PG, 3 * PG, M | F,
					BASE + 100 * PG),
			 (int64_t)(BASE + 100 * PG));
	c = 0;
	assert_int_equal(mmk_aspace_read(&as, BASE + 101 * PG, &c, 1), 0);
	assert_int_equal(c, 42);
	assert_false(mmk_aspace_find_area(&as, BASE, NULL));
	assert_int_equal(mmk_sys_mremap(&mm, BASE + 100 * PG, 3 * PG, 3 * PG,
					M | F | MMK_SYS_MREMAP_DONTUNMAP,
					BASE + 200 * PG),
			 (int64_t)(BASE + 200 * PG));
	assert_true(mmk_aspace_find_area(&as, BASE + 100 * PG, NULL));
	assert_int_equal(mmk_aspace_read(&as, BASE + 101 * PG, &c, 1), 0);
	assert_int_equal(c, 0); /* the old range faults zero pages */
	assert_int_equal(mmk_aspace_read(&as, BASE + 201 * PG, &c, 1), 0);
	assert_int_equal(c, 42);
	/* MAYMOVE without room to grow: moved somewhere free */
	assert_int_equal(map_fixed(BASE + 203 * PG, PG, RW),
			 (int64_t)(BASE + 203 * PG));
	int64_t r = mmk_sys_mremap(&mm, BASE + 200 * PG, 3 * PG, 8 * PG, M, 0);
	assert_true(r > 0 && (uint64_t)r != BASE + 200 * PG);
	assert_int_equal(mmk_aspace_read(&as, (uint64_t)r + PG, &c, 1), 0);
	assert_int_equal(c, 42);
}

static void madvise_errors(void **state)
{
	(void)state;
	assert_int_equal(map_fixed(BASE, 4 * PG, RW), (int64_t)BASE);
	assert_int_equal(map_fixed(BASE + 8 * PG, 4 * PG, 0),
			 (int64_t)(BASE + 8 * PG));
	assert_int_equal(mmk_sys_madvise(&mm, BASE, PG, 999), E(EINVAL));
	assert_int_equal(mmk_sys_madvise(&mm, BASE, PG, MMK_SYS_MADV_RANDOM),
			 E(EINVAL)); /* Linux has it, mmkit not: refused */
	assert_int_equal(
		mmk_sys_madvise(&mm, BASE + 1, PG, MMK_SYS_MADV_DONTNEED),
		E(EINVAL));
	assert_int_equal(
		mmk_sys_madvise(&mm, BASE, ~0ull, MMK_SYS_MADV_DONTNEED),
		E(EINVAL));
	assert_int_equal(mmk_sys_madvise(&mm, BASE, PG, MMK_SYS_MADV_REMOVE),
			 E(EINVAL));
	assert_int_equal(mmk_sys_madvise(&mm, BASE + 8 * PG, PG,
					 MMK_SYS_MADV_POPULATE_READ),
			 E(EINVAL)); /* PROT_NONE */
	assert_int_equal(mmk_sys_madvise(&mm, BASE, 12 * PG,
					 MMK_SYS_MADV_POPULATE_WRITE),
			 E(ENOMEM)); /* the hole at 4 */
	assert_int_equal(
		mmk_sys_madvise(&mm, BASE, 12 * PG, MMK_SYS_MADV_DONTNEED),
		E(ENOMEM)); /* done where mapped, then ENOMEM */
	assert_int_equal(
		mmk_sys_madvise(&mm, BASE + 64 * PG, PG, MMK_SYS_MADV_WILLNEED),
		E(ENOMEM));
	assert_int_equal(mmk_sys_mlock(&mm, BASE, PG), 0);
	assert_int_equal(mmk_sys_madvise(&mm, BASE, PG, MMK_SYS_MADV_DONTNEED),
			 E(EINVAL)); /* locked */
	/* DONTFORK / DOFORK are area attributes */
	assert_int_equal(
		mmk_sys_madvise(&mm, BASE + 2 * PG, PG, MMK_SYS_MADV_DONTFORK),
		0);
	struct mmk_aspace_area a;
	assert_true(mmk_aspace_find_area(&as, BASE + 2 * PG, &a));
	assert_true(a.flags & MMK_ASPACE_DONTFORK);
	assert_int_equal(a.start, BASE + 2 * PG);
	assert_int_equal(
		mmk_sys_madvise(&mm, BASE + 2 * PG, PG, MMK_SYS_MADV_DOFORK),
		0);
	assert_true(mmk_aspace_find_area(&as, BASE + 2 * PG, &a));
	assert_false(a.flags & MMK_ASPACE_DONTFORK);
	assert_int_equal(a.start, BASE + PG); /* merged again */
	assert_int_equal(mmk_sys_madvise(&mm, BASE, 0, 999), E(EINVAL));
	assert_int_equal(mmk_sys_madvise(&mm, BASE, 0, MMK_SYS_MADV_DONTNEED),
			 0);
}

static void mlock_errors(void **state)
{
	(void)state;
	assert_int_equal(map_fixed(BASE, 4 * PG, RW), (int64_t)BASE);
	assert_int_equal(mmk_sys_mlock2(&mm, BASE, PG, 2), E(EINVAL));
	mm.cap_ipc_lock = true; /* else the memlock limit says ENOMEM first */
	assert_int_equal(mmk_sys_mlock(&mm, BASE, ~0ull - 2 * PG), E(EINVAL));
	mm.cap_ipc_lock = false;
	assert_int_equal(mmk_sys_mlock(&mm, BASE, 8 * PG),
			 E(ENOMEM)); /* hole */
	assert_int_equal(mmk_sys_munlock(&mm, BASE, 8 * PG), E(ENOMEM));
	mm.memlock_limit = 2 * PG;
	assert_int_equal(mmk_sys_mlock(&mm, BASE, 4 * PG), E(ENOMEM));
	mm.memlock_limit = 0;
	assert_int_equal(mmk_sys_mlock(&mm, BASE, PG), E(EPERM));
	assert_int_equal(mmk_sys_mlockall(&mm, MMK_SYS_MCL_CURRENT), E(EPERM));
	mm.memlock_limit = PG;
	assert_int_equal(mmk_sys_mlockall(&mm, MMK_SYS_MCL_CURRENT), E(ENOMEM));
	assert_int_equal(mmk_sys_mlockall(&mm, 0), E(EINVAL));
	assert_int_equal(mmk_sys_mlockall(&mm, MMK_SYS_MCL_ONFAULT), E(EINVAL));
	assert_int_equal(mmk_sys_mlockall(&mm, 8), E(EINVAL));
	/* EAGAIN: the populate ran out of memory (__mlock_posix_error_return)
	 */
	mm.memlock_limit = 8 * MMK_MIB;
	mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
	assert_int_equal(mmk_sys_mlock(&mm, BASE, 4 * PG), E(EAGAIN));
	mmk_hosted_fail_off();
	/* success: locked, populated, unlocked again */
	assert_int_equal(mmk_sys_mlock(&mm, BASE + 1, PG), 0);
	assert_int_equal(
		mmk_pt_query(mmk_aspace_pt(&as), BASE, NULL, NULL, NULL), 0);
	assert_int_equal(mmk_sys_munlock(&mm, BASE, 4 * PG), 0);
	assert_int_equal(
		mmk_sys_mlockall(&mm, MMK_SYS_MCL_CURRENT | MMK_SYS_MCL_FUTURE),
		0);
	assert_int_equal(map_fixed(BASE + 8 * PG, PG, RW),
			 (int64_t)(BASE + 8 * PG));
	struct mmk_aspace_area a;
	assert_true(mmk_aspace_find_area(&as, BASE + 8 * PG, &a));
	assert_true(a.flags & MMK_SYS_VM_LOCKED); /* MCL_FUTURE */
	assert_int_equal(mmk_sys_munlockall(&mm), 0);
	assert_true(mmk_aspace_find_area(&as, BASE + 8 * PG, &a));
	assert_false(a.flags & MMK_SYS_VM_LOCKED);
}

static void mincore_errors(void **state)
{
	(void)state;
	assert_int_equal(map_fixed(BASE, 4 * PG, RW), (int64_t)BASE);
	assert_int_equal(map_fixed(BASE + 8 * PG, PG, MMK_SYS_PROT_READ),
			 (int64_t)(BASE + 8 * PG));
	char c = 1;
	assert_int_equal(mmk_aspace_write(&as, BASE + PG, &c, 1), 0);
	assert_int_equal(mmk_sys_mincore(&mm, BASE + 1, PG, BASE), E(EINVAL));
	assert_int_equal(mmk_sys_mincore(&mm, BASE, ~0ull - BASE, BASE),
			 E(ENOMEM));
	assert_int_equal(mmk_sys_mincore(&mm, BASE, 8 * PG, BASE + 2 * PG),
			 E(ENOMEM)); /* the hole */
	assert_int_equal(mmk_sys_mincore(&mm, BASE, 4 * PG, BASE + 8 * PG),
			 E(EFAULT)); /* vec read-only */
	assert_int_equal(mmk_sys_mincore(&mm, BASE, 4 * PG, ~0ull - 2),
			 E(EFAULT));
	assert_int_equal(mmk_sys_mincore(&mm, BASE, 4 * PG, BASE + 2 * PG), 0);
	unsigned char vec[4];
	assert_int_equal(mmk_aspace_read(&as, BASE + 2 * PG, vec, 4), 0);
	assert_int_equal(vec[0], 0);
	assert_int_equal(vec[1], 1);
	assert_int_equal(vec[2], 1); /* the page vec itself lies in */
	assert_int_equal(vec[3], 0);
}

static void msync_errors(void **state)
{
	(void)state;
	assert_int_equal(map_fixed(BASE, 4 * PG, RW), (int64_t)BASE);
	assert_int_equal(mmk_sys_msync(&mm, BASE, PG, 8), E(EINVAL));
	assert_int_equal(mmk_sys_msync(&mm, BASE + 1, PG, 0), E(EINVAL));
	assert_int_equal(mmk_sys_msync(&mm, BASE, PG,
				       MMK_SYS_MS_ASYNC | MMK_SYS_MS_SYNC),
			 E(EINVAL));
	assert_int_equal(
		mmk_sys_msync(&mm, BASE, ~0ull - 2 * PG, MMK_SYS_MS_SYNC),
		E(ENOMEM));
	assert_int_equal(mmk_sys_msync(&mm, BASE, ~0ull - 2, MMK_SYS_MS_SYNC),
			 0); /* rounds up to 0: nothing to do, as Linux */
	assert_int_equal(mmk_sys_msync(&mm, BASE, 8 * PG, MMK_SYS_MS_SYNC),
			 E(ENOMEM));
	assert_int_equal(mmk_sys_msync(&mm, BASE, 4 * PG, MMK_SYS_MS_SYNC), 0);
	assert_int_equal(mmk_sys_mlock(&mm, BASE, PG), 0);
	assert_int_equal(mmk_sys_msync(&mm, BASE, PG, MMK_SYS_MS_INVALIDATE),
			 E(EBUSY));
}

static void brk_grows_shrinks_and_refuses_with_the_old_break(void **state)
{
	(void)state;
	mm.start_brk = mm.brk = BASE + 16 * PG;
	assert_int_equal(mmk_sys_brk(&mm, 0), (int64_t)(BASE + 16 * PG));
	for (int i = 1; i <= 8; i++)
		assert_int_equal(mmk_sys_brk(&mm, BASE + 16 * PG + i * 100),
				 (int64_t)(BASE + 16 * PG + i * 100));
	assert_int_equal(mmk_sys_brk(&mm, BASE + 20 * PG),
			 (int64_t)(BASE + 20 * PG));
	assert_int_equal(mmk_aspace_area_count(&as), 1); /* one heap */
	assert_int_equal(mmk_sys_brk(&mm, BASE + 17 * PG),
			 (int64_t)(BASE + 17 * PG));
	/* refused: below the start, into the next area's page */
	assert_int_equal(mmk_sys_brk(&mm, BASE), (int64_t)(BASE + 17 * PG));
	assert_int_equal(map_fixed(BASE + 24 * PG, PG, RW),
			 (int64_t)(BASE + 24 * PG));
	assert_int_equal(mmk_sys_brk(&mm, BASE + 24 * PG),
			 (int64_t)(BASE + 17 * PG));
	assert_int_equal(mmk_sys_brk(&mm, BASE + 23 * PG),
			 (int64_t)(BASE + 23 * PG));
	mmk_hosted_fail_after(MMK_FAIL_OBJ, 0);
	mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
	assert_int_equal(mmk_sys_brk(&mm, BASE + 8 * PG + SPACE / 2),
			 (int64_t)(BASE + 23 * PG));
	mmk_hosted_fail_off();
}

static void stack_grows_down_into_its_gap(void **state)
{
	(void)state;
	mm.stack_guard_gap = 4 * PG;
	assert_int_equal(map_fixed(BASE, PG, RW), (int64_t)BASE);
	assert_int_equal(mmk_sys_mmap(&mm, BASE + 32 * PG, 2 * PG, RW,
				      FIX | MMK_SYS_MAP_GROWSDOWN, -1, 0),
			 (int64_t)(BASE + 32 * PG));
	assert_int_equal(
		mmk_sys_fault(&mm, BASE + 30 * PG + 8, MMK_ACCESS_WRITE), 0);
	struct mmk_aspace_area a;
	assert_true(mmk_aspace_find_area(&as, BASE + 30 * PG, &a));
	assert_int_equal(a.start, BASE + 30 * PG);
	assert_int_equal(a.end, BASE + 34 * PG);
	/* not within the guard gap of the area below */
	assert_int_equal(mmk_sys_fault(&mm, BASE + 3 * PG, MMK_ACCESS_READ),
			 MMK_ENOMEM);
	assert_int_equal(mmk_sys_fault(&mm, BASE + 40 * PG, MMK_ACCESS_READ),
			 MMK_EFAULT);
	/* placement keeps the gap below a stack */
	int64_t r = mmk_sys_mmap(&mm, BASE + 28 * PG, PG, RW, ANON, -1, 0);
	assert_true(r > 0 && (uint64_t)r != BASE + 28 * PG);
}

/* The fault entry points: each documented code, nothing changed (areas,
 * live frames).  A read-only area at BASE, a stack at BASE + 32 pages with
 * a 4-page guard gap above BASE's area. */
static void fault_and_stack_growth_errors_change_nothing(void **state)
{
	(void)state;
	mm.stack_guard_gap = 4 * PG;
	assert_int_equal(map_fixed(BASE, PG, MMK_SYS_PROT_READ), (int64_t)BASE);
	assert_int_equal(mmk_sys_mmap(&mm, BASE + 32 * PG, 2 * PG, RW,
				      FIX | MMK_SYS_MAP_GROWSDOWN, -1, 0),
			 (int64_t)(BASE + 32 * PG));
	size_t areas = mmk_aspace_area_count(&as);
	long frames = mmk_hosted_live_frames();
	struct mmk_aspace_area a;
	/* expand_stack: nothing above that grows (over the stack, below
	 * the read-only area), or in the gap of the area below */
	assert_int_equal(mmk_sys_expand_stack(&mm, BASE + 40 * PG), MMK_EFAULT);
	assert_int_equal(mmk_sys_expand_stack(&mm, BASE - PG), MMK_EFAULT);
	assert_int_equal(mmk_sys_expand_stack(&mm, BASE + 3 * PG), MMK_ENOMEM);
	assert_int_equal(mmk_sys_expand_stack(&mm, BASE + 32 * PG + 8), 0);
	/* fault: no area, a write to a read-only page, the guard gap, and
	 * a fresh page that cannot be had */
	assert_int_equal(mmk_sys_fault(&mm, BASE + 40 * PG, MMK_ACCESS_READ),
			 MMK_EFAULT);
	assert_int_equal(mmk_sys_fault(&mm, BASE, MMK_ACCESS_WRITE),
			 MMK_EACCES);
	assert_int_equal(mmk_sys_fault(&mm, BASE + 3 * PG, MMK_ACCESS_WRITE),
			 MMK_ENOMEM);
	mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
	assert_int_equal(mmk_sys_fault(&mm, BASE + 32 * PG, MMK_ACCESS_WRITE),
			 MMK_ENOMEM);
	mmk_hosted_fail_off();
	assert_int_equal(mmk_aspace_area_count(&as), areas);
	assert_int_equal(mmk_hosted_live_frames(), frames);
	assert_true(mmk_aspace_find_area(&as, BASE + 32 * PG, &a));
	assert_int_equal(a.start, BASE + 32 * PG);
	assert_false(mmk_aspace_find_area(&as, BASE + 3 * PG, &a));
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as), BASE + 32 * PG, NULL,
				      NULL, NULL),
			 MMK_ENOENT);
	/* a locked stack grows only within the memlock limit
	 * (acct_stack_growth's mlock_future_ok) */
	assert_int_equal(
		mmk_sys_mmap(&mm, BASE + 64 * PG, 2 * PG, RW,
			     FIX | MMK_SYS_MAP_GROWSDOWN | MMK_SYS_MAP_LOCKED,
			     -1, 0),
		(int64_t)(BASE + 64 * PG));
	mm.cap_ipc_lock = false;
	mm.memlock_limit = 3 * PG;
	assert_int_equal(mmk_sys_fault(&mm, BASE + 62 * PG, MMK_ACCESS_WRITE),
			 MMK_ENOMEM);
	assert_true(mmk_aspace_find_area(&as, BASE + 64 * PG, &a));
	assert_int_equal(a.start, BASE + 64 * PG);
	assert_int_equal(mmk_sys_fault(&mm, BASE + 63 * PG, MMK_ACCESS_WRITE),
			 0);
	assert_true(mmk_aspace_find_area(&as, BASE + 63 * PG, &a));
	assert_int_equal(a.start, BASE + 63 * PG);
}

int main(void)
{
	mmk_hosted_init(512 * MMK_MIB);
	fa = mmk_hosted_frames_new();
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(errno_table_maps_every_code),
		T(mmap_errors),
		T(mmap_out_of_memory_changes_nothing),
		T(munmap_errors),
		T(mprotect_errors),
		T(mremap_errors),
		T(mremap_moves_grows_and_shrinks),
		T(madvise_errors),
		T(mlock_errors),
		T(mincore_errors),
		T(msync_errors),
		T(brk_grows_shrinks_and_refuses_with_the_old_break),
		T(stack_grows_down_into_its_gap),
		cmocka_unit_test_setup_teardown(
			fault_and_stack_growth_errors_change_nothing, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
