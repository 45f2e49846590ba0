/* SPDX-License-Identifier: MIT */
/*
 * x86_64 user side of a system call (demo/common/uproc.h): syscall with
 * rax = number, rdi rsi rdx r10 r8 r9 = arguments, result in rax.  The
 * instruction itself overwrites rcx (the return address) and r11
 * (rflags); the kernel keeps every other register.
 */
#ifndef MMKIT_DEMO_X86_64_USYS_H
#define MMKIT_DEMO_X86_64_USYS_H

static inline long usys(long nr, long a0, long a1, long a2, long a3, long a4,
			long a5)
{
	register long r_r10 __asm__("r10") = a3;
	register long r_r8 __asm__("r8") = a4;
	register long r_r9 __asm__("r9") = a5;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r_r10),
			   "r"(r_r8), "r"(r_r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* The entry point: the loader's rsp holds argc, argv ... (Linux's layout);
 * ustart(sp) gets it, on a 16-byte aligned stack as the ABI has it. */
#define USYS_START_ASM                                                         \
	".globl _start\n"                                                      \
	"_start:\n"                                                            \
	"	mov	%rsp, %rdi\n"                                                    \
	"	and	$-16, %rsp\n"                                                    \
	"	call	ustart\n"                                                       \
	"1:	jmp	1b\n"

#endif
