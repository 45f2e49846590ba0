/* SPDX-License-Identifier: MIT */
/*
 * mmkit — loongarch64 paging modes (registration, see src/pt/formats.h),
 * and the page-walk CSR values a kernel programs to match them.
 */
#ifndef MMK_ARCH_LOONGARCH64_PT_H
#define MMK_ARCH_LOONGARCH64_PT_H

#include "pt/format.h"

/* 16 KiB pages, 3 levels of 11 bits: 47-bit VA, a PGDL table by default,
 * a PGDH table with MMK_PT_OPT_HIGH_HALF.  4 KiB pages, 4 levels of 9
 * bits: 48-bit VA, both halves in one table (sign-extended, as x86_64). */
extern const struct mmk__pt_format mmk__pt_la64_16k_3l;
extern const struct mmk__pt_format mmk__pt_la64_16k_3l_high;
extern const struct mmk__pt_format mmk__pt_la64_4k_4l;

#define MMK_PT_FORMATS_LOONGARCH64                                             \
	[MMK_PT_LA64_16K_3L] = &mmk__pt_la64_16k_3l,                           \
	[MMK_PT_LA64_4K_4L] = &mmk__pt_la64_4k_4l,

/*
 * The shared all-invalid tables (see pt_loongarch64.c): static, one set per
 * geometry, like Linux's invalid_pte_table / invalid_pmd_table.  External
 * linkage so that no compiler drops stores only the hardware reads.
 */
extern mmk__pte_t mmk__la64_invalid_16k[2][2048];
extern mmk__pte_t mmk__la64_invalid_4k[3][512];

/*
 * CSR values for @pt's geometry, laid out as Linux does: the root level is
 * Dir3 (PWCH; its 6-bit base field holds the 16 KiB root's 36, PWCL's
 * 5-bit Dir2_base would not), the levels between are Dir1 and Dir2, so
 * the refill handler walks
 *   16 KiB, 3 levels: csrrd PGD; lddir 3; lddir 1; ldpte 0/1; tlbfill
 *   4 KiB, 4 levels:  csrrd PGD; lddir 3; lddir 2; lddir 1; ldpte 0/1
 * PWCL: PTbase 4:0, PTwidth 9:5, Dir1 base/width 14:10/19:15, Dir2
 * 24:20/29:25, PTEWidth 31:30 = 0 (64-bit).  PWCH: Dir3 5:0/11:6, Dir4
 * 17:12/23:18 (unused).  STLBPS.PS = the base page shift.
 */
uint64_t mmk_arch_loongarch64_pwcl(const struct mmk_pt *pt);
uint64_t mmk_arch_loongarch64_pwch(const struct mmk_pt *pt);
uint64_t mmk_arch_loongarch64_stlbps(const struct mmk_pt *pt);

#endif
