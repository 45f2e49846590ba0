/* SPDX-License-Identifier: MIT */
/*
 * x86_64 on QEMU q35 through PVH: COM1 at I/O port 0x3f8, exit status
 * through isa-debug-exit at port 0xf4 (QEMU exits with (v << 1) | 1), RAM
 * from the hvm_start_info memory map (../shared/REFERENCES.md 3b).
 */
#include "kspace_check.h"
#include "x86.h"

const char demo_arch_name[] = "x86_64";

#define COM1	   0x3f8
#define DEBUG_EXIT 0xf4
#define EXIT_PASS  0x10 /* QEMU exit status 33 */
#define EXIT_FAIL  0x01 /* QEMU exit status 3 */

extern uint64_t x86_start_info; /* physical address, from start.S */
extern const char x86_trap_stubs[];

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

void arch_putc(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, (uint8_t)c);
}

/* ------------------------------------------------------------ traps */

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t ist, type;
	uint16_t off_mid;
	uint32_t off_hi, zero;
};

static struct idt_gate idt[32] __attribute__((aligned(16)));

/* One byte COM1 has received, or -1 (the QMP build's pauses, uproc.c). */
int arch_uart_getc(void);

int arch_uart_getc(void)
{
	return inb(COM1 + 5) & 0x01 ? inb(COM1) : -1; /* LSR: data ready */
}

void arch_early_init(void)
{
	for (unsigned v = 0; v < 32; v++) {
		uint64_t a = (uintptr_t)x86_trap_stubs + 16 * v;
		idt[v] = (struct idt_gate){
			.off_lo = (uint16_t)a,
			.sel = 0x08,
			.type = 0x8e, /* present, DPL 0, 64-bit interrupt gate
				       */
			.off_mid = (uint16_t)(a >> 16),
			.off_hi = (uint32_t)(a >> 32),
		};
	}
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} idtr = {sizeof(idt) - 1, (uintptr_t)idt};
	__asm__ volatile("lidt %0" ::"m"(idtr));
}

const char *x86_vector_name(uint64_t vector)
{
	static const char *const names[32] = {
		[0] = "#DE",  [1] = "#DB",  [3] = "#BP",  [6] = "#UD",
		[8] = "#DF",  [12] = "#SS", [13] = "#GP", [14] = "#PF",
		[16] = "#MF", [17] = "#AC", [19] = "#XM",
	};
	return vector < 32 && names[vector] ? names[vector] : "exception";
}

void x86_trap(struct x86_frame *tf)
{
	struct demo_fault f = {
		.access = DEMO_OTHER,
		.addr = 0,
		.pc = tf->rip,
		.cause = tf->vector << 32 | tf->error,
		.what = x86_vector_name(tf->vector),
	};
	if (tf->vector == 14) {
		uint64_t cr2;
		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
		f.addr = cr2;
		f.what = tf->error & 1 ? "#PF protection" : "#PF not present";
		if (tf->error & 0x10)
			f.access = DEMO_EXEC;
		else
			f.access = tf->error & 2 ? DEMO_WRITE : DEMO_READ;
	}
	if ((tf->cs & 3) == 3) /* from ring 3 (the syscall entry too) */
		x86_user_trap(tf, tf->vector == X86_VEC_SYSCALL ? NULL : &f);
	uint64_t fixup = 0;
	switch (demo_trap(&f, &fixup)) {
	case DEMO_RETRY:
		break;
	case DEMO_FIXUP:
		tf->rip = fixup;
		break;
	case DEMO_RETURN:
		/* Emulate the ret the target would have run. */
		tf->rip = *(uint64_t *)(uintptr_t)tf->rsp;
		tf->rsp += 8;
		break;
	}
}

/* ------------------------------------------------------------ memory */

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr;
	uint64_t memmap_paddr; /* version >= 1 */
	uint32_t memmap_entries, reserved;
};

struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

void arch_add_memory(struct mmk_bootmem *bm)
{
	const struct hvm_start_info *si =
		(const void *)(uintptr_t)x86_start_info;
	if (si->magic != 0x336ec578 || si->version < 1 || !si->memmap_entries)
		demo_fail("hvm_start_info at %#llx: no memory map",
			  (unsigned long long)x86_start_info);
	const struct hvm_memmap_entry *e =
		(const void *)(uintptr_t)si->memmap_paddr;
	for (uint32_t i = 0; i < si->memmap_entries; i++)
		if (e[i].type == 1) /* RAM */
			mmk_bootmem_add_ram(bm, mmk_pa(e[i].addr), e[i].size);
	/* Real-mode leftovers, the start info, the memory map. */
	mmk_bootmem_reserve(bm, mmk_pa(0), MMK_MIB);
}

_Noreturn void arch_exit(bool pass)
{
	outb(DEBUG_EXIT, pass ? EXIT_PASS : EXIT_FAIL);
	for (;;)
		__asm__ volatile("cli; hlt");
}

_Noreturn void arch_idle(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* ------------------------------------------------------------ MMU */

const enum mmk_pt_format_id demo_pt_format = MMK_PT_X86_64_4L;
const unsigned demo_pt_opts = 0;

/* COM1 is an I/O port; the local APIC page stands in as the device
 * (uncached) mapping. */
#define LAPIC_PA 0xfee00000ul
const struct demo_mmio demo_mmio[] = {
	{LAPIC_PA, 0x1000, "lapic"},
};
const unsigned demo_nmmio = MMK_ARRAY_SIZE(demo_mmio);

/*
 * The kernel-space phases ioremap demo_mmio[0] and hand it here.  No page
 * table maps an I/O port, so the console stays on COM1; the ioremapped
 * local APIC is used instead: its ID and version registers must read the
 * same through the new address as through the identity map.
 */
const char demo_kspace_dev_use[] =
	"COM1 is an I/O port: the local APIC read the same via its ioremap";

void arch_uart_remap(uint64_t va)
{
	volatile uint32_t *id = (volatile uint32_t *)LAPIC_PA;
	volatile uint32_t *p = va ? (volatile uint32_t *)(uintptr_t)va : id;
	/* ID at 0x20, version at 0x30: 32-bit registers, 16 bytes apart */
	if (p[0x20 / 4] != id[0x20 / 4] || p[0x30 / 4] != id[0x30 / 4])
		demo_fail("the local APIC through %#llx reads %#x/%#x, "
			  "through its physical address %#x/%#x",
			  (unsigned long long)va, p[0x20 / 4], p[0x30 / 4],
			  id[0x20 / 4], id[0x30 / 4]);
}

void arch_mmu_on(struct mmk_pt *pt)
{
	/* Paging is already on (boot tables); CR3 switches to mmkit's. */
	mmk_pt_activate(pt, 0);
}

void arch_sync_icache(const void *p, size_t n)
{
	(void)p;
	(void)n; /* x86 keeps instruction fetch coherent */
}

void mmk_hal_tlb_flush_range(const mmk_cpumask_t *cpus, uint32_t asid,
			     mmk_vaddr_t start, mmk_vaddr_t end, bool global)
{
	(void)cpus;
	(void)asid;
	(void)global;
	if (end - start > 64 * MMK_PAGE_SIZE) {
		mmk_hal_tlb_flush_all(cpus, asid);
		return;
	}
	for (mmk_vaddr_t va = start; va < end; va += MMK_PAGE_SIZE)
		__asm__ volatile("invlpg (%0)" ::"r"(va) : "memory");
}

void mmk_hal_tlb_flush_all(const mmk_cpumask_t *cpus, uint32_t asid)
{
	(void)cpus;
	(void)asid;
	/* No global pages in the demo: reloading CR3 drops everything. */
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0\n\tmov %0, %%cr3"
			 : "=r"(cr3)::"memory");
}

void mmk_hal_write_root(mmk_paddr_t root, uint32_t asid, uint64_t regval)
{
	(void)root;
	(void)asid;
	__asm__ volatile("mov %0, %%cr3" ::"r"(regval) : "memory");
}
