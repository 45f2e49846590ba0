/* SPDX-License-Identifier: MIT */
/*
 * The hosted demo: mmkit's layers put to work in Linux user space, each
 * step printed.  It grows with every layer; the QEMU demo kernels do the
 * same on real (emulated) MMUs.
 */
#include <mmk_hosted.h>
#include <mmkit/frame.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define STEP(ok, ...)                                                         \
	do {                                                                  \
		bool ok_ = (ok);                                              \
		printf("  [%s] ", ok_ ? " ok " : "FAIL");                    \
		printf(__VA_ARGS__);                                          \
		printf("\n");                                                 \
		failures += !ok_;                                             \
	} while (0)

static struct mmk_frames frames;

static void demo_frames(void)
{
	struct mmk_bootmem bm;
	printf("frames: a 256 MiB machine with a hole and a reserved range\n");
	mmk_bootmem_init(&bm);
	uint64_t base = mmk_hosted_phys_base().v;
	mmk_bootmem_add_ram(&bm, mmk_pa(base), 128 * MMK_MIB);
	mmk_bootmem_add_ram(&bm, mmk_pa(base + 192 * MMK_MIB), 64 * MMK_MIB);
	mmk_bootmem_reserve(&bm, mmk_pa(base), 2 * MMK_MIB); /* "kernel" */
	mmk_paddr_t early;
	int err = mmk_bootmem_alloc(&bm, 3 * 4096, 4096, &early);
	STEP(err == 0 && early.v == base + 2 * MMK_MIB,
	     "bootmem: early allocation of 3 pages at %#llx",
	     (unsigned long long)early.v);
	err = mmk_frames_init(&frames, &bm);
	struct mmk_frame_stats st;
	mmk_frames_stats(&frames, &st);
	STEP(err == 0, "buddy: takes over %llu free pages (%llu MiB)",
	     (unsigned long long)st.total_pages,
	     (unsigned long long)(st.total_pages >> 8));

	mmk_paddr_t a, b, c;
	mmk_frame_alloc(&frames, 0, MMK_FRAME_ZERO, &a);
	mmk_frame_alloc(&frames, 9, 0, &b);
	mmk_frame_alloc(&frames, 14, 0, &c);
	STEP(b.v % (2 * MMK_MIB) == 0 && c.v % (64 * MMK_MIB) == 0,
	     "alloc: page %#llx, 2 MiB block %#llx, 64 MiB block %#llx "
	     "(naturally aligned)",
	     (unsigned long long)a.v, (unsigned long long)b.v,
	     (unsigned long long)c.v);
	mmk_frame_get(&frames, a);
	STEP(mmk_frame_refcount(&frames, a) == 2 &&
		     mmk_frame_put(&frames, a) == 0 &&
		     mmk_frame_put(&frames, a) == 1,
	     "refcount: get -> 2, put -> 1, put -> freed");
	mmk_hosted_log_reset(true);
	STEP(mmk_frame_free(&frames, a) == MMK_EDOUBLEFREE,
	     "double free refused: %s", mmk_hosted_last_log());
	STEP(mmk_frame_free(&frames, mmk_pa_add(b, 4096)) == MMK_EBADFREE,
	     "free inside a block refused: %s", mmk_hosted_last_log());
	STEP(mmk_frame_free(&frames, mmk_pa(base + 150 * MMK_MIB)) ==
		     MMK_EBADFREE,
	     "free in the hole refused: %s", mmk_hosted_last_log());
	mmk_hosted_log_reset(false);
	mmk_frame_free(&frames, b);
	mmk_frame_free(&frames, c);
	mmk_frames_drain(&frames);
	mmk_frames_stats(&frames, &st);
	STEP(st.allocated_pages == 0 && mmk_frames_check(&frames) == 0,
	     "all freed: buddies coalesced, invariants hold");
}

int main(void)
{
	mmk_hosted_init(0);
	printf("mmkit hosted demo (physical memory: %llu MiB arena at "
	       "phys %#llx, host %p)\n",
	       (unsigned long long)(mmk_hosted_arena_size() >> 20),
	       (unsigned long long)mmk_hosted_phys_base().v,
	       mmk_hosted_arena());
	demo_frames();
	printf(failures ? "mmkit demo: FAIL: %d step(s)\n" : "mmkit demo: PASS\n",
	       failures);
	return failures ? 1 : 0;
}
