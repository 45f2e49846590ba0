/* SPDX-License-Identifier: MIT */
/*
 * loongarch64 on QEMU virt, no firmware: NS16550 at 0x1fe0_01e0, exit 0
 * through the GED sleep control (S5), exit 1 through pvpanic-pci (QEMU runs
 * with -device pvpanic-pci -action panic=exit-failure), RAM from a fixed
 * map (../shared/REFERENCES.md 4b): the machine passes no boot arguments.
 */
#include "demo.h"
#include "kspace_check.h"

#include <mmkit/kspace.h>

#include "arch/loongarch64/pt_loongarch64.h"
#include "la_asid.h"

const char demo_arch_name[] = "loongarch64";

#define UART_BASE   0x1fe001e0ul
#define GED_SLEEP   0x100e001cul
#define ECAM_BASE   0x20000000ul
#define PVPANIC_BAR 0x40000000ul

/* CSR numbers (LoongArch Vol. 1, ch. 7). */
#define CSR_CRMD    0x0
#define CSR_TLBIDX  0x10
#define CSR_TLBEHI  0x11
#define CSR_TLBELO0 0x12
#define CSR_TLBELO1 0x13
#define CSR_ASID    0x18
#define CSR_PGDL    0x19
#define CSR_PGDH    0x1a
#define CSR_PWCL    0x1c
#define CSR_PWCH    0x1d
#define CSR_STLBPS  0x1e
#define CSR_TLBREHI 0x8e

#define csr_read(csr)                                                          \
	({                                                                     \
		uint64_t v_;                                                   \
		__asm__ volatile("csrrd %0, %1" : "=r"(v_) : "i"(csr));        \
		v_;                                                            \
	})
#define csr_write(csr, val)                                                    \
	do {                                                                   \
		uint64_t v_ = (val);                                           \
		__asm__ volatile("csrwr %0, %1"                                \
				 : "+r"(v_)                                    \
				 : "i"(csr)                                    \
				 : "memory");                                  \
	} while (0)

/* Where the UART is reached; the kernel space moves it to its ioremap. */
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

/* pvpanic-pci, found on bus 0 through ECAM and given BAR0, so that a
 * failure can exit QEMU with status 1.  0 if absent. */
static uint64_t pvpanic;

static void pvpanic_init(void)
{
	for (unsigned dev = 0; dev < 32; dev++) {
		volatile uint32_t *cfg =
			(volatile uint32_t *)(ECAM_BASE +
					      ((uint64_t)dev << 15));
		if (cfg[0] != 0x00111b36) /* 1b36:0011 */
			continue;
		cfg[0x10 / 4] = (uint32_t)PVPANIC_BAR;
		cfg[0x04 / 4] = cfg[0x04 / 4] | 2; /* memory space enable */
		pvpanic = PVPANIC_BAR;
		return;
	}
}

void arch_early_init(void)
{
	/* EENTRY and TLBRENTRY were set by start.S; still in DA mode. */
	pvpanic_init();
}

void arch_add_memory(struct mmk_bootmem *bm)
{
	/*
	 * The virt machine's RAM with -m 1G (the least it accepts): 256 MiB
	 * low, the rest at 0x9000_0000.  Nothing is kept below the kernel
	 * (no firmware), but leave the first 2 MiB alone anyway.
	 */
	mmk_bootmem_add_ram(bm, mmk_pa(0), 256 * MMK_MIB);
	mmk_bootmem_add_ram(bm, mmk_pa(0x90000000ul), 768 * MMK_MIB);
	mmk_bootmem_reserve(bm, mmk_pa(0), 2 * MMK_MIB);
}

_Noreturn void arch_exit(bool pass)
{
	if (pass)
		*(volatile uint8_t *)GED_SLEEP = 0x34; /* SLP_TYP 5, SLP_EN */
	else if (pvpanic)
		*(volatile uint8_t *)pvpanic = 1; /* panicked: exit 1 */
	/* Both are asynchronous: wait here.  Without pvpanic a failure
	 * idles until the harness's timeout (the transcript says FAIL). */
	for (;;)
		__asm__ volatile("idle 0");
}

_Noreturn void arch_idle(void)
{
	for (;;)
		__asm__ volatile("idle 0");
}

/* ------------------------------------------------------------ traps */

struct loongarch_frame {
	uint64_t r[32];
	uint64_t era, estat, badv;
};

void loongarch_trap(struct loongarch_frame *tf);

/* ESTAT / BADV / ERA as a demo_fault: the kernel's traps and PLV3's
 * (user.c, which also reads a PPI's access from the instruction). */
void loongarch_decode_fault(uint64_t estat, uint64_t badv, uint64_t pc,
			    struct demo_fault *f)
{
	static const char *const names[64] = {
		[0] = "interrupt",
		[1] = "PIL (load page invalid)",
		[2] = "PIS (store page invalid)",
		[3] = "PIF (fetch page invalid)",
		[4] = "PME (page modified: not writable)",
		[5] = "PNR (not readable)",
		[6] = "PNX (not executable)",
		[7] = "PPI (privilege)",
		[8] = "ADE (address error)",
		[9] = "ALE (unaligned)",
		[0xa] = "BCE (bound check)",
		[0xb] = "SYS",
		[0xc] = "BRK",
		[0xd] = "INE (no such instruction)",
		[0xe] = "IPE (privileged instruction)",
		[0xf] = "FPD (FPU disabled)",
	};
	uint64_t ecode = (estat >> 16) & 0x3f;
	*f = (struct demo_fault){
		.access = DEMO_OTHER,
		.addr = badv,
		.pc = pc,
		.cause = estat,
		.what = names[ecode] ? names[ecode] : "exception",
	};
	switch (ecode) {
	case 1:
	case 5:
		f->access = DEMO_READ;
		break;
	case 2:
	case 4:
		f->access = DEMO_WRITE;
		break;
	case 3:
	case 6:
		f->access = DEMO_EXEC;
		break;
	}
}

void loongarch_trap(struct loongarch_frame *tf)
{
	struct demo_fault f;
	loongarch_decode_fault(tf->estat, tf->badv, tf->era, &f);
	uint64_t fixup = 0;
	switch (demo_trap(&f, &fixup)) {
	case DEMO_RETRY:
		break;
	case DEMO_FIXUP:
		tf->era = fixup;
		break;
	case DEMO_RETURN:
		tf->era = tf->r[1]; /* ra: back to demo_probe_exec */
		break;
	}
}

/* ------------------------------------------------------------ MMU */

const enum mmk_pt_format_id demo_pt_format = MMK_PT_LA64_16K_3L;
const unsigned demo_pt_opts = 0;

const struct demo_mmio demo_mmio[] = {
	/* the UART's own registers, not its page: the kernel-space check
	 * ioremaps demo_mmio[0] and reads LSR through it (maps round out) */
	{UART_BASE, 8, "uart"},
	{GED_SLEEP & ~0x3ffful, 0x4000, "ged"},
	{PVPANIC_BAR, 0x4000, "pvpanic"},
};
const unsigned demo_nmmio = MMK_ARRAY_SIZE(demo_mmio);

/*
 * The walk geometry of mmkit's 16 KiB 3-level format, as Linux programs
 * it: PT at bit 14 and Dir1 at bit 25 in PWCL, the root level as Dir3 in
 * PWCH (6-bit base field) at bit 36, each 11 bits wide; the refill handler
 * walks it with lddir 3, lddir 1 (start.S).  Dir2 cannot hold the root:
 * its base field (PWCL 24:20) has 5 bits and 36 does not fit, which is why
 * mmk_arch_loongarch64_pwcl's value (root as Dir2) is not used here.
 */
#define DEMO_PWCL (14u | 11u << 5 | 25u << 10 | 11u << 15)
#define DEMO_PWCH (36u | 11u << 6)

void arch_mmu_on(struct mmk_pt *pt)
{
	csr_write(CSR_PWCL, DEMO_PWCL);
	csr_write(CSR_PWCH, DEMO_PWCH);
	csr_write(CSR_STLBPS, mmk_arch_loongarch64_stlbps(pt));
	csr_write(CSR_TLBREHI, mmk_arch_loongarch64_stlbps(pt));
	csr_write(CSR_ASID, 0);
	/* PGDL and (no kernel space yet) PGDH: mmk_hal_write_root below. */
	mmk_pt_activate(pt, 0);
	/* PG=1, DA=0, cached fetch and data (DATF=DATM=01), PLV0, IE=0. */
	csr_write(CSR_CRMD, 0xb0);
}

/*
 * The TLB entry translating @va (for the no-exec check, see checks.c):
 * TLBSRCH for the even/odd pair holding @va (VPPN = va[47:15] with 16 KiB
 * pages), TLBRD, then the half @va falls in.
 */
int arch_tlb_entry(uint64_t va, uint64_t *elo)
{
	uint64_t asid = csr_read(CSR_ASID);
	csr_write(CSR_TLBEHI, va & ~0x7fffull & ((1ull << 48) - 1));
	__asm__ volatile("dbar 0\n\ttlbsrch" ::: "memory");
	if (csr_read(CSR_TLBIDX) >> 31) /* NE: no match */
		return -1;
	__asm__ volatile("tlbrd" ::: "memory");
	*elo = (va >> 14) & 1 ? csr_read(CSR_TLBELO1) : csr_read(CSR_TLBELO0);
	csr_write(CSR_ASID, asid); /* tlbrd loaded the entry's ASID */
	return 0;
}

void arch_sync_icache(const void *p, size_t n)
{
	(void)p;
	(void)n;
	__asm__ volatile("ibar 0" ::: "memory");
}

/*
 * invtlb ops (Vol. 1, INVTLB): 0 everything, 4 the non-global entries of
 * an ASID, 6 the global entries and those of an ASID at one address.
 */
void mmk_hal_tlb_flush_range(const mmk_cpumask_t *cpus, uint32_t asid,
			     mmk_vaddr_t start, mmk_vaddr_t end, bool global)
{
	(void)cpus;
	__asm__ volatile("dbar 0" ::: "memory");
	if (end - start > 64 * MMK_PAGE_SIZE) {
		if (global)
			__asm__ volatile("invtlb 0, $zero, $zero" ::: "memory");
		else
			__asm__ volatile(
				"invtlb 4, %0, $zero" ::"r"((uint64_t)asid)
				: "memory");
		return;
	}
	for (mmk_vaddr_t va = start; va < end; va += MMK_PAGE_SIZE)
		__asm__ volatile("invtlb 6, %0, %1" ::"r"((uint64_t)asid),
				 "r"(va)
				 : "memory");
}

void mmk_hal_tlb_flush_all(const mmk_cpumask_t *cpus, uint32_t asid)
{
	(void)cpus;
	__asm__ volatile("dbar 0" ::: "memory");
	if (asid == MMK_ASID_ALL)
		__asm__ volatile("invtlb 0, $zero, $zero" ::: "memory");
	else
		__asm__ volatile("invtlb 4, %0, $zero" ::"r"((uint64_t)asid)
				 : "memory");
}

/*
 * PGDL takes the root of the lower half (the demo's table, a process's
 * space) and CSR.ASID its ASID.  PGDH: the kernel space's root (a
 * MMK_PT_OPT_HIGH_HALF table, made with no_switch and never activated
 * itself) while there is one, loaded at the first switch after
 * mmk_kspace_init; before that and after mmk_kspace_destroy the same
 * table as PGDL (nothing of the demo is mapped up there).  The kernel
 * space's entries are global: changing PGDH drops everything.  A space
 * with its own ASID needs no flush (mmkit flushes at a rollover); ASID 0
 * is shared by every table that has none, so a switch to one flushes.
 * Once processes exist the kernel keeps LA_KERNEL_ASID in CSR.ASID and
 * the space's ASID waits in SAVE4 for the ertn to PLV3 (user.c).
 */
static uint64_t pgdh_root;
bool loongarch_kernel_asid; /* set by arch_user_init */

void mmk_hal_write_root(mmk_paddr_t root, uint32_t asid, uint64_t regval)
{
	uint64_t kroot = mmk_kspace_root().v;
	if (kroot && root.v == kroot) /* mmkit switching to the kernel space */
		regval = csr_read(CSR_PGDL);
	uint64_t pgdh = kroot ? kroot : regval;
	__asm__ volatile("dbar 0" ::: "memory");
	csr_write(CSR_SAVE4, asid & 0x3ff);
	if (!loongarch_kernel_asid)
		csr_write(CSR_ASID, asid & 0x3ff);
	csr_write(CSR_PGDL, regval);
	if (pgdh != pgdh_root) {
		pgdh_root = pgdh;
		csr_write(CSR_PGDH, pgdh);
		__asm__ volatile("invtlb 0, $zero, $zero" ::: "memory");
	} else if (asid == 0) {
		__asm__ volatile("invtlb 0, $zero, $zero" ::: "memory");
	}
}
