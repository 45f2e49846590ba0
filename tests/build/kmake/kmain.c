/* SPDX-License-Identifier: MIT */
/*
 * The kernel-like test project's "boot": frames over the static RAM, then a
 * page table of every format.  The formats of the architectures built in
 * (KM_HAVE_<ARCH>, from MMKIT_ARCHS) must create, map and translate a page;
 * the others must be refused with MMK_ENOTSUP, not fail to link.
 */
#include "km.h"

#include <stdio.h>

#ifndef KM_HAVE_X86_64
#define KM_HAVE_X86_64 0
#endif
#ifndef KM_HAVE_RISCV64
#define KM_HAVE_RISCV64 0
#endif
#ifndef KM_HAVE_AARCH64
#define KM_HAVE_AARCH64 0
#endif
#ifndef KM_HAVE_LOONGARCH64
#define KM_HAVE_LOONGARCH64 0
#endif

static const struct {
	enum mmk_pt_format_id id;
	const char *name;
	int built;
} formats[] = {
	{MMK_PT_X86_64_4L, "x86_64 4-level", KM_HAVE_X86_64},
	{MMK_PT_RISCV_SV39, "riscv64 Sv39", KM_HAVE_RISCV64},
	{MMK_PT_AARCH64_48, "aarch64 48-bit", KM_HAVE_AARCH64},
	{MMK_PT_LA64_4K_4L, "loongarch64 4K 4L", KM_HAVE_LOONGARCH64},
};

static struct mmk_bootmem bm;
static struct mmk_frames frames;

/* Create a table, map one page, translate it back, destroy the table (its
 * table pages; the page itself is KM_RAM and stays).  mmk_pt_format_info
 * must say what create says: MMK_ENOTSUP for a format left out. */
static int try_format(enum mmk_pt_format_id id)
{
	struct mmk_pt pt;
	struct mmk_pt_info info;
	int ierr = mmk_pt_format_info(id, &info);
	int err = mmk_pt_create(&pt, id, 0, &frames);
	if (err != ierr) {
		if (!err)
			mmk_pt_destroy(&pt);
		return MMK_EINVAL;
	}
	if (err)
		return err;
	mmk_paddr_t pa = mmk_pa(KM_RAM_PA + 0x200000), got;
	err = mmk_pt_map(&pt, 0x40000000, pa, MMK_PAGE_SIZE, MMK_PT_RW, NULL);
	if (!err)
		err = mmk_pt_query(&pt, 0x40000123, &got, NULL, NULL);
	if (!err && got.v != pa.v + 0x123)
		err = MMK_EINVAL;
	mmk_pt_destroy(&pt);
	return err;
}

int main(void)
{
	km_hal_init();
	mmk_bootmem_init(&bm);
	if (mmk_bootmem_add_ram(&bm, mmk_pa(KM_RAM_PA), KM_RAM_SIZE) ||
	    mmk_frames_init(&frames, &bm)) {
		printf("kmake: frames did not come up\n");
		return 1;
	}
	int bad = 0;
	for (unsigned i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		int err = try_format(formats[i].id);
		int want = formats[i].built ? MMK_OK : MMK_ENOTSUP;
		printf("kmake: %-18s %-9s -> %s%s\n", formats[i].name,
		       formats[i].built ? "built in" : "left out",
		       mmk_strerror(err), err == want ? "" : "  (WRONG)");
		bad |= err != want;
	}
	printf("kmake: %s\n", bad ? "FAIL" : "PASS");
	return bad;
}
