/* SPDX-License-Identifier: MIT */
/*
 * mmkit bare-metal demo kernels: what the shared kernel main (kmain.c) needs
 * from each architecture folder (demo/<arch>/), and what it offers them.
 *
 * One CPU, interrupts off throughout, RAM mapped at VA == PA (so
 * mmk_hal_pv_offset is 0 before and after paging is turned on: the kernel
 * builds its page table with the MMU off and keeps using the same pointers
 * once it runs on it).
 */
#ifndef MMKIT_DEMO_H
#define MMKIT_DEMO_H

#include <mmkit/frame.h>
#include <mmkit/log.h>
#include <mmkit/pt.h>

/* ------------------------------------------------------ provided by arch */

extern const char demo_arch_name[];

/** Write one byte to the UART (polled). */
void arch_putc(char c);

/** Install trap vectors and anything else needed before C runs checks. */
void arch_early_init(void);

/** Hand the machine's RAM to @bm and reserve what the firmware keeps. */
void arch_add_memory(struct mmk_bootmem *bm);

/**
 * Leave QEMU: @pass selects the arch's "pass" or "fail" status (the
 * transcript decides; the status only confirms it).
 */
_Noreturn void arch_exit(bool pass);

/** The page-table format and mmk_pt_create options the kernel runs on. */
extern const enum mmk_pt_format_id demo_pt_format;
extern const unsigned demo_pt_opts;

/** MMIO the kernel maps as device memory (identity, VA == PA). */
struct demo_mmio {
	uint64_t pa, size;
	const char *name;
};
extern const struct demo_mmio demo_mmio[];
extern const unsigned demo_nmmio;

/**
 * Turn translation on with @pt (built with the MMU off): whatever registers
 * the arch needs besides the root (MAIR/TCR/SCTLR, PWCL/PWCH/TLBRENTRY/CRMD),
 * then mmk_pt_activate.  Returns running on @pt.
 */
void arch_mmu_on(struct mmk_pt *pt);

/** Make instructions written through the data side visible to fetch. */
void arch_sync_icache(const void *p, size_t n);

#ifdef DEMO_NX_VIA_TLB
/** Read the TLB entry (TLBELO of @va's half) translating @va; 0 or -1. */
int arch_tlb_entry(uint64_t va, uint64_t *elo);
#endif

/** Spin forever with nothing to do (the QMP harness inspects the machine). */
_Noreturn void arch_idle(void);

/* Probes, in assembly (demo/<arch>/probe.S): one access each, listed in the
 * exception table so that a fault resumes right after the instruction. */
uint64_t demo_probe_read(const volatile void *p);
void demo_probe_write(volatile void *p, uint64_t v);
/** Call @code as a function of no arguments (for the never-executable check).
 */
void demo_probe_exec(const void *code);

/* ------------------------------------------------------ traps */

enum demo_access { DEMO_READ, DEMO_WRITE, DEMO_EXEC, DEMO_OTHER };

struct demo_fault {
	enum demo_access access;
	uint64_t addr; /* faulting data address, or the fetch address */
	uint64_t pc;
	uint64_t cause;	  /* architecture's own code, for reports */
	const char *what; /* architecture's name for it */
};

enum demo_action {
	DEMO_RETRY,  /* return to the faulting instruction */
	DEMO_FIXUP,  /* resume at *fixup (after the faulting probe) */
	DEMO_RETURN, /* return to the caller of the faulting fetch target */
};

/** Called by the arch trap handler for every synchronous exception. */
enum demo_action demo_trap(const struct demo_fault *f, uint64_t *fixup);

/* Instruction bytes of "return to caller", copied into pages for the
 * never-executable check (so an unenforced NX returns instead of crashing). */
extern const uint8_t demo_ret_insn[];
extern const size_t demo_ret_insn_size;

/* Linker-script symbols (all page aligned). */
extern char __kernel_start[], __text_start[], __text_end[], __rodata_start[],
	__rodata_end[], __data_start[], __kernel_end[];
extern char __stack_top[];

struct demo_extable {
	uint64_t insn, fixup;
};
extern const struct demo_extable __extable_start[], __extable_end[];

/* ------------------------------------------------------ common services */

void *memset(void *d, int c, size_t n);
void *memcpy(void *restrict d, const void *restrict s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void demo_puts(const char *s);
void demo_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void demo_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/** The kernel main: call once from the arch entry with the MMU off. */
_Noreturn void demo_main(void);

/** True in kernel-qmp.elf (kmain.c built with DEMO_QMP): the objects
 * but kmain are the same in both kernels. */
extern const bool demo_qmp_build;

/** The verdict (kmain.c): "mmkit demo: PASS" or "mmkit demo: FAIL: @why"
 * (@why NULL: pass), then the QMP build's dump and idle, or the exit. */
_Noreturn void demo_finish(const char *why);

/** Memory from a flattened device tree: adds every /memory reg range. */
int demo_fdt_add_memory(const void *fdt, struct mmk_bootmem *bm,
			uint64_t *fdt_size);

struct mmk_aspace;
/**
 * Map the range the kernel runs from (image, RAM, MMIO) at VA == PA into
 * @as, kernel-only (no MMK_PT_USER), as linear areas of @pg pages
 * (identity.c).  0 or the first mmk_aspace_map_linear error.
 */
int demo_map_identity(struct mmk_aspace *as, uint64_t pg);
/** mmk_kspace_init over the RAM in demo_bootmem, no_switch (identity.c). */
int demo_kspace_init(void);

/** Frames: the demo's buddy allocator (also backs mmk_hal_obj_alloc). */
extern struct mmk_frames demo_frames;

#endif /* MMKIT_DEMO_H */
