/* SPDX-License-Identifier: MIT */
/*
 * loongarch64: what start.S, arch.c and user.c share about running the
 * kernel apart from the processes in the TLB (user.c explains why).
 * Plain defines: included from assembly too.
 */
#ifndef MMKIT_DEMO_LOONGARCH64_LA_ASID_H
#define MMKIT_DEMO_LOONGARCH64_LA_ASID_H

#define CSR_SAVE0 0x30	/* the trap entry's scratch */
#define CSR_SAVE4 0x34	/* the ASID of the process to run (write_root) */
#define CSR_SAVE5 0x35	/* BADI of a trap from PLV3, saved first thing */
#define CSR_DMW0  0x180 /* direct-mapped window 0 */

/* The kernel's own ASID while processes exist: above every ASID mmkit
 * hands out (mmk_tlb_asid_init with at most 9 bits; the demo uses 8). */
#define LA_KERNEL_ASID 0x3ff

/* DMW0: VA 0x9000_xxxx_xxxx_xxxx -> PA xxxx_xxxx_xxxx, PLV0 only,
 * coherent cached (MAT 1).  The trap entry and the last instructions
 * before ertn to PLV3 run there: their fetches make no TLB entry. */
#define LA_DMW0	    0x9000000000000011
#define LA_DMW_HI12 (-0x700) /* lu52i.d immediate: bits 63:52 = 0x900 */

#endif
