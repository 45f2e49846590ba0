/* SPDX-License-Identifier: MIT */
/*
 * User processes in the demo kernels: the seam between the common process
 * layer (demo/common/uproc.c: process table, ELF loading, system calls,
 * user page faults, all through mmkit) and each architecture
 * (demo/<arch>/: entering user mode, taking traps from it).
 *
 * One CPU, one kernel stack.  A process is its address space and its saved
 * user registers (struct arch_uctx, demo/<arch>/arch_uctx.h).  The kernel
 * never sleeps inside a system call: every trap from user mode saves the
 * registers into demo_user_ctx(), calls demo_user_trap(), and that ends by
 * resuming some process with arch_enter_user(), which starts again from
 * the top of the kernel stack.  Scheduling is cooperative (exit, wait and
 * yield switch processes).
 *
 * The kernel runs at VA == PA in the lower half; every user space also
 * maps that identity range (kernel-only, no MMK_PT_USER) so that a trap
 * can run with the process's root still installed.  User memory is the
 * window [DEMO_USER_BASE, DEMO_USER_TOP) (demo/<arch>/arch.mk), above
 * everything the identity map covers; the kernel touches it only through
 * the address space (mmk_aspace_read / _write), never by pointer.
 *
 * System calls: the number and up to six arguments in the registers the
 * arch's convention names (demo/<arch>/usys.h, the user side), one result
 * (a value >= 0 or -errno):
 *   riscv64      ecall       a7 = nr, a0..a5, result a0
 *   aarch64      svc #0      x8 = nr, x0..x5, result x0
 *   x86_64       syscall     rax = nr, rdi rsi rdx r10 r8 r9, result rax
 *   loongarch64  syscall 0   a7 = nr, a0..a5, result a0
 * The numbers are the demo's own (demo/common/usyscall.h).
 *
 * demo/<arch>/usys.h, the user side (no libc): `static inline long
 * usys(long nr, long a0, ..., long a5)` in inline asm with the convention
 * above, and USYS_START_ASM, the programs' entry as top-level asm text:
 * a global `_start` that calls `ustart(sp)` (demo/user/ulib.c) with the
 * loader's initial stack pointer (argc there) and a 16-byte aligned sp,
 * and never returns.
 */
#ifndef MMKIT_DEMO_UPROC_H
#define MMKIT_DEMO_UPROC_H

#include "demo.h"
#include "arch_uctx.h" /* struct arch_uctx */

/* ------------------------------------------------- provided by arch */

/** Once, before the first process: what user mode needs (the kernel stack
 * for traps from user mode, TSS / syscall MSRs, exception routing).  The
 * kernel space exists by then (mmk_kspace_init): where its half has a root
 * register of its own (aarch64 TTBR1, LoongArch PGDH), load it here. */
void arch_user_init(void);

/** Fill @c to start user mode at @entry with stack pointer @sp, all other
 * registers 0, interrupts as the arch runs user code. */
void arch_uctx_init(struct arch_uctx *c, uint64_t entry, uint64_t sp);

/**
 * Send console output through @va from now on (0: back to the identity
 * address).  @va is where the kernel space maps demo_mmio[0] (the
 * console's MMIO range, listed first: its first byte, at demo_mmio[0].pa)
 * with mmk_ioremap; the arch adds the UART's offset in that range.  An
 * arch whose console is not MMIO (x86_64's port I/O) ignores it.
 */
void arch_uart_remap(uint64_t va);

#ifdef ARCH_UART_GETC
/** One byte received by the UART, or -1 if none is waiting (the QMP
 * build's pauses, uproc.c; an arch defines ARCH_UART_GETC in its
 * arch_uctx.h when it has this). */
int arch_uart_getc(void);
#endif

/** The system call's number and argument @i (0..5) in @c. */
uint64_t arch_uctx_sysno(const struct arch_uctx *c);
uint64_t arch_uctx_arg(const struct arch_uctx *c, unsigned i);

/** Set the system call's result in @c.  (The trap entry has already moved
 * the pc past the system-call instruction.) */
void arch_uctx_set_ret(struct arch_uctx *c, uint64_t v);

/** The user pc saved in @c (for reports). */
uint64_t arch_uctx_pc(const struct arch_uctx *c);

/**
 * Return to user mode with the registers in @c, on the root that is active
 * (the caller has done mmk_aspace_activate of the process's space).  The
 * next trap from user mode starts on the top of the kernel stack.
 */
_Noreturn void arch_enter_user(const struct arch_uctx *c);

/* ------------------------------------------------- provided by common */

enum demo_utrap {
	DEMO_UTRAP_SYSCALL, /* the system-call instruction */
	DEMO_UTRAP_FAULT,   /* a page fault or access fault: *f filled */
	DEMO_UTRAP_OTHER,   /* anything else from user mode: *f filled */
};

/** Where the arch's trap entry saves the user registers before it calls
 * demo_user_trap (the current process's context). */
struct arch_uctx *demo_user_ctx(void);

/**
 * Called by the arch's trap handler for every trap taken from user mode,
 * with the registers saved in *demo_user_ctx() (pc past the instruction
 * for a system call, at it for a fault).  @f is NULL for a system call.
 * Never returns: resumes a process through arch_enter_user.
 */
_Noreturn void demo_user_trap(enum demo_utrap kind, const struct demo_fault *f);

/**
 * The user-process part of the demo, run after the checks: loads the
 * programs, runs them to the end, checks their exit statuses and lines.
 * Returns only if the phase could not start (why); once a process runs
 * the kernel stack is the traps' (demo_main's frame is gone), so the end
 * of the phase calls demo_finish(NULL on success, else why it failed).
 */
const char *demo_run_user(void);

#endif /* MMKIT_DEMO_UPROC_H */
