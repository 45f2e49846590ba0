/* SPDX-License-Identifier: MIT */
/*
 * The lazily allocated kernel area: an mmkit address space (issue 6) with
 * one area of the lazy "alloc" backend, placed in the last root slot of the
 * lower half and shared into the kernel's own table with mmk_pt_copy_from,
 * so the kernel touches it without switching tables.
 *
 *   kernel table (kpt)            address space (kas)
 *   root slot ... -------------->  its table under that slot
 *                                  [lazy area: NPAGES, no frames yet]
 *
 * Each first touch faults; the trap handler asks mmk_aspace_handle_page_fault
 * to map the page, flushes that page (kas is active nowhere, so mmkit has no
 * CPU to flush; LoongArch's TLB keeps the invalid entry the refill loaded)
 * and retries the access.  The check counts the faults per page.
 *
 * demo/Makefile defines DEMO_HAVE_ASPACE once src/aspace/fault.c is in
 * the tree; until then the check reports "pending" (never "ok").
 */
#include "lazy.h"

#if !DEMO_HAVE_ASPACE
const char *demo_check_lazy(struct mmk_pt *kpt, uint64_t pg)
{
	(void)kpt;
	(void)pg;
	demo_puts("check lazy: pending (needs aspace)\n");
	return NULL;
}
#else
#include <mmkit/aspace.h>

#define NPAGES 4

static struct mmk_aspace kas;
static mmk_vaddr_t lazy_start, lazy_end;
static uint64_t lazy_pg;
static unsigned page_faults[NPAGES];
static unsigned lazy_handled;

static bool lazy_fault(const struct demo_fault *f)
{
	if (f->addr < lazy_start || f->addr >= lazy_end)
		return false;
	uint32_t access = f->access == DEMO_WRITE  ? MMK_ACCESS_WRITE
			  : f->access == DEMO_EXEC ? MMK_ACCESS_EXEC
						   : MMK_ACCESS_READ;
	page_faults[(f->addr - lazy_start) / lazy_pg]++;
	if (!mmk_aspace_handle_page_fault(&kas, f->addr, access))
		return false; /* a real fault: reported as unexpected */
	mmk_vaddr_t page = MMK_ALIGN_DOWN(f->addr, lazy_pg);
	mmk_cpumask_t me;
	mmk_cpumask_clear(&me);
	mmk_cpumask_set(&me, 0);
	mmk_hal_tlb_flush_range(&me, 0, page, page + lazy_pg, false);
	lazy_handled++;
	return true;
}

static char why[160];
#define FAIL(...)                                                              \
	do {                                                                   \
		mmk_snprintf(why, sizeof(why), __VA_ARGS__);                   \
		return why;                                                    \
	} while (0)

const char *demo_check_lazy(struct mmk_pt *kpt, uint64_t pg)
{
	struct mmk_pt_info info;
	mmk_pt_info(kpt, &info);
	/* One root slot: bits per level = (va_bits - page_shift) / levels. */
	unsigned per_level = (info.va_bits - info.page_shift) / info.levels;
	uint64_t slot = (uint64_t)1
			<< (info.page_shift + per_level * (info.levels - 1));
	uint64_t half = (uint64_t)1 << (info.va_bits - 1);
	mmk_vaddr_t base = half - slot;
	int err = mmk_aspace_create(&kas, base, slot, demo_pt_format,
				    demo_pt_opts, &demo_frames);
	if (err)
		FAIL("mmk_aspace_create: %s", mmk_strerror(err));
	/* A populated guard page at the end of the slot makes kas build its
	 * tables under the root slot now, so the slot is not empty when the
	 * kernel's table borrows it. */
	mmk_vaddr_t guard = base + slot - pg;
	err = mmk_aspace_map_alloc(&kas, guard, pg, MMK_PT_RW, true);
	if (err)
		FAIL("mmk_aspace_map_alloc(guard): %s", mmk_strerror(err));
	lazy_start = base;
	lazy_end = base + NPAGES * pg;
	lazy_pg = pg;
	err = mmk_aspace_map_alloc(&kas, lazy_start, NPAGES * pg, MMK_PT_RW,
				   false);
	if (err)
		FAIL("mmk_aspace_map_alloc(lazy): %s", mmk_strerror(err));
	err = mmk_pt_copy_from(kpt, mmk_aspace_pt(&kas), base, slot);
	if (err)
		FAIL("mmk_pt_copy_from: %s", mmk_strerror(err));
	if (mmk_pt_query(kpt, lazy_start, NULL, NULL, NULL) != MMK_ENOENT)
		FAIL("lazy area mapped before the first touch");

	demo_ts.lazy_handler = lazy_fault;
	unsigned long before = demo_ts.faults;
	/* First touch: a write to page 0 and 2, a read of page 1 and 3. */
	for (unsigned i = 0; i < NPAGES; i++) {
		volatile uint64_t *p =
			(volatile uint64_t *)(uintptr_t)(lazy_start + i * pg +
							 8 * i);
		if (i % 2 == 0)
			demo_probe_write(p, 0x1a2700 + i);
		else if (demo_probe_read(p) != 0)
			FAIL("lazy page %u not zero-filled", i);
	}
	unsigned long first = demo_ts.faults - before;
	/* Second touch: reads everywhere, no fault expected. */
	for (unsigned i = 0; i < NPAGES; i++) {
		uint64_t v = demo_probe_read(
			(void *)(uintptr_t)(lazy_start + i * pg + 8 * i));
		uint64_t want = i % 2 == 0 ? 0x1a2700 + i : 0;
		if (v != want)
			FAIL("lazy page %u reads %#llx, wrote %#llx", i,
			     (unsigned long long)v, (unsigned long long)want);
	}
	unsigned long second = demo_ts.faults - before - first;
	demo_ts.lazy_handler = NULL;
	for (unsigned i = 0; i < NPAGES; i++)
		if (page_faults[i] != 1)
			FAIL("lazy page %u took %u faults on first touch", i,
			     page_faults[i]);
	if (first != NPAGES || lazy_handled != NPAGES || second)
		FAIL("lazy area: %lu faults on first touch, %lu on the second",
		     first, second);
	mmk_paddr_t pa;
	if (mmk_pt_query(kpt, lazy_start, &pa, NULL, NULL))
		FAIL("lazy page not visible in the kernel's table");
	demo_printf("check lazy: ok - %u pages at %#llx (alloc backend, shared "
		    "root slot): one fault each on first touch, mapped by "
		    "mmk_aspace_handle_page_fault and retried, none on the "
		    "second touch\n",
		    NPAGES, (unsigned long long)lazy_start);
	return NULL;
}
#endif /* DEMO_HAVE_ASPACE */
