/* SPDX-License-Identifier: MIT */
/*
 * loongarch64 entry.  QEMU's virt machine loads the ELF itself (no
 * firmware) and starts at the entry in direct-address mode (CRMD.DA=1,
 * PG=0), so the kernel is linked at VA == PA (2 MiB) and keeps running at
 * the same addresses once mmkit's table is on: the page table maps the
 * kernel image where it already is.  Clear bss, install the general
 * exception entry and the TLB refill entry, call demo_main.
 */
#define CSR_PRMD      0x1
#define CSR_ESTAT     0x5
#define CSR_BADI      0x8
#define CSR_ERA       0x6
#define CSR_BADV      0x7
#define CSR_EENTRY    0xc
#define CSR_PGD       0x1b
#define CSR_TLBRENTRY 0x88
#define CSR_TLBRBADV  0x89
#define CSR_TLBRERA   0x8a
#define CSR_TLBRSAVE  0x8b
#define CSR_TLBRELO0  0x8c
#define CSR_TLBRELO1  0x8d
#define CSR_TLBRPRMD  0x8f
#define CSR_SAVE1     0x31
#define CSR_SAVE2     0x32
#define CSR_ASID      0x18

#include "la_asid.h"

	.section .text.boot, "ax"
	.globl	_start
_start:
	la.pcrel $sp, __stack_top
	la.pcrel $t0, __bss_start
	la.pcrel $t1, __bss_end
1:	bgeu	$t0, $t1, 2f
	st.d	$zero, $t0, 0
	addi.d	$t0, $t0, 8
	b	1b
2:	li.d	$t0, LA_DMW0
	csrwr	$t0, CSR_DMW0
	la.pcrel $t0, trap_entry
	lu52i.d	$t0, $t0, LA_DMW_HI12	/* its DMW0 alias (la_asid.h) */
	csrwr	$t0, CSR_EENTRY
	la.pcrel $t0, tlb_refill
	csrwr	$t0, CSR_TLBRENTRY
	bl	demo_main
3:	idle	0
	b	3b

/*
 * TLB refill: entered in direct-address mode at TLBRENTRY (a physical
 * address) on a TLB miss of a mapped address.  Walks mmkit's 16 KiB,
 * 3-level table with the hardware helpers: PGD (the root for the faulting
 * half) -> lddir 3 (the root level, Dir3 in PWCH) -> lddir 1 (returns a
 * huge entry as is) -> ldpte for the even and odd page -> tlbfill, as
 * Linux does for 3 levels.  PWCL/PWCH give the geometry (arch.c);
 * directory entries hold physical addresses and unused ones point at
 * mmkit's all-invalid tables, so no checks are needed here.
 *
 * QEMU up to at least 10.0 masks the PTE to the physical-address width in
 * LDPTE, dropping NR/NX/RPLV (bits 61-63; REFERENCES.md 4c), so after
 * ldpte the handler reads the even/odd PTEs itself and ORs those bits back
 * into TLBRELO0/1 (a no-op where LDPTE is right).  A huge entry reaches
 * ldpte already masked by lddir and is filled as LDPTE leaves it.
 *
 * QEMU (7.2, 10.0) also hangs on a PNX or a fetch PPI: raising either
 * re-reads the instruction at the faulting pc for BADI, which faults
 * again, forever (REFERENCES.md 4c); a PIF does not read BADI.  So a
 * refill for a fetch (TLBRBADV is the pc in TLBRERA) of a page the
 * fetch may not use (NX, or a PLV below the one fetching) fills that
 * half invalid (V = 0): the retried fetch takes a PIF with BADV = pc,
 * which the kernel resolves through mmkit like any fault (for a process:
 * refused, the process killed).  The entry stays invalid in the TLB: the
 * user trap path drops the pair when the page table has the page
 * (user.c).  A fetch that hits a valid NX entry already in the TLB (the
 * page's data touched earlier under the same ASID) still hangs QEMU;
 * user.c keeps the kernel's pages out of a process's ASID.
 */
	.macro	NOFETCH elo
	csrrd	$t0, \elo
	srli.d	$t1, $t0, 62
	andi	$t1, $t1, 1		/* NX */
	bnez	$t1, 5f
	csrrd	$t1, CSR_TLBRPRMD
	andi	$t1, $t1, 3		/* the PLV that fetched */
	srli.d	$t2, $t0, 2
	andi	$t2, $t2, 3		/* the page's PLV */
	bgeu	$t2, $t1, 6f		/* allowed (RPLV 0: PLV <= page's) */
5:	bstrins.d $t0, $zero, 0, 0	/* V = 0 */
	csrwr	$t0, \elo
6:
	.endm

	.text
	.balign	4096
	.globl	tlb_refill
tlb_refill:
	csrwr	$t0, CSR_TLBRSAVE
	csrwr	$t1, CSR_SAVE1
	csrwr	$t2, CSR_SAVE2
	csrrd	$t0, CSR_PGD
	lddir	$t0, $t0, 3
	lddir	$t0, $t0, 1
	andi	$t1, $t0, 0x40		/* H: a huge entry */
	ldpte	$t0, 0
	ldpte	$t0, 1
	bnez	$t1, 1f
	csrrd	$t1, CSR_TLBRBADV
	srli.d	$t1, $t1, 15		/* (va >> 14) >> 1: the even/odd pair */
	andi	$t1, $t1, 0x3ff
	slli.d	$t1, $t1, 4
	add.d	$t1, $t1, $t0		/* physical address of the even PTE */
	ld.d	$t2, $t1, 0
	srli.d	$t2, $t2, 61
	slli.d	$t2, $t2, 61
	csrrd	$t0, CSR_TLBRELO0
	or	$t0, $t0, $t2
	csrwr	$t0, CSR_TLBRELO0
	ld.d	$t2, $t1, 8
	srli.d	$t2, $t2, 61
	slli.d	$t2, $t2, 61
	csrrd	$t0, CSR_TLBRELO1
	or	$t0, $t0, $t2
	csrwr	$t0, CSR_TLBRELO1
	csrrd	$t1, CSR_TLBRBADV
	csrrd	$t2, CSR_TLBRERA
	xor	$t2, $t2, $t1
	srli.d	$t2, $t2, 2		/* TLBRERA: pc, IsTLBR in bit 0 */
	bnez	$t2, 1f			/* not a fetch */
	srli.d	$t1, $t1, 14
	andi	$t1, $t1, 1		/* the odd page of the pair */
	bnez	$t1, 4f
	NOFETCH	CSR_TLBRELO0
	b	1f
4:	NOFETCH	CSR_TLBRELO1
1:	tlbfill
	csrrd	$t2, CSR_SAVE2
	csrrd	$t1, CSR_SAVE1
	csrrd	$t0, CSR_TLBRSAVE
	ertn

/*
 * General exceptions (EENTRY, 4 KiB aligned, VS=0: one entry for all).
 * PRMD.PPLV tells where it came from (t0 is parked in SAVE0 to look: the
 * refill handler, which may run inside this one, keeps to TLBRSAVE,
 * SAVE1 and SAVE2).  EENTRY is this code's DMW0 alias: from PLV3 the
 * kernel's own ASID goes into CSR.ASID before any fetch or access makes
 * a TLB entry (user.c), then both paths jump to the identity address.
 *
 * From the kernel (PPLV 0): frame on the current stack: r0..r31 at 8*i,
 * era 256, estat 264, badv 272; loongarch_trap decides, then ertn.
 */
	.balign	4096
trap_entry:
	csrwr	$t0, CSR_SAVE0
	csrrd	$t0, CSR_PRMD
	andi	$t0, $t0, 3
	beqz	$t0, 1f
	li.w	$t0, LA_KERNEL_ASID
	csrwr	$t0, CSR_ASID
	csrrd	$t0, CSR_BADI		/* before any refill: QEMU's rewrites it */
	csrwr	$t0, CSR_SAVE5
1:	la.pcrel $t0, 2f
	bstrpick.d $t0, $t0, 47, 0	/* out of the DMW */
	jirl	$zero, $t0, 0
2:	csrrd	$t0, CSR_PRMD
	andi	$t0, $t0, 3
	bnez	$t0, from_user
	csrrd	$t0, CSR_SAVE0
	addi.d	$sp, $sp, -288
	st.d	$r1, $sp, 8
	st.d	$r2, $sp, 16
	.irp	n, 4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	st.d	$r\n, $sp, (8*\n)
	.endr
	addi.d	$t0, $sp, 288
	st.d	$t0, $sp, 24
	csrrd	$t0, CSR_ERA
	st.d	$t0, $sp, 256
	csrrd	$t0, CSR_ESTAT
	st.d	$t0, $sp, 264
	csrrd	$t0, CSR_BADV
	st.d	$t0, $sp, 272
	move	$a0, $sp
	bl	loongarch_trap
	ld.d	$t0, $sp, 256
	csrwr	$t0, CSR_ERA
	ld.d	$r1, $sp, 8
	ld.d	$r2, $sp, 16
	.irp	n, 4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ld.d	$r\n, $sp, (8*\n)
	.endr
	addi.d	$sp, $sp, 288
	ertn

/*
 * From PLV3: save r1..r31 and ERA in loongarch_uframe (struct arch_uctx),
 * restart on the top of the kernel stack and call
 * loongarch_user_trap(estat, badv) (user.c; never returns).
 */
from_user:
	la.pcrel $t0, loongarch_uframe
	st.d	$r1, $t0, 8
	st.d	$r2, $t0, 16
	st.d	$r3, $t0, 24
	.irp	n, 4,5,6,7,8,9,10,11,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	st.d	$r\n, $t0, (8*\n)
	.endr
	csrrd	$t1, CSR_SAVE0
	st.d	$t1, $t0, 96		/* the user's t0 (r12) */
	csrrd	$t1, CSR_ERA
	st.d	$t1, $t0, 256
	la.pcrel $sp, __stack_top
	csrrd	$a0, CSR_ESTAT
	csrrd	$a1, CSR_BADV
	bl	loongarch_user_trap
7:	b	7b

/*
 * loongarch_enter_user(const struct arch_uctx *c): ertn to PLV3 at c->pc
 * with the registers in *c, interrupts off there too (PRMD: PPLV 3, PIE
 * 0; the demo schedules cooperatively).  Runs from the DMW0 alias, so
 * that after the process's ASID (SAVE4) is in CSR.ASID no fetch or
 * access makes a TLB entry until PLV3 runs.
 */
	.globl	loongarch_enter_user
loongarch_enter_user:
	la.pcrel $t0, 1f
	lu52i.d	$t0, $t0, LA_DMW_HI12
	jirl	$zero, $t0, 0
1:	ld.d	$t0, $a0, 256
	csrwr	$t0, CSR_ERA
	li.w	$t0, 3
	csrwr	$t0, CSR_PRMD
	ld.d	$r1, $a0, 8
	ld.d	$r2, $a0, 16
	ld.d	$r3, $a0, 24
	.irp	n, 5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ld.d	$r\n, $a0, (8*\n)
	.endr
	ld.d	$a0, $a0, 32
	csrwr	$a0, CSR_SAVE0		/* the user's a0 */
	csrrd	$a0, CSR_SAVE4
	csrwr	$a0, CSR_ASID
	csrrd	$a0, CSR_SAVE0
	ertn

/* Probes: one access each, resumed after by the exception table. */
	.globl demo_probe_read, demo_probe_write, demo_probe_exec
demo_probe_read:
10:	ld.d	$a0, $a0, 0
11:	jr	$ra
demo_probe_write:
12:	st.d	$a1, $a0, 0
13:	jr	$ra
demo_probe_exec:
	addi.d	$sp, $sp, -16
	st.d	$ra, $sp, 8
	jirl	$ra, $a0, 0
	ld.d	$ra, $sp, 8
	addi.d	$sp, $sp, 16
	jr	$ra

	.section .extable, "a"
	.balign 8
	.dword	10b, 11b
	.dword	12b, 13b

	.section .rodata
	.globl demo_ret_insn, demo_ret_insn_size
	.balign 8
demo_ret_insn:
	jr	$ra
	.balign 8
demo_ret_insn_size:
	.dword	4

	.section .bss.stack, "aw", @nobits
	.balign 16
	.space	32768
	.globl __stack_top
__stack_top:
