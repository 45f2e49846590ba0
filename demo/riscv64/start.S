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
	la	t0, trap_entry
	csrw	stvec, t0
	call	demo_main
3:	wfi
	j	3b

/*
 * Every trap: save all registers in a frame on the current stack (the
 * demo never traps with a bad sp), let riscv_trap decide, restore, sret.
 * Frame: x0..x31 at 8*i, sepc at 256, scause at 264, stval at 272.
 */
	.text
	.balign 4
trap_entry:
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
