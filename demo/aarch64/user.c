/* SPDX-License-Identifier: MIT */
/*
 * aarch64 EL0 (demo/common/uproc.h).  A process runs at EL0t on its own
 * TTBR0 table (with its ASID); the kernel space stays in TTBR1.  Traps
 * from EL0 enter at VBAR_EL1 + 0x400 (synchronous) .. 0x780 (start.S
 * vectors 8-15) on SP_EL1, which aarch64_enter_user resets to the top of
 * the kernel stack each time; start.S saves the user registers in a frame
 * there whose first part is a struct arch_uctx and calls
 * aarch64_user_trap, which sorts the trap by ESR_EL1.EC:
 *
 *   0x15  SVC from AArch64               DEMO_UTRAP_SYSCALL (ELR is past it)
 *   0x20  instruction abort, lower EL    DEMO_UTRAP_FAULT, DEMO_EXEC
 *   0x24  data abort, lower EL           DEMO_UTRAP_FAULT, ISS.WnR: write
 *                                        or read; address from FAR_EL1
 *   anything else (undefined instruction, alignment, FP/SIMD use, IRQ,
 *   SError, aborts that are not translation / access-flag / permission
 *   faults)                              DEMO_UTRAP_OTHER
 */
#include "uproc.h"

/* start.S: the frame a trap from EL0 leaves on the kernel stack. */
struct aarch64_uframe {
	struct arch_uctx c;
	uint64_t esr, far;
};
_Static_assert(sizeof(struct arch_uctx) == 34 * 8,
	       "start.S knows the layout of struct arch_uctx");

_Noreturn void aarch64_user_trap(const struct aarch64_uframe *tf,
				 uint64_t vector);
_Noreturn void aarch64_enter_user(const struct arch_uctx *c);
void aarch64_kspace_load(void); /* arch.c */

#define SCTLR_UMA  (1ull << 9)	/* EL0 may write DAIF */
#define SCTLR_NTWI (1ull << 16) /* EL0 WFI not trapped */
#define SCTLR_NTWE (1ull << 18) /* EL0 WFE not trapped */
#define SCTLR_UCI  (1ull << 26) /* EL0 cache maintenance */

void arch_user_init(void)
{
	/* EL0 gets no cache maintenance, no DAIF, and WFI / WFE trap (a
	 * process cannot stop the only CPU).  FP/SIMD off at EL1 and EL0
	 * (CPACR_EL1.FPEN = 0: a use traps, EC 0x07): the kernel does not
	 * save those registers; user code is built -mgeneral-regs-only. */
	/* The kernel space (a TTBR1 table) into TTBR1_EL1, its walks on
	 * (mmk_hal_write_root would do it at the first switch as well). */
	aarch64_kspace_load();
	uint64_t sctlr, cpacr;
	__asm__ volatile("mrs %0, sctlr_el1\n\tmrs %1, cpacr_el1"
			 : "=r"(sctlr), "=r"(cpacr));
	sctlr &= ~(SCTLR_UMA | SCTLR_NTWI | SCTLR_NTWE | SCTLR_UCI);
	cpacr &= ~(3ull << 20);
	__asm__ volatile("msr sctlr_el1, %0\n\t"
			 "msr cpacr_el1, %1\n\t"
			 "isb" ::"r"(sctlr),
			 "r"(cpacr)
			 : "memory");
}

void arch_uctx_init(struct arch_uctx *c, uint64_t entry, uint64_t sp)
{
	memset(c, 0, sizeof(*c));
	c->pc = entry;
	c->sp = sp;
	c->pstate = 0; /* EL0t, AArch64, DAIF clear */
}

uint64_t arch_uctx_sysno(const struct arch_uctx *c)
{
	return c->x[8];
}

uint64_t arch_uctx_arg(const struct arch_uctx *c, unsigned i)
{
	return i < 6 ? c->x[i] : 0;
}

void arch_uctx_set_ret(struct arch_uctx *c, uint64_t v)
{
	c->x[0] = v;
}

uint64_t arch_uctx_pc(const struct arch_uctx *c)
{
	return c->pc;
}

_Noreturn void arch_enter_user(const struct arch_uctx *c)
{
	aarch64_enter_user(c);
}

static const char *ec_name(uint64_t ec)
{
	switch (ec) {
	case 0x00:
		return "undefined instruction";
	case 0x01:
		return "WFI/WFE";
	case 0x07:
		return "FP/SIMD access";
	case 0x0e:
		return "illegal execution state";
	case 0x18:
		return "system register access";
	case 0x22:
		return "pc alignment fault";
	case 0x26:
		return "sp alignment fault";
	case 0x2c:
		return "FP exception";
	case 0x30:
	case 0x32:
	case 0x34:
		return "debug exception";
	case 0x3c:
		return "breakpoint (BRK)";
	default:
		return "exception";
	}
}

/* An abort's fault status code (ISS.DFSC / IFSC): the three kinds the
 * address space resolves or refuses, or NULL for the others. */
static const char *fsc_name(uint64_t fsc)
{
	switch (fsc & 0x3c) {
	case 0x04:
		return "translation fault";
	case 0x08:
		return "access flag fault";
	case 0x0c:
		return "permission fault";
	default:
		return NULL;
	}
}

_Noreturn void aarch64_user_trap(const struct aarch64_uframe *tf,
				 uint64_t vector)
{
	struct arch_uctx *c = demo_user_ctx();
	*c = tf->c;
	uint64_t ec = tf->esr >> 26 & 0x3f, fsc = tf->esr & 0x3f;
	struct demo_fault f = {
		.access = DEMO_OTHER,
		.addr = c->pc,
		.pc = c->pc,
		.cause = tf->esr,
		.what = ec_name(ec),
	};
	if (vector != 8) { /* IRQ, FIQ, SError, or from AArch32 */
		static const char *const names[4] = {"IRQ", "FIQ", "SError",
						     "AArch32 exception"};
		f.what = names[vector < 12 ? vector - 8 : 3];
		f.cause = vector << 32 | tf->esr;
		demo_user_trap(DEMO_UTRAP_OTHER, &f);
	}
	if (ec == 0x15) /* SVC #imm from AArch64 */
		demo_user_trap(DEMO_UTRAP_SYSCALL, NULL);
	if (ec == 0x20 || ec == 0x24 || ec == 0x22)
		f.addr = tf->far;
	if (ec == 0x24 && (tf->esr >> 10 & 1)) /* ISS.FnV: FAR not valid */
		f.addr = 0;
	if (ec == 0x20 || ec == 0x24) {
		const char *kind = fsc_name(fsc);
		f.access = ec == 0x20		? DEMO_EXEC
			   : (tf->esr >> 6 & 1) ? DEMO_WRITE
						: DEMO_READ;
		if (kind) {
			f.what = kind;
			demo_user_trap(DEMO_UTRAP_FAULT, &f);
		}
		f.what = fsc == 0x21 ? "alignment fault" : "abort";
	}
	demo_user_trap(DEMO_UTRAP_OTHER, &f);
}
