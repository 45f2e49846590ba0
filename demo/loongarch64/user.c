/* SPDX-License-Identifier: MIT */
/*
 * loongarch64 PLV3 (demo/common/uproc.h).  A trap from user mode comes
 * to the one general exception entry (start.S), which tells it by
 * PRMD.PPLV, saves the user registers in loongarch_uframe, restarts on
 * the top of the kernel stack and calls loongarch_user_trap; user mode is
 * entered with ertn (PRMD.PPLV = 3, PIE = 0, ERA = the pc).
 *
 * QEMU (7.2 and 10.0) hangs on a PNX or a fetch PPI exception (start.S,
 * the refill handler): a process jumping to a page whose valid entry is
 * in the TLB, but that it may not execute, would stop the whole machine.
 * The refill handler turns such a fetch into a PIF when it has to load
 * the entry; what remains is never to leave a valid entry of the
 * kernel's pages tagged with a process's ASID.  So the kernel has an
 * ASID of its own, LA_KERNEL_ASID (la_asid.h), while processes exist:
 * the trap entry puts it in CSR.ASID first thing, and the ertn to PLV3
 * takes the process's from SAVE4 (where mmk_hal_write_root leaves it)
 * last thing; both run from a direct-mapped window (DMW0, PLV0 only),
 * whose fetches make no TLB entry.  The kernel's pages then show up only
 * under LA_KERNEL_ASID (the identity map is the same in every space and
 * the kernel reaches user memory only through it: mmk_aspace_read), and
 * a process's jump into the kernel takes a PIF through the refill.  The
 * one case left is QEMU's: a jump to a no-exec page of the process's own
 * that it has read or written since its entry was loaded (it hangs).
 */
#include "uproc.h"
#include "la_asid.h"

#include <mmkit/tlb.h>

/* CSR numbers (LoongArch Vol. 1, ch. 7). */
#define CSR_ASID 0x18
#define CSR_PGDL 0x19

#define csr_read(csr)                                                          \
	({                                                                     \
		uint64_t v_;                                                   \
		__asm__ volatile("csrrd %0, %1" : "=r"(v_) : "i"(csr));        \
		v_;                                                            \
	})

struct arch_uctx loongarch_uframe; /* start.S saves the user registers here */

void loongarch_user_trap(uint64_t estat, uint64_t badv);
void loongarch_decode_fault(uint64_t estat, uint64_t badv, uint64_t pc,
			    struct demo_fault *f); /* arch.c */
_Noreturn void loongarch_enter_user(const struct arch_uctx *c);

extern bool loongarch_kernel_asid; /* arch.c, mmk_hal_write_root */

void arch_user_init(void)
{
	/* EENTRY is the one entry for PLV0 and PLV3 (start.S), the kernel
	 * stack top a link-time constant, PGDH follows mmk_hal_write_root.
	 * EUEN stays 0: the programs are built soft-float (lp64s), an FP
	 * instruction traps.  From here on the kernel runs as
	 * LA_KERNEL_ASID, which mmkit must never hand out. */
	if (mmk_tlb_asid_bits() > 9)
		demo_fail("loongarch64: %u-bit ASIDs leave none for the kernel",
			  mmk_tlb_asid_bits());
	loongarch_kernel_asid = true;
	__asm__ volatile("csrwr %0, %1" ::"r"((uint64_t)LA_KERNEL_ASID),
			 "i"(CSR_ASID)
			 : "memory");
}

void arch_uctx_init(struct arch_uctx *c, uint64_t entry, uint64_t sp)
{
	memset(c, 0, sizeof(*c));
	c->pc = entry;
	c->r[3] = sp;
}

uint64_t arch_uctx_sysno(const struct arch_uctx *c)
{
	return c->r[11]; /* a7 */
}

uint64_t arch_uctx_arg(const struct arch_uctx *c, unsigned i)
{
	return i < 6 ? c->r[4 + i] : 0; /* a0..a5 */
}

void arch_uctx_set_ret(struct arch_uctx *c, uint64_t v)
{
	c->r[4] = v;
}

uint64_t arch_uctx_pc(const struct arch_uctx *c)
{
	return c->pc;
}

_Noreturn void arch_enter_user(const struct arch_uctx *c)
{
	loongarch_enter_user(c);
}

/* Whether the instruction @insn (BADI, which start.S saves in SAVE5
 * before a TLB refill can overwrite it: QEMU 7.2 sets BADI on refills
 * too) writes memory: the stores
 * st.* / stptr.* / stx.*, sc.* and the atomics am*. */
static bool insn_stores(uint32_t insn)
{
	uint32_t op8 = insn >> 24, op10 = insn >> 22, op17 = insn >> 15;
	if (op10 >= 0x0a4 && op10 <= 0x0a7) /* st.b st.h st.w st.d */
		return true;
	if (op8 == 0x25 || op8 == 0x27 || op8 == 0x21 || op8 == 0x23)
		return true; /* stptr.w stptr.d sc.w sc.d */
	if (op17 == 0x7020 || op17 == 0x7028 || op17 == 0x7030 ||
	    op17 == 0x7038) /* stx.b stx.h stx.w stx.d */
		return true;
	return op17 >= 0x70c0 && op17 <= 0x70e3; /* am*.w / am*.d */
}

/*
 * Whether the page table PGDL points at has a valid entry for @va: the
 * refill's walk (start.S: 16 KiB pages, Dir3 at bit 36, Dir1 at bit 25,
 * 11 bits each) in C, through the identity map (directory entries hold
 * physical addresses; empty ones point at mmkit's all-invalid tables).
 */
static bool pte_valid(uint64_t va)
{
	const uint64_t m = 0x7ff;
	uint64_t d = csr_read(CSR_PGDL);
	d = ((const volatile uint64_t *)(uintptr_t)d)[(va >> 36) & m];
	d = ((const volatile uint64_t *)(uintptr_t)d)[(va >> 25) & m];
	if (!(d & 0x40)) /* not a huge entry: the leaf table */
		d = ((const volatile uint64_t
			      *)(uintptr_t)(d & ~0x3fffull))[(va >> 14) & m];
	return d & 1;
}

void loongarch_user_trap(uint64_t estat, uint64_t badv)
{
	struct arch_uctx *c = demo_user_ctx();
	*c = loongarch_uframe;
	uint64_t ecode = (estat >> 16) & 0x3f;
	if (ecode == 0xb) { /* SYS: past the syscall instruction */
		c->pc += 4;
		demo_user_trap(DEMO_UTRAP_SYSCALL, NULL);
	}
	struct demo_fault f;
	loongarch_decode_fault(estat, badv, c->pc, &f);
	enum demo_utrap kind = DEMO_UTRAP_OTHER;
	if (ecode == 7) /* PPI: a fetch has BADV = pc; else the insn says */
		f.access = badv == c->pc ? DEMO_EXEC
			   : insn_stores((uint32_t)csr_read(CSR_SAVE5))
				   ? DEMO_WRITE
				   : DEMO_READ;
	if (ecode >= 1 && ecode <= 7)
		kind = DEMO_UTRAP_FAULT;
	if (ecode >= 1 && ecode <= 3 && pte_valid(badv)) {
		/* Page invalid, but the page table has the page: the half
		 * the refill made invalid for a forbidden fetch (start.S).
		 * Drop the pair so that the retry walks the table again.
		 * Any other invalid entry is mmkit's to flush once it maps
		 * the page (mmk_pt_map_needs_flush), and stays its test. */
		uint64_t asid = csr_read(CSR_SAVE4); /* the process's */
		__asm__ volatile(
			"dbar 0\n\tinvtlb 5, %0, %1" ::"r"(asid & 0x3ff),
			"r"(badv)
			: "memory");
	}
	demo_user_trap(kind, &f);
}
