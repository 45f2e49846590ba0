/* SPDX-License-Identifier: MIT */
/*
 * aarch64 entry.  QEMU's virt loader enters at EL1h with the MMU and caches
 * off, x0 = 0 (no DTB pointer: the DTB sits at the base of RAM, below our
 * link address 0x4020_0000).  Set a stack, clear bss, install the vectors,
 * call demo_main.
 */
	.section .text.boot, "ax"
	.globl _start
_start:
	ldr	x9, =__stack_top
	mov	sp, x9
	ldr	x9, =__bss_start
	ldr	x10, =__bss_end
1:	cmp	x9, x10
	b.hs	2f
	str	xzr, [x9], #8
	b	1b
2:	ldr	x9, =vectors
	msr	vbar_el1, x9
	isb
	bl	demo_main
3:	wfi
	b	3b
	.ltorg

/*
 * Vectors: every entry saves x0/x1, puts its index in x1 and joins
 * trap_common, which saves the rest in a frame on the current stack:
 * x0..x30 at 8*i, sp at 248, elr 256, spsr 264, esr 272, far 280.
 * Indices 0-3 come from EL1 with SP_EL0 (never used), 4-7 from EL1 with
 * SP_EL1 (the kernel), 8-15 from EL0 (AArch64, then AArch32): those run
 * on SP_EL1, which aarch64_enter_user left at the top of the kernel
 * stack, save SP_EL0 as the frame's sp (the frame's first 34 words are a
 * struct arch_uctx) and go to aarch64_user_trap, which never returns.
 */
	.text
	.macro	ventry idx
	.balign	0x80
	sub	sp, sp, #288
	stp	x0, x1, [sp, #0]
	mov	x1, #\idx
	b	trap_common
	.endm

	.balign	2048
vectors:
	.irp	i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	ventry	\i
	.endr

trap_common:
	stp	x2, x3, [sp, #16]
	stp	x4, x5, [sp, #32]
	stp	x6, x7, [sp, #48]
	stp	x8, x9, [sp, #64]
	stp	x10, x11, [sp, #80]
	stp	x12, x13, [sp, #96]
	stp	x14, x15, [sp, #112]
	stp	x16, x17, [sp, #128]
	stp	x18, x19, [sp, #144]
	stp	x20, x21, [sp, #160]
	stp	x22, x23, [sp, #176]
	stp	x24, x25, [sp, #192]
	stp	x26, x27, [sp, #208]
	stp	x28, x29, [sp, #224]
	cmp	x1, #8
	b.hs	from_user
	add	x2, sp, #288
	stp	x30, x2, [sp, #240]
	mrs	x2, elr_el1
	mrs	x3, spsr_el1
	stp	x2, x3, [sp, #256]
	mrs	x2, esr_el1
	mrs	x3, far_el1
	stp	x2, x3, [sp, #272]
	mov	x0, sp
	bl	aarch64_trap
	ldp	x2, x3, [sp, #256]
	msr	elr_el1, x2
	msr	spsr_el1, x3
	ldp	x0, x1, [sp, #0]
	ldp	x2, x3, [sp, #16]
	ldp	x4, x5, [sp, #32]
	ldp	x6, x7, [sp, #48]
	ldp	x8, x9, [sp, #64]
	ldp	x10, x11, [sp, #80]
	ldp	x12, x13, [sp, #96]
	ldp	x14, x15, [sp, #112]
	ldp	x16, x17, [sp, #128]
	ldp	x18, x19, [sp, #144]
	ldp	x20, x21, [sp, #160]
	ldp	x22, x23, [sp, #176]
	ldp	x24, x25, [sp, #192]
	ldp	x26, x27, [sp, #208]
	ldp	x28, x29, [sp, #224]
	ldr	x30, [sp, #240]
	add	sp, sp, #288
	eret

from_user:
	mrs	x2, sp_el0
	stp	x30, x2, [sp, #240]
	mrs	x2, elr_el1
	mrs	x3, spsr_el1
	stp	x2, x3, [sp, #256]
	mrs	x2, esr_el1
	mrs	x3, far_el1
	stp	x2, x3, [sp, #272]
	mov	x0, sp
	mov	x29, xzr		/* the kernel's call chain starts here */
	bl	aarch64_user_trap
4:	b	4b

/*
 * aarch64_enter_user(const struct arch_uctx *c): eret to EL0t with the
 * registers in *c, SP_EL1 back at the top of the kernel stack for the
 * next trap from EL0.  Only NZCV of the saved PSTATE is kept: EL0t,
 * AArch64, interrupts unmasked (the demo enables no interrupt source).
 */
	.globl aarch64_enter_user
aarch64_enter_user:
	ldr	x9, =__stack_top
	mov	sp, x9
	ldp	x9, x10, [x0, #248]
	ldr	x11, [x0, #264]
	and	x11, x11, #0xf0000000
	msr	sp_el0, x9
	msr	elr_el1, x10
	msr	spsr_el1, x11
	clrex				/* no exclusive reservation crosses */
	mov	x30, x0
	ldp	x0, x1, [x30, #0]
	ldp	x2, x3, [x30, #16]
	ldp	x4, x5, [x30, #32]
	ldp	x6, x7, [x30, #48]
	ldp	x8, x9, [x30, #64]
	ldp	x10, x11, [x30, #80]
	ldp	x12, x13, [x30, #96]
	ldp	x14, x15, [x30, #112]
	ldp	x16, x17, [x30, #128]
	ldp	x18, x19, [x30, #144]
	ldp	x20, x21, [x30, #160]
	ldp	x22, x23, [x30, #176]
	ldp	x24, x25, [x30, #192]
	ldp	x26, x27, [x30, #208]
	ldp	x28, x29, [x30, #224]
	ldr	x30, [x30, #240]
	eret
	dsb	nsh			/* no speculation past the eret */
	isb
	.ltorg

/* Probes: one access each, resumed after by the exception table. */
	.globl demo_probe_read, demo_probe_write, demo_probe_exec
demo_probe_read:
10:	ldr	x0, [x0]
11:	ret
demo_probe_write:
12:	str	x1, [x0]
13:	ret
demo_probe_exec:
	stp	x29, x30, [sp, #-16]!
	blr	x0
	ldp	x29, x30, [sp], #16
	ret

	.section .extable, "a"
	.balign 8
	.quad	10b, 11b
	.quad	12b, 13b

	.section .rodata
	.globl demo_ret_insn, demo_ret_insn_size
	.balign 8
demo_ret_insn:
	ret
	.balign 8
demo_ret_insn_size:
	.quad	4

	.section .bss.stack, "aw", @nobits
	.balign 16
	.space	32768
	.globl __stack_top
__stack_top:
