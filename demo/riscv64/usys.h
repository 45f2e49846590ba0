/* SPDX-License-Identifier: MIT */
/*
 * riscv64 user side of a system call (demo/common/uproc.h): ecall with
 * a7 = number, a0..a5 = arguments, result in a0.
 */
#ifndef MMKIT_DEMO_RISCV64_USYS_H
#define MMKIT_DEMO_RISCV64_USYS_H

static inline long usys(long nr, long a0, long a1, long a2, long a3, long a4,
			long a5)
{
	register long r_a7 __asm__("a7") = nr;
	register long r_a0 __asm__("a0") = a0;
	register long r_a1 __asm__("a1") = a1;
	register long r_a2 __asm__("a2") = a2;
	register long r_a3 __asm__("a3") = a3;
	register long r_a4 __asm__("a4") = a4;
	register long r_a5 __asm__("a5") = a5;
	__asm__ volatile("ecall"
			 : "+r"(r_a0)
			 : "r"(r_a7), "r"(r_a1), "r"(r_a2), "r"(r_a3),
			   "r"(r_a4), "r"(r_a5)
			 : "memory");
	return r_a0;
}

/* The entry point: the loader's sp holds argc, argv ... (Linux's layout). */
#define USYS_START_ASM                                                         \
	".globl _start\n"                                                      \
	"_start:\n"                                                            \
	"	mv	a0, sp\n"                                                         \
	"	andi	sp, sp, -16\n"                                                  \
	"	call	ustart\n"                                                       \
	"1:	j	1b\n"

#endif
