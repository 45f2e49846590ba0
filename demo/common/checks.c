/* SPDX-License-Identifier: MIT */
/*
 * The kernel's page table, built with mmkit, and the checks on the real
 * (emulated) MMU.  Each check prints one transcript line
 *   check <name>: ok - <what was seen>
 * or returns a reason, which kmain prints as "mmkit demo: FAIL: <why>".
 *
 * Address map while the checks run (VA == PA wherever RAM or MMIO is mapped):
 *
 *   MMIO pages          device memory, read+write, never executable
 *   RAM outside kernel  read+write, never executable, huge leaves where
 *                       aligned (the linear map; mmk_hal_pv_offset = 0)
 *   kernel .text        read+execute
 *   kernel .rodata      read only (the exception table lives here too)
 *   kernel .data/.bss   read+write, never executable (stack included)
 *   TEST_VA + n pages   one page per check, away from RAM and MMIO
 *   TEST_VA + 1 GiB     the huge (block) mapping check
 */
#include "checks.h"
#include "kspace_check.h"
#include "lazy.h"

#define TEST_VA	     0x2000000000ull /* 128 GiB: free on all four machines */
#define TEST_HUGE_VA (TEST_VA + MMK_GIB)

static struct mmk_pt kpt;
static struct mmk_pt_info info;
static uint64_t pg; /* base page size of the format */
static mmk_cpumask_t this_cpu;
static char why[160];

/* Targets inside the kernel image for the image-permission check. */
const uint64_t demo_rodata_word = 0x5eadc0de5eadc0deull;
uint8_t demo_bss_code[64] __attribute__((aligned(64)));

#define FAIL(...)                                                              \
	do {                                                                   \
		mmk_snprintf(why, sizeof(why), __VA_ARGS__);                   \
		return why;                                                    \
	} while (0)

#define TRY(call)                                                              \
	do {                                                                   \
		int err_ = (call);                                             \
		if (err_)                                                      \
			FAIL("%s: %s", #call, mmk_strerror(err_));             \
	} while (0)

static uint64_t alloc_pages(unsigned shift)
{
	mmk_paddr_t pa;
	int err = mmk_frame_alloc(&demo_frames, shift - MMK_PAGE_SHIFT,
				  MMK_FRAME_ZERO, &pa);
	if (err)
		demo_fail("mmk_frame_alloc(%u KiB): %s", 1u << (shift - 10),
			  mmk_strerror(err));
	return pa.v;
}

static void finish(struct mmk_tlb_gather *b)
{
	mmk_tlb_gather_finish(b);
}

/* mmk_pt_map, flushing afterwards where the format says the TLB may hold
 * an invalid entry for the page (LoongArch's even/odd pairs). */
static int map_page(uint64_t va, uint64_t pa, uint64_t size, uint32_t flags)
{
	struct mmk_tlb_gather b;
	mmk_tlb_gather_init(&b, &this_cpu, 0);
	int err = mmk_pt_map(&kpt, va, mmk_pa(pa), size, flags, &b);
	finish(&b);
	return err;
}

/*
 * Did exactly one trap of @acc at @addr happen since @before?  NULL if so,
 * otherwise the reason.
 */
static const char *trapped(unsigned long before, enum demo_access acc,
			   uint64_t addr, const char *what)
{
	static const char *const names[] = {"read", "write", "exec", "other"};
	unsigned long n = demo_ts.faults - before;
	if (n == 0)
		FAIL("%s: no trap", what);
	if (n != 1)
		FAIL("%s: %lu traps instead of one", what, n);
	if (demo_ts.last.access != acc || demo_ts.last.addr != addr)
		FAIL("%s: trapped as %s (%s) at %#llx, expected %s at %#llx",
		     what, names[demo_ts.last.access], demo_ts.last.what,
		     (unsigned long long)demo_ts.last.addr, names[acc],
		     (unsigned long long)addr);
	return NULL;
}

static const char *no_trap(unsigned long before, const char *what)
{
	if (demo_ts.faults != before)
		FAIL("%s: unexpected %s at %#llx", what, demo_ts.last.what,
		     (unsigned long long)demo_ts.last.addr);
	return NULL;
}

#define CHECK(expr)                                                            \
	do {                                                                   \
		const char *r_ = (expr);                                       \
		if (r_)                                                        \
			return r_;                                             \
	} while (0)

/* ------------------------------------------------------- the page table */

static int map_identity(uint64_t start, uint64_t end, uint32_t flags,
			unsigned opts)
{
	start = MMK_ALIGN_DOWN(start, pg);
	end = MMK_ALIGN_UP(end, pg);
	if (start >= end)
		return MMK_OK;
	struct mmk_tlb_gather b;
	mmk_tlb_gather_init(&b, &this_cpu, 0);
	int err = mmk_pt_map_region(&kpt, start, mmk_pa(start), end - start,
				    flags, opts, &b);
	finish(&b);
	return err;
}

static const char *build_and_switch(void)
{
	TRY(mmk_pt_create(&kpt, demo_pt_format, demo_pt_opts, &demo_frames));
	mmk_pt_info(&kpt, &info);
	pg = (uint64_t)1 << info.page_shift;
	mmk_cpumask_set(&this_cpu, 0);

	uint64_t ks = (uintptr_t)__kernel_start, ke = (uintptr_t)__kernel_end;
	TRY(map_identity((uintptr_t)__text_start, (uintptr_t)__text_end,
			 MMK_PT_RX, 0));
	TRY(map_identity((uintptr_t)__rodata_start, (uintptr_t)__rodata_end,
			 MMK_PT_READ, 0));
	TRY(map_identity((uintptr_t)__data_start, ke, MMK_PT_RW, 0));

	/* The linear map: all RAM above 1 MiB (nothing below is used once
	 * the table is built), minus the kernel image mapped above. */
	uint64_t ram = 0;
	for (unsigned i = 0; i < demo_bootmem.nram; i++) {
		uint64_t s = MMK_MAX(demo_bootmem.ram[i].start, MMK_MIB);
		uint64_t e = demo_bootmem.ram[i].end;
		s = MMK_ALIGN_UP(s, pg);
		e = MMK_ALIGN_DOWN(e, pg);
		if (s >= e)
			continue;
		ram += e - s;
		if (ke <= s || ks >= e) {
			TRY(map_identity(s, e, MMK_PT_RW, MMK_PT_MAP_HUGE));
		} else {
			TRY(map_identity(s, ks, MMK_PT_RW, MMK_PT_MAP_HUGE));
			TRY(map_identity(ke, e, MMK_PT_RW, MMK_PT_MAP_HUGE));
		}
	}
	for (unsigned i = 0; i < demo_nmmio; i++)
		TRY(map_identity(demo_mmio[i].pa,
				 demo_mmio[i].pa + demo_mmio[i].size,
				 MMK_PT_RW | MMK_PT_MT_DEVICE, 0));

	arch_mmu_on(&kpt);
	demo_printf("mmu: on, %s table (%u levels, %llu KiB pages), %ld table "
		    "pages; text RX, rodata R, data+bss RW NX, %llu MiB RAM "
		    "linear RW NX, %u MMIO range(s) device\n",
		    info.name, info.levels, (unsigned long long)(pg >> 10),
		    mmk_pt_table_pages(&kpt), (unsigned long long)(ram >> 20),
		    demo_nmmio);
	return NULL;
}

/* ------------------------------------------------------------ the checks */

/*
 * A jump to @va, a page mapped without EXEC, must trap as an instruction
 * fetch at @va and come back to the caller.
 *
 * DEMO_NX_VIA_TLB (loongarch64): QEMU (7.2 and 10.0 alike) re-reads the
 * faulting instruction when it raises PNX, which faults again, forever
 * (REFERENCES.md 4c): a real jump would hang the machine.  There the
 * check loads the page's translation with a read instead and reads the
 * TLB entry the refill handler made from mmkit's PTE: NX must be set
 * (and the fetch is never attempted).  how says which was done.
 */
static const char *nx_jump(uint64_t va, const char *what, const char **how)
{
	unsigned long n = demo_ts.faults;
#ifdef DEMO_NX_VIA_TLB
	uint64_t elo;
	(void)demo_probe_read((void *)(uintptr_t)(va & ~7ull));
	CHECK(no_trap(n, what));
	if (arch_tlb_entry(va, &elo))
		FAIL("%s: no TLB entry for %#llx after a read", what,
		     (unsigned long long)va);
	if (!(elo >> 62 & 1))
		FAIL("%s: TLB entry %#llx for %#llx has NX clear", what,
		     (unsigned long long)elo, (unsigned long long)va);
	*how = "NX is set in the TLB entry the refill made from mmkit's PTE; "
	       "no jump, a PNX trap hangs QEMU";
#else
	demo_ts.exec_target = va;
	demo_probe_exec((void *)(uintptr_t)va);
	demo_ts.exec_target = 0;
	CHECK(trapped(n, DEMO_EXEC, va, what));
	static char buf[80];
	mmk_snprintf(buf, sizeof(buf), "a jump trapped (%s) and returned",
		     demo_ts.last.what);
	*how = buf;
#endif
	return NULL;
}

/* Writes through the kernel image: .rodata and .text refuse, .bss does not
 * execute.  Proves the image permissions the table was built with. */
static const char *check_kernel_image(void)
{
	unsigned long n = demo_ts.faults;
	uint64_t ro = (uintptr_t)&demo_rodata_word;
	demo_probe_write((volatile void *)(uintptr_t)ro, 1);
	CHECK(trapped(n, DEMO_WRITE, ro, "write to .rodata"));
	if (demo_rodata_word != 0x5eadc0de5eadc0deull)
		FAIL(".rodata changed by a trapped write");

	n = demo_ts.faults;
	uint64_t tx = (uintptr_t)__text_start + 64;
	demo_probe_write((volatile void *)(uintptr_t)tx, 0);
	CHECK(trapped(n, DEMO_WRITE, tx, "write to .text"));

	memcpy(demo_bss_code, demo_ret_insn, demo_ret_insn_size);
	arch_sync_icache(demo_bss_code, sizeof(demo_bss_code));
	uint64_t bx = (uintptr_t)demo_bss_code;
	const char *how;
	CHECK(nx_jump(bx, "jump into .bss", &how));
	demo_printf("check kernel-image: ok - writes to .rodata %#llx and "
		    ".text %#llx trapped and resumed; .bss %#llx: %s\n",
		    (unsigned long long)ro, (unsigned long long)tx,
		    (unsigned long long)bx, how);
	return NULL;
}

static const char *check_alias(void)
{
	uint64_t pa = alloc_pages(info.page_shift);
	uint64_t *lin = mmk_phys_to_virt(mmk_pa(pa));
	for (unsigned i = 0; i < pg / 8; i++)
		lin[i] = 0xa11a5000000000ull ^ (pa + 8 * i);
	uint64_t va = TEST_VA;
	TRY(map_page(va, pa, pg, MMK_PT_RW));
	unsigned long n = demo_ts.faults;
	for (unsigned i = 0; i < pg / 8; i += 61) {
		uint64_t v = demo_probe_read((void *)(uintptr_t)(va + 8 * i));
		if (v != lin[i])
			FAIL("alias %#llx reads %#llx, linear map %#llx",
			     (unsigned long long)(va + 8 * i),
			     (unsigned long long)v, (unsigned long long)lin[i]);
	}
	demo_probe_write((void *)(uintptr_t)(va + 16), 0x5ca1ab1e);
	CHECK(no_trap(n, "alias"));
	if (lin[2] != 0x5ca1ab1e)
		FAIL("write through the alias not seen in the linear map");
	demo_printf("check alias: ok - %#llx and the linear map %#llx read "
		    "the same bytes, a write through one shows in the other\n",
		    (unsigned long long)va, (unsigned long long)pa);
	return NULL;
}

static const char *check_read_only(void)
{
	uint64_t pa = alloc_pages(info.page_shift);
	uint64_t va = TEST_VA + pg;
	*(uint64_t *)mmk_phys_to_virt(mmk_pa(pa)) = 0x0123456789abcdefull;
	TRY(map_page(va, pa, pg, MMK_PT_READ));
	unsigned long n = demo_ts.faults;
	if (demo_probe_read((void *)(uintptr_t)va) != 0x0123456789abcdefull)
		FAIL("read-only page reads wrong data");
	CHECK(no_trap(n, "read of a read-only page"));
	demo_probe_write((void *)(uintptr_t)va, 0xbad);
	CHECK(trapped(n, DEMO_WRITE, va, "write to a read-only page"));
	if (*(uint64_t *)mmk_phys_to_virt(mmk_pa(pa)) != 0x0123456789abcdefull)
		FAIL("a trapped write changed the read-only page");
	demo_printf("check read-only: ok - write to %#llx trapped (%s), "
		    "resumed after the store, page unchanged\n",
		    (unsigned long long)va, demo_ts.last.what);
	return NULL;
}

static const char *check_no_exec(void)
{
	uint64_t pa = alloc_pages(info.page_shift);
	memcpy(mmk_phys_to_virt(mmk_pa(pa)), demo_ret_insn, demo_ret_insn_size);
	arch_sync_icache(mmk_phys_to_virt(mmk_pa(pa)), demo_ret_insn_size);
	uint64_t xva = TEST_VA + 2 * pg, nva = TEST_VA + 3 * pg;
	TRY(map_page(xva, pa, pg, MMK_PT_RX));
	TRY(map_page(nva, pa, pg, MMK_PT_RW));
	unsigned long n = demo_ts.faults;
	demo_probe_exec((void *)(uintptr_t)xva);
	CHECK(no_trap(n, "call into an executable page"));
#ifdef DEMO_NX_VIA_TLB
	uint64_t elo;
	if (arch_tlb_entry(xva, &elo) || (elo >> 62 & 1))
		FAIL("executable page %#llx: no TLB entry, or NX set",
		     (unsigned long long)xva);
#endif
	const char *how;
	CHECK(nx_jump(nva, "jump into a never-executable page", &how));
	demo_printf("check no-exec: ok - the same code runs at %#llx (RX); "
		    "at %#llx (RW, NX) %s\n",
		    (unsigned long long)xva, (unsigned long long)nva, how);
	return NULL;
}

static const char *check_unmap(void)
{
	uint64_t pa = alloc_pages(info.page_shift);
	uint64_t va = TEST_VA + 4 * pg;
	TRY(map_page(va, pa, pg, MMK_PT_RW));
	unsigned long n = demo_ts.faults;
	demo_probe_write((void *)(uintptr_t)va, 7); /* now in the TLB */
	if (demo_probe_read((void *)(uintptr_t)va) != 7)
		FAIL("mapped page reads wrong data");
	CHECK(no_trap(n, "access before unmap"));
	struct mmk_tlb_gather b;
	struct mmk_pt_leaf leaf;
	mmk_tlb_gather_init(&b, &this_cpu, 0);
	TRY(mmk_pt_unmap(&kpt, va, &b, &leaf));
	finish(&b);
	if (leaf.pa.v != pa)
		FAIL("unmap reported pa %#llx, mapped %#llx",
		     (unsigned long long)leaf.pa.v, (unsigned long long)pa);
	demo_probe_read((void *)(uintptr_t)va);
	CHECK(trapped(n, DEMO_READ, va, "read after unmap"));
	mmk_frame_free(&demo_frames, mmk_pa(pa));
	demo_printf("check unmap: ok - %#llx was read and written, unmapped "
		    "and flushed, then a read trapped (%s)\n",
		    (unsigned long long)va, demo_ts.last.what);
	return NULL;
}

static const char *check_protect(void)
{
	uint64_t pa = alloc_pages(info.page_shift);
	uint64_t va = TEST_VA + 5 * pg;
	TRY(map_page(va, pa, pg, MMK_PT_RW));
	unsigned long n = demo_ts.faults;
	demo_probe_write((void *)(uintptr_t)va, 0x1111); /* writable in TLB */
	CHECK(no_trap(n, "write before protect"));
	struct mmk_tlb_gather b;
	mmk_tlb_gather_init(&b, &this_cpu, 0);
	TRY(mmk_pt_protect(&kpt, va, MMK_PT_READ, &b));
	finish(&b);
	demo_probe_write((void *)(uintptr_t)va, 0x2222);
	CHECK(trapped(n, DEMO_WRITE, va, "write after protect(READ)"));
	n = demo_ts.faults;
	if (demo_probe_read((void *)(uintptr_t)va) != 0x1111)
		FAIL("page reads wrong data after protect");
	CHECK(no_trap(n, "read after protect(READ)"));
	demo_printf("check protect: ok - %#llx written, protect removed write "
		    "and flushed, the next write trapped (%s), reads still "
		    "work\n",
		    (unsigned long long)va, demo_ts.last.what);
	return NULL;
}

static const char *check_huge(void)
{
	uint64_t huge = 0;
	for (unsigned s = info.page_shift + 1; s < 40; s++)
		if (info.page_sizes & ((uint64_t)1 << s)) {
			huge = (uint64_t)1 << s;
			break;
		}
	if (!huge)
		FAIL("format %s has no huge leaf size", info.name);
	unsigned shift = (unsigned)__builtin_ctzll(huge);
	uint64_t pa = alloc_pages(shift);
	uint64_t va = TEST_HUGE_VA;
	TRY(map_page(va, pa, huge, MMK_PT_RW));
	uint64_t qsize = 0;
	mmk_paddr_t qpa;
	TRY(mmk_pt_query(&kpt, va + huge / 2, &qpa, NULL, &qsize));
	if (qsize != huge || qpa.v != pa + huge / 2)
		FAIL("query of the huge page: %#llx bytes at %#llx",
		     (unsigned long long)qsize, (unsigned long long)qpa.v);
	uint64_t off[4] = {0, 0x1008, huge / 2 + 0x88, huge - 8};
	unsigned long n = demo_ts.faults;
	for (unsigned i = 0; i < 4; i++)
		demo_probe_write((void *)(uintptr_t)(va + off[i]),
				 0x4a6e0000ull + i);
	CHECK(no_trap(n, "writes to the huge page"));
	for (unsigned i = 0; i < 4; i++) {
		uint64_t v = *(volatile uint64_t *)mmk_phys_to_virt(
			mmk_pa(pa + off[i]));
		if (v != 0x4a6e0000ull + i)
			FAIL("huge page offset %#llx: linear map reads %#llx",
			     (unsigned long long)off[i], (unsigned long long)v);
	}
	demo_printf("check huge: ok - one %llu KiB leaf at %#llx -> %#llx, "
		    "writes at 4 offsets up to the last word land in the "
		    "right frames\n",
		    (unsigned long long)(huge >> 10), (unsigned long long)va,
		    (unsigned long long)pa);
	return NULL;
}

const char *demo_run_checks(void)
{
	CHECK(build_and_switch());
	CHECK(check_kernel_image());
	CHECK(check_alias());
	CHECK(check_read_only());
	CHECK(check_no_exec());
	CHECK(check_unmap());
	CHECK(check_protect());
	CHECK(check_huge());
	CHECK(demo_check_lazy(&kpt, pg));
	CHECK(demo_check_kspace(&kpt, pg));
	return NULL;
}

struct mmk_pt *demo_kernel_pt(void)
{
	return &kpt;
}

/* ------------------------------------------------------------ QMP dump */

static void dump_line(void *ctx, const char *line)
{
	demo_printf("MMKIT-DUMP %s %s\n", (const char *)ctx, line);
}

static void sample(const char *what, uint64_t va)
{
	mmk_paddr_t pa;
	uint32_t flags;
	uint64_t size;
	if (mmk_pt_query(&kpt, va, &pa, &flags, &size) == MMK_OK) {
		/* Touch it, so that a TLB-only monitor (LoongArch's gva2gpa)
		 * can translate it too; RAM only (reads of MMIO may act). */
		if ((flags & MMK_PT_READ) &&
		    (flags & MMK_PT_MT_MASK) == MMK_PT_MT_NORMAL)
			(void)demo_probe_read((void *)(uintptr_t)(va & ~7ull));
		demo_printf("MMKIT-SAMPLE %s %#llx %#llx %#x %#llx\n", what,
			    (unsigned long long)va, (unsigned long long)pa.v,
			    flags, (unsigned long long)size);
	} else
		demo_printf("MMKIT-SAMPLE %s %#llx unmapped\n", what,
			    (unsigned long long)va);
}

void demo_qmp_dump(void)
{
	uint64_t half = (uint64_t)1 << (info.va_bits - 1);
	demo_printf("MMKIT-DUMP-BEGIN mem\n");
	mmk_pt_dump(&kpt, 0, half, MMK_PT_DUMP_QEMU_MEM, dump_line, "mem");
	demo_printf("MMKIT-DUMP-END mem\n");
	demo_printf("MMKIT-DUMP-BEGIN tlb\n");
	mmk_pt_dump(&kpt, 0, half, MMK_PT_DUMP_QEMU_TLB, dump_line, "tlb");
	demo_printf("MMKIT-DUMP-END tlb\n");
	sample("text", (uintptr_t)__text_start + 0x40);
	sample("rodata", (uintptr_t)&demo_rodata_word);
	sample("bss", (uintptr_t)demo_bss_code);
	sample("alias", TEST_VA + 0x10);
	sample("read-only", TEST_VA + pg + 0x20);
	sample("unmapped", TEST_VA + 4 * pg);
	sample("huge", TEST_HUGE_VA + 0x123458);
	if (demo_nmmio)
		sample("mmio", demo_mmio[0].pa);
	sample("null", 0);
}
