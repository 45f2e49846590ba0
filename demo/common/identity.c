/* SPDX-License-Identifier: MIT */
/*
 * The range the demo kernel runs from, mapped kernel-only into a space
 * (the kspace check's space, every process's space), as the checks'
 * build_and_switch maps it in the demo's own table: text RX, rodata R,
 * data and the rest of RAM RW, MMIO as device memory, all at VA == PA.
 */
#include "checks.h"

#include <mmkit/kspace.h>

static int map_id(struct mmk_aspace *as, uint64_t pg, uint64_t s, uint64_t e,
		  uint32_t flags)
{
	s = MMK_ALIGN_DOWN(s, pg);
	e = MMK_ALIGN_UP(e, pg);
	if (s >= e)
		return MMK_OK;
	return mmk_aspace_map_linear(as, s, mmk_pa(s), e - s, flags);
}

int demo_map_identity(struct mmk_aspace *as, uint64_t pg)
{
	uint64_t ks = (uintptr_t)__kernel_start, ke = (uintptr_t)__kernel_end;
	int err = map_id(as, pg, (uintptr_t)__text_start, (uintptr_t)__text_end,
			 MMK_PT_RX);
	if (!err)
		err = map_id(as, pg, (uintptr_t)__rodata_start,
			     (uintptr_t)__rodata_end, MMK_PT_READ);
	if (!err)
		err = map_id(as, pg, (uintptr_t)__data_start, ke, MMK_PT_RW);
	for (unsigned i = 0; !err && i < demo_bootmem.nram; i++) {
		uint64_t s = MMK_MAX(demo_bootmem.ram[i].start, MMK_MIB);
		uint64_t e = demo_bootmem.ram[i].end;
		if (ke <= s || ks >= e) {
			err = map_id(as, pg, s, e, MMK_PT_RW);
		} else {
			err = map_id(as, pg, s, ks, MMK_PT_RW);
			if (!err)
				err = map_id(as, pg, ke, e, MMK_PT_RW);
		}
	}
	for (unsigned i = 0; !err && i < demo_nmmio; i++)
		err = map_id(as, pg, demo_mmio[i].pa,
			     demo_mmio[i].pa + demo_mmio[i].size,
			     MMK_PT_RW | MMK_PT_MT_DEVICE);
	return err;
}

/* The kernel space over the machine's RAM (the kspace check's, then the
 * user phase's), built with no_switch: the kernel runs from the identity
 * map in the lower half, which a kernel space does not hold. */
int demo_kspace_init(void)
{
	static struct mmk_kspace_region regions[MMK_FRAME_MAX_REGIONS];
	struct mmk_kspace_config cfg;
	int err = mmk_kspace_config_default(&cfg, demo_pt_format, demo_pt_opts,
					    &demo_frames);
	if (err)
		return err;
	for (unsigned i = 0; i < demo_bootmem.nram; i++)
		regions[i] = (struct mmk_kspace_region){
			mmk_pa(demo_bootmem.ram[i].start),
			demo_bootmem.ram[i].end - demo_bootmem.ram[i].start,
			MMK_KREGION_READ | MMK_KREGION_WRITE, "ram"};
	cfg.regions = regions;
	cfg.nregions = demo_bootmem.nram;
	cfg.no_switch = true;
	return mmk_kspace_init(&cfg);
}
