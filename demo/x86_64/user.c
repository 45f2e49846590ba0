/* SPDX-License-Identifier: MIT */
/*
 * x86_64 ring 3 for the user processes (demo/common/uproc.h).
 *
 * GDT (start.S): 0x08 kernel code, 0x10 kernel data, 0x18 user data,
 * 0x20 user code, 0x28 the TSS, whose rsp0 is the top of the user-trap
 * stack (x86_ustack_top): an exception from ring 3 starts there.  The
 * syscall instruction (EFER.SCE; STAR, LSTAR, FMASK) enters
 * x86_syscall_entry, which switches to the same stack and builds the same
 * frame as an exception; both end in x86_user_trap.  The way back is
 * always iretq (x86_enter_user), never sysretq.
 *
 * User code runs with interrupts off (IF 0, IOPL 0: cli, sti, in, out and
 * hlt are #GP in ring 3): scheduling is cooperative, and the PIC that
 * SeaBIOS left programmed would deliver the PIT's IRQ 0 on vector 8.
 */
#include "checks.h"
#include "uproc.h"
#include "x86.h"

#define MSR_EFER  0xc0000080u
#define MSR_STAR  0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_FMASK 0xc0000084u
#define EFER_SCE  (1u << 0)

#define KERNEL_CS 0x08
#define USER_BASE 0x10 /* STAR[63:48]: sysret's ss = +8, cs = +16 */
#define TSS_SEL	  0x28

/* rflags bits ring 3 keeps from its saved context (arithmetic flags,
 * DF, AC, ID); bit 1 always reads 1.  IF, TF, IOPL, NT never pass. */
#define RFLAGS_USER (0x0cd5u | (1u << 18) | (1u << 21))
#define RFLAGS_ONE  0x2u
/* Cleared on syscall entry: TF, IF, DF, IOPL, NT, AC. */
#define FMASK_BITS 0x47700u

extern uint64_t x86_gdt[];
extern char x86_ustack_top[], x86_syscall_entry[];
_Noreturn void x86_enter_user(const struct arch_uctx *c);

struct __attribute__((packed)) x86_tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3, iomap;
};

static struct x86_tss tss __attribute__((aligned(16)));
static bool smap; /* CR4.SMAP set: kernel accesses to user pages trap */

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v),
			 "d"((uint32_t)(v >> 32)));
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static void cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(0));
}

#define CPUID7_EBX_SMEP (1u << 7)
#define CPUID7_EBX_SMAP (1u << 20)
#define CR4_SMEP	(1ull << 20)
#define CR4_SMAP	(1ull << 21)

void arch_user_init(void)
{
	/* SMEP (no kernel fetch from user pages) and SMAP (no kernel
	 * access to them: mmkit reaches user memory through the frames,
	 * never through the user address) where the CPU has them. */
	uint32_t r[4];
	cpuid(0, r);
	if (r[0] >= 7) {
		cpuid(7, r);
		uint64_t cr4;
		__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
		if (r[1] & CPUID7_EBX_SMEP)
			cr4 |= CR4_SMEP;
		if (r[1] & CPUID7_EBX_SMAP)
			cr4 |= CR4_SMAP;
		__asm__ volatile("mov %0, %%cr4" ::"r"(cr4) : "memory");
		smap = (cr4 & CR4_SMAP) != 0;
		demo_printf("mmkit info: x86_64: SMEP %s, SMAP %s\n",
			    cr4 & CR4_SMEP ? "on" : "off (not in this CPU)",
			    smap ? "on" : "off (not in this CPU)");
	}

	tss = (struct x86_tss){
		.rsp = {(uintptr_t)x86_ustack_top},
		.iomap = sizeof(tss), /* no I/O bitmap: every port #GPs */
	};
	/* 64-bit TSS descriptor: present, DPL 0, type 9 (available). */
	uint64_t base = (uintptr_t)&tss, limit = sizeof(tss) - 1;
	x86_gdt[TSS_SEL / 8] = (limit & 0xffff) | (base & 0xffffff) << 16 |
			       (uint64_t)0x89 << 40 |
			       ((limit >> 16) & 0xf) << 48 |
			       ((base >> 24) & 0xff) << 56;
	x86_gdt[TSS_SEL / 8 + 1] = base >> 32;
	__asm__ volatile("ltr %w0" ::"r"(TSS_SEL) : "memory");

	wrmsr(MSR_STAR, (uint64_t)USER_BASE << 48 | (uint64_t)KERNEL_CS << 32);
	wrmsr(MSR_LSTAR, (uintptr_t)x86_syscall_entry);
	wrmsr(MSR_FMASK, FMASK_BITS);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
}

void arch_uctx_init(struct arch_uctx *c, uint64_t entry, uint64_t sp)
{
	*c = (struct arch_uctx){.rip = entry, .rsp = sp, .rflags = RFLAGS_ONE};
}

uint64_t arch_uctx_sysno(const struct arch_uctx *c)
{
	return c->rax;
}

uint64_t arch_uctx_arg(const struct arch_uctx *c, unsigned i)
{
	switch (i) {
	case 0:
		return c->rdi;
	case 1:
		return c->rsi;
	case 2:
		return c->rdx;
	case 3:
		return c->r10;
	case 4:
		return c->r8;
	case 5:
		return c->r9;
	default:
		return 0;
	}
}

void arch_uctx_set_ret(struct arch_uctx *c, uint64_t v)
{
	c->rax = v;
}

uint64_t arch_uctx_pc(const struct arch_uctx *c)
{
	return c->rip;
}

static bool canonical(uint64_t va)
{
	return (uint64_t)((int64_t)(va << 16) >> 16) == va;
}

_Noreturn void arch_enter_user(const struct arch_uctx *c)
{
	/* A copy outside the stack x86_enter_user restarts. */
	static struct arch_uctx resume;
	resume = *c;
	resume.rflags = (resume.rflags & RFLAGS_USER) | RFLAGS_ONE;
	if (!canonical(resume.rip)) {
		/* iretq would #GP in ring 0: the process's fault instead. */
		struct demo_fault f = {
			.access = DEMO_EXEC,
			.addr = resume.rip,
			.pc = resume.rip,
			.cause = 13ull << 32,
			.what = "non-canonical user rip",
		};
		*demo_user_ctx() = resume;
		demo_user_trap(DEMO_UTRAP_OTHER, &f);
	}
	x86_enter_user(&resume);
}

_Noreturn void x86_user_trap(const struct x86_frame *tf,
			     const struct demo_fault *f)
{
	struct arch_uctx *c = demo_user_ctx();
	*c = (struct arch_uctx){
		.r15 = tf->r15,
		.r14 = tf->r14,
		.r13 = tf->r13,
		.r12 = tf->r12,
		.r11 = tf->r11,
		.r10 = tf->r10,
		.r9 = tf->r9,
		.r8 = tf->r8,
		.rbp = tf->rbp,
		.rdi = tf->rdi,
		.rsi = tf->rsi,
		.rdx = tf->rdx,
		.rcx = tf->rcx,
		.rbx = tf->rbx,
		.rax = tf->rax,
		.rip = tf->rip,
		.rflags = tf->rflags,
		.rsp = tf->rsp,
	};
	if (!f) {
		static bool smap_seen;
		if (smap && !smap_seen) {
			/* Once: a kernel read of the caller's stack (a user
			 * page it has just written) must trap. */
			unsigned long n = demo_ts.faults;
			(void)demo_probe_read(
				(const volatile void *)(uintptr_t)(tf->rsp &
								   ~7ull));
			if (demo_ts.faults == n)
				demo_fail(
					"SMAP is on, yet a kernel read of user "
					"page %#llx did not trap",
					(unsigned long long)tf->rsp);
			demo_printf(
				"mmkit info: x86_64: SMAP: a kernel read of "
				"user page %#llx trapped (%s)\n",
				(unsigned long long)tf->rsp, demo_ts.last.what);
			smap_seen = true;
		}
		demo_user_trap(DEMO_UTRAP_SYSCALL, NULL);
	}
	demo_user_trap(tf->vector == 14 ? DEMO_UTRAP_FAULT : DEMO_UTRAP_OTHER,
		       f);
}
