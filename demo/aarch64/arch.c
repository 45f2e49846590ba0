/* SPDX-License-Identifier: MIT */
/*
 * aarch64 on QEMU virt (cortex-a72, EL1): PL011 at 0x0900_0000, exit status
 * through semihosting SYS_EXIT (QEMU runs with -semihosting), RAM from the
 * device tree QEMU leaves at the base of RAM (../shared/REFERENCES.md 2b).
 */
#include "demo.h"
#include "kspace_check.h"

#include <mmkit/kspace.h>

#include "arch/aarch64/pt_aarch64.h"

const char demo_arch_name[] = "aarch64";

#define PL011_BASE 0x09000000ul
#define DTB_ADDR   0x40000000ul

/* Where the UART is reached; the kspace check moves it to its ioremap. */
static volatile uint32_t *uart = (volatile uint32_t *)PL011_BASE;

void arch_uart_remap(uint64_t va)
{
	uart = (volatile uint32_t *)(uintptr_t)(va ? va : PL011_BASE);
}

void arch_putc(char c)
{
	while (uart[0x18 / 4] & (1u << 5)) /* FR.TXFF */
		;
	uart[0] = (uint8_t)c;
}

void arch_early_init(void)
{
	/* VBAR_EL1 was set by start.S. */
}

void arch_add_memory(struct mmk_bootmem *bm)
{
	uint64_t size = 0;
	if (demo_fdt_add_memory((const void *)DTB_ADDR, bm, &size) != MMK_OK)
		demo_fail("no device tree with a memory node at %#lx",
			  DTB_ADDR);
	mmk_bootmem_reserve(bm, mmk_pa(DTB_ADDR), size);
}

static _Noreturn void semihosting_exit(uint64_t status)
{
	/* SYS_EXIT (0x18) with {ADP_Stopped_ApplicationExit, status}. */
	static uint64_t block[2];
	block[0] = 0x20026;
	block[1] = status;
	register uint64_t x0 __asm__("x0") = 0x18;
	register uint64_t *x1 __asm__("x1") = block;
	__asm__ volatile("hlt #0xf000" ::"r"(x0), "r"(x1) : "memory");
	for (;;)
		__asm__ volatile("wfi");
}

_Noreturn void arch_exit(bool pass)
{
	semihosting_exit(pass ? 0 : 1);
}

_Noreturn void arch_idle(void)
{
	for (;;)
		__asm__ volatile("wfi");
}

/* ------------------------------------------------------------ traps */

struct aarch64_frame {
	uint64_t x[31];
	uint64_t sp, elr, spsr, esr, far;
};

void aarch64_trap(struct aarch64_frame *tf, uint64_t vector);

void aarch64_trap(struct aarch64_frame *tf, uint64_t vector)
{
	uint64_t ec = tf->esr >> 26, fsc = tf->esr & 0x3f;
	struct demo_fault f = {
		.access = DEMO_OTHER,
		.addr = tf->far,
		.pc = tf->elr,
		.cause = tf->esr,
		.what = "exception",
	};
	if (vector != 4) { /* only "synchronous, current EL with SP_ELx" */
		f.what = "unexpected vector";
		f.cause = vector;
	} else if (ec == 0x25 || ec == 0x21) {
		bool data = ec == 0x25;
		const char *kind = (fsc & 0x3c) == 0x04	  ? "translation fault"
				   : (fsc & 0x3c) == 0x0c ? "permission fault"
				   : (fsc & 0x3c) == 0x08 ? "access flag fault"
							  : "abort";
		f.what = kind;
		if (!data)
			f.access = DEMO_EXEC;
		else
			f.access = (tf->esr >> 6) & 1 ? DEMO_WRITE : DEMO_READ;
	}
	uint64_t fixup = 0;
	switch (demo_trap(&f, &fixup)) {
	case DEMO_RETRY:
		break;
	case DEMO_FIXUP:
		tf->elr = fixup;
		break;
	case DEMO_RETURN:
		tf->elr = tf->x[30]; /* lr: back to demo_probe_exec */
		break;
	}
}

/* ------------------------------------------------------------ MMU */

const enum mmk_pt_format_id demo_pt_format = MMK_PT_AARCH64_39;
const unsigned demo_pt_opts = 0;

const struct demo_mmio demo_mmio[] = {
	{PL011_BASE, 0x1000, "pl011"},
};
const unsigned demo_nmmio = MMK_ARRAY_SIZE(demo_mmio);

/* MAIR_EL1 as mmkit's aarch64 format indexes it (AttrIndx = MMK_PT_MT_*). */
#define DEMO_MAIR MMK_AARCH64_MAIR_EL1

/*
 * TCR_EL1: mmkit's fields for 39-bit tables in both halves, 16-bit ASIDs
 * (AS; cortex-a72 has them) taken from TTBR0 (A1 = 0), 40-bit IPS
 * (cortex-a72 has 44; RAM is below 2 GiB).  TTBR1 walks stay disabled
 * (EPD1) until a kernel space exists: it is a MMK_PT_OPT_HIGH_HALF table
 * that lives in TTBR1 (mmk_hal_write_root below loads it).
 */
#define TCR_EPD1 (1ull << 23)
#define TCR_AS	 (1ull << 36)
#define DEMO_TCR                                                               \
	(MMK_AARCH64_TCR_T0(39) | MMK_AARCH64_TCR_T1(39) | 2ull << 32 | TCR_AS)

void arch_mmu_on(struct mmk_pt *pt)
{
	__asm__ volatile("msr mair_el1, %0\n\t"
			 "msr tcr_el1, %1\n\t"
			 "isb" ::"r"(DEMO_MAIR),
			 "r"(DEMO_TCR | TCR_EPD1)
			 : "memory");
	mmk_pt_activate(pt, 0);
	uint64_t sctlr;
	__asm__ volatile("mrs %0, sctlr_el1" : "=r"(sctlr));
	sctlr |= 1u << 0 | 1u << 2 | 1u << 12; /* M, C, I */
	sctlr &= ~(1ull << 1 | 1ull << 19);    /* no alignment check, WXN */
	__asm__ volatile("dsb ish\n\t"
			 "msr sctlr_el1, %0\n\t"
			 "isb" ::"r"(sctlr)
			 : "memory");
}

void arch_sync_icache(const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)63;
	for (; a < (uintptr_t)p + n; a += 64)
		__asm__ volatile("dc cvau, %0\n\tic ivau, %0" ::"r"(a)
				 : "memory");
	__asm__ volatile("dsb ish\n\tisb" ::: "memory");
}

/* TLBI operands: VA[55:12] in bits 43:0, the ASID in bits 63:48. */
static inline uint64_t tlbi_va(mmk_vaddr_t va)
{
	return (va >> 12) & ((1ull << 44) - 1);
}

void mmk_hal_tlb_flush_range(const mmk_cpumask_t *cpus, uint32_t asid,
			     mmk_vaddr_t start, mmk_vaddr_t end, bool global)
{
	(void)cpus;
	__asm__ volatile("dsb ishst" ::: "memory");
	if (end - start > 64 * MMK_PAGE_SIZE) {
		if (global)
			__asm__ volatile("tlbi vmalle1" ::: "memory");
		else
			__asm__ volatile(
				"tlbi aside1, %0" ::"r"((uint64_t)asid << 48)
				: "memory");
	} else if (global) { /* every ASID, global entries included */
		for (mmk_vaddr_t va = start; va < end; va += MMK_PAGE_SIZE)
			__asm__ volatile("tlbi vaae1, %0" ::"r"(tlbi_va(va))
					 : "memory");
	} else {
		for (mmk_vaddr_t va = start; va < end; va += MMK_PAGE_SIZE)
			__asm__ volatile(
				"tlbi vae1, %0" ::"r"((uint64_t)asid << 48 |
						      tlbi_va(va))
				: "memory");
	}
	__asm__ volatile("dsb ish\n\tisb" ::: "memory");
}

void mmk_hal_tlb_flush_all(const mmk_cpumask_t *cpus, uint32_t asid)
{
	(void)cpus;
	if (asid == MMK_ASID_ALL)
		__asm__ volatile(
			"dsb ishst\n\ttlbi vmalle1\n\tdsb ish\n\tisb" ::
				: "memory");
	else
		__asm__ volatile("dsb ishst\n\t"
				 "tlbi aside1, %0\n\t"
				 "dsb ish\n\t"
				 "isb" ::"r"((uint64_t)asid << 48)
				 : "memory");
}

/*
 * The kernel space's root (a TTBR1 table) when there is one: loaded into
 * TTBR1_EL1 with its walks enabled at the first switch of TTBR0 after
 * mmk_kspace_init (the demo kernels build it with no_switch and run on a
 * user space), or when mmkit itself switches to it.  0: TTBR1 walks off.
 */
static uint64_t ttbr1_root;

/* Load the kernel space's root now (arch_user_init); 0 if it is gone. */
void aarch64_kspace_load(void);

static void ttbr1_load(uint64_t root)
{
	if (root == ttbr1_root)
		return;
	ttbr1_root = root;
	/* The kernel's entries are global (ASID-less): drop those of any
	 * earlier kernel space along with everything else. */
	__asm__ volatile("dsb ishst\n\t"
			 "msr ttbr1_el1, %0\n\t"
			 "msr tcr_el1, %1\n\t"
			 "isb\n\t"
			 "tlbi vmalle1\n\t"
			 "dsb ish\n\t"
			 "isb" ::"r"(root),
			 "r"(DEMO_TCR | (root ? 0 : TCR_EPD1))
			 : "memory");
}

void aarch64_kspace_load(void)
{
	ttbr1_load(mmk_kspace_root().v);
}

void mmk_hal_write_root(mmk_paddr_t root, uint32_t asid, uint64_t regval)
{
	uint64_t kroot = mmk_kspace_root().v;
	if (kroot && root.v == kroot) { /* the kernel space itself */
		ttbr1_load(regval);
		return;
	}
	ttbr1_load(kroot);
	/* Entries are tagged with TTBR0's ASID: a space with its own needs
	 * no flush (mmkit flushes at a rollover); ASID 0 is shared by every
	 * table that has none (the demo's own, spaces before ASIDs are on),
	 * so switching between them drops what the old one left. */
	__asm__ volatile("dsb ishst\n\t"
			 "msr ttbr0_el1, %0\n\t"
			 "isb" ::"r"(regval)
			 : "memory");
	if (asid == 0)
		__asm__ volatile("tlbi aside1, xzr\n\t"
				 "dsb ish\n\t"
				 "isb" ::
					 : "memory");
}
