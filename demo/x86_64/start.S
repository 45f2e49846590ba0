/* SPDX-License-Identifier: MIT */
/*
 * x86_64 entry through the PVH ELF note: QEMU (pvh.bin) enters pvh_start
 * in 32-bit protected mode, paging off, EBX = hvm_start_info.  Clear bss,
 * identity-map the first GiB with 2 MiB pages, enable PAE, long mode, NX
 * and CR0.WP (so supervisor writes honour read-only pages), load our GDT,
 * jump to 64-bit code, call demo_main.  mmkit's own table replaces these
 * boot tables later.
 */
	.section .note.pvh, "a", @note
	.balign	4
	.long	4		/* name size: "Xen\0" */
	.long	8		/* descriptor size */
	.long	18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz	"Xen"
	.balign	4
	.quad	pvh_start
	.balign	4

	.section .text.boot, "ax"
	.code32
	.globl	pvh_start
pvh_start:
	cli
	cld
	mov	$__bss_start, %edi
	mov	$__bss_end, %ecx
	sub	%edi, %ecx
	xor	%eax, %eax
	rep stosb
	mov	%ebx, x86_start_info
	mov	$__stack_top, %esp

	/* boot_pml4[0] -> boot_pdpt, boot_pdpt[0] -> boot_pd: 512 x 2 MiB. */
	mov	$boot_pdpt, %eax
	or	$0x3, %eax
	mov	%eax, boot_pml4
	mov	$boot_pd, %eax
	or	$0x3, %eax
	mov	%eax, boot_pdpt
	mov	$boot_pd, %edi
	mov	$0x83, %eax		/* P | RW | PS */
	mov	$512, %ecx
1:	mov	%eax, (%edi)
	add	$0x200000, %eax
	add	$8, %edi
	loop	1b

	mov	%cr4, %eax
	or	$(1 << 5), %eax		/* PAE */
	mov	%eax, %cr4
	mov	$boot_pml4, %eax
	mov	%eax, %cr3
	mov	$0xc0000080, %ecx	/* EFER */
	rdmsr
	or	$((1 << 8) | (1 << 11)), %eax	/* LME, NXE */
	wrmsr
	mov	%cr0, %eax
	or	$((1 << 31) | (1 << 16)), %eax	/* PG, WP */
	mov	%eax, %cr0
	lgdt	gdt_ptr
	ljmp	$0x08, $long_entry

	.code64
long_entry:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%ax, %fs
	mov	%ax, %gs
	mov	$__stack_top, %rsp
	call	demo_main
2:	hlt
	jmp	2b

/*
 * Exception stubs for vectors 0..31: push a dummy error code where the CPU
 * pushes none, then the vector, then every GPR, and call x86_trap with the
 * frame (see struct x86_frame in arch.c).
 */
	.macro	stub v
	.balign	16
	.if (\v == 8 || \v == 10 || \v == 11 || \v == 12 || \v == 13 || \v == 14 || \v == 17 || \v == 21 || \v == 29 || \v == 30)
	push	$\v
	.else
	push	$0
	push	$\v
	.endif
	jmp	trap_common
	.endm

	.balign	16
	.globl	x86_trap_stubs
x86_trap_stubs:
	.irp	v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	stub	\v
	.endr

trap_common:
	cld			/* user mode may have left DF set */
	push	%rax
	push	%rbx
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%rbp
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, %rdi
	call	x86_trap
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rbp
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rbx
	pop	%rax
	add	$16, %rsp
	iretq

/*
 * The syscall instruction from ring 3 (LSTAR): rcx = the user rip after
 * it, r11 = the user rflags, rsp still the user's.  Build on the top of
 * the user-trap stack the frame an exception from ring 3 would have
 * (ss, rsp, rflags, cs, rip, error 0) with vector X86_VEC_SYSCALL and go
 * on as for an exception: x86_trap sees it came from ring 3.  Interrupts
 * stay off throughout (FMASK clears IF anyway).
 */
	.equ	X86_VEC_SYSCALL, 0x100
	.equ	USER_CS, 0x23
	.equ	USER_SS, 0x1b

	.globl	x86_syscall_entry
x86_syscall_entry:
	mov	%rsp, x86_user_rsp
	mov	$x86_ustack_top, %rsp
	push	$USER_SS
	push	x86_user_rsp
	push	%r11
	push	$USER_CS
	push	%rcx
	push	$0
	push	$X86_VEC_SYSCALL
	jmp	trap_common

/*
 * x86_enter_user(const struct arch_uctx *c) (arch_uctx.h): restart on the
 * top of the user-trap stack and iretq to ring 3 with every register from
 * *c.  iretq and not sysretq: it restores rcx and r11 too (a process
 * resumed after a page fault needs them) and never returns to a
 * non-canonical rip in ring 0.
 */
	.equ	UCTX_RDI, 72
	.equ	UCTX_RIP, 120
	.equ	UCTX_RFLAGS, 128
	.equ	UCTX_RSP, 136

	.globl	x86_enter_user
x86_enter_user:
	mov	$x86_ustack_top, %rsp
	push	$USER_SS
	push	UCTX_RSP(%rdi)
	push	UCTX_RFLAGS(%rdi)
	push	$USER_CS
	push	UCTX_RIP(%rdi)
	mov	0(%rdi), %r15
	mov	8(%rdi), %r14
	mov	16(%rdi), %r13
	mov	24(%rdi), %r12
	mov	32(%rdi), %r11
	mov	40(%rdi), %r10
	mov	48(%rdi), %r9
	mov	56(%rdi), %r8
	mov	64(%rdi), %rbp
	mov	80(%rdi), %rsi
	mov	88(%rdi), %rdx
	mov	96(%rdi), %rcx
	mov	104(%rdi), %rbx
	mov	112(%rdi), %rax
	mov	UCTX_RDI(%rdi), %rdi
	iretq

/* Probes: one access each, resumed after by the exception table. */
	.globl demo_probe_read, demo_probe_write, demo_probe_exec
demo_probe_read:
10:	mov	(%rdi), %rax
11:	ret
demo_probe_write:
12:	mov	%rsi, (%rdi)
13:	ret
demo_probe_exec:
	sub	$8, %rsp
	call	*%rdi
	add	$8, %rsp
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
	.quad	1

	/* The GDT is written by the CPU (accessed bits): keep it in .data. */
	.data
	.balign	16
	.globl	x86_gdt
x86_gdt:
gdt:
	.quad	0
	.quad	0x00af9b000000ffff	/* 0x08: 64-bit code, accessed */
	.quad	0x00cf93000000ffff	/* 0x10: data, accessed */
	/* User segments in the order sysret wants (STAR[63:48] = 0x10):
	 * data at 0x18, code at 0x20; syscall (STAR[47:32] = 0x08) loads
	 * 0x08 / 0x10. */
	.quad	0x00cff3000000ffff	/* 0x18: user data, DPL 3 */
	.quad	0x00affb000000ffff	/* 0x20: user 64-bit code, DPL 3 */
	.quad	0, 0			/* 0x28: the TSS, filled by user.c */
gdt_end:
	.balign	8
gdt_ptr:
	.word	gdt_end - gdt - 1
	.quad	gdt

	.section .bss.boot, "aw", @nobits
	.balign	4096
boot_pml4:
	.space	4096
boot_pdpt:
	.space	4096
boot_pd:
	.space	4096
	.globl	x86_start_info
	.balign	8
x86_start_info:
	.space	8

	.balign	8
x86_user_rsp:			/* the user rsp while syscall entry runs */
	.space	8

	/* Traps from ring 3 (TSS rsp0 and the syscall entry) start here. */
	.section .bss.ustack, "aw", @nobits
	.balign	4096
	.space	16384
	.globl	x86_ustack_top
x86_ustack_top:

	.section .bss.stack, "aw", @nobits
	.balign 16
	.space	32768
	.globl __stack_top
__stack_top:
