/* SPDX-License-Identifier: MIT */
/*
 * riscv64 entry.  OpenSBI enters here in S-mode with satp = 0, a0 = hartid,
 * a1 = the device tree, no stack.  Clear bss, keep the DTB pointer, install
 * the trap vector, call demo_main.
 */
	.option norvc
	.section .text.boot, "ax"
	.globl _start
_start:
	.option push
	.option norelax
	la	sp, __stack_top
	.option pop
	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	1b
2:	la	t0, riscv_dtb
	sd	a1, 0(t0)
	csrw	sscratch, zero		/* 0: traps come from the kernel */
	la	t0, trap_entry
	csrw	stvec, t0
	call	demo_main
3:	wfi
	j	3b

/*
 * Every trap.  sscratch is 0 while the kernel runs and points at the user
 * save area (riscv_uframe, struct arch_uctx) while U-mode runs: swap it
 * with sp to tell which.
 *
 * From the kernel: save all registers in a frame on the current stack
 * (the demo never traps with a bad sp), let riscv_trap decide, restore,
 * sret.  Frame: x0..x31 at 8*i, sepc at 256, scause at 264, stval at 272.
 */
	.text
	.balign 4
trap_entry:
	csrrw	sp, sscratch, sp
	bnez	sp, from_user
	csrrw	sp, sscratch, sp	/* back: sp as it was, sscratch 0 */
	addi	sp, sp, -288
	sd	x1, 8(sp)
	.irp	n, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	sd	x\n, (8*\n)(sp)
	.endr
	addi	t0, sp, 288
	sd	t0, 16(sp)
	csrr	t0, sepc
	sd	t0, 256(sp)
	csrr	t0, scause
	sd	t0, 264(sp)
	csrr	t0, stval
	sd	t0, 272(sp)
	mv	a0, sp
	call	riscv_trap
	ld	t0, 256(sp)
	csrw	sepc, t0
	ld	x1, 8(sp)
	.irp	n, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ld	x\n, (8*\n)(sp)
	.endr
	addi	sp, sp, 288
	sret

/*
 * From U-mode: sp is the save area, sscratch the user sp.  Save x1..x31
 * and sepc there, set sscratch back to 0, restart on the top of the
 * kernel stack and call riscv_user_trap(scause, stval) (never returns).
 */
from_user:
	sd	x1, 8(sp)
	.irp	n, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	sd	x\n, (8*\n)(sp)
	.endr
	csrr	t0, sscratch
	sd	t0, 16(sp)
	csrw	sscratch, zero
	csrr	t0, sepc
	sd	t0, 256(sp)
	la	sp, __stack_top
	csrr	a0, scause
	csrr	a1, stval
	call	riscv_user_trap
4:	j	4b

/*
 * riscv_enter_user(const struct arch_uctx *c): sret to U-mode with the
 * registers in *c (interrupts stay off: SPIE 0), the save area in
 * sscratch for the next trap.
 */
	.globl riscv_enter_user
riscv_enter_user:
	ld	t0, 256(a0)
	csrw	sepc, t0
	li	t0, (1 << 8) | (1 << 5)	/* SPP = U, SPIE = 0 */
	csrc	sstatus, t0
	la	t0, riscv_uframe
	csrw	sscratch, t0
	ld	x1, 8(a0)
	.irp	n, 2,3,4,5,6,7,8,9,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ld	x\n, (8*\n)(a0)
	.endr
	ld	a0, 80(a0)
	sret

/* Probes: one access each, resumed after by the exception table. */
	.globl demo_probe_read, demo_probe_write, demo_probe_exec
demo_probe_read:
10:	ld	a0, 0(a0)
11:	ret
demo_probe_write:
12:	sd	a1, 0(a0)
13:	ret
demo_probe_exec:
	addi	sp, sp, -16
	sd	ra, 8(sp)
	jalr	a0
	ld	ra, 8(sp)
	addi	sp, sp, 16
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
demo_ret_insn_end:
	.balign 8
demo_ret_insn_size:
	.quad	demo_ret_insn_end - demo_ret_insn

	.section .bss.stack, "aw", @nobits
	.balign 16
	.space	32768
	.globl __stack_top
__stack_top:
