/* SPDX-License-Identifier: MIT */
/*
 * riscv64 on QEMU virt: NS16550 UART at 0x1000_0000, sifive_test at
 * 0x10_0000 for the exit status, RAM from the device tree OpenSBI passes
 * in a1 (../shared/REFERENCES.md 1b).
 */
#include "demo.h"
#include "kspace_check.h"

const char demo_arch_name[] = "riscv64";

#define UART_BASE   0x10000000ul
#define SIFIVE_TEST 0x100000ul

uint64_t riscv_dtb; /* set by start.S */

/* Where the UART is reached; the kspace check moves it to its ioremap. */
static volatile uint8_t *uart = (volatile uint8_t *)UART_BASE;

void arch_uart_remap(uint64_t va)
{
	uart = (volatile uint8_t *)(uintptr_t)(va ? va : UART_BASE);
}

void arch_putc(char c)
{
	while (!(uart[5] & 0x20))
		;
	uart[0] = (uint8_t)c;
}

int arch_uart_getc(void)
{
	return uart[5] & 0x01 ? uart[0] : -1; /* LSR: data ready */
}

void arch_early_init(void)
{
	/* stvec was installed by start.S, before anything could fault. */
}

void arch_add_memory(struct mmk_bootmem *bm)
{
	uint64_t size = 0;
	if (demo_fdt_add_memory((const void *)riscv_dtb, bm, &size) != MMK_OK)
		demo_fail("no memory node in the device tree at %#lx",
			  (unsigned long)riscv_dtb);
	mmk_bootmem_reserve(bm, mmk_pa(riscv_dtb), size);
	/* OpenSBI lives from the start of RAM up to the kernel. */
	mmk_bootmem_reserve(bm, mmk_pa(0x80000000ul),
			    (uint64_t)(uintptr_t)__kernel_start - 0x80000000ul);
}

_Noreturn void arch_exit(bool pass)
{
	/* 0x5555: exit 0; 0x3333 | code << 16: exit code (never 0). */
	*(volatile uint32_t *)SIFIVE_TEST = pass ? 0x5555 : (0x3333 | 1u << 16);
	for (;;)
		__asm__ volatile("wfi");
}

_Noreturn void arch_idle(void)
{
	for (;;)
		__asm__ volatile("wfi");
}

/* ------------------------------------------------------------ traps */

struct riscv_frame {
	uint64_t x[32];
	uint64_t sepc, scause, stval;
};

void riscv_trap(struct riscv_frame *tf);

/* scause / stval / sepc as a demo_fault: the kernel's traps and U-mode's
 * (user.c) read them alike. */
void riscv_decode_fault(uint64_t cause, uint64_t tval, uint64_t pc,
			struct demo_fault *f)
{
	static const char *const names[16] = {
		[0] = "instruction misaligned",
		[1] = "instruction access fault",
		[2] = "illegal instruction",
		[3] = "breakpoint",
		[4] = "load misaligned",
		[5] = "load access fault",
		[6] = "store misaligned",
		[7] = "store access fault",
		[12] = "instruction page fault",
		[13] = "load page fault",
		[15] = "store page fault",
	};
	*f = (struct demo_fault){
		.access = DEMO_OTHER,
		.addr = tval,
		.pc = pc,
		.cause = cause,
		.what = "interrupt",
	};
	if (cause >> 63)
		return;
	f->what = cause < 16 && names[cause] ? names[cause] : "exception";
	if (cause == 12 || cause == 1)
		f->access = DEMO_EXEC;
	else if (cause == 13 || cause == 5)
		f->access = DEMO_READ;
	else if (cause == 15 || cause == 7)
		f->access = DEMO_WRITE;
}

void riscv_trap(struct riscv_frame *tf)
{
	struct demo_fault f;
	riscv_decode_fault(tf->scause, tf->stval, tf->sepc, &f);
	uint64_t fixup = 0;
	switch (demo_trap(&f, &fixup)) {
	case DEMO_RETRY:
		break;
	case DEMO_FIXUP:
		tf->sepc = fixup;
		break;
	case DEMO_RETURN:
		tf->sepc = tf->x[1]; /* ra: back to demo_probe_exec */
		break;
	}
}

/* ------------------------------------------------------------ MMU */

void mmk_hal_tlb_flush_range(const mmk_cpumask_t *cpus, uint32_t asid,
			     mmk_vaddr_t start, mmk_vaddr_t end, bool global)
{
	(void)cpus;
	(void)asid;
	(void)global;
	if (end - start > 64 * MMK_PAGE_SIZE) {
		__asm__ volatile("sfence.vma zero, zero" ::: "memory");
		return;
	}
	for (mmk_vaddr_t va = start; va < end; va += MMK_PAGE_SIZE)
		__asm__ volatile("sfence.vma %0, zero" ::"r"(va) : "memory");
}

void mmk_hal_tlb_flush_all(const mmk_cpumask_t *cpus, uint32_t asid)
{
	(void)cpus;
	(void)asid;
	__asm__ volatile("sfence.vma zero, zero" ::: "memory");
}

void mmk_hal_write_root(mmk_paddr_t root, uint32_t asid, uint64_t regval)
{
	(void)root;
	(void)asid;
	/* Order the table writes before the walker can see the new root;
	 * writing satp does not flush, so flush afterwards. */
	__asm__ volatile("sfence.vma zero, zero\n\t"
			 "csrw satp, %0\n\t"
			 "sfence.vma zero, zero" ::"r"(regval)
			 : "memory");
}

/* Sv39 with Svpbmt (QEMU runs with -cpu rv64,svpbmt=on) so that the UART
 * page can be device memory (PBMT=IO) like on real hardware. */
const enum mmk_pt_format_id demo_pt_format = MMK_PT_RISCV_SV39;
const unsigned demo_pt_opts = MMK_PT_OPT_SVPBMT;

const struct demo_mmio demo_mmio[] = {
	{UART_BASE, 0x1000, "uart"},
	{SIFIVE_TEST, 0x1000, "sifive_test"},
};
const unsigned demo_nmmio = MMK_ARRAY_SIZE(demo_mmio);

void arch_mmu_on(struct mmk_pt *pt)
{
	mmk_pt_activate(pt, 0);
}

void arch_sync_icache(const void *p, size_t n)
{
	(void)p;
	(void)n;
	__asm__ volatile("fence.i" ::: "memory");
}
