/* SPDX-License-Identifier: MIT */
/*
 * aarch64 user side of a system call (demo/common/uproc.h): svc #0 with
 * x8 = number, x0..x5 = arguments, result in x0.
 */
#ifndef MMKIT_DEMO_AARCH64_USYS_H
#define MMKIT_DEMO_AARCH64_USYS_H

static inline long usys(long nr, long a0, long a1, long a2, long a3, long a4,
			long a5)
{
	register long r_x8 __asm__("x8") = nr;
	register long r_x0 __asm__("x0") = a0;
	register long r_x1 __asm__("x1") = a1;
	register long r_x2 __asm__("x2") = a2;
	register long r_x3 __asm__("x3") = a3;
	register long r_x4 __asm__("x4") = a4;
	register long r_x5 __asm__("x5") = a5;
	__asm__ volatile("svc #0"
			 : "+r"(r_x0)
			 : "r"(r_x8), "r"(r_x1), "r"(r_x2), "r"(r_x3),
			   "r"(r_x4), "r"(r_x5)
			 : "memory");
	return r_x0;
}

/* The entry point: the loader's sp holds argc, argv ... (Linux's layout);
 * ustart gets that pointer, on a 16-byte aligned stack. */
#define USYS_START_ASM                                                         \
	".globl _start\n"                                                      \
	"_start:\n"                                                            \
	"	mov	x0, sp\n"                                                        \
	"	and	sp, x0, #-16\n"                                                  \
	"	mov	x29, xzr\n"                                                      \
	"	mov	x30, xzr\n"                                                      \
	"	bl	ustart\n"                                                         \
	"1:	b	1b\n"

#endif
