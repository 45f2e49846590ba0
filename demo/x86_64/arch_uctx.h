/* SPDX-License-Identifier: MIT */
/*
 * x86_64: the user registers a trap from ring 3 saves (demo/common/
 * uproc.h).  The general registers in the order of struct x86_frame
 * (arch.c), then rip, rflags, rsp; start.S's x86_enter_user knows these
 * offsets (UCTX_* there).
 */
#ifndef MMKIT_DEMO_X86_64_ARCH_UCTX_H
#define MMKIT_DEMO_X86_64_ARCH_UCTX_H

#include <stdint.h>

#define ARCH_UART_GETC	   1 /* arch_uart_getc: the QMP build's pauses */
#define ARCH_QEMU_INFO_TLB 1 /* the pauses dump in its style too */
/* No ASIDs: PCIDs need CR4.PCIDE and QEMU 7.2 TCG has no PCID (nor
 * INVPCID); every CR3 write flushes the TLB. */
#define ARCH_ASID_BITS 0

struct arch_uctx {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx,
		rbx, rax;
	uint64_t rip, rflags, rsp;
};

#endif
