/* SPDX-License-Identifier: MIT */
/*
 * The demo kernel main shared by the four architectures: frames from the
 * machine's RAM, a page table built with mmkit, then the checks on the real
 * (emulated) MMU, one transcript line each, and the verdict
 * "mmkit demo: PASS" or "mmkit demo: FAIL: <why>".
 */
#include "demo.h"
#include "checks.h"
#if DEMO_HAVE_USER
#include "uproc.h"
#endif

struct mmk_frames demo_frames;
#ifdef DEMO_QMP
const bool demo_qmp_build = true;
#else
const bool demo_qmp_build = false;
#endif
struct mmk_bootmem demo_bootmem;

/* ------------------------------------------------------------ traps */

struct demo_trap_state demo_ts;

static const struct demo_extable *extable_find(uint64_t pc)
{
	for (const struct demo_extable *e = __extable_start; e < __extable_end;
	     e++)
		if (e->insn == pc)
			return e;
	return NULL;
}

enum demo_action demo_trap(const struct demo_fault *f, uint64_t *fixup)
{
	demo_ts.faults++;
	demo_ts.last = *f;
	if (demo_ts.lazy_handler && f->access != DEMO_OTHER &&
	    demo_ts.lazy_handler(f))
		return DEMO_RETRY;
	if (f->access == DEMO_EXEC && demo_ts.exec_target &&
	    f->addr == demo_ts.exec_target)
		return DEMO_RETURN;
	const struct demo_extable *e = extable_find(f->pc);
	if (e && f->access != DEMO_OTHER) {
		*fixup = e->fixup;
		return DEMO_FIXUP;
	}
	demo_fail(
		"unexpected trap: %s (cause %#llx) at pc %#llx, address %#llx",
		f->what, (unsigned long long)f->cause,
		(unsigned long long)f->pc, (unsigned long long)f->addr);
}

/* ------------------------------------------------------------ main */

static void frames_init(void)
{
	mmk_bootmem_init(&demo_bootmem);
	arch_add_memory(&demo_bootmem);
	uint64_t kstart = (uint64_t)(uintptr_t)__kernel_start;
	uint64_t kend = (uint64_t)(uintptr_t)__kernel_end;
	mmk_bootmem_reserve(&demo_bootmem, mmk_virt_to_phys(__kernel_start),
			    kend - kstart);
	uint64_t ram = 0;
	for (unsigned i = 0; i < demo_bootmem.nram; i++)
		ram += demo_bootmem.ram[i].end - demo_bootmem.ram[i].start;
	int err = mmk_frames_init(&demo_frames, &demo_bootmem);
	if (err)
		demo_fail("mmk_frames_init: %s", mmk_strerror(err));
	struct mmk_frame_stats st;
	mmk_frames_stats(&demo_frames, &st);
	demo_printf("frames: %u RAM range(s), %llu KiB RAM, %llu KiB free "
		    "(kernel %#llx-%#llx)\n",
		    demo_bootmem.nram, (unsigned long long)(ram >> 10),
		    (unsigned long long)(st.free_pages * MMK_PAGE_SIZE >> 10),
		    (unsigned long long)kstart, (unsigned long long)kend);
}

_Noreturn void demo_main(void)
{
	arch_early_init();
	demo_printf("\nmmkit demo: %s kernel booted\n", demo_arch_name);
	frames_init();
	const char *why = demo_run_checks();
#if DEMO_HAVE_USER
	if (!why)
		why = demo_run_user(); /* returns only if it cannot start */
#endif
	demo_finish(why);
}

_Noreturn void demo_finish(const char *why)
{
	if (why) {
		demo_printf("mmkit demo: FAIL: %s\n", why);
		arch_exit(false);
	}
	demo_puts("mmkit demo: PASS\n");
#ifdef DEMO_QMP
	demo_qmp_dump();
	demo_puts("MMKIT-IDLE\n");
	arch_idle();
#else
	arch_exit(true);
#endif
}
