/* SPDX-License-Identifier: MIT */
/*
 * riscv64 U-mode (demo/common/uproc.h).  While the kernel runs, sscratch
 * is 0; arch_enter_user sets it to the save area riscv_uframe, so the
 * trap entry (start.S) tells a trap from U-mode by swapping sp with
 * sscratch: non-zero, it saves the user registers there, restarts on the
 * top of the kernel stack and calls riscv_user_trap.
 */
#include "uproc.h"

struct arch_uctx riscv_uframe; /* start.S saves the user registers here */

void riscv_user_trap(uint64_t cause, uint64_t tval);
void riscv_decode_fault(uint64_t cause, uint64_t tval, uint64_t pc,
			struct demo_fault *f); /* arch.c */
_Noreturn void riscv_enter_user(const struct arch_uctx *c);

void arch_user_init(void)
{
	/* U-mode: supervisor access to user pages off (SUM, bit 18): the
	 * kernel reaches user memory only through the address space. */
	__asm__ volatile("csrc sstatus, %0" ::"r"(1ul << 18));
	/* no interrupt may reach U-mode (S-level ones would, whatever SIE) */
	__asm__ volatile("csrw sie, zero");
}

void arch_uctx_init(struct arch_uctx *c, uint64_t entry, uint64_t sp)
{
	memset(c, 0, sizeof(*c));
	c->pc = entry;
	c->x[2] = sp;
}

uint64_t arch_uctx_sysno(const struct arch_uctx *c)
{
	return c->x[17]; /* a7 */
}

uint64_t arch_uctx_arg(const struct arch_uctx *c, unsigned i)
{
	return i < 6 ? c->x[10 + i] : 0; /* a0..a5 */
}

void arch_uctx_set_ret(struct arch_uctx *c, uint64_t v)
{
	c->x[10] = v;
}

uint64_t arch_uctx_pc(const struct arch_uctx *c)
{
	return c->pc;
}

_Noreturn void arch_enter_user(const struct arch_uctx *c)
{
	riscv_enter_user(c);
}

void riscv_user_trap(uint64_t cause, uint64_t tval)
{
	struct arch_uctx *c = demo_user_ctx();
	*c = riscv_uframe;
	if (cause == 8) { /* ecall from U-mode */
		c->pc += 4;
		demo_user_trap(DEMO_UTRAP_SYSCALL, NULL);
	}
	struct demo_fault f;
	riscv_decode_fault(cause, tval, c->pc, &f);
	bool page_fault = cause == 12 || cause == 13 || cause == 15;
	enum demo_utrap kind = page_fault ? DEMO_UTRAP_FAULT : DEMO_UTRAP_OTHER;
	demo_user_trap(kind, &f);
}
