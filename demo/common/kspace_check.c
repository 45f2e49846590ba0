/* SPDX-License-Identifier: MIT */
/*
 * The kernel space on a real MMU.  The demo kernel is linked and running
 * at VA == PA in the lower half, so it cannot switch to the kernel space
 * alone (which holds only the upper half): it builds it with no_switch,
 * makes a user space that shares the kernel half (riscv64: one root for
 * both) and maps the identity range the kernel runs from into that user
 * space, supervisor only, then runs on the user space's root:
 *
 *   user space root (satp)          lower half: identity map of the image
 *   |                               (text RX, rodata R, data RW), RAM, MMIO
 *   +-- kernel half slots --------> the kernel space's pinned tables:
 *                                   linear map at kbase + pa, ioremap and
 *                                   vmalloc windows
 *
 * Everything the check then maps in the kernel space (ioremap of the
 * UART, a vmalloc range) is made after the user space, so the MMU seeing
 * it proves the shared top-level entries.  The transcript line is
 * printed through the ioremapped UART.  Then back to the demo's table.
 */
#include "kspace_check.h"

#if !DEMO_KSPACE
const char *demo_check_kspace(struct mmk_pt *kpt, uint64_t page_size)
{
	(void)kpt;
	(void)page_size;
	return NULL;
}
#else
#include <mmkit/kspace.h>

extern const uint64_t demo_rodata_word;

__attribute__((weak)) const char demo_kspace_dev_use[] =
	"this line via the ioremapped UART";

static struct mmk_aspace user;
static char why[160];
static uint64_t pg;

#define TRY(e)                                                                 \
	do {                                                                   \
		int err_ = (e);                                                \
		if (err_) {                                                    \
			mmk_snprintf(why, sizeof(why), "%s: %s", #e,           \
				     mmk_strerror(err_));                      \
			return why;                                            \
		}                                                              \
	} while (0)

static bool faults(uint64_t va)
{
	unsigned long n = demo_ts.faults;
	(void)demo_probe_read((const volatile void *)(uintptr_t)va);
	return demo_ts.faults != n;
}

static const char *build(void)
{
	TRY(demo_kspace_init());
	/* the format's lower half (the kernel's table may be a TTBR1 one,
	 * which has none) */
	struct mmk_pt_info info;
	TRY(mmk_pt_format_info(demo_pt_format, &info));
	TRY(mmk_kspace_user_create(&user, pg, info.low_end - pg));
	TRY(demo_map_identity(&user, pg));
	return NULL;
}

/* Runs on the user space's root; the UART may be the ioremapped one. */
static const char *run(uint64_t uart_pa, uint64_t *uva, uint64_t *vm)
{
	struct mmk_pt *kst = mmk_aspace_pt(mmk_kspace());
	/* the linear map: kbase + pa reads what the identity map reads */
	uint64_t lin = (uintptr_t)&demo_rodata_word + mmk_kspace()->base;
	if (faults(lin) ||
	    demo_probe_read((const volatile void *)(uintptr_t)lin) !=
		    demo_rodata_word)
		return "the linear map does not show .rodata at kbase + pa";
	TRY(mmk_ioremap(mmk_pa(uart_pa), 8, MMK_IO_DEVICE, uva));
	uint64_t guard = MMK_ALIGN_DOWN(*uva, pg) + pg;
	if (!faults(guard))
		return "the page after the ioremapped UART did not trap";
	/* a byte read of LSR: a fault here is reported by the trap handler
	 * through the identity UART, still in use */
	(void)((volatile uint8_t *)(uintptr_t)*uva)[5];
	arch_uart_remap(*uva);

	TRY(mmk_vmalloc(64 * MMK_KIB, vm));
	for (uint64_t off = 0; off < 64 * MMK_KIB; off += pg) {
		volatile uint64_t *p =
			(volatile uint64_t *)(uintptr_t)(*vm + off);
		*p = 0xc0ffee00u + off;
		mmk_paddr_t pa;
		TRY(mmk_pt_query(kst, *vm + off, &pa, NULL, NULL));
		if (*(volatile uint64_t *)mmk_phys_to_virt(pa) !=
		    0xc0ffee00u + off)
			return "a vmalloc write did not land in its frame";
	}
	if (!faults(*vm + 64 * MMK_KIB))
		return "the vmalloc guard page did not trap";
	TRY(mmk_vfree(*vm));
	if (!faults(*vm))
		return "a read after vfree did not trap (not flushed?)";
	return NULL;
}

const char *demo_check_kspace(struct mmk_pt *kpt, uint64_t page_size)
{
	pg = page_size;
	const char *r = build();
	if (r)
		return r;
	uint64_t uart_pa = demo_mmio[0].pa; /* "uart" comes first */
	uint64_t uva = 0, vm = 0;
	mmk_aspace_activate(&user); /* satp: the user space's root */
	r = run(uart_pa, &uva, &vm);
	if (!r)
		demo_printf(
			"check kspace: ok - on a user space %s: "
			"%s %#llx (guard trapped); vmalloc 64 KiB %#llx hit "
			"its frames, trapped after vfree\n",
			mmk_kspace_shares_root()
				? "sharing its half"
				: "with the kernel root in its own register",
			demo_kspace_dev_use, (unsigned long long)uva,
			(unsigned long long)vm);
	arch_uart_remap(0);
	if (uva)
		mmk_iounmap(uva);
	mmk_pt_activate(kpt, 0);
	mmk_aspace_deactivate(&user);
	mmk_kspace_user_destroy(&user);
	mmk_kspace_destroy();
	return r;
}
#endif
