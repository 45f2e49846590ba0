/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the input is a sequence of 16-byte records, each one
 * system call on a fresh 64-page mmkit space (addresses and lengths taken
 * modulo the window, sometimes left wild).  After every call the model is
 * checked: the memory set's invariants, the result is an address in the
 * window or -errno of Linux's set, every page-table leaf lies in an area
 * and allows no more than the area's protection; at the end the space is
 * destroyed and every frame and object must be back.
 *
 *   clang build with MMK_SANITIZE=ON: fuzz_sys (libFuzzer), run 20 s by
 *   ctest; longer by hand:  ./fuzz_sys -max_total_time=600 new/ corpus/
 *   then keep what it found: ./fuzz_sys -merge=1 tests/syscalls/corpus new/
 *   any build: test_sys_fuzz_corpus replays tests/syscalls/corpus.
 */
#include <mmk_hosted.h>
#include <mmkit/backend.h>
#include <mmkit/syscalls.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG  MMK_PAGE_SIZE
#define WP  64
#define WIN 0x40000000ull

static struct mmk_frames *fa;

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_sys: %s failed (line %d)\n", #c, \
				__LINE__);                                     \
			abort();                                               \
		}                                                              \
	} while (0)

struct leaf_ctx {
	struct mmk_aspace *as;
};

static int check_leaf(void *ctx, const struct mmk_pt_leaf *l)
{
	struct mmk_aspace *as = ((struct leaf_ctx *)ctx)->as;
	struct mmk_aspace_area a;
	CHECK(mmk_aspace_find_area(as, l->va, &a));
	CHECK(l->va + l->size <= a.end);
	uint32_t allowed = mmk_backend_page_flags(as, a.flags) & MMK_PT_RWX;
	CHECK((l->flags & MMK_PT_RWX & ~allowed) == 0);
	return 0;
}

static bool linux_errno(int64_t r)
{
	switch (-r) {
	case MMK_SYS_EPERM:
	case MMK_SYS_EBADF:
	case MMK_SYS_EAGAIN:
	case MMK_SYS_ENOMEM:
	case MMK_SYS_EACCES:
	case MMK_SYS_EFAULT:
	case MMK_SYS_EBUSY:
	case MMK_SYS_EEXIST:
	case MMK_SYS_ENODEV:
	case MMK_SYS_EINVAL:
	case MMK_SYS_EOVERFLOW:
	case MMK_SYS_EOPNOTSUPP:
		return true;
	default:
		return false;
	}
}

static uint64_t addr_of(const uint8_t *r, unsigned i)
{
	uint8_t b = r[i];
	if (b == 0xff) /* wild */
		return ((uint64_t)r[i + 1] << 40) | ((uint64_t)r[i + 2] << 12) |
		       r[i + 3];
	return WIN + (uint64_t)(b % (WP + 1)) * PG + (r[i + 1] == 1 ? 17 : 0);
}

static uint64_t len_of(const uint8_t *r, unsigned i)
{
	uint8_t b = r[i];
	if (b == 0xff)
		return ~0ull - r[i + 1];
	if (b == 0xfe)
		return 1ull << (r[i + 1] % 64);
	return (uint64_t)(b % (WP + 1)) * PG - (r[i + 1] & 1 ? 100 : 0);
}

/* fork: a clone of the space stores at @a and goes (shared objects'
 * references, pages a clone still maps when the parent punches them). */
static int64_t fork_write(struct mmk_sys_mm *mm, uint64_t a, uint64_t x)
{
	static struct mmk_aspace kid;
	if (mmk_aspace_create(&kid, WIN, WP * PG, MMK_PT_X86_64_4L, 0, fa))
		return -MMK_SYS_ENOMEM;
	int64_t r = -MMK_SYS_ENOMEM;
	if (!mmk_aspace_clone(mm->as, &kid)) {
		uint8_t b = (uint8_t)(x >> 8);
		r = mmk_aspace_write(&kid, a, &b, 1) ? -MMK_SYS_EFAULT : 0;
		if (!r && (x & 4)) /* the parent punches while it maps */
			(void)mmk_sys_madvise(mm, a & ~(PG - 1), PG,
					      MMK_SYS_MADV_REMOVE);
	}
	mmk_aspace_destroy(&kid);
	return r;
}

static int64_t one_call(struct mmk_sys_mm *mm, const uint8_t *r)
{
	uint64_t a = addr_of(r, 1), n = len_of(r, 5);
	uint64_t x = r[7] | (uint64_t)r[8] << 8 | (uint64_t)r[9] << 16;
	uint64_t t = addr_of(r, 10);
	switch (r[0] % 14) {
	case 0:
		return mmk_sys_mmap(mm, a, n, x & 7, (x >> 3) | 0x22,
				    (x & 0x8000) ? 3 : -1, 0);
	case 1:
		return mmk_sys_mmap(mm, a, n, x & 7, (x >> 3) | 0x32, -1, 0);
	case 2:
		return mmk_sys_munmap(mm, a, n);
	case 3:
		return mmk_sys_mprotect(mm, a, n,
					(x & 7) | ((x & 8) ? 0x01000000 : 0));
	case 4:
		return mmk_sys_mremap(mm, a, n, len_of(r, 13), x & 7, t);
	case 5:
		return mmk_sys_madvise(mm, a, n, (int64_t)(x % 26));
	case 6:
		return mmk_sys_mlock(mm, a, n);
	case 7:
		return mmk_sys_mlock2(mm, a, n, x & 3);
	case 8:
		return mmk_sys_munlock(mm, a, n);
	case 9:
		return mmk_sys_mincore(mm, a, n, t);
	case 10:
		return mmk_sys_msync(mm, a, n, x & 7);
	case 11:
		return mmk_sys_brk(mm, a);
	case 12: {
		uint8_t buf[64];
		int e = (x & 1) ? mmk_aspace_access_forced(mm->as, a, buf,
							   x % 64, x & 2)
				: mmk_sys_fault(mm, a,
						MMK_ACCESS_READ << (x % 3));
		return e ? -mmk_sys_errno(e) : 0;
	}
	default:
		if ((x & 3) == 2)
			return fork_write(mm, a, x);
		return (x & 1) ? mmk_sys_mlockall(mm, x % 8)
			       : mmk_sys_munlockall(mm);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fa) {
		mmk_hosted_init(64 * MMK_MIB);
		fa = mmk_hosted_frames_new();
		mmk_hosted_log_reset(true);
	}
	long frames = mmk_hosted_live_frames(), objs = mmk_hosted_live_objs();
	static struct mmk_aspace as;
	CHECK(mmk_aspace_create(&as, WIN, WP * PG, MMK_PT_X86_64_4L, 0, fa) ==
	      0);
	struct mmk_sys_mm mm;
	mmk_sys_mm_init(&mm, &as);
	mm.start_brk = mm.brk = WIN + WP * PG / 2;
	mm.stack_guard_gap = 4 * PG;
	mm.memlock_limit = 32 * PG;
	for (size_t off = 0; off + 16 <= size; off += 16) {
		const uint8_t *r = data + off;
		if (r[15] == 0xa5)
			mmk_hosted_fail_nth(MMK_FAIL_FRAME, 1 + r[14] % 8);
		else if (r[15] == 0x5a)
			mmk_hosted_fail_nth(MMK_FAIL_OBJ, 1 + r[14] % 4);
		int64_t ret = one_call(&mm, r);
		mmk_hosted_fail_off();
		CHECK(ret >= 0 || linux_errno(ret));
		CHECK(mmk_mset_check(&as.areas) == 0);
		struct leaf_ctx c = {&as};
		CHECK(mmk_aspace_walk_pages(&as, WIN, WP * PG, check_leaf,
					    &c) == 0);
	}
	mmk_aspace_destroy(&as);
	CHECK(mmk_hosted_live_frames() == frames);
	CHECK(mmk_hosted_live_objs() - objs <= 0);
	return 0;
}

#ifndef MMK_FUZZ_LIBFUZZER
/* Without libFuzzer: replay every file named on the command line. */
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			perror(argv[i]);
			return 1;
		}
		static uint8_t buf[1 << 16];
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("%d inputs replayed\n", argc - 1);
	return 0;
}
#endif
